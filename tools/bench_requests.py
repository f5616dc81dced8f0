"""Writes gRPC request bodies (5-byte length prefix + protobuf) for h2load, after checking with
grpcio that each call answers OK on the running stack, so the benchmark measures real answers.
usage: bench_requests.py OUTDIR   (prints one line per case: name<TAB>addr<TAB>path<TAB>body)"""

import struct
import sys
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "py"))
from menu.v1 import category_pb2, common_pb2, ghost_swap_pb2, menu_pb2, product_availability_pb2  # noqa: E402

KIOSK = common_pb2.CHANNEL_KIOSK
CASES = [
    ("ListCategories (first 16)", "127.0.0.1:50052", "/menu.v1.CategoryService/ListCategories",
     category_pb2.ListCategoriesRequest(channel=KIOSK, page=common_pb2.PageRequest(first=16)),
     category_pb2.ListCategoriesResponse),
    ("GetCategory", "127.0.0.1:50052", "/menu.v1.CategoryService/GetCategory", None,
     category_pb2.GetCategoryResponse),
    ("BatchGetGhostSwaps (20 codes)", "127.0.0.1:50052", "/menu.v1.GhostSwapService/BatchGetGhostSwaps",
     ghost_swap_pb2.BatchGetGhostSwapsRequest(channel=KIOSK, product_codes=[f"P{1000 + i}" for i in range(20)]),
     ghost_swap_pb2.BatchGetGhostSwapsResponse),
    ("ListProductAvailabilities (first 16)", "127.0.0.1:50053",
     "/menu.v1.ProductAvailabilityService/ListProductAvailabilities", None,
     product_availability_pb2.ListProductAvailabilitiesResponse),
    ("GetStoreMenu (gateway, first 16)", "127.0.0.1:50051", "/menu.v1.MenuService/GetStoreMenu", None,
     menu_pb2.GetStoreMenuResponse),
]


def call(addr, path, req, resp_cls):
    with grpc.insecure_channel(addr) as ch:
        fn = ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_cls.FromString)
        return fn(req, timeout=10)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    first = call("127.0.0.1:50052", "/menu.v1.CategoryService/ListCategories",
                 CASES[0][3], CASES[0][4])
    store = "R001"
    for name, addr, path, req, resp_cls in CASES:
        if path.endswith("GetCategory"):
            req = category_pb2.GetCategoryRequest(channel=KIOSK, id=first.edges[0].node.id)
        elif path.endswith("ListProductAvailabilities"):
            req = product_availability_pb2.ListProductAvailabilitiesRequest(
                store_code=store, channel=KIOSK, page=common_pb2.PageRequest(first=16))
        elif path.endswith("GetStoreMenu"):
            req = menu_pb2.GetStoreMenuRequest(store_code=store, channel=KIOSK,
                                               page=common_pb2.PageRequest(first=16))
        call(addr, path, req, resp_cls)  # raises unless the call answers OK
        body = req.SerializeToString()
        f = out / (path.strip("/").replace("/", "_") + ".bin")
        f.write_bytes(struct.pack(">BI", 0, len(body)) + body)
        print(f"{name}\t{addr}\t{path}\t{f}")


if __name__ == "__main__":
    main()
