"""GhostSwapService and ProductCollectionService on the real dynamo-svc binary against a real
dynalite, over gRPC: put/get/delete with versions, listing by product code and id with
paging both ways, BatchGetGhostSwaps (order, duplicates, absent codes, 100-code limit),
validation naming the field, and seed-demo (run twice) answering through every list RPC."""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.protobuf import field_mask_pb2

from conftest import BIN, Service, dynamo_tables_env as tables_env, env_of, unary
from demo_data import demo_products
from menu.v1 import category_pb2 as cat  # noqa: E402
from menu.v1 import common_pb2  # noqa: E402
from menu.v1 import ghost_swap_pb2 as gs  # noqa: E402
from menu.v1 import product_collection_pb2 as pc  # noqa: E402

GS = "/menu.v1.GhostSwapService/"
PC = "/menu.v1.ProductCollectionService/"
KIOSK, WEB, APP = common_pb2.CHANNEL_KIOSK, common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_APP
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def rpc(channel, method, req, resp_cls, timeout=10):
    return unary(channel, method, req, resp_cls, timeout=timeout)[0]


def err(channel, method, req, resp_cls):
    with pytest.raises(grpc.RpcError) as e:
        rpc(channel, method, req, resp_cls)
    return e.value


def put_swap(channel, ch_id, code, swap, version=0):
    return rpc(channel, GS + "PutGhostSwap", gs.PutGhostSwapRequest(ghost_swap=gs.GhostSwap(
        channel=ch_id, product_code=code, swap_product_code=swap, version=version)),
        gs.PutGhostSwapResponse).ghost_swap


def get_swap(channel, ch_id, code):
    return rpc(channel, GS + "GetGhostSwap", gs.GetGhostSwapRequest(channel=ch_id, product_code=code),
               gs.GetGhostSwapResponse).ghost_swap


# ---- ghost swaps -----------------------------------------------------------------------------


def test_ghost_swap_put_get_replace_delete(dynamo_ch):
    s = put_swap(dynamo_ch, KIOSK, "P2000", "P2001")
    assert (s.product_code, s.swap_product_code, s.version, s.channel) == ("P2000", "P2001", 1, KIOSK)
    assert get_swap(dynamo_ch, KIOSK, "P2000") == s
    e = err(dynamo_ch, GS + "PutGhostSwap", gs.PutGhostSwapRequest(ghost_swap=gs.GhostSwap(
        channel=KIOSK, product_code="P2000", swap_product_code="P2002")), gs.PutGhostSwapResponse)
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS
    s2 = put_swap(dynamo_ch, KIOSK, "P2000", "P2002", version=1)
    assert (s2.swap_product_code, s2.version, s2.create_time) == ("P2002", 2, s.create_time)
    e = err(dynamo_ch, GS + "PutGhostSwap", gs.PutGhostSwapRequest(ghost_swap=gs.GhostSwap(
        channel=KIOSK, product_code="P2000", swap_product_code="P2003", version=1)),
        gs.PutGhostSwapResponse)
    assert e.code() == grpc.StatusCode.ABORTED
    assert get_swap(dynamo_ch, KIOSK, "P2000").swap_product_code == "P2002"
    e = err(dynamo_ch, GS + "PutGhostSwap", gs.PutGhostSwapRequest(ghost_swap=gs.GhostSwap(
        channel=KIOSK, product_code="P2999", swap_product_code="P2003", version=4)),
        gs.PutGhostSwapResponse)
    assert e.code() == grpc.StatusCode.NOT_FOUND
    e = err(dynamo_ch, GS + "DeleteGhostSwap", gs.DeleteGhostSwapRequest(
        channel=KIOSK, product_code="P2000", version=1), gs.DeleteGhostSwapResponse)
    assert e.code() == grpc.StatusCode.ABORTED
    rpc(dynamo_ch, GS + "DeleteGhostSwap", gs.DeleteGhostSwapRequest(
        channel=KIOSK, product_code="P2000", version=2), gs.DeleteGhostSwapResponse)
    e = err(dynamo_ch, GS + "GetGhostSwap",
            gs.GetGhostSwapRequest(channel=KIOSK, product_code="P2000"), gs.GetGhostSwapResponse)
    assert e.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("swap,field", [
    (gs.GhostSwap(channel=KIOSK, product_code="P1", swap_product_code="P1"),
     "ghost_swap.swap_product_code"),
    (gs.GhostSwap(product_code="P1", swap_product_code="P2"), "ghost_swap.channel"),
    (gs.GhostSwap(channel=KIOSK, product_code="P 1", swap_product_code="P2"),
     "ghost_swap.product_code"),
    (gs.GhostSwap(channel=KIOSK, product_code="P1", swap_product_code=""),
     "ghost_swap.swap_product_code"),
    (gs.GhostSwap(channel=KIOSK, product_code="P1", swap_product_code="P2", version=-1),
     "ghost_swap.version"),
])
def test_ghost_swap_validation(dynamo_ch, swap, field):
    e = err(dynamo_ch, GS + "PutGhostSwap", gs.PutGhostSwapRequest(ghost_swap=swap),
            gs.PutGhostSwapResponse)
    assert e.code() == INVALID and e.details().startswith(field), e.details()


def test_ghost_swaps_list_by_product_code_both_ways(dynamo_ch):
    codes = [f"Q{n:04d}" for n in range(150)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda c: put_swap(dynamo_ch, APP, c, "Z" + c), reversed(codes)))
    seen, after = [], ""
    while True:
        r = rpc(dynamo_ch, GS + "ListGhostSwaps", gs.ListGhostSwapsRequest(
            channel=APP, page=common_pb2.PageRequest(first=40, after=after)), gs.ListGhostSwapsResponse)
        seen += [e.node.product_code for e in r.edges]
        if not r.page_info.has_next_page:
            break
        after = r.page_info.end_cursor
    assert seen == codes
    back, before = [], ""
    while True:
        r = rpc(dynamo_ch, GS + "ListGhostSwaps", gs.ListGhostSwapsRequest(
            channel=APP, page=common_pb2.PageRequest(last=33, before=before)), gs.ListGhostSwapsResponse)
        back = [e.node.product_code for e in r.edges] + back
        if not r.page_info.has_previous_page:
            break
        before = r.page_info.start_cursor
    assert back == codes
    # Another channel's cursor is refused.
    e = err(dynamo_ch, GS + "ListGhostSwaps", gs.ListGhostSwapsRequest(
        channel=WEB, page=common_pb2.PageRequest(after=after)), gs.ListGhostSwapsResponse)
    assert e.code() == INVALID and "page.after" in e.details()


def test_batch_get_ghost_swaps(dynamo_ch):
    for n in range(120):
        put_swap(dynamo_ch, WEB, f"B{n:03d}", f"B{n + 500:03d}")
    asked = ["B007", "NOPE", "B003", "B007", "B119"]
    r = rpc(dynamo_ch, GS + "BatchGetGhostSwaps", gs.BatchGetGhostSwapsRequest(
        channel=WEB, product_codes=asked), gs.BatchGetGhostSwapsResponse)
    assert [(s.product_code, s.swap_product_code) for s in r.ghost_swaps] == [
        ("B007", "B507"), ("B003", "B503"), ("B119", "B619")]
    hundred = [f"B{n:03d}" for n in range(100)]
    r = rpc(dynamo_ch, GS + "BatchGetGhostSwaps", gs.BatchGetGhostSwapsRequest(
        channel=WEB, product_codes=hundred), gs.BatchGetGhostSwapsResponse)
    assert [s.product_code for s in r.ghost_swaps] == hundred
    # Same codes on another channel: nothing.
    r = rpc(dynamo_ch, GS + "BatchGetGhostSwaps", gs.BatchGetGhostSwapsRequest(
        channel=common_pb2.CHANNEL_DRIVE_THRU, product_codes=hundred), gs.BatchGetGhostSwapsResponse)
    assert len(r.ghost_swaps) == 0
    e = err(dynamo_ch, GS + "BatchGetGhostSwaps", gs.BatchGetGhostSwapsRequest(
        channel=WEB, product_codes=hundred + ["B100"]), gs.BatchGetGhostSwapsResponse)
    assert e.code() == INVALID and e.details().startswith("product_codes")
    e = err(dynamo_ch, GS + "BatchGetGhostSwaps", gs.BatchGetGhostSwapsRequest(
        channel=WEB, product_codes=["B001", "bad code"]), gs.BatchGetGhostSwapsResponse)
    assert e.code() == INVALID and e.details().startswith("product_codes[1]")
    e = err(dynamo_ch, GS + "BatchGetGhostSwaps",
            gs.BatchGetGhostSwapsRequest(product_codes=["B001"]), gs.BatchGetGhostSwapsResponse)
    assert e.code() == INVALID and e.details().startswith("channel")


# ---- product collections -------------------------------------------------------------------


def test_collection_crud(dynamo_ch):
    c = rpc(dynamo_ch, PC + "CreateProductCollection", pc.CreateProductCollectionRequest(
        product_collection=pc.ProductCollection(id="lunch", channel=KIOSK, name="Lunch",
                                                product_codes=["P1002", "P1000", "P1001"])),
        pc.CreateProductCollectionResponse).product_collection
    assert (c.id, c.version, list(c.product_codes)) == ("lunch", 1, ["P1002", "P1000", "P1001"])
    got = rpc(dynamo_ch, PC + "GetProductCollection",
              pc.GetProductCollectionRequest(channel=KIOSK, id="lunch"),
              pc.GetProductCollectionResponse).product_collection
    assert got == c
    e = err(dynamo_ch, PC + "CreateProductCollection", pc.CreateProductCollectionRequest(
        product_collection=pc.ProductCollection(id="lunch", channel=KIOSK, name="Again")),
        pc.CreateProductCollectionResponse)
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS
    up = rpc(dynamo_ch, PC + "UpdateProductCollection", pc.UpdateProductCollectionRequest(
        product_collection=pc.ProductCollection(id="lunch", channel=KIOSK, name="Lunch 2",
                                                product_codes=[], version=1),
        update_mask=field_mask_pb2.FieldMask(paths=["*"])),  # a full replace
        pc.UpdateProductCollectionResponse).product_collection
    assert (up.name, list(up.product_codes), up.version) == ("Lunch 2", [], 2)
    e = err(dynamo_ch, PC + "UpdateProductCollection", pc.UpdateProductCollectionRequest(
        product_collection=pc.ProductCollection(id="lunch", channel=KIOSK, name="Late",
                                                version=1)), pc.UpdateProductCollectionResponse)
    assert e.code() == grpc.StatusCode.ABORTED
    rpc(dynamo_ch, PC + "DeleteProductCollection", pc.DeleteProductCollectionRequest(
        channel=KIOSK, id="lunch", version=2), pc.DeleteProductCollectionResponse)
    e = err(dynamo_ch, PC + "GetProductCollection",
            pc.GetProductCollectionRequest(channel=KIOSK, id="lunch"),
            pc.GetProductCollectionResponse)
    assert e.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("coll,field", [
    (pc.ProductCollection(id="x", channel=KIOSK, name="n", product_codes=["P1", "P1"]),
     "product_collection.product_codes[1]"),
    (pc.ProductCollection(id="x", channel=KIOSK, name="n", product_codes=["ok", "no/slash"]),
     "product_collection.product_codes[1]"),
    (pc.ProductCollection(id="x", channel=KIOSK, name="n",
                          product_codes=[f"P{n}" for n in range(501)]),
     "product_collection.product_codes"),
    (pc.ProductCollection(id="x", channel=KIOSK, name=""), "product_collection.name"),
    (pc.ProductCollection(id="x", name="n"), "product_collection.channel"),
])
def test_collection_validation(dynamo_ch, coll, field):
    e = err(dynamo_ch, PC + "CreateProductCollection",
            pc.CreateProductCollectionRequest(product_collection=coll),
            pc.CreateProductCollectionResponse)
    assert e.code() == INVALID and e.details().startswith(field), e.details()


def test_collections_list_by_id(dynamo_ch):
    ids = [f"col-{n:03d}" for n in range(40)]
    for i in reversed(ids):
        rpc(dynamo_ch, PC + "CreateProductCollection", pc.CreateProductCollectionRequest(
            product_collection=pc.ProductCollection(id=i, channel=APP, name=i)),
            pc.CreateProductCollectionResponse)
    seen, after = [], ""
    while True:
        r = rpc(dynamo_ch, PC + "ListProductCollections", pc.ListProductCollectionsRequest(
            channel=APP, page=common_pb2.PageRequest(first=7, after=after)),
            pc.ListProductCollectionsResponse)
        seen += [e.node.id for e in r.edges]
        if not r.page_info.has_next_page:
            break
        after = r.page_info.end_cursor
    assert seen == ids
    r = rpc(dynamo_ch, PC + "ListProductCollections", pc.ListProductCollectionsRequest(
        channel=APP, page=common_pb2.PageRequest(last=3)), pc.ListProductCollectionsResponse)
    assert [e.node.id for e in r.edges] == ids[-3:]


# ---- demo data -----------------------------------------------------------------------------


def test_seed_demo_is_idempotent_and_fills_every_list(dynalite):
    env = dict(os.environ)
    env.update(env_of(dynalite))
    env.update(tables_env())
    for _ in range(2):
        r = subprocess.run([str(BIN / "dynamo-svc"), "seed-demo"], env=env, capture_output=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    # 46 categories, 28 ghost swaps, 20 collections, all there after the first run
    assert b'"already_present":94' in r.stdout
    svc = Service("dynamo-svc", env={k: v for k, v in env.items() if k.startswith(("DYNAMODB", "AWS"))})
    svc.wait_ready()
    try:
        with svc.channel() as channel:
            counts = {}
            for ch_id in (KIOSK, WEB, APP, common_pb2.CHANNEL_DRIVE_THRU, common_pb2.CHANNEL_DELIVERY):
                n, after = 0, ""
                while True:
                    r = rpc(channel, "/menu.v1.CategoryService/ListCategories",
                            cat.ListCategoriesRequest(channel=ch_id, page=common_pb2.PageRequest(
                                first=128, after=after)), cat.ListCategoriesResponse)
                    n += len(r.edges)
                    if not r.page_info.has_next_page:
                        break
                    after = r.page_info.end_cursor
                counts[ch_id] = n
                assert rpc(channel, GS + "ListGhostSwaps", gs.ListGhostSwapsRequest(channel=ch_id),
                           gs.ListGhostSwapsResponse).edges
                assert rpc(channel, PC + "ListProductCollections",
                           pc.ListProductCollectionsRequest(channel=ch_id),
                           pc.ListProductCollectionsResponse).edges
            assert all(n > 0 for n in counts.values())
            # Categories a person recognises, holding fitting products in menu order.
            r = rpc(channel, "/menu.v1.CategoryService/ListCategories", cat.ListCategoriesRequest(
                channel=KIOSK, page=common_pb2.PageRequest(first=128)), cat.ListCategoriesResponse)
            names = [e.node.name for e in r.edges]
            assert names[:4] == ["Popular", "Specials", "Breakfast", "Burgers"]
            assert {"Chicken", "Salads", "Sides", "Drinks", "Desserts & Shakes"} <= set(names)
            by_name = {e.node.name: e.node for e in r.edges}
            demo = {code: (name, group) for code, name, group, _ in demo_products()}
            assert [demo[c][1] for c in by_name["Drinks"].product_codes] == \
                ["DRINKS"] * len(by_name["Drinks"].product_codes)
            assert list(by_name["Breakfast"].product_codes) == \
                [c for c, (_, g) in demo.items() if g == "BREAKFAST"]
            # Every code the demo references is a product of the shared list.
            for e in r.edges:
                assert set(e.node.product_codes) <= set(demo), e.node.name
            # Swaps are like for like: a drink for a drink, a side for a side.
            swaps = rpc(channel, GS + "ListGhostSwaps", gs.ListGhostSwapsRequest(
                channel=KIOSK, page=common_pb2.PageRequest(first=128)),
                gs.ListGhostSwapsResponse).edges
            assert len(swaps) >= 5
            for e in swaps:
                assert demo[e.node.product_code][1] == demo[e.node.swap_product_code][1], e.node
    finally:
        svc.stop()
