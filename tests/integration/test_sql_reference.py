"""sql-svc's ReferenceDataService against a real MariaDB (demo data plus extra rows) through the
real binary: every list pages forward and backward over all its rows in the database's order,
filters, restaurants with their channels and menu types, rule groups with type and ranking (and a
rule created from what the list says, without SQL), gets, NOT_FOUND, bad input naming the
field, cursors bound to their list."""

import grpc
import pytest

from menu.v1 import common_pb2 as cm, product_availability_pb2 as pa, reference_data_pb2 as rd
from test_sql_support import db_env, fresh_database, migrate, sql, subcommand, unary

SERVICE = "/menu.v1.ReferenceDataService/"
KIOSK, WEB = cm.CHANNEL_KIOSK, cm.CHANNEL_WEB


@pytest.fixture(scope="module")
def env(mariadb):
    e = db_env(mariadb, "menu_t_ref")
    fresh_database(e)
    migrate(e)
    out = subcommand(e, "seed-demo")
    assert out.returncode == 0, out.stdout + out.stderr
    # Enough regions and restaurants for several pages (codes sort around the demo's).
    sql(e, "INSERT INTO regional (regionalCode, marketId) SELECT CONCAT('ZZ-', n), m.marketId"
           " FROM (SELECT 10 + a.d AS n FROM (SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2"
           " UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6) a) x"
           " JOIN market m ON m.marketCode = 'CA';"
           "INSERT INTO restaurant (restaurantCode, marketId, regionalId) SELECT"
           " CONCAT('A', regionalCode), marketId, regionalId FROM regional WHERE regionalCode LIKE 'ZZ-%';")
    return e


@pytest.fixture
def svc(env, start_service):
    return start_service("sql-svc", env=env)


def rpc(svc, method, req, resp_cls):
    with svc.channel() as ch:
        resp, _ = unary(ch, SERVICE + method, req, resp_cls, timeout=10)
        return resp


def error(svc, method, req, resp_cls):
    with pytest.raises(grpc.RpcError) as e:
        rpc(svc, method, req, resp_cls)
    return e.value.code(), e.value.details()


LISTS = {  # method -> (request class, response class, key of a node, SQL of every key in order)
    "ListMarkets": (rd.ListMarketsRequest, rd.ListMarketsResponse, lambda n: n.market_code,
                    "SELECT marketCode FROM market ORDER BY marketCode"),
    "ListRegions": (rd.ListRegionsRequest, rd.ListRegionsResponse, lambda n: n.regional_code,
                    "SELECT regionalCode FROM regional ORDER BY regionalCode"),
    "ListRestaurants": (rd.ListRestaurantsRequest, rd.ListRestaurantsResponse,
                        lambda n: n.restaurant_code,
                        "SELECT restaurantCode FROM restaurant ORDER BY restaurantCode"),
    "ListMenuTypes": (rd.ListMenuTypesRequest, rd.ListMenuTypesResponse,
                      lambda n: n.menu_type_code,
                      "SELECT menuTypeCode FROM menuType ORDER BY menuTypeCode"),
    "ListRuleGroups": (rd.ListRuleGroupsRequest, rd.ListRuleGroupsResponse,
                       lambda n: str(n.rule_group_id),
                       "SELECT productAvailabilityRuleGroupId FROM productAvailabilityRuleGroup"
                       " ORDER BY productAvailabilityRuleGroupId"),
    "ListProducts": (rd.ListProductsRequest, rd.ListProductsResponse, lambda n: n.product_code,
                     "SELECT productCode FROM product ORDER BY productCode"),
}


def walk(svc, method, size, **filters):
    """Every key, forward with first/after and backward with last/before."""
    req_cls, resp_cls, key, _ = LISTS[method]
    forward, after = [], ""
    for _ in range(200):
        r = rpc(svc, method, req_cls(page=cm.PageRequest(first=size, after=after), **filters),
                resp_cls)
        assert len(r.edges) <= size and r.page_info.has_previous_page == (after != "")
        forward += [key(e.node) for e in r.edges]
        if not r.page_info.has_next_page:
            break
        after = r.page_info.end_cursor
    backward, before = [], ""
    for _ in range(200):
        r = rpc(svc, method, req_cls(page=cm.PageRequest(last=size, before=before), **filters),
                resp_cls)
        backward = [key(e.node) for e in r.edges] + backward
        if not r.page_info.has_previous_page:
            break
        before = r.page_info.start_cursor
    return forward, backward


@pytest.mark.parametrize("method", sorted(LISTS))
def test_every_list_pages_both_ways_over_all_rows(env, svc, method):
    expected = [row[0] for row in sql(env, LISTS[method][3])]
    assert len(expected) >= 2
    forward, backward = walk(svc, method, 3)
    assert forward == expected and backward == expected
    req_cls, resp_cls, _, _ = LISTS[method]
    default = rpc(svc, method, req_cls(), resp_cls)
    assert len(default.edges) == min(16, len(expected))


def test_filters_narrow_the_lists(env, svc):
    assert walk(svc, "ListRegions", 4, market_code="US")[0] == ["US-EAST", "US-WEST"]
    assert walk(svc, "ListRegions", 4, market_code="NOPE")[0] == []
    us_west = [r[0] for r in sql(env, "SELECT r.restaurantCode FROM restaurant r JOIN regional g"
                                      " USING (regionalId) WHERE g.regionalCode = 'US-WEST'"
                                      " ORDER BY 1")]
    assert walk(svc, "ListRestaurants", 2, regional_code="US-WEST")[0] == us_west
    on_web = [r[0] for r in sql(env, "SELECT DISTINCT r.restaurantCode FROM restaurant r JOIN"
                                     " restaurantChannelMenuTypeAssociation a USING (restaurantId)"
                                     " JOIN channel c USING (channelId) WHERE c.channelCode = 'WEB'"
                                     " ORDER BY 1")]
    assert on_web and walk(svc, "ListRestaurants", 2, channel=WEB)[0] == on_web
    assert walk(svc, "ListRestaurants", 2, market_code="UK", channel=WEB)[0] == \
        [c for c in on_web if c in ("R004",)]
    kiosk = walk(svc, "ListRuleGroups", 3, channel=KIOSK)[0]
    assert len(kiosk) == 4


def test_restaurant_carries_its_channels_and_menu_types(env, svc):
    rows = sql(env, "SELECT c.channelCode, mt.menuTypeCode FROM restaurantChannelMenuTypeAssociation a"
                    " JOIN restaurant r USING (restaurantId) JOIN channel c USING (channelId)"
                    " JOIN menuType mt USING (menuTypeId) WHERE r.restaurantCode = 'R001'"
                    " ORDER BY c.channelId, mt.menuTypeCode")
    expected = {}
    for ch, mt in rows:
        expected.setdefault(getattr(cm, f"CHANNEL_{ch}"), []).append(mt)
    r = rpc(svc, "GetRestaurant", rd.GetRestaurantRequest(restaurant_code="R001"),
            rd.GetRestaurantResponse).restaurant
    assert (r.restaurant_code, r.market_code, r.regional_code) == ("R001", "US", "US-WEST")
    assert [c.channel for c in r.channels] == list(expected)  # channel order
    assert {c.channel: list(c.menu_type_codes) for c in r.channels} == expected
    listed = [e.node for e in rpc(svc, "ListRestaurants", rd.ListRestaurantsRequest(),
                                  rd.ListRestaurantsResponse).edges]
    assert next(n for n in listed if n.restaurant_code == "R001") == r
    # A store on no channel lists none.
    assert len(rpc(svc, "GetRestaurant", rd.GetRestaurantRequest(restaurant_code="AZZ-10"),
               rd.GetRestaurantResponse).restaurant.channels) == 0


def test_an_admin_creates_a_rule_from_what_the_lists_say(env, svc):
    groups = [e.node for e in rpc(svc, "ListRuleGroups", rd.ListRuleGroupsRequest(channel=KIOSK),
                                  rd.ListRuleGroupsResponse).edges]
    assert all(g.channel == KIOSK for g in groups)
    by_type = {g.group_type_code: g for g in groups}
    assert by_type["restaurant"].group_ranking < by_type["regional"].group_ranking < \
        by_type["market"].group_ranking < by_type["global-experience"].group_ranking
    got = rpc(svc, "GetRuleGroup", rd.GetRuleGroupRequest(rule_group_id=by_type["restaurant"].rule_group_id),
              rd.GetRuleGroupResponse).rule_group
    assert got == by_type["restaurant"]
    product = rpc(svc, "GetProduct", rd.GetProductRequest(product_code="P1000"),
                  rd.GetProductResponse).product
    assert product.display_name == sql(env, "SELECT displayName FROM product WHERE productCode = 'P1000'")[0][0]
    with svc.channel() as ch:
        rule, _ = unary(ch, "/menu.v1.ProductAvailabilityService/CreateAvailabilityRule",
                        pa.CreateAvailabilityRuleRequest(rule=pa.AvailabilityRule(
                            product_code=product.product_code, rule_group_id=got.rule_group_id,
                            rule_type=pa.RULE_TYPE_RESTAURANT, rule_effect=pa.RULE_EFFECT_ALLOW,
                            restaurant_code="R001", created_by="admin")),
                        pa.CreateAvailabilityRuleResponse, timeout=10)
    assert rule.rule.channel == KIOSK and rule.rule.rule_group_id == got.rule_group_id


def test_gets_and_not_found(svc):
    assert rpc(svc, "GetMarket", rd.GetMarketRequest(market_code="CA"),
               rd.GetMarketResponse).market.market_code == "CA"
    assert rpc(svc, "GetRegion", rd.GetRegionRequest(regional_code="US-EAST"),
               rd.GetRegionResponse).region.market_code == "US"
    assert rpc(svc, "GetMenuType", rd.GetMenuTypeRequest(menu_type_code="BREAKFAST"),
               rd.GetMenuTypeResponse).menu_type.menu_type_code == "BREAKFAST"
    for method, req, resp, field in [
            ("GetMarket", rd.GetMarketRequest(market_code="XX"), rd.GetMarketResponse, "market_code"),
            ("GetRegion", rd.GetRegionRequest(regional_code="XX"), rd.GetRegionResponse, "regional_code"),
            ("GetRestaurant", rd.GetRestaurantRequest(restaurant_code="R999"),
             rd.GetRestaurantResponse, "restaurant_code"),
            ("GetMenuType", rd.GetMenuTypeRequest(menu_type_code="DINNER"), rd.GetMenuTypeResponse,
             "menu_type_code"),
            ("GetRuleGroup", rd.GetRuleGroupRequest(rule_group_id=999999), rd.GetRuleGroupResponse,
             "rule_group_id"),
            ("GetProduct", rd.GetProductRequest(product_code="P9999"), rd.GetProductResponse,
             "product_code")]:
        code, details = error(svc, method, req, resp)
        assert code == grpc.StatusCode.NOT_FOUND and details.startswith(field), details


def test_bad_input_names_the_field(svc):
    for method, req, resp, field in [
            ("GetMarket", rd.GetMarketRequest(), rd.GetMarketResponse, "market_code"),
            ("GetProduct", rd.GetProductRequest(product_code="bad code"), rd.GetProductResponse,
             "product_code"),
            ("GetRuleGroup", rd.GetRuleGroupRequest(rule_group_id=-1), rd.GetRuleGroupResponse,
             "rule_group_id"),
            ("ListRegions", rd.ListRegionsRequest(market_code="no spaces"), rd.ListRegionsResponse,
             "market_code"),
            ("ListRestaurants", rd.ListRestaurantsRequest(regional_code="x y"),
             rd.ListRestaurantsResponse, "regional_code"),
            ("ListRestaurants", rd.ListRestaurantsRequest(channel=77), rd.ListRestaurantsResponse,
             "channel"),
            ("ListMarkets", rd.ListMarketsRequest(page=cm.PageRequest(first=-1)),
             rd.ListMarketsResponse, "page.first")]:
        code, details = error(svc, method, req, resp)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field in details, (method, details)


def test_cursors_are_bound_to_their_list_and_filters(svc):
    r = rpc(svc, "ListRestaurants", rd.ListRestaurantsRequest(page=cm.PageRequest(first=2)),
            rd.ListRestaurantsResponse)
    cur = r.page_info.end_cursor
    for method, req, resp in [
            ("ListRegions", rd.ListRegionsRequest(page=cm.PageRequest(after=cur)), rd.ListRegionsResponse),
            ("ListRestaurants", rd.ListRestaurantsRequest(channel=KIOSK, page=cm.PageRequest(after=cur)),
             rd.ListRestaurantsResponse),
            ("ListRestaurants", rd.ListRestaurantsRequest(page=cm.PageRequest(last=2, before=cur)),
             rd.ListRestaurantsResponse),
            ("ListRestaurants", rd.ListRestaurantsRequest(page=cm.PageRequest(after=cur[:-2])),
             rd.ListRestaurantsResponse)]:
        code, details = error(svc, method, req, resp)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "page." in details, (method, details)
