"""sql-svc availability against a real MariaDB through the real binary over gRPC: ranking of
the four scopes against each other, tie breaks, menu types, channel association, the exact
effective/termination instants, deny winners, Relay paging both ways over 500+ products,
authenticated cursors, NOT_FOUND and INVALID_ARGUMENT. Rules are inserted with SQL so that the
test controls ids and times exactly; rule administration has its own test module."""

import calendar
import itertools
import time

import grpc
import pytest

from menu.v1 import common_pb2 as cm, product_availability_pb2 as pa
from test_sql_support import (batch_get, call, db_env, fresh_database, get_one, list_all,
                              list_page, migrate, sql, ts)

KIOSK, WEB, APP = cm.CHANNEL_KIOSK, cm.CHANNEL_WEB, cm.CHANNEL_APP
SCOPES = ["global-experience", "market", "regional", "restaurant"]
RULE_TYPE = {"global-experience": pa.RULE_TYPE_GLOBAL_EXPERIENCE, "market": pa.RULE_TYPE_MARKET,
             "regional": pa.RULE_TYPE_REGIONAL, "restaurant": pa.RULE_TYPE_RESTAURANT}
# Scope ids of store S1 (market M1, region G1); the "other" ids belong to other stores.
S1_SCOPE = {"market": "M1", "regional": "G1", "restaurant": "S1"}
OTHER_SCOPE = {"market": "M2", "regional": "G2", "restaurant": "S2"}


def utc(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


AT = ts(utc("2030-01-01 00:00:00"))
EFF = utc("2030-06-01 00:00:00")
TERM = utc("2030-06-02 00:00:00")


def rule_sql(product, group, rtype, effect, scope=None, menu=None, eff="2020-01-01 00:00:00",
             term="9999-12-31 23:59:59", hidden=0, rid=None):
    col = {"market": "marketId", "regional": "regionalId", "restaurant": "restaurantId"}
    table = {"market": ("market", "marketCode"), "regional": ("regional", "regionalCode"),
             "restaurant": ("restaurant", "restaurantCode")}
    ids = {"marketId": "NULL", "regionalId": "NULL", "restaurantId": "NULL"}
    if rtype != "global-experience":
        t, c = table[rtype]
        ids[col[rtype]] = f"(SELECT {t}Id FROM {t} WHERE {c} = '{scope}')"
    menu_id = f"(SELECT menuTypeId FROM menuType WHERE menuTypeCode = '{menu}')" if menu else "NULL"
    return (
        "INSERT INTO productAvailabilityRule (productAvailabilityRuleId, productId,"
        " productAvailabilityRuleGroupId, ruleType, ruleEffect, isHidden, isActive, restaurantId,"
        " marketId, regionalId, menuTypeId, effectiveDatetime, terminationDatetime, createdBy,"
        " createdAt, updatedBy, updatedAt) VALUES ("
        f"{rid if rid else 'NULL'}, (SELECT productId FROM product WHERE productCode = '{product}'),"
        f" (SELECT productAvailabilityRuleGroupId FROM productAvailabilityRuleGroup WHERE name = '{group}'),"
        f" '{rtype}', '{effect}', {hidden}, 1, {ids['restaurantId']}, {ids['marketId']},"
        f" {ids['regionalId']}, {menu_id}, '{eff}', '{term}', 'test', UTC_TIMESTAMP(6), 'test',"
        " UTC_TIMESTAMP(6));")


def matrix():
    """(product, winner scope, loser scope, winner effect) for every ordered pair of scopes."""
    out = []
    for i, (x, y) in enumerate(itertools.permutations(SCOPES, 2)):
        out.append((f"P2{i:02d}0", x, y, "allow"))
        out.append((f"P2{i:02d}1", x, y, "deny"))
    return out


PAGING = [f"P{7000 + n}" for n in range(600)]
PAGING_VISIBLE = [c for n, c in enumerate(PAGING) if n % 7 != 0]


def fixture_sql():
    s = ["INSERT INTO market (marketCode) VALUES ('M1'), ('M2');",
         "INSERT INTO regional (regionalCode, marketId) SELECT 'G1', marketId FROM market WHERE marketCode = 'M1';",
         "INSERT INTO regional (regionalCode, marketId) SELECT 'G2', marketId FROM market WHERE marketCode = 'M1';",
         "INSERT INTO regional (regionalCode, marketId) SELECT 'G3', marketId FROM market WHERE marketCode = 'M2';"]
    for store, reg in [("S1", "G1"), ("S2", "G2"), ("S3", "G3"), ("S4", "G1")]:
        s.append("INSERT INTO restaurant (restaurantCode, marketId, regionalId) SELECT"
                 f" '{store}', marketId, regionalId FROM regional WHERE regionalCode = '{reg}';")
    s.append("INSERT INTO menuType (menuTypeCode) VALUES ('REG'), ('BRK');")
    for store, ch, menu in [("S1", "KIOSK", "REG"), ("S1", "KIOSK", "BRK"), ("S2", "KIOSK", "REG"),
                            ("S2", "WEB", "BRK"), ("S3", "KIOSK", "REG"), ("S4", "WEB", "REG"),
                            ("S1", "APP", "REG"), ("S2", "APP", "REG")]:
        s.append("INSERT INTO restaurantChannelMenuTypeAssociation SELECT r.restaurantId,"
                 " c.channelId, m.menuTypeId FROM restaurant r, channel c, menuType m WHERE"
                 f" r.restaurantCode = '{store}' AND c.channelCode = '{ch}' AND m.menuTypeCode = '{menu}';")
    for rank in (100, 200, 300, 400):
        s.append(f"INSERT INTO productAvailabilityRuleGroupType (code, groupRanking) VALUES ('rank{rank}', {rank});")
    for name, ch, rank in [("K100", "KIOSK", 100), ("K200", "KIOSK", 200), ("K400", "KIOSK", 400),
                           ("W400", "WEB", 400), ("A400", "APP", 400)]:
        s.append("INSERT INTO productAvailabilityRuleGroup (productAvailabilityRuleGroupTypeId,"
                 " channelId, name) SELECT t.productAvailabilityRuleGroupTypeId, c.channelId,"
                 f" '{name}' FROM productAvailabilityRuleGroupType t, channel c WHERE"
                 f" t.code = 'rank{rank}' AND c.channelCode = '{ch}';")
    codes = [p for p, *_ in matrix()] + [f"P{3000 + i}" for i in range(5)] + \
        ["P4000", "P4001", "P4002", "P5000", "P6000"] + PAGING
    s.append("INSERT INTO product (productCode, displayName) VALUES " +
             ", ".join(f"('{c}', 'Name of {c}')" for c in codes) + ";")

    # Ranking matrix for store S1, plus rules of other stores' scopes that must not apply.
    for product, x, y, effect in matrix():
        other = "deny" if effect == "allow" else "allow"
        s.append(rule_sql(product, "K100", x, effect, S1_SCOPE.get(x)))
        s.append(rule_sql(product, "K200", y, other, S1_SCOPE.get(y)))
        for scope in ("market", "regional", "restaurant"):
            s.append(rule_sql(product, "K100", scope, other, OTHER_SCOPE[scope]))
    # Ties within one ranking: latest effective wins, then the highest id; ranking first.
    s.append(rule_sql("P3000", "K100", "global-experience", "allow", eff="2021-01-01 00:00:00"))
    s.append(rule_sql("P3000", "K100", "global-experience", "deny", eff="2022-01-01 00:00:00"))
    s.append(rule_sql("P3001", "K100", "global-experience", "deny", eff="2021-01-01 00:00:00"))
    s.append(rule_sql("P3001", "K100", "global-experience", "allow", eff="2022-01-01 00:00:00", rid=800001))
    s.append(rule_sql("P3002", "K100", "global-experience", "allow", rid=900001))
    s.append(rule_sql("P3002", "K100", "global-experience", "deny", rid=900002))
    s.append(rule_sql("P3003", "K100", "global-experience", "deny", rid=900003))
    s.append(rule_sql("P3003", "K100", "global-experience", "allow", rid=900004))
    s.append(rule_sql("P3004", "K200", "global-experience", "allow", eff="2025-01-01 00:00:00"))
    s.append(rule_sql("P3004", "K100", "global-experience", "deny", eff="2021-01-01 00:00:00"))
    # Menu types: BRK is served by S1 on KIOSK, by S2 only on WEB.
    s.append(rule_sql("P4000", "K400", "global-experience", "allow", menu="BRK"))
    s.append(rule_sql("P4001", "K400", "global-experience", "allow"))
    s.append(rule_sql("P4001", "K100", "global-experience", "deny", menu="BRK"))
    s.append(rule_sql("P4002", "K400", "global-experience", "allow", menu="REG", hidden=1))
    # WEB only (S4 is on WEB, not on KIOSK).
    s.append(rule_sql("P5000", "W400", "global-experience", "allow"))
    # A one-day window.
    s.append(rule_sql("P6000", "K400", "global-experience", "allow", eff="2030-06-01 00:00:00",
                      term="2030-06-02 00:00:00"))
    # Paging on APP: 600 products, every seventh denied.
    values = []
    for n, code in enumerate(PAGING):
        values.append(
            f"((SELECT productId FROM product WHERE productCode = '{code}'), (SELECT"
            " productAvailabilityRuleGroupId FROM productAvailabilityRuleGroup WHERE name = 'A400'),"
            f" 'global-experience', '{'deny' if n % 7 == 0 else 'allow'}', 0, 1,"
            " '2020-01-01', '9999-12-31', 'test', UTC_TIMESTAMP(6), 'test', UTC_TIMESTAMP(6))")
    s.append("INSERT INTO productAvailabilityRule (productId, productAvailabilityRuleGroupId,"
             " ruleType, ruleEffect, isHidden, isActive, effectiveDatetime, terminationDatetime,"
             " createdBy, createdAt, updatedBy, updatedAt) VALUES " + ", ".join(values) + ";")
    return "\n".join(s)


@pytest.fixture(scope="module")
def env(mariadb):
    e = db_env(mariadb, "menu_t_avail")
    fresh_database(e)
    migrate(e)
    sql(e, fixture_sql())
    return e


@pytest.fixture
def svc(env, start_service):
    return start_service("sql-svc", env=env)


def code_of(err):
    return err.value.code()


def test_each_scope_wins_and_loses_by_ranking(svc):
    got = list_all(svc, "S1", KIOSK, at=AT)
    for product, winner, loser, effect in matrix():
        if effect == "allow":
            assert product in got, f"{winner} (rank 100) should beat {loser} (rank 200)"
            assert got[product].rule_type == RULE_TYPE[winner]
        else:
            assert product not in got, f"{winner}'s deny (rank 100) should hide {product}"


def test_the_same_rules_decide_differently_in_another_market(svc):
    # For S2 (market M1, region G2) the G2 and S2 noise rules (rank 100) apply to the
    # products whose S1 winner allowed them... check one product per winner scope directly.
    got = list_all(svc, "S3", KIOSK, at=AT)  # market M2: its deny rules apply at rank 100
    for product, winner, loser, effect in matrix():
        if effect == "allow":
            assert product not in got  # M2's market deny (rank 100) applies to S3


def test_ties_latest_effective_then_highest_id_and_ranking_first(svc):
    got = list_all(svc, "S1", KIOSK, at=AT)
    assert "P3000" not in got           # newer deny beats older allow
    assert got["P3001"].rule_id == 800001  # newer allow beats older deny
    assert "P3002" not in got           # same instant: higher id (deny) wins
    assert got["P3003"].rule_id == 900004
    assert "P3004" not in got           # lower ranking wins even if older


def test_menu_type_rules_need_the_association(svc):
    s1 = list_all(svc, "S1", KIOSK, at=AT)
    s2 = list_all(svc, "S2", KIOSK, at=AT)
    assert "P4000" in s1 and "P4000" not in s2  # S2 serves BRK only on WEB
    assert "P4001" not in s1 and "P4001" in s2  # the BRK deny applies only where BRK is served
    assert s1["P4002"].is_hidden and "P4002" in s2  # REG served by both; isHidden passed through


def test_store_not_associated_with_channel_sees_nothing(svc):
    assert len(list_page(svc, "S4", KIOSK, at=AT).edges) == 0
    web = list_all(svc, "S4", WEB, at=AT)
    assert list(web) == ["P5000"]


def test_exact_effective_and_termination_instants(svc):
    def visible(sec, us=0):
        return "P6000" in list_all(svc, "S1", KIOSK, at=ts(sec, us))
    assert not visible(EFF - 1, 999999)
    assert visible(EFF)
    assert visible(TERM - 1, 999999)
    assert not visible(TERM)


def test_get_product_availability(svc):
    got = get_one(svc, "S1", KIOSK, "P3003", at=AT).product_availability
    assert got.product_code == "P3003" and got.rule_id == 900004
    assert got.display_name == "Name of P3003" and got.created_by == "test"
    assert got.rule_type == pa.RULE_TYPE_GLOBAL_EXPERIENCE and got.create_time.seconds > 0
    for product in ("P3002", "P7000", "P9999"):  # deny winner, deny on another channel, unknown
        with pytest.raises(grpc.RpcError) as e:
            get_one(svc, "S1", KIOSK, product, at=AT)
        assert code_of(e) == grpc.StatusCode.NOT_FOUND


def test_unknown_store_is_not_found_and_bad_input_invalid(svc):
    with pytest.raises(grpc.RpcError) as e:
        list_page(svc, "NOPE", KIOSK, at=AT)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND and "store_code" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        get_one(svc, "NOPE", KIOSK, "P3003")
    assert code_of(e) == grpc.StatusCode.NOT_FOUND
    for kwargs, field in [(dict(store="S1", channel=cm.CHANNEL_UNSPECIFIED), "channel"),
                          (dict(store="", channel=KIOSK), "store_code"),
                          (dict(store="bad code!", channel=KIOSK), "store_code"),
                          (dict(store="S1", channel=KIOSK, first=-1), "page.first"),
                          (dict(store="S1", channel=KIOSK, first=2, last=2), "page.first")]:
        with pytest.raises(grpc.RpcError) as e:
            list_page(svc, kwargs.pop("store"), kwargs.pop("channel"), **kwargs)
        assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT and field in e.value.details()


def test_paging_forward_and_backward_every_product_once(svc):
    forward, after, pages = [], "", 0
    while True:
        r = list_page(svc, "S1", APP, at=AT, first=37, after=after)
        pages += 1
        assert r.page_info.has_previous_page == (after != "")
        forward += [e.node.product_code for e in r.edges]
        if not r.page_info.has_next_page:
            break
        assert len(r.edges) == 37
        after = r.page_info.end_cursor
    assert forward == PAGING_VISIBLE and len(forward) > 500
    assert pages == -(-len(PAGING_VISIBLE) // 37)

    backward, before = [], ""
    while True:
        r = list_page(svc, "S1", APP, at=AT, last=41, before=before)
        assert r.page_info.has_next_page == (before != "")
        page = [e.node.product_code for e in r.edges]
        assert page == sorted(page)  # each page in ascending order
        backward = page + backward
        if not r.page_info.has_previous_page:
            break
        before = r.page_info.start_cursor
    assert backward == PAGING_VISIBLE


def test_a_cursor_is_a_position_usable_in_both_directions(svc):
    """Relay's previous-page step: `before` takes a forward page's start_cursor, `after` a
    backward page's end_cursor. Stepping forward, then back page by page, returns exactly the
    pages seen, and the mixed walk yields every item once."""
    pages, after = [], ""
    for _ in range(4):
        r = list_page(svc, "S1", APP, at=AT, first=7, after=after)
        pages.append(r)
        after = r.page_info.end_cursor
    for prev, cur in zip(pages, pages[1:]):
        back = list_page(svc, "S1", APP, at=AT, last=7, before=cur.page_info.start_cursor)
        assert [e.node.product_code for e in back.edges] == [e.node.product_code for e in prev.edges]
        assert back.page_info.has_next_page  # cur's items follow
    # From the end, backward; then forward again with a backward page's end_cursor.
    tail = list_page(svc, "S1", APP, at=AT, last=10)
    before_tail = list_page(svc, "S1", APP, at=AT, last=10, before=tail.page_info.start_cursor)
    again = list_page(svc, "S1", APP, at=AT, first=10, after=before_tail.page_info.end_cursor)
    assert [e.node.product_code for e in again.edges] == [e.node.product_code for e in tail.edges]
    assert not again.page_info.has_next_page
    # A mixed walk: forward 3 pages, back 1, forward to the end: every item exactly once.
    seen, after = [], ""
    for _ in range(3):
        r = list_page(svc, "S1", APP, at=AT, first=50, after=after)
        seen += [e.node.product_code for e in r.edges]
        after = r.page_info.end_cursor
    back = list_page(svc, "S1", APP, at=AT, last=50, before=r.page_info.start_cursor)
    after = back.page_info.end_cursor  # the item just before r's first one
    seen = seen[:-len(r.edges)]
    while True:
        r = list_page(svc, "S1", APP, at=AT, first=128, after=after)
        seen += [e.node.product_code for e in r.edges]
        if not r.page_info.has_next_page:
            break
        after = r.page_info.end_cursor
    assert seen == PAGING_VISIBLE


def test_page_sizes_default_and_cap(svc):
    assert len(list_page(svc, "S1", APP, at=AT).edges) == 16
    assert len(list_page(svc, "S1", APP, at=AT, first=1000).edges) == 128


def test_at_time_defaults_to_now_is_echoed_and_carried_by_the_cursor(svc):
    before = time.time()
    r = list_page(svc, "S1", APP, first=5)
    assert before - 1 <= r.at_time.seconds <= time.time() + 1
    # Next page without at_time: evaluated at the first page's instant.
    r2 = list_page(svc, "S1", APP, first=5, after=r.page_info.end_cursor)
    assert (r2.at_time.seconds, r2.at_time.nanos) == (r.at_time.seconds, r.at_time.nanos)
    assert r2.edges[0].node.product_code > r.edges[-1].node.product_code
    # The same instant given explicitly is fine; another one is not.
    list_page(svc, "S1", APP, first=5, after=r.page_info.end_cursor, at=r.at_time)
    with pytest.raises(grpc.RpcError) as e:
        list_page(svc, "S1", APP, first=5, after=r.page_info.end_cursor, at=AT)
    assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT and "at_time" in e.value.details()


def test_cursors_are_authenticated_and_bound_to_their_list(svc):
    r = list_page(svc, "S1", APP, at=AT, first=5)
    cur = r.page_info.end_cursor
    flipped = cur[:10] + ("A" if cur[10] != "A" else "B") + cur[11:]
    cases = [
        (dict(store="S1", channel=APP, after=flipped), "page.after"),       # tampered
        (dict(store="S1", channel=APP, after=cur[:-3]), "page.after"),      # truncated
        (dict(store="S2", channel=APP, after=cur), "page.after"),           # another store
        (dict(store="S1", channel=KIOSK, after=cur), "page.after"),         # another channel
        (dict(store="S2", channel=APP, before=cur, last=5), "page.before"),  # another store
        (dict(store="S1", channel=APP, after="!!not base64!!"), "page.after"),
    ]
    for kw, field in cases:
        with pytest.raises(grpc.RpcError) as e:
            list_page(svc, kw.pop("store"), kw.pop("channel"), at=AT, first=kw.pop("first", 5)
                      if "before" not in kw else 0, **kw)
        assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT, kw
        assert field in e.value.details()


ALL_CODES = [p for p, *_ in matrix()] + [f"P{3000 + i}" for i in range(5)] + \
    ["P4000", "P4001", "P4002", "P5000", "P6000"] + PAGING


def assert_batch_matches_list(svc, store, channel, codes, chunk=500):
    """Above 100 codes a call reads the store's scopes (wide), up to 100 product by product
    (narrow): both must answer as the list does."""
    listed = list_all(svc, store, channel, at=AT)
    results = []
    for i in range(0, len(codes), chunk):
        r = batch_get(svc, store, channel, codes[i:i + chunk], at=AT)
        assert (r.at_time.seconds, r.at_time.nanos) == (AT.seconds, AT.nanos)
        results += r.results
    assert [x.product_code for x in results] == codes  # request order, one answer each
    for x in results:
        assert x.available == (x.product_code in listed), x.product_code
        assert x.available == (x.reason == pa.AVAILABILITY_REASON_ALLOWED)
        if x.available:
            assert x.winner == listed[x.product_code]  # the very node the list returns
        assert x.display_name == f"Name of {x.product_code}"
    return {x.product_code: x for x in results}


def test_batch_get_answers_as_the_list_does_for_every_code(svc):
    got = assert_batch_matches_list(svc, "S1", KIOSK, ALL_CODES)  # 1,140 codes: three calls
    assert sum(x.available for x in got.values()) > 10
    assert assert_batch_matches_list(svc, "S1", KIOSK, ALL_CODES, chunk=97) == got
    assert_batch_matches_list(svc, "S2", KIOSK, ALL_CODES[:500])
    apps = assert_batch_matches_list(svc, "S1", APP, list(reversed(PAGING)))
    assert sum(x.available for x in apps.values()) == len(PAGING_VISIBLE)


def test_batch_get_says_why_a_product_is_not_available(svc):
    codes = ["P9999", "P3002", "P7000", "P3003", "P4001"]
    r = batch_get(svc, "S1", KIOSK, codes, at=AT).results
    assert [(x.product_code, x.reason) for x in r] == [
        ("P9999", pa.AVAILABILITY_REASON_UNKNOWN_PRODUCT),
        ("P3002", pa.AVAILABILITY_REASON_DENIED_BY_RULE),   # deny winner (higher id)
        ("P7000", pa.AVAILABILITY_REASON_NO_RULE),          # only APP rules
        ("P3003", pa.AVAILABILITY_REASON_ALLOWED),
        ("P4001", pa.AVAILABILITY_REASON_DENIED_BY_RULE)]   # BRK deny, BRK served at S1
    assert r[0].display_name == "" and not r[0].HasField("winner")
    assert r[1].winner.rule_id == 900002 and not r[1].available
    assert not r[2].HasField("winner") and r[2].display_name == "Name of P7000"
    assert r[3].winner.rule_id == 900004 and r[3].available
    # A store that is not on the channel: nothing is available there, and it says so.
    s4 = batch_get(svc, "S4", KIOSK, ["P5000", "P9999"], at=AT).results
    assert [x.reason for x in s4] == [pa.AVAILABILITY_REASON_STORE_NOT_ON_CHANNEL,
                                      pa.AVAILABILITY_REASON_UNKNOWN_PRODUCT]
    assert batch_get(svc, "S4", WEB, ["P5000"], at=AT).results[0].available
    # Moving at_time moves the answer (the one-day window of P6000).
    assert batch_get(svc, "S1", KIOSK, ["P6000"], at=ts(EFF)).results[0].available
    assert not batch_get(svc, "S1", KIOSK, ["P6000"], at=ts(TERM)).results[0].available


def test_batch_get_limits_and_bad_input(svc):
    assert len(batch_get(svc, "S1", APP, PAGING[:500], at=AT).results) == 500
    r = batch_get(svc, "S1", KIOSK, [], at=AT)  # an empty request still checks the store
    assert len(r.results) == 0 and r.at_time.seconds == AT.seconds
    before = time.time()
    assert abs(batch_get(svc, "S1", KIOSK, ["P3003"]).at_time.seconds - before) <= 2
    cases = [
        (("S1", KIOSK, PAGING[:501]), grpc.StatusCode.INVALID_ARGUMENT, "product_codes: at most 500"),
        (("S1", KIOSK, ["P3003", "P3002", "P3001", "bad code"]), grpc.StatusCode.INVALID_ARGUMENT,
         "product_codes[3]"),
        (("S1", KIOSK, ["P3003", ""]), grpc.StatusCode.INVALID_ARGUMENT, "product_codes[1]: required"),
        (("S1", KIOSK, ["P1", "P2", "P3", "P2", "P1"]), grpc.StatusCode.INVALID_ARGUMENT,
         "product_codes[3]: P2 is also product_codes[1]"),
        (("S1", cm.CHANNEL_UNSPECIFIED, ["P3003"]), grpc.StatusCode.INVALID_ARGUMENT, "channel"),
        (("", KIOSK, ["P3003"]), grpc.StatusCode.INVALID_ARGUMENT, "store_code"),
        (("NOPE", KIOSK, ["P3003"]), grpc.StatusCode.NOT_FOUND, "store_code"),
        (("NOPE", KIOSK, []), grpc.StatusCode.NOT_FOUND, "store_code"),
    ]
    for args, code, text in cases:
        with pytest.raises(grpc.RpcError) as e:
            batch_get(svc, *args, at=AT)
        assert code_of(e) == code and text in e.value.details(), (args[:2], e.value.details())


def test_datastore_metrics_are_exported(svc):
    import urllib.request
    list_page(svc, "S1", APP, at=AT)
    text = urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5).read().decode()
    assert 'menu_mysql_query_duration_seconds_count{statement="avail_list_forward"}' in text
    assert "menu_mysql_pool_size 8" in text and "menu_mysql_pool_in_use 0" in text
    assert "menu_mysql_pool_wait_seconds_count" in text
