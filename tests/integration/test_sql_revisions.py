"""sql-svc rule revisions against a real MariaDB through the real binary, on the demo data:
GetAvailabilityRevision's revision (advanced by every rule write on its channel, in the rule's
own transaction: a rolled-back write leaves it alone) and valid_until (the demo promotion that
starts next week, moved by a nearer rule), the same values on BatchGetProductAvailabilities,
and bad input naming the field."""

import subprocess
import time

import grpc
import pytest

from conftest import DB_PASSWORD, rich_status
from menu.v1 import common_pb2 as cm, product_availability_pb2 as pa
from test_sql_support import batch_get, call, demo_database, sql, ts

KIOSK, WEB, DRIVE_THRU = cm.CHANNEL_KIOSK, cm.CHANNEL_WEB, cm.CHANNEL_DRIVE_THRU
DAY = 86400


@pytest.fixture(scope="module")
def env(mariadb):
    return demo_database(mariadb, "menu_t_revisions")


@pytest.fixture
def svc(env, start_service):
    return start_service("sql-svc", env=env)


def revision(svc, channel, store="", at=None):
    req = pa.GetAvailabilityRevisionRequest(channel=channel, store_code=store)
    if at is not None:
        req.at_time.CopyFrom(at)
    return call(svc, "GetAvailabilityRevision", req, pa.GetAvailabilityRevisionResponse)


def rule_instant(env, code, column):
    """A demo rule's instant as Unix seconds (DATETIME holds UTC)."""
    return int(sql(env, f"SELECT TIMESTAMPDIFF(SECOND, '1970-01-01', r.{column})"
                        " FROM productAvailabilityRule r JOIN product p USING (productId)"
                        f" WHERE p.productCode = '{code}' LIMIT 1")[0][0])


def kiosk_restaurant_group(env):
    return int(sql(env, "SELECT g.productAvailabilityRuleGroupId FROM productAvailabilityRuleGroup g"
                        " JOIN productAvailabilityRuleGroupType t"
                        "  USING (productAvailabilityRuleGroupTypeId) JOIN channel c USING (channelId)"
                        " WHERE c.channelCode = 'KIOSK' AND t.code = 'restaurant'")[0][0])


def test_valid_until_is_the_promotion_next_week_and_batch_get_agrees(env, svc):
    promo_start = rule_instant(env, "P1037", "effectiveDatetime")
    promo_end = rule_instant(env, "P1037", "terminationDatetime")
    now = int(time.time())
    assert now < promo_start <= now + 7 * DAY
    r = revision(svc, KIOSK, "R001", at=ts(now))
    assert r.channel == KIOSK and r.revision >= 2  # migration 005, then seed-demo
    assert (r.at_time.seconds, r.valid_until.seconds, r.valid_until.nanos) == (now, promo_start, 0)
    # Once the promotion runs, its end is the next boundary.
    assert revision(svc, KIOSK, "R001", at=ts(promo_start + DAY)).valid_until.seconds == promo_end
    # Without a store: the revision only.
    bare = revision(svc, KIOSK)
    assert bare.revision == r.revision and not bare.HasField("valid_until")
    # BatchGet reads them in the snapshot of its results: the same values.
    for at in (now, promo_start + DAY):
        b = batch_get(svc, "R001", KIOSK, ["P1000", "P1037"], at=ts(at))
        g = revision(svc, KIOSK, "R001", at=ts(at))
        assert (b.revision, b.valid_until) == (g.revision, g.valid_until)
    # A store not on the channel (R005 is drive-thru only): no rule can apply, no boundary,
    # as BatchGet answers STORE_NOT_ON_CHANNEL without an error.
    off = revision(svc, KIOSK, "R005", at=ts(now))
    assert off.revision == r.revision and not off.HasField("valid_until")
    b = batch_get(svc, "R005", KIOSK, ["P1000"], at=ts(now))
    assert b.revision == r.revision and not b.HasField("valid_until")


def test_rule_writes_advance_their_channel_and_a_nearer_rule_moves_valid_until(env, svc):
    now = int(time.time())
    kiosk, web = revision(svc, KIOSK, "R001", at=ts(now)), revision(svc, WEB).revision
    soon = now + DAY // 2
    rule = call(svc, "CreateAvailabilityRule", pa.CreateAvailabilityRuleRequest(
        rule=pa.AvailabilityRule(product_code="P1001", rule_group_id=kiosk_restaurant_group(env),
                                 rule_type=pa.RULE_TYPE_RESTAURANT, rule_effect=pa.RULE_EFFECT_DENY,
                                 restaurant_code="R001", effective_time=ts(soon),
                                 created_by="rev")),
        pa.CreateAvailabilityRuleResponse).rule
    after = revision(svc, KIOSK, "R001", at=ts(now))
    assert after.revision == kiosk.revision + 1
    assert after.valid_until.seconds == soon  # nearer than the promotion
    assert revision(svc, WEB).revision == web  # another channel's revision is untouched
    # Another store's valid_until ignores R001's rule.
    assert revision(svc, KIOSK, "R003", at=ts(now)).valid_until == kiosk.valid_until
    # Terminating it before it starts deactivates it: the promotion is next again.
    call(svc, "TerminateAvailabilityRule", pa.TerminateAvailabilityRuleRequest(
        rule_id=rule.rule_id, version=rule.version, updated_by="rev"),
        pa.TerminateAvailabilityRuleResponse)
    done = revision(svc, KIOSK, "R001", at=ts(now))
    assert done.revision == kiosk.revision + 2 and done.valid_until == kiosk.valid_until
    # Reads and a refused write (stale version) do not advance it.
    with pytest.raises(grpc.RpcError) as e:
        call(svc, "TerminateAvailabilityRule", pa.TerminateAvailabilityRuleRequest(
            rule_id=rule.rule_id, version=rule.version, updated_by="rev"),
            pa.TerminateAvailabilityRuleResponse)
    assert e.value.code() == grpc.StatusCode.ABORTED
    assert revision(svc, KIOSK).revision == done.revision


def test_a_rolled_back_rule_write_does_not_advance_the_revision(env, svc):
    before = revision(svc, KIOSK).revision
    rules = sql(env, "SELECT COUNT(*) FROM productAvailabilityRule")
    # Another client holds KIOSK's revision row: the create inserts its rule, then waits on the
    # row until its statement limit stops it, and its transaction is rolled back.
    locker = subprocess.Popen(
        ["mariadb", "--no-defaults", "-h", env["MYSQL_HOST"], "-P", env["MYSQL_PORT"], "-umenu",
         f"-p{DB_PASSWORD}", env["MYSQL_DATABASE"], "-e",
         "BEGIN; SELECT revision FROM channelRuleRevision v JOIN channel c USING (channelId)"
         " WHERE c.channelCode = 'KIOSK' FOR UPDATE; SELECT SLEEP(3); ROLLBACK;"],
        stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        with pytest.raises(grpc.RpcError) as e:
            call(svc, "CreateAvailabilityRule", pa.CreateAvailabilityRuleRequest(
                rule=pa.AvailabilityRule(product_code="P1002",
                                         rule_group_id=kiosk_restaurant_group(env),
                                         rule_type=pa.RULE_TYPE_RESTAURANT,
                                         rule_effect=pa.RULE_EFFECT_DENY, restaurant_code="R001",
                                         created_by="rolled-back")),
                pa.CreateAvailabilityRuleResponse, timeout=1.5)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        locker.wait(15)
    # Neither the rule nor the revision: both or neither.
    assert sql(env, "SELECT COUNT(*) FROM productAvailabilityRule") == rules
    assert revision(svc, KIOSK).revision == before


@pytest.mark.parametrize("req,code,field", [
    (pa.GetAvailabilityRevisionRequest(), grpc.StatusCode.INVALID_ARGUMENT, "channel"),
    (pa.GetAvailabilityRevisionRequest(channel=KIOSK, store_code="R 1"),
     grpc.StatusCode.INVALID_ARGUMENT, "store_code"),
    (pa.GetAvailabilityRevisionRequest(channel=KIOSK, store_code="R001",
                                       at_time=ts(-70000000000)),
     grpc.StatusCode.INVALID_ARGUMENT, "at_time"),
    (pa.GetAvailabilityRevisionRequest(channel=KIOSK, store_code="R999"),
     grpc.StatusCode.NOT_FOUND, "store_code"),
])
def test_bad_input_names_the_field(svc, req, code, field):
    with pytest.raises(grpc.RpcError) as e:
        call(svc, "GetAvailabilityRevision", req, pa.GetAvailabilityRevisionResponse)
    assert e.value.code() == code
    assert e.value.details().startswith(field + ":"), e.value.details()
    _, _, bad = rich_status(e.value)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert [v.field for v in bad.field_violations] == [field]
