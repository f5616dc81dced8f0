"""MenuService.CheckMenuConsistency and `gateway check-consistency CHANNEL` on the real stack
(MariaDB and dynalite with both demo data sets, the real sql-svc, dynamo-svc and gateway): the
demo data alone is consistent; dangling references planted through dynamo-svc's own RPCs (a
category and a collection holding an unknown product code, a ghost swap whose target is
unknown, one whose product is unknown) are reported exactly, by the RPC and by the command,
across more than one page of categories; a stopped backend is UNAVAILABLE naming it, quickly;
a frozen backend ends in DEADLINE_EXCEEDED at the caller's deadline or at
CONSISTENCY_CHECK_TIMEOUT_MS, never a hang; a bad channel calls no backend."""

import json
import os
import signal
import subprocess
import time
import uuid
from types import SimpleNamespace

import grpc
import pytest

from conftest import BIN, rich_status, unary
from demo_data import demo_products
from test_gateway_menu import dyn_env, sql_env, up  # noqa: F401  (module fixtures)
from test_gateway_menu import all_categories, call, gateway_env, rpc_lines

from menu.v1 import category_pb2, common_pb2, ghost_swap_pb2, menu_pb2  # noqa: E402
from menu.v1 import product_collection_pb2 as pc_pb2  # noqa: E402

CHECK = "/menu.v1.MenuService/CheckMenuConsistency"
KIND = menu_pb2.ReferenceKind
KIOSK = common_pb2.CHANNEL_KIOSK
DELIVERY = common_pb2.CHANNEL_DELIVERY


@pytest.fixture
def stack(start_service, sql_env, dyn_env):  # noqa: F811
    dyn = up(start_service, "dynamo-svc", dyn_env)
    sql = up(start_service, "sql-svc", sql_env)
    targets = (f"dns:///{dyn.addr}", f"dns:///{sql.addr}")
    gw = up(start_service, "gateway", gateway_env(*targets))
    yield SimpleNamespace(dyn=dyn, sql=sql, gw=gw, targets=targets, start=start_service)
    for svc in (sql, dyn):  # never leave a frozen process behind
        if svc.proc.poll() is None:
            svc.proc.send_signal(signal.SIGCONT)


def check(gw, channel, timeout=10, rid=None):
    return call(gw, CHECK, menu_pb2.CheckMenuConsistencyRequest(channel=channel),
                menu_pb2.CheckMenuConsistencyResponse, timeout=timeout, rid=rid)


def check_error(gw, channel, timeout=10, rid=None):
    """(error, seconds) of a CheckMenuConsistency that must fail."""
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        check(gw, channel, timeout=timeout, rid=rid)
    return e.value, time.monotonic() - t0


def command(targets, channel, timeout=30, **env):
    """`gateway check-consistency CHANNEL` -> (exit status, stdout, stderr, seconds)."""
    full = dict(os.environ)
    full.update({"DYNAMO_SVC_TARGET": targets[0], "SQL_SVC_TARGET": targets[1]})
    full.update(env)
    t0 = time.monotonic()
    r = subprocess.run([str(BIN / "gateway"), "check-consistency", channel], env=full,
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t0


def refs_of(resp):
    return sorted((KIND.Name(d.kind), d.entity_id, d.product_code)
                  for d in resp.dangling_references)


def every(svc, method, req_cls, resp_cls, channel):
    """Every node of a dynamo-svc list, paged directly."""
    out, after = [], ""
    while True:
        r = call(svc, method, req_cls(channel=channel, page=common_pb2.PageRequest(
            first=128, after=after)), resp_cls)
        out += [e.node for e in r.edges]
        if not r.page_info.has_next_page:
            return out
        after = r.page_info.end_cursor


def scanned(stack, channel):
    """What the check must have read: the owners' own lists, asked directly."""
    swaps = every(stack.dyn, "/menu.v1.GhostSwapService/ListGhostSwaps",
                  ghost_swap_pb2.ListGhostSwapsRequest, ghost_swap_pb2.ListGhostSwapsResponse,
                  channel)
    cols = every(stack.dyn, "/menu.v1.ProductCollectionService/ListProductCollections",
                 pc_pb2.ListProductCollectionsRequest, pc_pb2.ListProductCollectionsResponse,
                 channel)
    return len(all_categories(stack.dyn, channel)), len(cols), swaps


def test_demo_data_is_consistent_then_planted_references_are_reported(stack):
    n_products = len(demo_products())
    n_cats, n_cols, swaps = scanned(stack, DELIVERY)
    got = check(stack.gw, DELIVERY)
    assert refs_of(got) == []
    assert (got.categories_scanned, got.product_collections_scanned, got.ghost_swaps_scanned) \
        == (n_cats, n_cols, len(swaps))
    assert n_cats > 0 and n_cols > 0 and swaps
    assert got.products_scanned == n_products
    rc, out, err, _ = command(stack.targets, "DELIVERY")
    assert rc == 0, (out, err)
    report = json.loads(out)
    assert report["consistent"] is True and report["danglingReferences"] == []
    assert report["channel"] == "CHANNEL_DELIVERY"
    assert report["categoriesScanned"] == n_cats and report["productsScanned"] == n_products

    # Plant, through dynamo-svc's own RPCs (it checks a code's form, not that it exists):
    # enough categories that the check must page (more than 128), one of them holding an
    # unknown code; a collection with one; a swap to an unknown target; a swap of an unknown
    # product. The codes around them are real and must not be reported.
    codes = [c for c, _, _, _ in demo_products()]
    with stack.dyn.channel() as ch:
        def dyn(method, req, resp_cls):
            return unary(ch, method, req, resp_cls, timeout=10)[0]

        for i in range(130):
            dyn("/menu.v1.CategoryService/CreateCategory", category_pb2.CreateCategoryRequest(
                category=category_pb2.Category(channel=DELIVERY, name=f"Filler {i}",
                                               display_order=1000 + i,
                                               product_codes=[codes[i % len(codes)]])),
                category_pb2.CreateCategoryResponse)
        broken = dyn("/menu.v1.CategoryService/CreateCategory", category_pb2.CreateCategoryRequest(
            category=category_pb2.Category(channel=DELIVERY, name="Broken", display_order=2000,
                                           product_codes=[codes[0], "NOPE-CAT", codes[1]])),
            category_pb2.CreateCategoryResponse).category
        combo = dyn("/menu.v1.ProductCollectionService/CreateProductCollection",
                    pc_pb2.CreateProductCollectionRequest(product_collection=pc_pb2.
                                                          ProductCollection(
                                                              channel=DELIVERY, name="Broken combo",
                                                              product_codes=[codes[2], "NOPE-COL"])),
                    pc_pb2.CreateProductCollectionResponse).product_collection
        swapped = {s.product_code for s in swaps}
        free = next(c for c in codes if c not in swapped)
        for frm, to in ((free, "NOPE-SWAP"), ("NOPE-KEY", codes[3])):
            dyn("/menu.v1.GhostSwapService/PutGhostSwap", ghost_swap_pb2.PutGhostSwapRequest(
                ghost_swap=ghost_swap_pb2.GhostSwap(channel=DELIVERY, product_code=frm,
                                                    swap_product_code=to)),
                ghost_swap_pb2.PutGhostSwapResponse)

    want = [  # in the order of the report: by kind (enum order), entity, code
        ("REFERENCE_KIND_CATEGORY", broken.id, "NOPE-CAT"),
        ("REFERENCE_KIND_PRODUCT_COLLECTION", combo.id, "NOPE-COL"),
        ("REFERENCE_KIND_GHOST_SWAP", "NOPE-KEY", "NOPE-KEY"),
        ("REFERENCE_KIND_GHOST_SWAP_TARGET", free, "NOPE-SWAP"),
    ]
    rid = f"consistency-{uuid.uuid4().hex[:8]}"
    got = check(stack.gw, DELIVERY, rid=rid)
    assert [(KIND.Name(d.kind), d.entity_id, d.product_code)
            for d in got.dangling_references] == want
    assert got.categories_scanned == n_cats + 131
    assert got.product_collections_scanned == n_cols + 1
    assert got.ghost_swaps_scanned == len(swaps) + 2
    assert got.products_scanned == n_products
    assert got.pages_read >= 5  # two pages of categories, one of each other list
    line = rpc_lines(stack.gw, CHECK, rid=rid)[0]
    assert line["status"] == "OK" and line["dangling_references"] == 4
    # The backends were asked with the caller's request id: the check used their RPCs.
    assert rpc_lines(stack.dyn, "/menu.v1.CategoryService/ListCategories", rid=rid, want=2)
    assert rpc_lines(stack.sql, "/menu.v1.ReferenceDataService/ListProducts", rid=rid)

    rc, out, err, _ = command(stack.targets, "CHANNEL_DELIVERY")
    assert rc == 1, (out, err)
    report = json.loads(out)
    assert report["consistent"] is False
    assert [(r["kind"], r["entityId"], r["productCode"])
            for r in report["danglingReferences"]] == want
    assert report["categoriesScanned"] == n_cats + 131

    # Another channel is untouched by what was planted on this one.
    assert refs_of(check(stack.gw, KIOSK)) == []


@pytest.mark.parametrize("down", ["sql", "dyn"])
def test_stopped_backend_is_unavailable_quickly(stack, down):
    check(stack.gw, KIOSK)  # connections are up
    getattr(stack, down).stop()
    name = "sql-svc (ReferenceDataService.ListProducts)" if down == "sql" \
        else "dynamo-svc (CategoryService.ListCategories)"
    err, secs = check_error(stack.gw, KIOSK)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert err.details().startswith(name), err.details()
    assert secs < 3, secs
    _, info, _ = rich_status(err)
    assert info.reason == "BACKEND_UNAVAILABLE" and "backend" in info.metadata
    rc, out, stderr, secs = command(stack.targets, "KIOSK")
    assert rc == 2 and out == "", (out, stderr)
    assert "UNAVAILABLE" in stderr and name in stderr, stderr
    assert secs < 5, secs


def test_frozen_backend_ends_at_the_deadline(stack):
    """dynamo-svc frozen with SIGSTOP (its socket accepts, nothing answers)."""
    check(stack.gw, KIOSK)
    stack.dyn.send_signal(signal.SIGSTOP)
    try:
        # The caller's deadline.
        err, secs = check_error(stack.gw, KIOSK, timeout=0.2)
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert secs < 1, secs
        # The gateway's own limit, with a patient caller.
        gw = up(stack.start, "gateway", gateway_env(*stack.targets,
                                                    CONSISTENCY_CHECK_TIMEOUT_MS="300"))
        err, secs = check_error(gw, KIOSK, timeout=10)
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "CONSISTENCY_CHECK_TIMEOUT_MS" in err.details(), err.details()
        assert "dynamo-svc (CategoryService.ListCategories)" in err.details()
        assert 0.25 < secs < 2, secs
        # The command, under the same limit.
        rc, out, stderr, secs = command(stack.targets, "KIOSK",
                                        CONSISTENCY_CHECK_TIMEOUT_MS="300")
        assert rc == 2 and out == "", (out, stderr)
        assert "DEADLINE_EXCEEDED" in stderr, stderr
        assert secs < 3, secs
    finally:
        stack.dyn.send_signal(signal.SIGCONT)
    # Thawed: the same gateway answers again.
    assert refs_of(check(stack.gw, KIOSK)) == []


def test_bad_channel_calls_no_backend(stack):
    rid = f"bad-{uuid.uuid4().hex[:8]}"
    for channel in (common_pb2.CHANNEL_UNSPECIFIED, 99):
        err, _ = check_error(stack.gw, channel, rid=rid)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details().startswith("channel:"), err.details()
        assert [v.field for v in rich_status(err)[2].field_violations] == ["channel"]
    assert not rpc_lines(stack.dyn, "/menu.v1.CategoryService/ListCategories", rid=rid,
                         timeout=0.3)
    for args in (["TELEPHONE"], [], ["KIOSK", "extra"]):
        r = subprocess.run([str(BIN / "gateway"), "check-consistency", *args],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and r.stdout == "", r
        assert "usage:" in r.stderr
