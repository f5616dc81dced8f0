"""What the write-driven benches share (bench_staleness.py, bench_watch_writer.py): typed unary
stubs, and the category they rename: the first category of a channel, renamed through dynamo-svc's
UpdateCategory with its current version, one acknowledged write per rename()."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "py"))
from google.protobuf import field_mask_pb2  # noqa: E402
from menu.v1 import category_pb2, common_pb2  # noqa: E402


def stub(ch, path, req_cls, resp_cls):
    return ch.unary_unary(path, request_serializer=req_cls.SerializeToString,
                          response_deserializer=resp_cls.FromString)


class CategoryRenamer:
    """The first category of `channel` on dynamo-svc's channel `ch`; its name is BASE#SUFFIX
    after rename(SUFFIX)."""

    def __init__(self, ch, channel):
        lst = stub(ch, "/menu.v1.CategoryService/ListCategories",
                   category_pb2.ListCategoriesRequest, category_pb2.ListCategoriesResponse)
        self._update = stub(ch, "/menu.v1.CategoryService/UpdateCategory",
                            category_pb2.UpdateCategoryRequest,
                            category_pb2.UpdateCategoryResponse)
        first = lst(category_pb2.ListCategoriesRequest(
            channel=channel, page=common_pb2.PageRequest(first=1)), timeout=5).edges[0].node
        self.id = first.id
        self.channel = channel
        self.base = first.name.split("#", 1)[0]
        self._version = first.version

    def rename(self, suffix):
        """Returns once dynamo-svc has acknowledged the write (raises grpc.RpcError if not)."""
        r = self._update(category_pb2.UpdateCategoryRequest(
            category=category_pb2.Category(id=self.id, channel=self.channel,
                                           name=f"{self.base}#{suffix}", version=self._version),
            update_mask=field_mask_pb2.FieldMask(paths=["name"])), timeout=5)
        self._version = r.category.version
