"""sql-svc on the large generated data set (30 markets, 120 regions, 2,000 restaurants, 5,000
products, 300,000 rules): `sql-svc generate` loads it in under 2 minutes, the server's plan
for the exact availability statement reads productAvailabilityRule only through indexes (never
a full scan for one store), and a page comes back quickly through the service."""

import time

import pytest

from menu.v1 import common_pb2 as cm
from test_sql_support import (batch_get, db_env, fresh_database, list_all, list_page, migrate,
                              sql, subcommand)


@pytest.fixture(scope="module")
def big(mariadb):
    e = db_env(mariadb, "menu_t_big")
    fresh_database(e)
    migrate(e)
    t = time.monotonic()
    out = subcommand(e, "generate", timeout=150)
    took = time.monotonic() - t
    assert out.returncode == 0, out.stdout + out.stderr
    return e, took


def explain_rule_rows(e, *args):
    """The plan `sql-svc explain ARGS` shows on the large set, its rows for the rules table
    (par): one per scope branch, each read through one of its indexes, each examining under a
    tenth of the table's 300,000 rules."""
    out = subcommand(e, "explain", *args)
    assert out.returncode == 0, out.stderr
    lines = [line.split("\t") for line in out.stdout.splitlines() if line and not line.startswith("{")]
    header, rows = lines[0], [dict(zip(lines[0], r)) for r in lines[1:]]
    assert "type" in header and "key" in header
    rule_rows = [r for r in rows if r["table"] == "par"]
    assert len(rule_rows) == 4  # one index read per scope branch
    for r in rule_rows:
        assert r["type"] in ("ref", "eq_ref", "range"), r
        assert r["key"].startswith("ix_rule_"), r
        assert int(r["rows"]) < 300000 // 10, r
    return rule_rows


def first_kiosk_store(e):
    """The first store code (in code order) on KIOSK (every store is on 3 to 5 of the 5
    channels)."""
    return sql(e, "SELECT r.restaurantCode FROM restaurant r JOIN"
                  " restaurantChannelMenuTypeAssociation a USING (restaurantId) JOIN channel c"
                  " USING (channelId) WHERE c.channelCode = 'KIOSK' ORDER BY r.restaurantCode"
                  " LIMIT 1")[0][0]


def test_generate_loads_the_large_set_in_under_two_minutes(big):
    e, took = big
    assert took < 120
    counts = sql(e, "SELECT (SELECT COUNT(*) FROM market), (SELECT COUNT(*) FROM regional),"
                    " (SELECT COUNT(*) FROM restaurant), (SELECT COUNT(*) FROM product),"
                    " (SELECT COUNT(*) FROM productAvailabilityRule),"
                    " (SELECT COUNT(DISTINCT ruleType) FROM productAvailabilityRule)")
    assert counts == [["30", "120", "2000", "5000", "300000", "4"]]
    # Some of every kind the query must handle.
    kinds = sql(e, "SELECT SUM(ruleEffect = 'deny') > 0, SUM(menuTypeId IS NOT NULL) > 0,"
                   " SUM(terminationDatetime < UTC_TIMESTAMP()) > 0,"
                   " SUM(effectiveDatetime > UTC_TIMESTAMP()) > 0 FROM productAvailabilityRule")
    assert kinds == [["1", "1", "1", "1"]]


def test_availability_plan_reads_rules_through_indexes_only(big):
    e, _ = big
    rule_rows = explain_rule_rows(e, "S00042", "KIOSK")
    # Each scope's index, or its twin ending in terminationDatetime (migration 005), which
    # the optimizer may equally pick: the same prefix, the same rows.
    assert {r["key"].removesuffix("_end") for r in rule_rows} == {
        "ix_rule_group_scope", "ix_rule_market", "ix_rule_regional", "ix_rule_restaurant"}


@pytest.mark.parametrize("count", [50, 500])  # narrow (by product) and wide (by scope)
def test_batch_plan_reads_rules_through_indexes_only(big, count):
    e, _ = big
    store = first_kiosk_store(e)
    codes = ",".join(f"P{1000 + 9 * i}" for i in range(count))
    rule_rows = explain_rule_rows(e, store, "KIOSK", codes)
    # The global branch always reads the requested products' rules, never the channel's all.
    assert rule_rows[0]["key"] == "ix_rule_product", rule_rows[0]


def test_revision_plan_finds_the_next_boundary_by_index_dives(big, start_service):
    """GetAvailabilityRevision with a store: per scope and rule group, one ORDER BY ... LIMIT 1
    dive into an index ending in the instant (effective: migration 002's scope indexes;
    termination: 005's *_end twins), never a scan of a scope's rules."""
    e, _ = big
    out = subcommand(e, "explain", "S00042", "KIOSK", "@revision")
    assert out.returncode == 0, out.stderr
    lines = [line.split("\t") for line in out.stdout.splitlines() if line and not line.startswith("{")]
    rows = [dict(zip(lines[0], r)) for r in lines[1:]]
    rule_rows = [r for r in rows if r["table"] == "par"]
    assert len(rule_rows) == 8, rows  # effective and termination, per scope
    for r in rule_rows:
        assert r["type"] in ("ref", "range"), r
    assert {r["key"] for r in rule_rows} == {
        "ix_rule_group_scope", "ix_rule_market", "ix_rule_regional", "ix_rule_restaurant",
        "ix_rule_group_scope_end", "ix_rule_market_end", "ix_rule_regional_end",
        "ix_rule_restaurant_end"}
    svc = start_service("sql-svc", env=e)
    from menu.v1 import product_availability_pb2 as pa
    from test_sql_support import call
    store = first_kiosk_store(e)
    req = pa.GetAvailabilityRevisionRequest(channel=cm.CHANNEL_KIOSK, store_code=store)
    call(svc, "GetAvailabilityRevision", req, pa.GetAvailabilityRevisionResponse)
    t = time.monotonic()
    for _ in range(20):
        r = call(svc, "GetAvailabilityRevision", req, pa.GetAvailabilityRevisionResponse)
    assert (time.monotonic() - t) / 20 < 0.1  # milliseconds in fact; generous on a busy box
    assert r.revision >= 2 and r.HasField("valid_until")


def test_batch_of_500_on_the_large_set_agrees_with_the_list(big, start_service):
    e, _ = big
    svc = start_service("sql-svc", env=e)
    store = first_kiosk_store(e)
    listed = list_all(svc, store, cm.CHANNEL_KIOSK)
    for count in (60, 500):  # narrow and wide: the same answers (speed: README, make bench)
        codes = [f"P{1000 + 9 * i}" for i in range(count)]
        r = batch_get(svc, store, cm.CHANNEL_KIOSK, codes)
        assert [x.product_code for x in r.results] == codes
        assert {x.product_code for x in r.results if x.available} == set(codes) & set(listed)
        assert sum(x.available for x in r.results) > 0


def test_pages_on_the_large_set_are_fast_and_complete(big, start_service):
    e, _ = big
    svc = start_service("sql-svc", env=e)
    store = first_kiosk_store(e)
    list_page(svc, store, cm.CHANNEL_KIOSK, first=128)  # warm the pool and caches
    t = time.monotonic()
    seen, after = [], ""
    for _ in range(5):
        r = list_page(svc, store, cm.CHANNEL_KIOSK, first=128, after=after)
        seen += [x.node.product_code for x in r.edges]
        after = r.page_info.end_cursor
    took = (time.monotonic() - t) / 5
    assert len(seen) == 640 and seen == sorted(set(seen))
    assert took < 1.0, f"{took:.3f} s per page"
