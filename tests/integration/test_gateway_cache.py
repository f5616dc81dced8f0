"""The gateway's freshness machinery on the real stack (MariaDB, dynalite, the real binaries):
the revision poller (one round per channel in use and interval, never per request), the
cache of composed parts and its staleness bound (writes through one backend replica are seen
by every gateway replica within the bound, in a write-then-read loop too), etag /
if_none_match / not_modified without any backend call, fresh_read, a rule boundary passing
without any write, the byte budget, and an owner down (no stale answer past the bound)."""

import time
from types import SimpleNamespace

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from conftest import unary
from test_gateway_menu import (KIOSK, STORE, gateway_env, metric_value, metrics_text, rpc_lines,
                               up)
from test_gateway_menu import dyn_env  # noqa: F401 (a module fixture: demo data)
from test_sql_support import demo_database, sql

from menu.v1 import category_pb2, menu_pb2  # noqa: E402
from menu.v1 import product_availability_pb2 as pa_pb2  # noqa: E402

MENU = "/menu.v1.MenuService/GetStoreMenu"
BOUND = 1.0  # MENU_CACHE_STALENESS_MS of the gateways below, in seconds
CAT = "/menu.v1.CategoryService/"
AVAIL = "/menu.v1.ProductAvailabilityService/"


# ---- stack -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sql_env(mariadb):
    return demo_database(mariadb, "menu_t_cache")


def gateway(start_service, dyns, sqls, **extra):
    targets = ("ipv4:" + ",".join(d.addr for d in dyns), "ipv4:" + ",".join(s.addr for s in sqls))
    return up(start_service, "gateway", gateway_env(*targets, MENU_CACHE_STALENESS_MS="1000",
                                                    **extra))


@pytest.fixture
def fleet(start_service, sql_env, dyn_env):
    """Two replicas of each backend; gateway A reads through replicas 1, gateway B through
    replicas 2, so a write through either replica is read through the other by one of them."""
    d1, d2 = up(start_service, "dynamo-svc", dyn_env), up(start_service, "dynamo-svc", dyn_env)
    s1, s2 = up(start_service, "sql-svc", sql_env), up(start_service, "sql-svc", sql_env)
    ga = gateway(start_service, [d1], [s1])
    gb = gateway(start_service, [d2], [s2])
    return SimpleNamespace(dyn=[d1, d2], sql=[s1, s2], gws=[ga, gb])


# ---- calls -------------------------------------------------------------------------------


def rpc(svc, method, req, resp_cls, timeout=10):
    with svc.channel() as ch:
        resp, _ = unary(ch, method, req, resp_cls, timeout=timeout,
                        metadata=(("x-user", "cache-test"),))
    return resp


def menu(gw, **fields):
    fields.setdefault("store_code", STORE)
    fields.setdefault("channel", KIOSK)
    return rpc(gw, MENU, menu_pb2.GetStoreMenuRequest(**fields), menu_pb2.GetStoreMenuResponse)


def codes(m):
    return {i.product_code for c in m.categories for i in c.items}


def rpc_rid(gw, rid, **fields):
    fields.setdefault("store_code", STORE)
    fields.setdefault("channel", KIOSK)
    with gw.channel() as ch:
        resp, _ = unary(ch, MENU, menu_pb2.GetStoreMenuRequest(**fields),
                        menu_pb2.GetStoreMenuResponse, timeout=10,
                        metadata=(("x-request-id", rid),))
    return resp


def names(m):
    return {c.id: c.name for c in m.categories}


def rename(dyn, cat_id, name):
    got = rpc(dyn, CAT + "GetCategory", category_pb2.GetCategoryRequest(id=cat_id, channel=KIOSK),
              category_pb2.GetCategoryResponse).category
    rpc(dyn, CAT + "UpdateCategory", category_pb2.UpdateCategoryRequest(
        category=category_pb2.Category(id=cat_id, channel=KIOSK, name=name, version=got.version),
        update_mask=field_mask_pb2.FieldMask(paths=["name"])), category_pb2.UpdateCategoryResponse)


def restaurant_group(env):
    return int(sql(env, "SELECT g.productAvailabilityRuleGroupId FROM productAvailabilityRuleGroup g"
                        " JOIN productAvailabilityRuleGroupType t USING (productAvailabilityRuleGroupTypeId)"
                        " JOIN channel c USING (channelId) WHERE c.channelCode = 'KIOSK'"
                        " AND t.code = 'restaurant'")[0][0])


def deny(sqlsvc, env, code, effective=None):
    rule = pa_pb2.AvailabilityRule(product_code=code, rule_group_id=restaurant_group(env),
                                   rule_type=pa_pb2.RULE_TYPE_RESTAURANT,
                                   rule_effect=pa_pb2.RULE_EFFECT_DENY, restaurant_code=STORE)
    if effective is not None:
        rule.effective_time.CopyFrom(timestamp_pb2.Timestamp(seconds=int(effective)))
    return rpc(sqlsvc, AVAIL + "CreateAvailabilityRule",
               pa_pb2.CreateAvailabilityRuleRequest(rule=rule),
               pa_pb2.CreateAvailabilityRuleResponse).rule


def undeny(sqlsvc, rule):
    rpc(sqlsvc, AVAIL + "TerminateAvailabilityRule",
        pa_pb2.TerminateAvailabilityRuleRequest(rule_id=rule.rule_id, version=rule.version),
        pa_pb2.TerminateAvailabilityRuleResponse)


def backend_calls(gw):
    """Calls the gateway made to read the owners' data (the poller's reads are not those)."""
    text = metrics_text(gw)
    return sum(metric_value(text, "grpc_client_handled_total", grpc_method=m) or 0.0
               for m in ("ListCategories", "BatchGetGhostSwaps", "BatchGetProductAvailabilities"))


def plain(text, name):
    """A series without labels."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ")[1])
    return None


def polls(gw, backend=None):
    text = metrics_text(gw)
    labels = {"backend": backend} if backend else {}
    return metric_value(text, "menu_revision_polls_total", **labels) or 0.0


def warm(gw, **fields):
    """Reads until the poller has confirmed the channel and the answer has an etag."""
    deadline = time.monotonic() + 5
    while True:
        m = menu(gw, **fields)
        if m.etag or time.monotonic() > deadline:
            return m
        time.sleep(0.1)


def until_after(t, check, gws, reads_for=0.4):
    """Reads every gateway repeatedly from now until t + BOUND + reads_for; returns the reads
    that started after t + BOUND and failed `check` (must be none), and how many did pass."""
    stale, fresh = [], 0
    end = t + BOUND + reads_for
    while time.monotonic() < end:
        for gw in gws:
            started = time.monotonic()
            m = menu(gw)
            if started >= t + BOUND:
                if check(m):
                    fresh += 1
                else:
                    stale.append((gw.addr, started - t))
    return stale, fresh


# ---- the poller --------------------------------------------------------------------------


def test_poller_polls_channels_in_use_per_interval_not_per_request(start_service, sql_env,
                                                                     dyn_env):
    dyn, sq = up(start_service, "dynamo-svc", dyn_env), up(start_service, "sql-svc", sql_env)
    gw = gateway(start_service, [dyn], [sq], MENU_REVISION_POLL_MS="100")
    time.sleep(0.5)
    # No channel asked for yet: nothing is polled.
    assert polls(gw) == 0
    menu(gw)
    t0 = time.monotonic()
    for _ in range(40):  # many requests, one channel: the poll rate does not follow them
        menu(gw)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    elapsed = time.monotonic() - t0
    for backend in ("dynamo-svc", "sql-svc"):
        n = polls(gw, backend)
        assert 3 <= n <= elapsed / 0.1 + 3, (backend, n, elapsed)
        ok = metric_value(metrics_text(gw), "menu_revision_polls_total", backend=backend,
                          result="ok")
        assert ok and ok >= n - 1, (backend, ok, n)


# ---- etag --------------------------------------------------------------------------------


def test_etag_round_trip_answers_not_modified_without_a_backend_call(fleet):
    gw = fleet.gws[0]
    first = warm(gw)
    assert first.etag and first.categories and not first.not_modified
    before = backend_calls(gw)
    again = menu(gw, if_none_match=first.etag)
    assert again.not_modified and again.etag == first.etag
    assert not again.categories and not again.HasField("page_info")
    assert again.HasField("at_time")
    # Served from the cache: no owner was asked anything.
    assert backend_calls(gw) == before
    # Another gateway replica computes the same etag for the same menu.
    other = warm(fleet.gws[1])
    assert other.etag == first.etag
    # A stale etag gets the whole menu.
    full = menu(gw, if_none_match="not-the-etag")
    assert not full.not_modified and names(full) == names(first) and full.etag == first.etag
    # Another shape of request is another menu.
    assert menu(gw, include_unavailable=True).etag not in ("", first.etag)
    text = metrics_text(gw)
    assert metric_value(text, "menu_cache_hits_total", part="menu") >= 2
    assert plain(text, "menu_cache_staleness_seconds_count") >= 2


def test_if_none_match_past_the_cache_costs_revision_reads_only(fleet):
    gw = fleet.gws[1]
    m = warm(gw, store_code="R002")
    assert m.etag != warm(gw).etag  # another store, another menu
    before = backend_calls(gw)
    # fresh_read skips the cache: the two cheap revision reads, no menu data read.
    got = rpc_rid(gw, "inm-fresh", store_code="R002", if_none_match=m.etag, fresh_read=True)
    assert got.not_modified and got.etag == m.etag and not got.categories
    assert backend_calls(gw) == before
    line = rpc_lines(gw, MENU, rid="inm-fresh")[0]
    assert line["availability_revision_status"] == "OK"
    assert line["catalog_revision_status"] == "OK"
    assert "categories_start_ms" not in line


# ---- writes reach every replica within the bound -------------------------------------------


def test_category_write_changes_etag_on_both_gateways_within_the_bound(fleet):
    ga, gb = fleet.gws
    before = [warm(ga), warm(gb)]
    cat = before[0].categories[0]
    new_name = cat.name + " (renamed)"
    rename(fleet.dyn[1], cat.id, new_name)  # through replica 2; gateway A reads replica 1
    t = time.monotonic()
    stale, fresh = until_after(t, lambda m: names(m)[cat.id] == new_name and
                               m.etag != before[0].etag, [ga, gb])
    assert not stale and fresh >= 2
    assert menu(ga).etag == menu(gb).etag


def test_rule_write_changes_etag_on_both_gateways_within_the_bound(fleet, sql_env):
    ga, gb = fleet.gws
    before = warm(ga)
    warm(gb)
    code = sorted(codes(before))[0]
    deny(fleet.sql[0], sql_env, code)  # through sql replica 1; gateway B reads replica 2
    t = time.monotonic()
    stale, fresh = until_after(t, lambda m: code not in codes(m) and m.etag != before.etag,
                               [ga, gb])
    assert not stale and fresh >= 2


def test_write_then_read_loop_never_answers_the_old_menu_after_the_bound(fleet, sql_env):
    ga, gb = fleet.gws
    base = warm(ga)
    warm(gb)
    cat = base.categories[-1]
    code = sorted(codes(base))[-1]
    rule = None
    for i in range(6):
        if i % 2 == 0:
            name = f"{cat.name} v{i}"
            rename(fleet.dyn[i % 2], cat.id, name)
            check = (lambda n: lambda m: names(m).get(cat.id) == n)(name)
        elif rule is None:
            rule = deny(fleet.sql[i % 2], sql_env, code)
            check = lambda m: code not in codes(m)  # noqa: E731
        else:
            undeny(fleet.sql[i % 2], rule)
            rule = None
            check = lambda m: code in codes(m)  # noqa: E731
        t = time.monotonic()
        stale, fresh = until_after(t, check, [ga, gb], reads_for=0.2)
        assert not stale, (i, stale)
        assert fresh >= 2


def test_fresh_read_sees_a_write_at_once(fleet):
    ga = fleet.gws[0]
    m = warm(ga)
    cat = m.categories[0]
    rename(fleet.dyn[1], cat.id, cat.name + " (now)")
    got = menu(ga, fresh_read=True)
    assert names(got)[cat.id] == cat.name + " (now)"


def test_a_rule_boundary_passing_changes_the_menu_without_any_write(fleet, sql_env):
    ga = fleet.gws[0]
    base = warm(ga)
    code = sorted(codes(base))[1]
    effective = int(time.time()) + 3
    deny(fleet.sql[0], sql_env, code, effective=effective)
    time.sleep(BOUND + 0.1)
    before = menu(ga)
    assert code in codes(before)
    assert before.valid_until.seconds == effective, before.valid_until
    while time.time() < effective + 0.05:
        time.sleep(0.05)
    after = menu(ga)
    assert code not in codes(after) and after.etag != before.etag


# ---- budget and outages --------------------------------------------------------------------


def test_a_small_budget_evicts_and_still_answers(start_service, sql_env, dyn_env):
    dyn, sq = up(start_service, "dynamo-svc", dyn_env), up(start_service, "sql-svc", sql_env)
    gw = gateway(start_service, [dyn], [sq], MENU_CACHE_BYTES="6000")
    first = {s: warm(gw, store_code=s) for s in ("R001", "R002", "R003")}
    for s in ("R001", "R002", "R003"):
        assert names(menu(gw, store_code=s)) == names(first[s])
    text = metrics_text(gw)
    assert metric_value(text, "menu_cache_evictions_total") > 0
    assert 0 < plain(text, "menu_cache_bytes") <= 6000


def test_an_owner_down_stops_cached_answers_after_the_bound(start_service, sql_env, dyn_env):
    dyn, sq = up(start_service, "dynamo-svc", dyn_env), up(start_service, "sql-svc", sql_env)
    gw = gateway(start_service, [dyn], [sq])
    m = warm(gw)
    assert menu(gw).etag == m.etag
    hits = metric_value(metrics_text(gw), "menu_cache_hits_total", part="menu")
    assert hits >= 1
    dyn.stop()
    t = time.monotonic()
    time.sleep(BOUND + 0.05)
    # The poller cannot confirm the catalog any more: nothing cached is served, and the call
    # fails as it would without a cache...
    with pytest.raises(grpc.RpcError) as e:
        menu(gw)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() - t >= BOUND
    # ...or is partial.
    part = menu(gw, allow_partial=True)
    assert menu_pb2.MENU_PART_CATEGORIES in part.missing_parts and not part.etag
    assert metric_value(metrics_text(gw), "menu_revision_polls_total", backend="dynamo-svc",
                        result="error") > 0
