"""Readiness that tells the truth without cascading, through the real binaries: with its
datastore stopped, a service's per-service health names go NOT_SERVING once the datastore has
been unreachable for DEPENDENCY_UNHEALTHY_AFTER_MS (not before), while the whole server ("",
what the kubelet probes) stays SERVING; menu_dependency_up says 0; with the datastore back,
SERVING and 1 again, in the same process, and Health/Watch streams see every transition. The
gateway does the same for its backends. sql-svc's calls tell readiness what they saw, so with
the probe nearly off an outage is still noticed (and its end too), while calls failing with
query-level errors (the server answered) never count. Each test stops a datastore or backend of
its own (never the session-shared ones other tests use)."""

import os
import signal
import subprocess
import threading
import time

import grpc
import pytest

from menu.v1 import common_pb2 as cm, product_availability_pb2 as pa
from conftest import (DB_PASSWORD, ROOT, STATE, HealthCheckRequest, HealthCheckResponse, Service,
                      dynamo_tables_env, env_of, free_port, metric, rich_status)
from test_sql_rules import group_id
from test_sql_support import call, demo_database, get_one, sql

SERVING, NOT_SERVING = 1, 2
AFTER_MS = 1500  # DEPENDENCY_UNHEALTHY_AFTER_MS in these tests
FAST = {"DEPENDENCY_UNHEALTHY_AFTER_MS": str(AFTER_MS), "DEPENDENCY_PROBE_INTERVAL_MS": "200",
        "DEPENDENCY_PROBE_TIMEOUT_MS": "200"}
DYNAMO_SERVICES = ["menu.v1.CategoryService", "menu.v1.GhostSwapService",
                   "menu.v1.ProductCollectionService"]
SQL_SERVICES = ["menu.v1.ProductAvailabilityService", "menu.v1.ReferenceDataService"]
MARIADB = str(ROOT / "scripts/mariadb.sh")
DYNALITE = str(ROOT / "scripts/dynalite.sh")


@pytest.fixture(scope="module")
def own_mariadb():
    """A MariaDB of this module's own with the demo data (the tests stop and start it):
    (sql-svc's env, stop(), start())."""
    port = str(free_port())
    d = STATE / "mariadb-readiness"
    db_env = {**os.environ, "MENU_DB_PASSWORD": DB_PASSWORD}
    subprocess.run([MARIADB, "stop", str(d)], check=False)
    subprocess.run(["rm", "-rf", str(d)], check=True)

    def start():
        subprocess.run([MARIADB, "start", str(d), port], check=True, env=db_env)

    def stop():
        subprocess.run([MARIADB, "stop", str(d)], check=True)

    start()
    try:
        env = demo_database({"MYSQL_HOST": "127.0.0.1", "MYSQL_PORT": port, "MYSQL_USER": "menu",
                             "MYSQL_PASSWORD": DB_PASSWORD}, "menu_t_readiness")
        yield env, stop, start
    finally:
        subprocess.run([MARIADB, "stop", str(d)], check=False)


def health(svc, service=""):
    with svc.channel() as ch:
        check = ch.unary_unary("/grpc.health.v1.Health/Check",
                               request_serializer=HealthCheckRequest.SerializeToString,
                               response_deserializer=HealthCheckResponse.FromString)
        return check(HealthCheckRequest(service=service), timeout=2).status


def wait_for(fn, want, timeout):
    """Polls fn() until it returns want; returns the seconds it took (fails after timeout)."""
    t0 = time.monotonic()
    while True:
        got = fn()
        if got == want:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, f"still {got}, wanted {want}"
        time.sleep(0.05)


class Watch:
    """A Health/Watch stream read on a thread: every status it delivered, in order."""

    def __init__(self, svc, service):
        self.channel = svc.channel()
        watch = self.channel.unary_stream(
            "/grpc.health.v1.Health/Watch",
            request_serializer=HealthCheckRequest.SerializeToString,
            response_deserializer=HealthCheckResponse.FromString)
        self.stream = watch(HealthCheckRequest(service=service), timeout=60)
        self.seen = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for r in self.stream:
                self.seen.append(r.status)
        except grpc.RpcError:
            pass

    def close(self):
        self.stream.cancel()
        self.channel.close()
        self.thread.join(5)
        return self.seen


def outage_and_back(svc, services, dependency, stop, start):
    """Stops the dependency, checks the timing and every signal, starts it again."""
    for s in services:
        assert health(svc, s) == SERVING
    assert metric(svc, "menu_dependency_up", dependency=dependency) == 1
    assert metric(svc, "menu_dependency_last_success_timestamp_seconds",
                  dependency=dependency) > time.time() - 60
    watch = Watch(svc, services[0])
    try:
        t0 = time.monotonic()
        stop()
        wait_for(lambda: health(svc, services[0]), NOT_SERVING, AFTER_MS / 1000 + 8)
        # Not at the first failed probe: only after AFTER_MS of unreachability.
        took = time.monotonic() - t0
        assert took >= AFTER_MS / 1000 - 0.1, took
        for s in services:
            assert health(svc, s) == NOT_SERVING
        assert health(svc, "") == SERVING  # the process is fine: no restart, no cascade
        assert metric(svc, "menu_dependency_up", dependency=dependency) == 0
        lines = [l for l in svc.log_lines() if l.get("dependency") == dependency]
        assert any("NOT_SERVING" in l["msg"] for l in lines), lines
    finally:
        start()
    wait_for(lambda: health(svc, services[0]), SERVING, 15)
    for s in services:
        assert health(svc, s) == SERVING
    wait_for(lambda: metric(svc, "menu_dependency_up", dependency=dependency), 1, 5)
    time.sleep(0.3)
    assert watch.close() == [SERVING, NOT_SERVING, SERVING]
    assert svc.proc.poll() is None


def test_dynamo_svc_not_serving_while_dynamodb_is_down(start_service):
    port = free_port()
    d = STATE / f"dynalite-readiness-{port}"
    subprocess.run(["rm", "-rf", str(d)], check=True)
    subprocess.run([DYNALITE, "start", str(d), str(port)], check=True)
    try:
        env = {"DYNAMODB_ENDPOINT": f"http://127.0.0.1:{port}", "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
               **dynamo_tables_env(), **FAST}
        svc = start_service("dynamo-svc", env=env)
        outage_and_back(svc, DYNAMO_SERVICES, "dynamodb",
                        lambda: subprocess.run([DYNALITE, "stop", str(d)], check=True),
                        lambda: subprocess.run([DYNALITE, "start", str(d), str(port)], check=True))
    finally:
        subprocess.run([DYNALITE, "stop", str(d)], check=False)


def test_sql_svc_not_serving_while_mysql_is_down(start_service, own_mariadb):
    env, stop, start = own_mariadb
    svc = start_service("sql-svc", env={**env, "MYSQL_POOL_SIZE": "2", **FAST})
    outage_and_back(svc, SQL_SERVICES, "mysql", stop, start)


def rule_count(env, g):
    return int(sql(env, "SELECT COUNT(*) FROM productAvailabilityRule"
                        f" WHERE productAvailabilityRuleGroupId = {g}")[0][0])


def test_sql_svc_calls_tell_readiness_before_the_probe(start_service, own_mariadb):
    """The probe runs once at start-up and then not for ten minutes: only calls can tell."""
    env, stop, start = own_mariadb
    svc = start_service("sql-svc", env={
        **env, "MYSQL_POOL_SIZE": "2", "DEPENDENCY_UNHEALTHY_AFTER_MS": str(AFTER_MS),
        "DEPENDENCY_PROBE_INTERVAL_MS": "600000", "DEPENDENCY_PROBE_TIMEOUT_MS": "1000"})
    kiosk = cm.CHANNEL_KIOSK
    assert get_one(svc, "R001", kiosk, "P1000").product_availability.product_code == "P1000"

    # Query-level errors only, for longer than AFTER_MS: a client holds the rule group's row,
    # so each create waits for its lock until the server stops it at the call's deadline.
    # The server answered every time: it stays SERVING.
    g = group_id(env, "KIOSK", "restaurant")
    before = rule_count(env, g)
    holder = subprocess.Popen(
        ["mariadb", "--no-defaults", "-n", "-h", env["MYSQL_HOST"], "-P", env["MYSQL_PORT"],
         "-u", env["MYSQL_USER"], f"-p{env['MYSQL_PASSWORD']}", "--batch", "--skip-column-names",
         env["MYSQL_DATABASE"]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        holder.stdin.write("START TRANSACTION; SELECT productAvailabilityRuleGroupId FROM"
                           f" productAvailabilityRuleGroup WHERE productAvailabilityRuleGroupId = {g}"
                           " FOR UPDATE;\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == str(g)  # the lock is held
        t0 = time.monotonic()
        while time.monotonic() - t0 < AFTER_MS / 1000 + 0.8:
            req = pa.CreateAvailabilityRuleRequest(rule=pa.AvailabilityRule(
                product_code="P1001", rule_group_id=g, rule_type=pa.RULE_TYPE_RESTAURANT,
                rule_effect=pa.RULE_EFFECT_DENY, restaurant_code="R001"))
            with pytest.raises(grpc.RpcError) as e:
                call(svc, "CreateAvailabilityRule", req, pa.CreateAvailabilityRuleResponse,
                     timeout=1.5, metadata=(("x-user", "readiness"),))
            assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        for s in SQL_SERVICES:
            assert health(svc, s) == SERVING
        assert metric(svc, "menu_dependency_up", dependency="mysql") == 1
    finally:
        holder.kill()
        holder.wait()
    assert rule_count(env, g) == before  # nothing written by the stopped creates

    # MariaDB stops: calls fail at once with UNAVAILABLE, and after AFTER_MS of nothing but
    # such failures the services are NOT_SERVING; "" stays SERVING.
    stop()
    try:
        t_stop = time.monotonic()
        while health(svc, SQL_SERVICES[0]) != NOT_SERVING:
            assert time.monotonic() - t_stop < AFTER_MS / 1000 + 3, "still SERVING"
            t = time.monotonic()
            with pytest.raises(grpc.RpcError) as e:
                get_one(svc, "R001", kiosk, "P1000")
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() - t < 1.0  # refused at once, not at the deadline
            _, info, _ = rich_status(e.value)
            assert info.reason == "DATASTORE_UNAVAILABLE"
            time.sleep(0.1)
        assert time.monotonic() - t_stop >= AFTER_MS / 1000 - 0.1
        for s in SQL_SERVICES:
            assert health(svc, s) == NOT_SERVING
        assert health(svc, "") == SERVING
        assert metric(svc, "menu_dependency_up", dependency="mysql") == 0
    finally:
        start()

    # Back: the first call that gets through makes it SERVING again (no probe needed).
    t0 = time.monotonic()
    while True:
        try:
            get_one(svc, "R001", kiosk, "P1000")
            break
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() - t0 < 15, "MariaDB did not come back"
            time.sleep(0.1)
    wait_for(lambda: health(svc, SQL_SERVICES[0]), SERVING, 1)
    assert metric(svc, "menu_dependency_up", dependency="mysql") == 1
    assert svc.proc.poll() is None


def test_gateway_menu_service_not_serving_while_sql_svc_is_down(start_service, mariadb, dynalite):
    dyn = start_service("dynamo-svc", env={**env_of(dynalite), **dynamo_tables_env()})
    sql_port = free_port()
    sql_env = {**env_of(mariadb), "MYSQL_POOL_SIZE": "2"}
    sql = [Service("sql-svc", env=sql_env, port=sql_port).wait_ready()]
    try:
        gw = start_service("gateway", env={
            "DYNAMO_SVC_TARGET": f"dns:///{dyn.addr}", "SQL_SVC_TARGET": f"dns:///{sql[0].addr}",
            **FAST})

        def restart():
            sql[0] = Service("sql-svc", env=sql_env, port=sql_port).wait_ready()

        outage_and_back(gw, ["menu.v1.MenuService"], "sql-svc", lambda: sql[0].stop(), restart)
        assert metric(gw, "menu_dependency_up", dependency="dynamo-svc") == 1
    finally:
        sql[0].stop(signal.SIGKILL)
