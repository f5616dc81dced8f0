"""sql-svc rule administration, migrations and demo data against a real MariaDB through the real
binary: Create (validation naming the field, audit user from the request or x-user), Get,
Terminate (never deletes, only shortens), the effect on availability; `sql-svc migrate` twice
at once and again; `sql-svc seed-demo` twice."""

import concurrent.futures
import time

import grpc
import pytest

from menu.v1 import common_pb2 as cm, product_availability_pb2 as pa
from test_sql_support import (call, db_env, fresh_database, list_all, migrate, sql,
                              subcommand, ts)

KIOSK = cm.CHANNEL_KIOSK


@pytest.fixture(scope="module")
def env(mariadb):
    e = db_env(mariadb, "menu_t_rules")
    fresh_database(e)
    migrate(e)
    out = subcommand(e, "seed-demo")
    assert out.returncode == 0, out.stdout + out.stderr
    return e


@pytest.fixture
def svc(env, start_service):
    return start_service("sql-svc", env=env)


def group_id(env, channel, group_type):
    return int(sql(env, "SELECT g.productAvailabilityRuleGroupId FROM productAvailabilityRuleGroup g"
                        " JOIN productAvailabilityRuleGroupType t USING (productAvailabilityRuleGroupTypeId)"
                        f" JOIN channel c USING (channelId) WHERE c.channelCode = '{channel}'"
                        f" AND t.code = '{group_type}'")[0][0])


def create(svc, metadata=None, **fields):
    return call(svc, "CreateAvailabilityRule",
                pa.CreateAvailabilityRuleRequest(rule=pa.AvailabilityRule(**fields)),
                pa.CreateAvailabilityRuleResponse, metadata=metadata).rule


def test_create_get_terminate_and_the_effect_on_availability(env, svc):
    g = group_id(env, "KIOSK", "restaurant")
    assert "P1001" in list_all(svc, "R001", KIOSK)
    start = time.time()
    rule = create(svc, metadata=(("x-user", "alice"),), product_code="P1001", rule_group_id=g,
                  rule_type=pa.RULE_TYPE_RESTAURANT, rule_effect=pa.RULE_EFFECT_DENY,
                  restaurant_code="R001")
    assert rule.rule_id > 0 and rule.is_active and rule.channel == KIOSK
    assert rule.created_by == "alice" and rule.updated_by == "alice"
    assert rule.restaurant_code == "R001" and rule.market_code == "" and rule.menu_type_code == ""
    assert start - 2 <= rule.effective_time.seconds <= time.time() + 2
    assert rule.termination_time.seconds == 253402300799  # 9999-12-31 23:59:59
    # The restaurant deny (ranking 100) now hides P1001 at R001 only.
    assert "P1001" not in list_all(svc, "R001", KIOSK)
    assert "P1001" in list_all(svc, "R002", KIOSK)

    got = call(svc, "GetAvailabilityRule", pa.GetAvailabilityRuleRequest(rule_id=rule.rule_id),
               pa.GetAvailabilityRuleResponse).rule
    assert got == rule

    # Terminate: explicit updated_by wins over x-user; the row stays, the window ends.
    t = call(svc, "TerminateAvailabilityRule",
             pa.TerminateAvailabilityRuleRequest(rule_id=rule.rule_id, updated_by="bob"),
             pa.TerminateAvailabilityRuleResponse, metadata=(("x-user", "carol"),)).rule
    assert t.updated_by == "bob" and t.created_by == "alice"
    assert t.termination_time.seconds <= time.time() + 1
    assert "P1001" in list_all(svc, "R001", KIOSK)
    rows = sql(env, "SELECT updatedBy, terminationDatetime < '9999-01-01' FROM"
                    f" productAvailabilityRule WHERE productAvailabilityRuleId = {rule.rule_id}")
    assert rows == [["bob", "1"]]
    # Terminating later than the current end never extends the rule.
    t2 = call(svc, "TerminateAvailabilityRule",
              pa.TerminateAvailabilityRuleRequest(rule_id=rule.rule_id, termination_time=ts(4102444800)),
              pa.TerminateAvailabilityRuleResponse, metadata=(("x-user", "dave"),)).rule
    assert t2.termination_time == t.termination_time


def test_terminating_a_future_rule_deactivates_it(env, svc):
    g = group_id(env, "KIOSK", "market")
    rule = create(svc, created_by="erin", product_code="P1003", rule_group_id=g,
                  rule_type=pa.RULE_TYPE_MARKET, rule_effect=pa.RULE_EFFECT_ALLOW,
                  market_code="US", menu_type_code="BREAKFAST", is_hidden=True,
                  effective_time=ts(4102444800), termination_time=ts(4133980800))
    assert rule.menu_type_code == "BREAKFAST" and rule.is_hidden and rule.created_by == "erin"
    t = call(svc, "TerminateAvailabilityRule", pa.TerminateAvailabilityRuleRequest(rule_id=rule.rule_id),
             pa.TerminateAvailabilityRuleResponse, metadata=(("x-user", "frank"),)).rule
    assert not t.is_active and t.updated_by == "frank"
    assert t.effective_time == rule.effective_time


def test_create_validation_names_the_field(env, svc):
    g = group_id(env, "KIOSK", "market")
    base = dict(product_code="P1001", rule_group_id=g, rule_type=pa.RULE_TYPE_MARKET,
                rule_effect=pa.RULE_EFFECT_ALLOW, market_code="US", created_by="tester")
    cases = [
        (dict(product_code=""), "rule.product_code", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(product_code="bad code"), "rule.product_code", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(rule_group_id=0), "rule.rule_group_id", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(rule_type=pa.RULE_TYPE_UNSPECIFIED), "rule.rule_type", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(rule_effect=pa.RULE_EFFECT_UNSPECIFIED), "rule.rule_effect", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(market_code=""), "rule.market_code", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(regional_code="US-WEST"), "rule.regional_code", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(rule_type=pa.RULE_TYPE_GLOBAL_EXPERIENCE), "rule.market_code", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(rule_type=pa.RULE_TYPE_RESTAURANT, market_code=""), "rule.restaurant_code",
         grpc.StatusCode.INVALID_ARGUMENT),
        (dict(effective_time=ts(2000000000), termination_time=ts(2000000000)),
         "rule.termination_time", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(created_by=""), "rule.created_by", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(rule_id=5), "rule.rule_id", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(product_code="P9999"), "rule.product_code", grpc.StatusCode.NOT_FOUND),
        (dict(rule_group_id=999999), "rule.rule_group_id", grpc.StatusCode.NOT_FOUND),
        (dict(market_code="XX"), "rule.market_code", grpc.StatusCode.NOT_FOUND),
        (dict(menu_type_code="BRUNCH"), "rule.menu_type_code", grpc.StatusCode.NOT_FOUND),
    ]
    count = sql(env, "SELECT COUNT(*) FROM productAvailabilityRule")
    for override, field, code in cases:
        with pytest.raises(grpc.RpcError) as e:
            create(svc, **{**base, **override})
        assert e.value.code() == code, (override, e.value.details())
        assert field in e.value.details(), (override, e.value.details())
    assert sql(env, "SELECT COUNT(*) FROM productAvailabilityRule") == count  # nothing written


def test_get_and_terminate_unknown_or_invalid(svc):
    for method, req, resp in [
            ("GetAvailabilityRule", pa.GetAvailabilityRuleRequest(rule_id=987654321), pa.GetAvailabilityRuleResponse),
            ("TerminateAvailabilityRule", pa.TerminateAvailabilityRuleRequest(rule_id=987654321, updated_by="x"),
             pa.TerminateAvailabilityRuleResponse)]:
        with pytest.raises(grpc.RpcError) as e:
            call(svc, method, req, resp)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        call(svc, "GetAvailabilityRule", pa.GetAvailabilityRuleRequest(rule_id=0), pa.GetAvailabilityRuleResponse)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "rule_id" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:  # no updated_by and no x-user
        call(svc, "TerminateAvailabilityRule", pa.TerminateAvailabilityRuleRequest(rule_id=1),
             pa.TerminateAvailabilityRuleResponse)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "updated_by" in e.value.details()


def test_check_constraints_back_the_validation(env):
    """Rows that bypass the service still cannot break the rules' invariants."""
    bad = [
        "ruleType = 'national'", "ruleEffect = 'maybe'",
        "marketId = (SELECT marketId FROM market LIMIT 1)",  # a global rule with a market
        "terminationDatetime = effectiveDatetime",
    ]
    for change in bad:
        with pytest.raises(RuntimeError, match="CONSTRAINT"):
            sql(env, f"UPDATE productAvailabilityRule SET {change} WHERE ruleType ="
                     " 'global-experience' LIMIT 1")


def test_migrations_concurrent_and_idempotent(mariadb):
    e = db_env(mariadb, "menu_t_migrate")
    fresh_database(e)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda _: subcommand(e, "migrate"), range(4)))
    assert all(o.returncode == 0 for o in outs), [o.stdout + o.stderr for o in outs]
    applied = sum(int(line.split('"applied":')[1].split("}")[0]) for o in outs
                  for line in o.stdout.splitlines() if '"applied":' in line)
    versions = sql(e, "SELECT version FROM schemaVersion ORDER BY version")
    assert applied == len(versions) >= 3  # each migration applied by exactly one runner
    again = subcommand(e, "migrate")
    assert again.returncode == 0 and '"applied":0' in again.stdout
    assert sql(e, "SELECT COUNT(*) FROM channel") == [["5"]]


def test_migrate_fails_cleanly_without_a_server(mariadb, tmp_path):
    e = db_env(mariadb, "menu_t_migrate")
    e["MYSQL_PORT"] = "1"
    e["MYSQL_WAIT_S"] = "0"
    out = subcommand(e, "migrate", timeout=30)
    assert out.returncode == 1 and "cannot connect" in out.stdout
    e = db_env(mariadb, "menu_t_migrate")
    e["MIGRATIONS_DIR"] = str(tmp_path / "missing")
    out = subcommand(e, "migrate", timeout=30)
    assert out.returncode == 1 and "MIGRATIONS_DIR" in out.stdout
