"""sql-svc's demo data (`sql-svc seed-demo`) as a person would check it through the API: the
products of demo/products.h with their names, stores whose KIOSK menus differ visibly (breakfast,
regional specials, a store deny, a hidden item, a market deny), a promotion that appears once
at_time passes its start next week, the reasons BatchGetProductAvailabilities gives, and a second
run that changes nothing."""

import time

import pytest

from demo_data import demo_products
from menu.v1 import common_pb2 as cm, product_availability_pb2 as pa, reference_data_pb2 as rd
from test_sql_support import batch_get, demo_database, list_all, sql, subcommand, ts, unary

KIOSK, APP = cm.CHANNEL_KIOSK, cm.CHANNEL_APP
DAY = 86400


@pytest.fixture(scope="module")
def env(mariadb):
    return demo_database(mariadb, "menu_t_demo")


@pytest.fixture
def svc(env, start_service):
    return start_service("sql-svc", env=env)


def names(menu):
    return {n.display_name for n in menu.values()}


def test_the_products_are_the_shared_list_with_their_names(svc):
    with svc.channel() as ch:
        r, _ = unary(ch, "/menu.v1.ReferenceDataService/ListProducts",
                     rd.ListProductsRequest(page=cm.PageRequest(first=128)),
                     rd.ListProductsResponse, timeout=10)
    assert [(e.node.product_code, e.node.display_name) for e in r.edges] == \
        [(code, name) for code, name, _, _ in demo_products()]
    assert not any("#" in e.node.display_name for e in r.edges)


def test_three_kiosk_stores_show_visibly_different_menus(svc):
    r001, r002, r003 = (list_all(svc, s, KIOSK) for s in ("R001", "R002", "R003"))
    assert min(len(r001), len(r002), len(r003)) >= 25  # a real menu everywhere
    assert r001 != r002 and r002 != r003 and r001 != r003
    # R001 (US-WEST): breakfast, the regional special, Bottled Water orderable but hidden.
    assert {"Pancakes", "Green Chile Burger", "Onion Rings", "Grilled Chicken Salad"} <= names(r001)
    assert r001["P1025"].is_hidden and r001["P1025"].rule_type == pa.RULE_TYPE_RESTAURANT
    assert not any(n.is_hidden for c, n in r001.items() if c != "P1025")
    # R002 (US-EAST): lunch only, its own special, the store's deny, the region's deny.
    assert "Buffalo Chicken Wrap" in names(r002)
    assert names(r002).isdisjoint({"Pancakes", "Green Chile Burger", "Onion Rings",
                                   "Grilled Chicken Salad"})
    # R003 (CA-ON): breakfast and Poutine (market CA), not the US specials.
    assert {"Pancakes", "Poutine"} <= names(r003)
    assert names(r003).isdisjoint({"Green Chile Burger", "Buffalo Chicken Wrap"})
    # R004 (UK): the market denies Iced Tea. The Vanilla Shake is an APP/DELIVERY item.
    assert "Iced Tea" not in names(list_all(svc, "R004", KIOSK)) and "Iced Tea" in names(r001)
    assert "Vanilla Shake" not in names(r001) and "Vanilla Shake" in names(list_all(svc, "R001", APP))
    # Expired and future windows do not apply now.
    assert {"P1006", "P1007"} <= set(r001)


def test_the_promotion_appears_once_at_time_passes_its_start(svc):
    now = int(time.time())
    for store in ("R001", "R002", "R003"):
        assert "P1037" not in list_all(svc, store, KIOSK, at=ts(now))
        later = list_all(svc, store, KIOSK, at=ts(now + 8 * DAY))
        assert later["P1037"].display_name == "Strawberry Shortcake Sundae"
        assert "P1037" not in list_all(svc, store, KIOSK, at=ts(now + 40 * DAY))  # four weeks


def test_batch_get_explains_the_demo_differences(svc):
    codes = ["P1015", "P1030", "P1012", "P1038", "P1025", "P1037"]
    r002 = {x.product_code: x for x in batch_get(svc, "R002", KIOSK, codes).results}
    assert r002["P1015"].reason == pa.AVAILABILITY_REASON_DENIED_BY_RULE  # the store's deny
    assert r002["P1015"].winner.rule_type == pa.RULE_TYPE_RESTAURANT
    assert r002["P1012"].winner.rule_type == pa.RULE_TYPE_REGIONAL and not r002["P1012"].available
    assert r002["P1030"].reason == pa.AVAILABILITY_REASON_NO_RULE  # no breakfast at R002
    assert r002["P1038"].available and r002["P1025"].available and not r002["P1025"].winner.is_hidden
    assert r002["P1037"].reason == pa.AVAILABILITY_REASON_NO_RULE  # not yet
    r005 = batch_get(svc, "R005", KIOSK, ["P1000"]).results[0]  # a drive-thru-only store
    assert r005.reason == pa.AVAILABILITY_REASON_STORE_NOT_ON_CHANNEL


def test_seed_demo_again_changes_nothing(env, svc):
    before = sql(env, "SELECT COUNT(*), MAX(productAvailabilityRuleId) FROM productAvailabilityRule")
    menu = list_all(svc, "R001", KIOSK)
    sql(env, "UPDATE product SET displayName = 'Renamed by hand' WHERE productCode = 'P1000'")
    out = subcommand(env, "seed-demo")
    assert out.returncode == 0, out.stdout + out.stderr
    assert sql(env, "SELECT COUNT(*), MAX(productAvailabilityRuleId) FROM productAvailabilityRule") == before
    assert list_all(svc, "R001", KIOSK) == menu  # names restored from demo/products.h
