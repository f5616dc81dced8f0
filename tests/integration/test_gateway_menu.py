"""MenuService.GetStoreMenu on the real stack: a real MariaDB and dynalite loaded with the demo
data by the services' own seed-demo commands, the real sql-svc and dynamo-svc binaries, and the
gateway pointed at them. What a caller sees: a menu a person recognises (categories with their
available products in menu order, a swap applied only when its target is available, a hidden
item flagged), every product of it available per sql-svc's own list for the same store and
time, two stores with different menus, a promotion that appears when at_time moves past its
start, every category of a channel with more than 128 of them reached by paging; availability
and swaps asked at the same time; a stopped backend fails the call (or, with allow_partial,
becomes a missing part); a short deadline against a frozen backend; request ids reach both
backends; client metrics per backend; round robin over two sql-svc replicas; mutual TLS."""

import datetime
import json
import os
import signal
import subprocess
import time
import urllib.request
from types import SimpleNamespace

import grpc
import pytest
from google.protobuf import timestamp_pb2

from conftest import BIN, CURSOR_KEY, dynamo_tables_env, env_of, unary
from demo_data import demo_products

from menu.v1 import category_pb2, common_pb2, ghost_swap_pb2, menu_pb2  # noqa: E402
from menu.v1 import product_availability_pb2 as pa_pb2  # noqa: E402

MENU = "/menu.v1.MenuService/GetStoreMenu"
LIST_CATEGORIES = "/menu.v1.CategoryService/ListCategories"
CREATE_CATEGORY = "/menu.v1.CategoryService/CreateCategory"
LIST_SWAPS = "/menu.v1.GhostSwapService/ListGhostSwaps"
BATCH_SWAPS = "/menu.v1.GhostSwapService/BatchGetGhostSwaps"
LIST_AVAIL = "/menu.v1.ProductAvailabilityService/ListProductAvailabilities"
BATCH_AVAIL = "/menu.v1.ProductAvailabilityService/BatchGetProductAvailabilities"

KIOSK = common_pb2.CHANNEL_KIOSK
STORE = "R001"  # the demo store (US-WEST)
PART = menu_pb2.MenuPart
REASON = pa_pb2.AvailabilityReason


def at_time(days=0):
    """Now (to the second) plus `days`: the demo's rules are placed relative to seed time."""
    return timestamp_pb2.Timestamp(seconds=int(time.time()) + days * 86400)


# ---- stack ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sql_env(mariadb):
    """Schema and demo data in the session's MariaDB, loaded by sql-svc's own subcommands."""
    env = dict(os.environ)
    env.update(env_of(mariadb))
    env["CURSOR_KEY"] = CURSOR_KEY
    for cmd in ("migrate", "seed-demo"):
        r = subprocess.run([str(BIN / "sql-svc"), cmd], env=env, capture_output=True,
                           timeout=180)
        assert r.returncode == 0, f"sql-svc {cmd}: {r.stdout!r} {r.stderr!r}"
    return env_of(mariadb)


@pytest.fixture(scope="module")
def dyn_env(dynalite):
    """Tables of this module's own in the session's dynalite, with dynamo-svc's demo data."""
    env = {**env_of(dynalite), **dynamo_tables_env()}
    r = subprocess.run([str(BIN / "dynamo-svc"), "seed-demo"], env={**os.environ, **env},
                       capture_output=True, timeout=180)
    assert r.returncode == 0, f"dynamo-svc seed-demo: {r.stdout!r} {r.stderr!r}"
    return env


def up(start_service, name, env, creds=None):
    """start_service, SERVING (conftest.wait_serving: a fresh channel per attempt, so a channel
    that saw the port closed does not back off for seconds). `creds`:
    grpc.ssl_channel_credentials for a service that serves TLS."""
    return start_service(name, env=env, wait=False).wait_ready(creds=creds)


def gateway_env(dynamo_target, sql_target, **extra):
    env = {"DYNAMO_SVC_TARGET": dynamo_target, "SQL_SVC_TARGET": sql_target}
    env.update(extra)
    return env


@pytest.fixture
def stack(start_service, sql_env, dyn_env):
    dyn = up(start_service, "dynamo-svc", dyn_env)
    sql = up(start_service, "sql-svc", sql_env)
    gw = up(start_service, "gateway", gateway_env(f"dns:///{dyn.addr}", f"dns:///{sql.addr}"))
    yield SimpleNamespace(dyn=dyn, sql=sql, gw=gw)
    for svc in (sql, dyn):  # never leave a frozen process behind
        if svc.proc.poll() is None:
            svc.proc.send_signal(signal.SIGCONT)


def call(svc, method, req, resp_cls, timeout=10, rid=None):
    md = (("x-request-id", rid),) if rid else None
    with svc.channel() as ch:
        resp, c = unary(ch, method, req, resp_cls, timeout=timeout, metadata=md)
    return resp


def menu_call(gw, timeout=10, rid=None, **fields):
    fields.setdefault("store_code", STORE)
    fields.setdefault("channel", KIOSK)
    return call(gw, MENU, menu_pb2.GetStoreMenuRequest(**fields), menu_pb2.GetStoreMenuResponse,
                timeout=timeout, rid=rid)


def menu_error(gw, timeout=10, **fields):
    """(code, details, seconds) of a GetStoreMenu that must fail."""
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        menu_call(gw, timeout=timeout, **fields)
    return e.value.code(), e.value.details(), time.monotonic() - t0


def items(menu):
    return [i for c in menu.categories for i in c.items]


# ---- logs and metrics ----------------------------------------------------------------------


def log_lines(svc):
    """Complete JSON lines so far (a line still being written is skipped)."""
    text = svc.log_path.read_text(errors="replace")
    out = []
    for line in text.split("\n")[:-1]:
        if line.strip():
            out.append(json.loads(line))
    return out


def rpc_lines(svc, method, rid=None, want=1, timeout=5.0):
    """The per-call log lines of `method` (and request id); waits for `want` of them, since
    a server logs its line just after sending the reply."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in log_lines(svc) if l.get("msg") == "rpc" and l.get("method") == method
                 and (rid is None or l.get("request_id") == rid)]
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def interval(line):
    """(start, end) in seconds since the epoch of a server's call, from its log line."""
    end = datetime.datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return end - line["duration_ms"] / 1000.0, end


def metrics_text(svc):
    with urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5) as r:
        return r.read().decode()


def metric_value(text, name, **labels):
    total = None
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


# ---- what the owners answer directly -------------------------------------------------------


def all_categories(dyn, channel):
    out, after = [], ""
    while True:
        r = call(dyn, LIST_CATEGORIES, category_pb2.ListCategoriesRequest(
            channel=channel, page=common_pb2.PageRequest(first=128, after=after)),
            category_pb2.ListCategoriesResponse)
        out += [e.node for e in r.edges]
        if not r.page_info.has_next_page:
            return out
        after = r.page_info.end_cursor


def available_per_sql(sql, store, when, channel=KIOSK):
    """sql-svc's own list for the store and time: {code: ProductAvailability}."""
    out, after = {}, ""
    while True:
        r = call(sql, LIST_AVAIL, pa_pb2.ListProductAvailabilitiesRequest(
            store_code=store, channel=channel, at_time=when,
            page=common_pb2.PageRequest(first=128, after=after)),
            pa_pb2.ListProductAvailabilitiesResponse)
        out.update({e.node.product_code: e.node for e in r.edges})
        if not r.page_info.has_next_page:
            return out
        after = r.page_info.end_cursor


def swaps_of(dyn, channel=KIOSK):
    r = call(dyn, LIST_SWAPS, ghost_swap_pb2.ListGhostSwapsRequest(
        channel=channel, page=common_pb2.PageRequest(first=128)),
        ghost_swap_pb2.ListGhostSwapsResponse)
    return {e.node.product_code: e.node.swap_product_code for e in r.edges}


def check_menu(stack, menu, store, when):
    """The menu is exactly what the owners say: each category's available products (per
    sql-svc's own list for the same store and instant) in the category's order, swaps only
    to available targets, names and hidden flags as sql-svc has them."""
    avail = available_per_sql(stack.sql, store, when)
    cats = {c.id: c for c in all_categories(stack.dyn, KIOSK)}
    swaps = swaps_of(stack.dyn)
    assert menu.at_time == when
    for mc in menu.categories:
        want = [c for c in cats[mc.id].product_codes if c in avail]
        assert [i.product_code for i in mc.items] == want, mc.id
        assert mc.name == cats[mc.id].name
        for i in mc.items:
            assert i.display_name == avail[i.product_code].display_name
            assert i.is_hidden == avail[i.product_code].is_hidden
            assert i.rule_id == avail[i.product_code].rule_id
            target = swaps.get(i.product_code)
            if target in avail:
                assert i.swap.product_code == target, i
                assert i.swap.display_name == avail[target].display_name
            else:
                assert not i.HasField("swap"), i
    # Categories with nothing available are left out; no other is.
    assert [c.id for c in menu.categories] == \
        [c.id for c in cats.values() if any(p in avail for p in c.product_codes)]
    return avail


# ---- the demo menu -------------------------------------------------------------------------


def test_demo_menu_is_what_the_owners_say(stack):
    when = at_time()
    for store in ("R001", "R002", "R003"):
        got = menu_call(stack.gw, store_code=store, at_time=when)
        assert list(got.missing_parts) == []
        assert not got.page_info.has_next_page and not got.page_info.has_previous_page
        avail = check_menu(stack, got, store, when)
        assert len(items(got)) >= 10 and avail  # not vacuous


def test_demo_menu_reads_like_a_menu(stack):
    names = {code: name for code, name, _, _ in demo_products()}
    got = menu_call(stack.gw, at_time=at_time())
    titles = [c.name for c in got.categories]
    assert {"Burgers", "Chicken", "Sides", "Drinks"} <= set(titles), titles
    drinks = next(c for c in got.categories if c.name == "Drinks")
    assert [i.display_name for i in drinks.items] == [names[i.product_code] for i in drinks.items]
    # A swap applied, and a hidden item flagged, at the demo store.
    assert any(i.HasField("swap") for i in items(got))
    assert any(i.is_hidden for i in items(got))


def test_promotion_appears_when_at_time_moves_past_its_start(stack):
    promo = [code for code, _, _, note in demo_products() if note.startswith("promotion")]
    assert promo
    now = {i.product_code for i in items(menu_call(stack.gw, at_time=at_time()))}
    when = at_time(days=8)  # once: a second at_time() may fall in the next second
    later_menu = menu_call(stack.gw, at_time=when)
    later = {i.product_code for i in items(later_menu)}
    assert not set(promo) & now
    assert set(promo) <= later
    check_menu(stack, later_menu, STORE, when)


def test_swap_applied_only_when_its_target_is_available(stack):
    """Ghost swaps of the demo: applied where the target sells, left off where it does not."""
    when = at_time()
    swaps = swaps_of(stack.dyn)
    applied = not_applied = 0
    for store in ("R001", "R002", "R003"):
        got = menu_call(stack.gw, store_code=store, at_time=when)
        avail = available_per_sql(stack.sql, store, when)
        for i in items(got):
            if i.product_code in swaps:
                if swaps[i.product_code] in avail:
                    applied += 1
                    assert i.swap.product_code == swaps[i.product_code]
                else:
                    not_applied += 1
                    assert not i.HasField("swap")
    assert applied and not_applied


def test_two_stores_show_different_menus(stack):
    when = at_time()
    a = [i.product_code for i in items(menu_call(stack.gw, store_code="R001", at_time=when))]
    b = [i.product_code for i in items(menu_call(stack.gw, store_code="R002", at_time=when))]
    assert a and b and set(a) != set(b)


def test_unavailable_products_listed_with_their_reason_when_asked(stack):
    # A category naming a product sql-svc does not know (nothing stops dynamo-svc from storing
    # it: CheckMenuConsistency reports it), placed last on the channel.
    with stack.dyn.channel() as ch:
        try:
            unary(ch, CREATE_CATEGORY, category_pb2.CreateCategoryRequest(
                category=category_pb2.Category(id="zz-editor", channel=KIOSK, name="Editor test",
                                               display_order=10**6,
                                               product_codes=["P1000", "P9999"])),
                category_pb2.CreateCategoryResponse, timeout=10)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.ALREADY_EXISTS
    when = at_time()
    got = menu_call(stack.gw, at_time=when, include_unavailable=True,
                    include_empty_categories=True)
    avail = available_per_sql(stack.sql, STORE, when)
    cats = {c.id: c for c in all_categories(stack.dyn, KIOSK)}
    assert [c.id for c in got.categories] == list(cats)  # every category, empty ones marked
    reasons = {}
    for mc in got.categories:
        assert mc.is_empty == (not mc.items)
        assert [i.product_code for i in mc.items] == \
            [c for c in cats[mc.id].product_codes if c in avail]
        assert [u.product_code for u in mc.unavailable_items] == \
            [c for c in cats[mc.id].product_codes if c not in avail]
        for u in mc.unavailable_items:
            reasons[u.product_code] = u.reason
            assert u.reason in (REASON.AVAILABILITY_REASON_NO_RULE,
                                REASON.AVAILABILITY_REASON_DENIED_BY_RULE,
                                REASON.AVAILABILITY_REASON_UNKNOWN_PRODUCT)
            assert (u.rule_id > 0) == (u.reason == REASON.AVAILABILITY_REASON_DENIED_BY_RULE)
    assert reasons["P9999"] == REASON.AVAILABILITY_REASON_UNKNOWN_PRODUCT
    # Without the flags, neither the unavailable products nor empty categories are sent.
    plain = menu_call(stack.gw, at_time=when)
    assert all(not c.unavailable_items and not c.is_empty and c.items for c in plain.categories)


def test_unknown_store_is_not_found_and_off_channel_store_says_so(stack):
    code, details, _ = menu_error(stack.gw, store_code="R999", allow_partial=True)
    assert code == grpc.StatusCode.NOT_FOUND, details
    assert "R999" in details
    # A store that does not sell on the channel gets a reason, not an empty menu.
    # (The demo's R005 is a drive-thru only store.)
    code, details, _ = menu_error(stack.gw, store_code="R005", channel=KIOSK)
    assert code == grpc.StatusCode.FAILED_PRECONDITION, details
    assert details.startswith("store_code:") and "R005" in details


# ---- every category, paged -----------------------------------------------------------------


@pytest.fixture
def big_channel(start_service, sql_env, dynalite):
    """150 categories on KIOSK in tables of their own (20 demo products each, so that the
    2,000-code response budget also cuts pages), behind a gateway of their own."""
    env = {**env_of(dynalite), **dynamo_tables_env()}
    dyn = up(start_service, "dynamo-svc", env)
    sql = up(start_service, "sql-svc", sql_env)
    gw = up(start_service, "gateway", gateway_env(f"dns:///{dyn.addr}",
                                                         f"dns:///{sql.addr}"))
    codes = [code for code, _, _, _ in demo_products()]
    with dyn.channel() as ch:
        for i in range(150):
            unary(ch, CREATE_CATEGORY, category_pb2.CreateCategoryRequest(
                category=category_pb2.Category(
                    id=f"big-{i:03d}", channel=KIOSK, name=f"Category {i:03d}",
                    display_order=i % 7, product_codes=codes[i % 20:i % 20 + 20])),
                category_pb2.CreateCategoryResponse, timeout=10)
    return SimpleNamespace(dyn=dyn, sql=sql, gw=gw)


def test_every_category_is_reached_by_paging(big_channel):
    want = [c.id for c in all_categories(big_channel.dyn, KIOSK)]
    assert len(want) == 150
    when = at_time()
    got, after, pages = [], "", 0
    while True:
        r = menu_call(big_channel.gw, at_time=when, include_empty_categories=True,
                      include_unavailable=True, page=common_pb2.PageRequest(after=after))
        pages += 1
        assert r.categories and r.page_info.end_cursor == r.categories[-1].cursor
        got += [c.id for c in r.categories]
        # The response budget: at most 2,000 product codes per page (available or not).
        assert sum(len(c.items) + len(c.unavailable_items) for c in r.categories) <= 2000
        if not r.page_info.has_next_page:
            break
        after = r.page_info.end_cursor
    assert got == want  # all 150, each once, in display order
    assert pages >= 2  # 150 x 20 codes cannot fit one page
    # Backward from the end gives the last page again.
    last = menu_call(big_channel.gw, at_time=when, include_empty_categories=True,
                     page=common_pb2.PageRequest(last=10))
    assert [c.id for c in last.categories] == want[-10:]
    assert last.page_info.has_previous_page


# ---- the fan-out ---------------------------------------------------------------------------


def test_availability_and_swaps_are_asked_at_once(stack):
    """Measured, not assumed: from the gateway's per-backend offsets and from the backends'
    own log lines (their end time minus their duration)."""
    overlaps = 0
    for i in range(5):
        rid = f"gw-overlap-{i}-{time.time_ns()}"
        menu_call(stack.gw, rid=rid, at_time=at_time(), fresh_read=True)  # past the cache
        [gw_line] = rpc_lines(stack.gw, MENU, rid)
        assert gw_line["status"] == "OK"
        # Both asked once the categories were known, each before the other finished.
        assert gw_line["products_start_ms"] >= gw_line["categories_end_ms"]
        assert gw_line["ghost_swaps_start_ms"] >= gw_line["categories_end_ms"]
        assert gw_line["ghost_swaps_start_ms"] <= gw_line["products_end_ms"]
        assert gw_line["products_start_ms"] <= gw_line["ghost_swaps_end_ms"]

        [swap_line] = rpc_lines(stack.dyn, BATCH_SWAPS, rid)
        prod_lines = rpc_lines(stack.sql, BATCH_AVAIL, rid)
        assert 1 <= len(prod_lines) <= 2  # the page's codes (+ swap targets not on the page)
        s0, s1 = interval(swap_line)
        p0, p1 = interval(prod_lines[0])
        # Log times have millisecond resolution: allow 1 ms on each comparison.
        if s0 <= p1 + 0.001 and p0 <= s1 + 0.001:
            overlaps += 1
    # The gateway's own offsets above prove both calls were in flight at once every time. On the
    # backends' side a call of a few ms can end before the other backend's thread is even
    # scheduled (2 cores shared by 5 processes), so require most, not all, windows to overlap;
    # sequential calls would overlap in none.
    assert overlaps >= 3


def test_request_id_reaches_both_backends(stack):
    rid = f"gw-rid-{time.time_ns()}"
    with stack.gw.channel() as ch:
        _, c = unary(ch, MENU, menu_pb2.GetStoreMenuRequest(store_code=STORE, channel=KIOSK),
                     menu_pb2.GetStoreMenuResponse, timeout=10,
                     metadata=(("x-request-id", rid),))
    assert ("x-request-id", rid) in c.initial_metadata()
    assert rpc_lines(stack.gw, MENU, rid)
    assert rpc_lines(stack.dyn, LIST_CATEGORIES, rid)
    assert rpc_lines(stack.dyn, BATCH_SWAPS, rid)
    assert rpc_lines(stack.sql, BATCH_AVAIL, rid)

    # Without one, the gateway makes one and the backends log that same id.
    with stack.gw.channel() as ch:
        _, c = unary(ch, MENU, menu_pb2.GetStoreMenuRequest(store_code=STORE, channel=KIOSK),
                     menu_pb2.GetStoreMenuResponse, timeout=10)
    made = dict(c.initial_metadata())["x-request-id"]
    assert made and made != rid
    assert rpc_lines(stack.sql, BATCH_AVAIL, made)
    assert rpc_lines(stack.dyn, LIST_CATEGORIES, made)


def test_client_metrics_per_backend(stack):
    for _ in range(3):
        menu_call(stack.gw)
    text = metrics_text(stack.gw)
    for service, method in [("menu.v1.CategoryService", "ListCategories"),
                            ("menu.v1.GhostSwapService", "BatchGetGhostSwaps"),
                            ("menu.v1.ProductAvailabilityService",
                             "BatchGetProductAvailabilities")]:
        assert metric_value(text, "grpc_client_handled_total", grpc_service=service,
                            grpc_method=method, grpc_code="OK") >= 3.0, text
        assert metric_value(text, "grpc_client_handling_seconds_count", grpc_service=service,
                            grpc_method=method) >= 3.0
    # The server's own count is recorded just after the reply is sent: give it a moment.
    deadline = time.monotonic() + 2
    while metric_value(text, "grpc_server_handled_total", grpc_method="GetStoreMenu",
                       grpc_code="OK") != 3.0 and time.monotonic() < deadline:
        time.sleep(0.05)
        text = metrics_text(stack.gw)
    assert metric_value(text, "grpc_server_handled_total", grpc_method="GetStoreMenu",
                        grpc_code="OK") == 3.0


def test_invalid_input_names_the_field_and_calls_no_backend(stack):
    cases = [({"store_code": ""}, "store_code"), ({"store_code": "bad code!"}, "store_code"),
             ({"store_code": "x" * 51}, "store_code"),
             ({"channel": common_pb2.CHANNEL_UNSPECIFIED}, "channel"),
             ({"channel": 42}, "channel")]
    for fields, field in cases:
        code, details, _ = menu_error(stack.gw, **fields)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith(field + ":"), details
    assert rpc_lines(stack.sql, BATCH_AVAIL, want=0, timeout=0.3) == []
    assert rpc_lines(stack.dyn, LIST_CATEGORIES, want=0, timeout=0.3) == []


def test_paging_is_validated_by_dynamo_svc(stack):
    """The menu's page is a page of categories: dynamo-svc's INVALID_ARGUMENT reaches the
    caller, named, even with allow_partial (it is the caller's mistake, not an outage)."""
    for allow_partial in (False, True):
        code, details, _ = menu_error(stack.gw, page=common_pb2.PageRequest(first=-1),
                                      allow_partial=allow_partial)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "dynamo-svc (CategoryService.ListCategories)" in details
        assert "page.first" in details
        code, details, _ = menu_error(stack.gw, page=common_pb2.PageRequest(after="forged"),
                                      allow_partial=allow_partial)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "page.after" in details


def test_dynamo_svc_stopped(stack):
    stack.dyn.stop()
    code, details, secs = menu_error(stack.gw)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert details.startswith("dynamo-svc (CategoryService.ListCategories): "), details
    assert secs < 3.0
    # Without categories nothing else can be asked: every part is missing, sql-svc untouched.
    got = menu_call(stack.gw, allow_partial=True, at_time=at_time())
    assert list(got.missing_parts) == [PART.MENU_PART_CATEGORIES, PART.MENU_PART_PRODUCTS,
                                       PART.MENU_PART_GHOST_SWAPS]
    assert list(got.categories) == []
    assert rpc_lines(stack.sql, BATCH_AVAIL, want=0, timeout=0.3) == []


def test_sql_svc_stopped(stack):
    stack.sql.stop()
    code, details, secs = menu_error(stack.gw)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert details.startswith(
        "sql-svc (ProductAvailabilityService.BatchGetProductAvailabilities): "), details
    assert secs < 3.0

    got = menu_call(stack.gw, allow_partial=True)
    assert list(got.missing_parts) == [PART.MENU_PART_PRODUCTS]
    assert not got.HasField("at_time") and items(got) == []
    # Every category is there, without items (none is known to be empty).
    assert [c.id for c in got.categories] == [c.id for c in all_categories(stack.dyn, KIOSK)]


@pytest.mark.parametrize("frozen", ["sql", "dyn"])
def test_short_deadline_against_a_frozen_backend(stack, frozen):
    """A backend frozen with SIGSTOP (its socket still accepts, nothing answers): a 50 ms
    deadline comes back as DEADLINE_EXCEEDED in about 50 ms, not a hang."""
    menu_call(stack.gw, allow_partial=True)  # connections are up: the freeze hits mid-call
    svc = getattr(stack, frozen)
    svc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(3):
            code, _, secs = menu_error(stack.gw, timeout=0.05)
            assert code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert secs < 0.2, secs
        lines = rpc_lines(stack.gw, MENU, want=4)
        failed = [l for l in lines if l["status"] == "DEADLINE_EXCEEDED"]
        assert len(failed) == 3
        # The frozen backend's call ran out of time (its own deadline, or the caller's passing
        # first and cancelling it: a race of a few ms either side may win). With sql-svc
        # frozen, the ghost swaps call is in flight at the same instant and may be the one
        # the deadline is reported on.
        part = "products" if frozen == "sql" else "categories"
        backends = (("sql-svc (", "dynamo-svc (GhostSwapService") if frozen == "sql"
                    else ("dynamo-svc (",))
        for l in failed:
            assert l["duration_ms"] < 100, l
            assert l["error"].startswith(backends), l
            assert l.get(f"{part}_status") in ("DEADLINE_EXCEEDED", "CANCELLED"), l

        # With allow_partial the frozen parts are missing and the rest arrives within the
        # caller's deadline (the backends get a little less time than the caller gave).
        t0 = time.monotonic()
        got = menu_call(stack.gw, timeout=1.0, allow_partial=True)
        secs = time.monotonic() - t0
        want = ([PART.MENU_PART_PRODUCTS] if frozen == "sql" else
                [PART.MENU_PART_CATEGORIES, PART.MENU_PART_PRODUCTS, PART.MENU_PART_GHOST_SWAPS])
        assert list(got.missing_parts) == want
        assert 0.8 < secs < 1.0, secs
    finally:
        svc.send_signal(signal.SIGCONT)
    # Thawed, it answers again through the same channel.
    got = menu_call(stack.gw, allow_partial=True)
    assert list(got.missing_parts) == []


def test_round_robin_over_two_sql_replicas(start_service, sql_env, dyn_env):
    dyn = up(start_service, "dynamo-svc", dyn_env)
    a = up(start_service, "sql-svc", sql_env)
    b = up(start_service, "sql-svc", sql_env)
    gw = up(start_service, "gateway", gateway_env(
        f"dns:///{dyn.addr}", f"ipv4:127.0.0.1:{a.port},127.0.0.1:{b.port}",
        MENU_CACHE_BYTES="0"))  # every menu reaches a replica
    n = 20
    for i in range(n):
        got = menu_call(gw, allow_partial=True, rid=f"gw-rr-{i}-{time.time_ns()}")
        assert PART.MENU_PART_PRODUCTS not in got.missing_parts
    # Log lines are written by each server's log thread just after the reply: wait for them.
    deadline = time.monotonic() + 5
    while True:
        count_a = len(rpc_lines(a, BATCH_AVAIL, want=0))
        count_b = len(rpc_lines(b, BATCH_AVAIL, want=0))
        if count_a + count_b >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert count_a + count_b >= n  # one call per menu, two when swap targets are asked
    # round_robin alternates over READY replicas; both must carry a real share.
    assert count_a >= n // 4 and count_b >= n // 4, (count_a, count_b)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=menu-test-ca")
    for name, ext in [("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "extendedKeyUsage=clientAuth")]:
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(ext + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    return {k: str(d / k) for k in ("ca.crt", "server.crt", "server.key", "client.crt",
                                      "client.key")}


def test_mutual_tls_to_backends(start_service, sql_env, dyn_env, tmp_path):
    pki = make_pki(tmp_path)
    read = lambda k: open(pki[k], "rb").read()  # noqa: E731
    creds = grpc.ssl_channel_credentials(read("ca.crt"), read("client.key"), read("client.crt"))
    serve_tls = {"TLS_CERT_FILE": pki["server.crt"], "TLS_KEY_FILE": pki["server.key"],
                 "TLS_CLIENT_CA_FILE": pki["ca.crt"]}
    dyn = up(start_service, "dynamo-svc", {**dyn_env, **serve_tls}, creds)
    sql = up(start_service, "sql-svc", {**sql_env, **serve_tls}, creds)
    targets = (f"dns:///{dyn.addr}", f"dns:///{sql.addr}")
    gw = up(start_service, "gateway", gateway_env(
        *targets, BACKEND_TLS_CA_FILE=pki["ca.crt"], BACKEND_TLS_CERT_FILE=pki["client.crt"],
        BACKEND_TLS_KEY_FILE=pki["client.key"]))
    got = menu_call(gw, allow_partial=True)
    assert list(got.missing_parts) == []
    assert len(got.categories) >= 3 and items(got)

    # Without a client certificate the backends refuse the gateway: UNAVAILABLE, named.
    no_cert = up(start_service, "gateway", gateway_env(*targets,
                                                       BACKEND_TLS_CA_FILE=pki["ca.crt"]))
    code, details, secs = menu_error(no_cert)
    assert code == grpc.StatusCode.UNAVAILABLE and secs < 3.0
    assert details.startswith(("dynamo-svc (", "sql-svc (")), details
    # Nor does a plaintext gateway get an answer.
    plain = up(start_service, "gateway", gateway_env(*targets))
    code, _, _ = menu_error(plain)
    assert code == grpc.StatusCode.UNAVAILABLE
