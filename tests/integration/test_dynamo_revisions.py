"""CatalogRevisionService on the real dynamo-svc against a real dynalite: every write of a
category, ghost swap or product collection advances its own channel's revision (two steps: a
bump with a lease before the item write, one after), reads do not, a failed write leaves the
first step behind, seed-demo counts too, the revision item never shows up in a list, bad input
names the field, and an unreachable DynamoDB is UNAVAILABLE within about a second."""

import json
import os
import subprocess
import time
import urllib.request

import grpc
import pytest

from conftest import (BIN, HealthCheckRequest, HealthCheckResponse, Service,
                      dynamo_tables_env as tables_env, env_of, free_port, rich_status, unary)
from menu.v1 import catalog_revision_pb2 as cr  # noqa: E402
from menu.v1 import category_pb2 as cat  # noqa: E402
from menu.v1 import common_pb2  # noqa: E402
from menu.v1 import ghost_swap_pb2 as gs  # noqa: E402
from menu.v1 import product_collection_pb2 as pc  # noqa: E402

KIOSK, WEB, DELIVERY = common_pb2.CHANNEL_KIOSK, common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_DELIVERY
CAT, GS, PC = "/menu.v1.CategoryService/", "/menu.v1.GhostSwapService/", \
    "/menu.v1.ProductCollectionService/"
LEASE_S = 3 + 1  # DYNAMODB_WRITE_LEASE_MS default + the margin


def rpc(channel, method, req, resp_cls, timeout=10):
    return unary(channel, method, req, resp_cls, timeout=timeout)[0]


def revision(channel, ch_id):
    return rpc(channel, "/menu.v1.CatalogRevisionService/GetCatalogRevision",
               cr.GetCatalogRevisionRequest(channel=ch_id), cr.GetCatalogRevisionResponse)


def raw_item(dynalite, table, pk, sk="-"):
    """The item as DynamoDB holds it, read straight from dynalite (no dynamo-svc involved)."""
    body = json.dumps({"TableName": table, "ConsistentRead": True,
                       "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{dynalite['port']}/", data=body, method="POST", headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.GetItem",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/"
                             "aws4_request, SignedHeaders=host, Signature=00",
            "X-Amz-Date": "20260101T000000Z"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read()).get("Item")


def test_never_written_channel_is_revision_zero_and_settled(dynamo_ch):
    r = revision(dynamo_ch, DELIVERY)
    assert (r.channel, r.revision, r.HasField("unsettled_until")) == (DELIVERY, 0, False)


def test_every_write_kind_advances_only_its_channel_and_reads_do_not(dynamo_ch):
    web = revision(dynamo_ch, WEB).revision
    cat_ = rpc(dynamo_ch, CAT + "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
        channel=KIOSK, id="rev-soups", name="Soups", display_order=3)),
        cat.CreateCategoryResponse).category
    writes = [
        lambda: rpc(dynamo_ch, CAT + "UpdateCategory",
                    cat.UpdateCategoryRequest(category=cat.Category(
                        channel=KIOSK, id="rev-soups", name="Soups & stews",
                        version=cat_.version)),
                    cat.UpdateCategoryResponse),
        lambda: rpc(dynamo_ch, CAT + "DeleteCategory", cat.DeleteCategoryRequest(
            channel=KIOSK, id="rev-soups", version=cat_.version + 1), cat.DeleteCategoryResponse),
        lambda: rpc(dynamo_ch, GS + "PutGhostSwap", gs.PutGhostSwapRequest(ghost_swap=gs.GhostSwap(
            channel=KIOSK, product_code="P3000", swap_product_code="P3001")),
            gs.PutGhostSwapResponse),
        lambda: rpc(dynamo_ch, GS + "PutGhostSwap", gs.PutGhostSwapRequest(ghost_swap=gs.GhostSwap(
            channel=KIOSK, product_code="P3000", swap_product_code="P3002", version=1)),
            gs.PutGhostSwapResponse),
        lambda: rpc(dynamo_ch, GS + "DeleteGhostSwap", gs.DeleteGhostSwapRequest(
            channel=KIOSK, product_code="P3000", version=2), gs.DeleteGhostSwapResponse),
        lambda: rpc(dynamo_ch, PC + "CreateProductCollection", pc.CreateProductCollectionRequest(
            product_collection=pc.ProductCollection(channel=KIOSK, id="rev-combo", name="Combo",
                                                    product_codes=["P3000"])),
            pc.CreateProductCollectionResponse),
        lambda: rpc(dynamo_ch, PC + "UpdateProductCollection", pc.UpdateProductCollectionRequest(
            product_collection=pc.ProductCollection(channel=KIOSK, id="rev-combo", name="Combo 2",
                                                    version=1)),
            pc.UpdateProductCollectionResponse),
        lambda: rpc(dynamo_ch, PC + "DeleteProductCollection", pc.DeleteProductCollectionRequest(
            channel=KIOSK, id="rev-combo", version=2), pc.DeleteProductCollectionResponse),
    ]
    before = revision(dynamo_ch, KIOSK)
    assert before.revision >= 2
    for i, write in enumerate(writes):
        t0 = time.time()
        write()
        after = revision(dynamo_ch, KIOSK)
        # One bump before the item write, one after.
        assert after.revision == before.revision + 2, f"write {i}"
        # The lease of that write: in the future, at most lease + margin from its start.
        until = after.unsettled_until.seconds + after.unsettled_until.nanos / 1e9
        assert t0 < until <= time.time() + LEASE_S + 0.5, f"write {i}"
        before = after
    # Reads of every kind change nothing.
    rpc(dynamo_ch, CAT + "ListCategories", cat.ListCategoriesRequest(channel=KIOSK),
        cat.ListCategoriesResponse)
    rpc(dynamo_ch, GS + "BatchGetGhostSwaps", gs.BatchGetGhostSwapsRequest(
        channel=KIOSK, product_codes=["P3000"]), gs.BatchGetGhostSwapsResponse)
    rpc(dynamo_ch, PC + "ListProductCollections", pc.ListProductCollectionsRequest(channel=KIOSK),
        pc.ListProductCollectionsResponse)
    assert revision(dynamo_ch, KIOSK).revision == before.revision
    assert revision(dynamo_ch, WEB).revision == web  # another channel: untouched


def test_a_failed_write_moves_the_revision_once_and_changes_nothing_else(dynamo_ch, dynamo_env,
                                                                         dynalite):
    c = rpc(dynamo_ch, CAT + "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
        channel=WEB, id="rev-fail", name="Kept", display_order=1)),
        cat.CreateCategoryResponse).category
    before = revision(dynamo_ch, WEB).revision
    with pytest.raises(grpc.RpcError) as e:
        rpc(dynamo_ch, CAT + "UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
            channel=WEB, id="rev-fail", name="Lost", version=c.version + 5)),
            cat.UpdateCategoryResponse)
    assert e.value.code() == grpc.StatusCode.ABORTED
    assert rich_status(e.value)[1].reason == "STALE_VERSION"
    # The item is unchanged; the revision item holds the first bump only, with its lease.
    item = raw_item(dynalite, dynamo_env["DYNAMODB_CATEGORY_TABLE"], "CHANNEL#WEB", "rev-fail")
    assert (item["name"]["S"], item["version"]["N"]) == ("Kept", "1")
    rev = raw_item(dynalite, dynamo_env["DYNAMODB_CATEGORY_TABLE"], "REVISION#WEB")
    assert int(rev["revision"]["N"]) == before + 1
    assert rev["channel"]["S"] == "WEB"
    assert int(rev["unsettled_until"]["N"]) / 1000 > time.time()
    assert revision(dynamo_ch, WEB).revision == before + 1
    # A create of an existing id: the same (ALREADY_EXISTS, one bump).
    with pytest.raises(grpc.RpcError) as e:
        rpc(dynamo_ch, CAT + "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
            channel=WEB, id="rev-fail", name="Again", display_order=1)),
            cat.CreateCategoryResponse)
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert revision(dynamo_ch, WEB).revision == before + 2


def test_bad_channel_is_invalid_argument_naming_it(dynamo_ch):
    for bad in (common_pb2.CHANNEL_UNSPECIFIED, 42):
        with pytest.raises(grpc.RpcError) as e:
            revision(dynamo_ch, bad)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.details().startswith("channel:")


def test_health_lists_the_service(dynamo_ch):
    r = rpc(dynamo_ch, "/grpc.health.v1.Health/Check",
            HealthCheckRequest(service="menu.v1.CatalogRevisionService"), HealthCheckResponse)
    assert r.status == 1


def test_seed_demo_advances_every_channel_and_lists_hold_only_entities(dynalite):
    env = dict(os.environ)
    env.update(env_of(dynalite))
    env.update(tables_env())
    r = subprocess.run([str(BIN / "dynamo-svc"), "seed-demo"], env=env, capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    svc = Service("dynamo-svc", env={k: v for k, v in env.items()
                                     if k.startswith(("DYNAMODB", "AWS"))}).wait_ready()
    try:
        with svc.channel() as channel:
            for ch_id in (KIOSK, WEB, DELIVERY):
                n = sum(len(rpc(channel, method, req(channel=ch_id,
                                                     page=common_pb2.PageRequest(first=128)),
                                resp).edges)
                        for method, req, resp in (
                            (CAT + "ListCategories", cat.ListCategoriesRequest,
                             cat.ListCategoriesResponse),
                            (GS + "ListGhostSwaps", gs.ListGhostSwapsRequest,
                             gs.ListGhostSwapsResponse),
                            (PC + "ListProductCollections", pc.ListProductCollectionsRequest,
                             pc.ListProductCollectionsResponse)))
                # Two steps per seeded item, and no revision item among the listed entities.
                assert revision(channel, ch_id).revision == 2 * n
    finally:
        svc.stop()


def test_unreachable_dynamodb_is_unavailable_within_about_a_second(start_service):
    svc = start_service("dynamo-svc", env={
        "DYNAMODB_ENDPOINT": f"http://127.0.0.1:{free_port()}", "DYNAMODB_CREATE_TABLES": "0",
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1"})
    with svc.channel() as channel:
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            rpc(channel, "/menu.v1.CatalogRevisionService/GetCatalogRevision",
                cr.GetCatalogRevisionRequest(channel=KIOSK), cr.GetCatalogRevisionResponse,
                timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "DynamoDB" in e.value.details() and "127.0.0.1" not in e.value.details()
        assert time.monotonic() - t0 < 3
