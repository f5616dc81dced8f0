"""WatchStoreMenu with two gateways over owners written through other replicas: a category
write and a rule write each reach both gateways' watchers within the bound; a rule whose
effective instant passes reaches a watcher with no write; a watcher survives its dynamo-svc
being killed and restarted, and gets the next write on the same stream."""

import signal
import time
from types import SimpleNamespace

import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from conftest import unary
from test_sql_support import demo_database, sql
from test_gateway_menu import KIOSK, STORE, dyn_env, gateway_env, up  # noqa: F401
from test_gateway_watch import Watcher

from menu.v1 import category_pb2  # noqa: E402
from menu.v1 import product_availability_pb2 as pa_pb2  # noqa: E402

# ---- changes reach watchers: two gateways, owners written through another replica ---------

UPDATE_CATEGORY = "/menu.v1.CategoryService/UpdateCategory"
GET_CATEGORY = "/menu.v1.CategoryService/GetCategory"
CREATE_RULE = "/menu.v1.ProductAvailabilityService/CreateAvailabilityRule"
BOUND = 2.0  # seconds from a write's acknowledgement to the watcher (poll 250 ms + compose)


@pytest.fixture
def fleet(start_service, mariadb, dyn_env):  # noqa: F811
    """Two gateways over one dynamo-svc and one sql-svc; writes go through a second replica of
    each owner that no gateway talks to. A private database: rule writes stay in this test."""
    senv = demo_database(mariadb, "menu_t_watch")
    dyn = up(start_service, "dynamo-svc", dyn_env)
    sql_svc = up(start_service, "sql-svc", senv)
    dyn_w = up(start_service, "dynamo-svc", dyn_env)
    sql_w = up(start_service, "sql-svc", senv)
    gws = [up(start_service, "gateway",
              gateway_env(f"dns:///{dyn.addr}", f"dns:///{sql_svc.addr}")) for _ in range(2)]
    return SimpleNamespace(dyn=dyn, sql=sql_svc, dyn_w=dyn_w, sql_w=sql_w, gws=gws,
                           dyn_env=dyn_env, sql_env=senv, start_service=start_service)


def rename_category(dyn, category_id, name):
    with dyn.channel() as ch:
        got, _ = unary(ch, GET_CATEGORY, category_pb2.GetCategoryRequest(
            channel=KIOSK, id=category_id), category_pb2.GetCategoryResponse, timeout=10)
        c = got.category
        unary(ch, UPDATE_CATEGORY, category_pb2.UpdateCategoryRequest(
            category=category_pb2.Category(id=c.id, channel=KIOSK, name=name, version=c.version),
            update_mask=field_mask_pb2.FieldMask(paths=["name"])),
            category_pb2.UpdateCategoryResponse, timeout=10)


def wait_for(w, pred, timeout):
    """The first version (list of pages) for which pred holds, or None after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pages = w.version(timeout=max(0.05, deadline - time.monotonic()))
        except AssertionError:
            return None
        if pred(pages):
            return pages
    return None


def names(pages):
    return [c.name for p in pages for c in p.categories]


def codes(pages):
    return {i.product_code for p in pages for c in p.categories for i in c.items}


def restaurant_rule(env, code, store, effective=None):
    """A restaurant-level deny of `code` at `store` on KIOSK (from `effective`, else now)."""
    group = int(sql(env, "SELECT g.productAvailabilityRuleGroupId FROM productAvailabilityRuleGroup g"
                         " JOIN productAvailabilityRuleGroupType t USING"
                         " (productAvailabilityRuleGroupTypeId) JOIN channel c USING (channelId)"
                         " WHERE c.channelCode = 'KIOSK' AND t.code = 'restaurant'")[0][0])
    rule = pa_pb2.AvailabilityRule(product_code=code, rule_group_id=group,
                                   rule_type=pa_pb2.RULE_TYPE_RESTAURANT,
                                   rule_effect=pa_pb2.RULE_EFFECT_DENY, restaurant_code=store,
                                   created_by="watch-test")
    if effective is not None:
        rule.effective_time.CopyFrom(timestamp_pb2.Timestamp(seconds=int(effective)))
    return pa_pb2.CreateAvailabilityRuleRequest(rule=rule)


def create_rule(svc, req):
    with svc.channel() as ch:
        unary(ch, CREATE_RULE, req, pa_pb2.CreateAvailabilityRuleResponse, timeout=10)


def test_writes_on_either_owner_reach_watchers_on_every_gateway(fleet):
    chans = [gw.channel() for gw in fleet.gws]
    try:
        ws = [Watcher(ch) for ch in chans]
        first = [w.version() for w in ws]
        assert first[0][0].etag == first[1][0].etag, "both replicas name the version alike"
        cat = first[0][0].categories[0]
        new_name = f"{cat.name} (watch {int(time.time())})"
        rename_category(fleet.dyn_w, cat.id, new_name)
        acked = time.monotonic()
        for w in ws:
            assert wait_for(w, lambda p: new_name in names(p), BOUND), \
                "the renamed category reached the watcher in time"
        assert time.monotonic() - acked < BOUND
        # a rule written through the other sql-svc hides a product at this store
        code = sorted(codes(first[0]))[0]
        create_rule(fleet.sql_w, restaurant_rule(fleet.sql_env, code, STORE))
        acked = time.monotonic()
        for w in ws:
            assert wait_for(w, lambda p: code not in codes(p), BOUND), \
                f"{code} left the watcher's menu in time"
        assert time.monotonic() - acked < BOUND
    finally:
        for ch in chans:
            ch.close()


def test_a_rule_starting_later_reaches_the_watcher_with_no_write(fleet):
    gw = fleet.gws[0]
    with gw.channel() as ch:
        w = Watcher(ch)
        code = sorted(codes(w.version()))[-1]
        start = time.time() + 4
        create_rule(fleet.sql_w, restaurant_rule(fleet.sql_env, code, STORE, effective=start))
        got = wait_for(w, lambda p: code not in codes(p), 4 + BOUND + 1)
        assert got, f"{code} left the menu when the rule took effect"
        assert time.time() >= int(start), "not before the rule's effective instant"
        assert time.time() < int(start) + BOUND, "soon after it, from valid_until alone"
        assert got[0].etag


def test_a_watcher_survives_a_backend_restart(fleet):
    gw = fleet.gws[0]
    with gw.channel() as ch:
        w = Watcher(ch)
        cat = w.version()[0].categories[0]
        port = int(fleet.dyn.addr.rsplit(":", 1)[1])
        fleet.dyn.stop(signal.SIGKILL)
        time.sleep(1.0)  # the poll and any recomposition fail meanwhile; the stream stays
        fleet.start_service("dynamo-svc", env=fleet.dyn_env, port=port)
        new_name = f"{cat.name} (after restart {int(time.time())})"
        rename_category(fleet.dyn_w, cat.id, new_name)
        got = wait_for(w, lambda p: new_name in names(p), BOUND + 5)
        assert got, "the write after the restart reached the same stream"
