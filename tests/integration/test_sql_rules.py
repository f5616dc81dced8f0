"""sql-svc rule administration, migrations and demo data against a real MariaDB through the real
binary: Create (validation naming the field, audit user from the request or x-user, the channel
checked against the group's, idempotent by request_id), Get, Terminate (never deletes, only
shortens; conditional on the rule's version), the effect on availability; `sql-svc migrate`
twice at once and again; `sql-svc seed-demo` twice."""

import concurrent.futures
import socket
import threading
import time
import uuid

import grpc
import pytest

from menu.v1 import common_pb2 as cm, product_availability_pb2 as pa
from conftest import rich_status, unary
from test_sql_support import (SERVICE, call, db_env, demo_database, fresh_database, list_all,
                              sql, subcommand, ts)

KIOSK = cm.CHANNEL_KIOSK


@pytest.fixture(scope="module")
def env(mariadb):
    return demo_database(mariadb, "menu_t_rules")


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
    assert rule.rule_id > 0 and rule.is_active and rule.channel == KIOSK and rule.version == 1
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
             pa.TerminateAvailabilityRuleRequest(rule_id=rule.rule_id, updated_by="bob", version=1),
             pa.TerminateAvailabilityRuleResponse, metadata=(("x-user", "carol"),)).rule
    assert t.updated_by == "bob" and t.created_by == "alice" and t.version == 2
    assert t.termination_time.seconds <= time.time() + 1
    assert "P1001" in list_all(svc, "R001", KIOSK)
    rows = sql(env, "SELECT updatedBy, terminationDatetime < '9999-01-01' FROM"
                    f" productAvailabilityRule WHERE productAvailabilityRuleId = {rule.rule_id}")
    assert rows == [["bob", "1"]]
    # Terminating later than the current end never extends the rule.
    t2 = call(svc, "TerminateAvailabilityRule",
              pa.TerminateAvailabilityRuleRequest(rule_id=rule.rule_id, termination_time=ts(4102444800),
                                                  version=2),
              pa.TerminateAvailabilityRuleResponse, metadata=(("x-user", "dave"),)).rule
    assert t2.termination_time == t.termination_time


def test_terminating_a_future_rule_deactivates_it(env, svc):
    g = group_id(env, "KIOSK", "market")
    rule = create(svc, created_by="erin", product_code="P1003", rule_group_id=g,
                  rule_type=pa.RULE_TYPE_MARKET, rule_effect=pa.RULE_EFFECT_ALLOW,
                  market_code="US", menu_type_code="BREAKFAST", is_hidden=True,
                  effective_time=ts(4102444800), termination_time=ts(4133980800))
    assert rule.menu_type_code == "BREAKFAST" and rule.is_hidden and rule.created_by == "erin"
    t = call(svc, "TerminateAvailabilityRule",
             pa.TerminateAvailabilityRuleRequest(rule_id=rule.rule_id, version=rule.version),
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
        (dict(version=3), "rule.version", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(channel=cm.CHANNEL_WEB), "rule.channel", grpc.StatusCode.INVALID_ARGUMENT),
        (dict(channel=77), "rule.channel", grpc.StatusCode.INVALID_ARGUMENT),
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
            ("TerminateAvailabilityRule",
             pa.TerminateAvailabilityRuleRequest(rule_id=987654321, updated_by="x", version=1),
             pa.TerminateAvailabilityRuleResponse)]:
        with pytest.raises(grpc.RpcError) as e:
            call(svc, method, req, resp)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        call(svc, "GetAvailabilityRule", pa.GetAvailabilityRuleRequest(rule_id=0), pa.GetAvailabilityRuleResponse)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "rule_id" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:  # no updated_by and no x-user
        call(svc, "TerminateAvailabilityRule", pa.TerminateAvailabilityRuleRequest(rule_id=1, version=1),
             pa.TerminateAvailabilityRuleResponse)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "updated_by" in e.value.details()


def count_rules(env):
    return int(sql(env, "SELECT COUNT(*) FROM productAvailabilityRule")[0][0])


def test_channel_must_match_the_rule_group(env, svc):
    g = group_id(env, "WEB", "restaurant")
    before = count_rules(env)
    with pytest.raises(grpc.RpcError) as e:
        create(svc, created_by="t", product_code="P1002", rule_group_id=g, channel=KIOSK,
               rule_type=pa.RULE_TYPE_RESTAURANT, rule_effect=pa.RULE_EFFECT_DENY,
               restaurant_code="R001")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule.channel" in e.value.details() and "WEB" in e.value.details()
    _, _, bad = rich_status(e.value)
    assert [v.field for v in bad.field_violations] == ["rule.channel"]
    assert count_rules(env) == before  # nothing written
    rule = create(svc, created_by="t", product_code="P1002", rule_group_id=g, channel=cm.CHANNEL_WEB,
                  rule_type=pa.RULE_TYPE_RESTAURANT, rule_effect=pa.RULE_EFFECT_DENY,
                  restaurant_code="R001")
    assert rule.channel == cm.CHANNEL_WEB and count_rules(env) == before + 1


def create_req(rid, **fields):
    return pa.CreateAvailabilityRuleRequest(request_id=rid, rule=pa.AvailabilityRule(**fields))


def create_call(svc, req):
    return call(svc, "CreateAvailabilityRule", req, pa.CreateAvailabilityRuleResponse).rule


def test_create_with_a_request_id_is_idempotent(env, svc):
    g = group_id(env, "KIOSK", "restaurant")
    fields = dict(created_by="idem", product_code="P1004", rule_group_id=g,
                  rule_type=pa.RULE_TYPE_RESTAURANT, rule_effect=pa.RULE_EFFECT_DENY,
                  restaurant_code="R003")
    rid = str(uuid.uuid4())
    before = count_rules(env)
    first = create_call(svc, create_req(rid, **fields))
    # The answer was "lost": the client retries with the same request_id (upper case is the
    # same UUID) and gets the original rule, times and all; nothing more is written.
    for again in (rid, rid.upper()):
        assert create_call(svc, create_req(again, **fields)) == first
    assert count_rules(env) == before + 1
    assert sql(env, "SELECT productAvailabilityRuleId FROM availabilityRuleCreateRequest"
                    f" WHERE requestId = '{rid}'") == [[str(first.rule_id)]]
    # The same key with another request is refused, and writes nothing either.
    with pytest.raises(grpc.RpcError) as e:
        create_call(svc, create_req(rid, **{**fields, "rule_effect": pa.RULE_EFFECT_ALLOW}))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in e.value.details()
    _, info, bad = rich_status(e.value)
    assert info.reason == "REQUEST_ID_REUSED" and [v.field for v in bad.field_violations] == ["request_id"]
    with pytest.raises(grpc.RpcError) as e:
        create_call(svc, create_req("not-a-uuid", **fields))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in e.value.details()
    # Without a request_id every call creates.
    create_call(svc, create_req("", **fields))
    assert count_rules(env) == before + 2


class AnswerDropper:
    """A TCP relay to the service that, once armed, swallows everything the service sends: the
    request arrives and is applied, its answer never does (a lost answer, not a lost call)."""

    def __init__(self, target_port):
        self.armed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.target_port = target_port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src, dst, answers):
        try:
            while data := src.recv(65536):
                if not (answers and self.armed.is_set()):
                    dst.sendall(data)
        except OSError:
            pass

    def close(self):
        self.listener.close()


def test_an_applied_create_whose_answer_was_lost_is_answered_once_on_retry(env, svc):
    g = group_id(env, "KIOSK", "restaurant")
    req = create_req(str(uuid.uuid4()), created_by="lost", product_code="P1008", rule_group_id=g,
                     rule_type=pa.RULE_TYPE_RESTAURANT, rule_effect=pa.RULE_EFFECT_DENY,
                     restaurant_code="R005")
    before = count_rules(env)
    relay = AnswerDropper(svc.port)
    try:
        with grpc.insecure_channel(relay.addr) as ch:
            unary(ch, SERVICE + "GetAvailabilityRule", pa.GetAvailabilityRuleRequest(rule_id=1),
                  pa.GetAvailabilityRuleResponse, timeout=5)  # connection up before arming
            relay.armed.set()
            with pytest.raises(grpc.RpcError) as e:
                unary(ch, SERVICE + "CreateAvailabilityRule", req, pa.CreateAvailabilityRuleResponse,
                      timeout=1.5)
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # the caller never heard
    finally:
        relay.close()
    # It was committed, with its key, in one transaction.
    rows = sql(env, "SELECT r.productAvailabilityRuleId FROM productAvailabilityRule r JOIN"
                    " availabilityRuleCreateRequest q USING (productAvailabilityRuleId)"
                    f" WHERE q.requestId = '{req.request_id}'")
    assert len(rows) == 1 and count_rules(env) == before + 1
    # The retry answers success with that very rule, and writes nothing.
    rule = create_call(svc, req)
    assert rule.rule_id == int(rows[0][0]) and rule.version == 1 and rule.created_by == "lost"
    assert count_rules(env) == before + 1


def test_concurrent_repeats_of_one_request_id_create_one_rule(env, svc):
    g = group_id(env, "KIOSK", "market")
    req = create_req(str(uuid.uuid4()), created_by="race", product_code="P1005", rule_group_id=g,
                     rule_type=pa.RULE_TYPE_MARKET, rule_effect=pa.RULE_EFFECT_ALLOW, market_code="US")
    before = count_rules(env)
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        rules = list(ex.map(lambda _: create_call(svc, req), range(6)))
    assert len({r.rule_id for r in rules}) == 1 and all(r == rules[0] for r in rules)
    assert count_rules(env) == before + 1


def test_request_ids_expire_after_24_hours(env, svc):
    g = group_id(env, "KIOSK", "regional")
    fields = dict(created_by="old", product_code="P1006", rule_group_id=g,
                  rule_type=pa.RULE_TYPE_REGIONAL, rule_effect=pa.RULE_EFFECT_ALLOW,
                  regional_code="US-WEST")
    rid, other = str(uuid.uuid4()), str(uuid.uuid4())
    first = create_call(svc, create_req(rid, **fields))
    create_call(svc, create_req(other, **fields))
    sql(env, "UPDATE availabilityRuleCreateRequest SET createdAt = createdAt - INTERVAL 25 HOUR"
             f" WHERE requestId IN ('{rid}', '{other}')")
    # Past the window the key is forgotten: the same request creates a new rule, and the
    # other expired key is purged on the way.
    second = create_call(svc, create_req(rid, **fields))
    assert second.rule_id != first.rule_id
    rows = sql(env, "SELECT requestId, productAvailabilityRuleId FROM availabilityRuleCreateRequest"
                    f" WHERE requestId IN ('{rid}', '{other}')")
    assert rows == [[rid, str(second.rule_id)]]


def terminate(svc, rule_id, version, user="vera"):
    return call(svc, "TerminateAvailabilityRule",
                pa.TerminateAvailabilityRuleRequest(rule_id=rule_id, version=version, updated_by=user),
                pa.TerminateAvailabilityRuleResponse).rule


def test_terminate_takes_the_version_and_a_stale_one_changes_nothing(env, svc):
    g = group_id(env, "KIOSK", "restaurant")
    rule = create(svc, created_by="ver", product_code="P1007", rule_group_id=g,
                  rule_type=pa.RULE_TYPE_RESTAURANT, rule_effect=pa.RULE_EFFECT_ALLOW,
                  restaurant_code="R004")
    assert rule.version == 1
    t = terminate(svc, rule.rule_id, 1)
    assert t.version == 2 and t.updated_by == "vera"
    row = sql(env, "SELECT version, updatedBy, terminationDatetime, updatedAt FROM"
                   f" productAvailabilityRule WHERE productAvailabilityRuleId = {rule.rule_id}")
    assert row[0][:2] == ["2", "vera"]
    with pytest.raises(grpc.RpcError) as e:  # stale: someone else changed it since version 1
        terminate(svc, rule.rule_id, 1, user="mallory")
    assert e.value.code() == grpc.StatusCode.ABORTED and "version" in e.value.details()
    _, info, _ = rich_status(e.value)
    assert info.reason == "STALE_VERSION" and info.metadata["current_version"] == "2"
    assert sql(env, "SELECT version, updatedBy, terminationDatetime, updatedAt FROM"
                    f" productAvailabilityRule WHERE productAvailabilityRuleId = {rule.rule_id}") == row
    for version, code in [(0, grpc.StatusCode.INVALID_ARGUMENT),
                          (2**63 - 1, grpc.StatusCode.INVALID_ARGUMENT),
                          (-1, grpc.StatusCode.INVALID_ARGUMENT)]:
        with pytest.raises(grpc.RpcError) as e:
            terminate(svc, rule.rule_id, version)
        assert e.value.code() == code and "version" in e.value.details(), version
    with pytest.raises(grpc.RpcError) as e:
        terminate(svc, 987654321, 1)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    got = call(svc, "GetAvailabilityRule", pa.GetAvailabilityRuleRequest(rule_id=rule.rule_id),
               pa.GetAvailabilityRuleResponse).rule
    assert got == t  # Terminate's reply is the committed row


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
