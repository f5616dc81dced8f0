"""sql-svc when MariaDB misbehaves, through the real binary over gRPC: the server restarted under
a running service (UNAVAILABLE during the outage, normal answers after, same process), the
pool exhausted (callers wait, then UNAVAILABLE at their deadline), a statement stuck on a lock
(stopped by the server at the call's deadline: DEADLINE_EXCEEDED, the connection kept), and
validation only of idle connections. These tests start their own MariaDB with
scripts/mariadb.sh so that the shared one is never stopped."""

import os
import subprocess
import threading
import time
import urllib.request

import grpc
import pytest

from conftest import DB_PASSWORD, ROOT, STATE, free_port, rich_status, status_of
from menu.v1 import common_pb2 as cm, product_availability_pb2 as pa
from test_sql_support import call, list_page, subcommand, sql

KIOSK = cm.CHANNEL_KIOSK
MARIADB = str(ROOT / "scripts/mariadb.sh")
DB_ENV = {**os.environ, "MENU_DB_PASSWORD": DB_PASSWORD}


@pytest.fixture(scope="module")
def own_db():
    d = STATE / "mariadb-sql-resilience"
    port = str(free_port())
    subprocess.run([MARIADB, "stop", str(d)], check=False)
    subprocess.run(["rm", "-rf", str(d)], check=True)
    subprocess.run([MARIADB, "start", str(d), port], check=True, env=DB_ENV)
    env = {"MYSQL_HOST": "127.0.0.1", "MYSQL_PORT": port, "MYSQL_USER": "menu",
           "MYSQL_PASSWORD": DB_PASSWORD, "MYSQL_DATABASE": "menu"}
    for cmd in ("migrate", "seed-demo"):
        out = subcommand(env, cmd)
        assert out.returncode == 0, out.stdout + out.stderr
    yield d, port, env
    subprocess.run([MARIADB, "stop", str(d)], check=False)



def test_server_restart_unavailable_then_recovers_without_service_restart(own_db, start_service):
    d, port, env = own_db
    svc = start_service("sql-svc", env={**env, "MYSQL_POOL_SIZE": "4"})
    pid = svc.proc.pid
    assert len(list_page(svc, "R001", KIOSK).edges) > 0

    subprocess.run([MARIADB, "stop", str(d)], check=True)
    try:
        for _ in range(3):  # every pooled connection is dead: each call fails fast
            t = time.monotonic()
            assert status_of(lambda: list_page(svc, "R001", KIOSK, timeout=5)) == \
                grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() - t < 2.0
        with pytest.raises(grpc.RpcError) as e:
            list_page(svc, "R001", KIOSK, timeout=5)
        # Which datastore failed and the request id; never its address, user or driver text.
        _, info, _ = rich_status(e.value)
        assert info.reason == "DATASTORE_UNAVAILABLE" and info.metadata["datastore"] == "mysql"
        for leak in (port, "127.0.0.1", "menu@", "Can't connect", "Lost connection"):
            assert leak not in e.value.details(), e.value.details()
    finally:
        subprocess.run([MARIADB, "start", str(d), port], check=True, env=DB_ENV)

    # Back: the first call after the restart already answers (validation reconnects).
    for _ in range(6):  # more calls than pooled connections: every connection was replaced
        assert len(list_page(svc, "R001", KIOSK, timeout=5).edges) > 0
    assert svc.proc.poll() is None and svc.proc.pid == pid


def test_pool_exhausted_waits_then_unavailable_at_the_deadline(own_db, start_service):
    d, port, env = own_db
    svc = start_service("sql-svc", env={**env, "MYSQL_POOL_SIZE": "1"})
    assert len(list_page(svc, "R001", KIOSK).edges) > 0

    # Another client write-locks the rules table: the service's one connection blocks on it.
    locker = subprocess.Popen(
        ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", port, "-umenu", f"-p{DB_PASSWORD}", "menu",
         "-e", "LOCK TABLES productAvailabilityRule WRITE; SELECT SLEEP(6); UNLOCK TABLES;"])
    try:
        time.sleep(0.5)
        first = {}

        def hold():
            t = time.monotonic()
            first["code"] = status_of(lambda: list_page(svc, "R001", KIOSK, timeout=3))
            first["took"] = time.monotonic() - t

        holder = threading.Thread(target=hold)
        holder.start()
        time.sleep(0.3)  # the first call now holds the only connection
        t = time.monotonic()
        code = status_of(lambda: list_page(svc, "R002", KIOSK, timeout=1.0))
        waited = time.monotonic() - t
        holder.join()
        assert code == grpc.StatusCode.UNAVAILABLE
        assert 0.7 <= waited <= 2.0  # it waited for a connection, up to its deadline
        # The blocked call is cut at its own deadline, not at the lock's end (6 s).
        assert first["code"] == grpc.StatusCode.DEADLINE_EXCEEDED and first["took"] < 4.5
    finally:
        locker.wait(15)

    assert len(list_page(svc, "R001", KIOSK, timeout=5).edges) > 0  # the pool healed
    text = urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5).read().decode()
    timeouts = [line for line in text.splitlines()
                if line.startswith("menu_mysql_pool_acquire_timeouts_total")]
    assert timeouts and float(timeouts[0].split()[-1]) >= 1


def test_busy_connection_is_not_pinged_on_every_call(own_db, start_service):
    """Validation costs a round trip: a connection used within the last second is not pinged
    (MariaDB counts COM_PING in Com_admin_commands); one idle for longer still is."""
    d, port, env = own_db
    svc = start_service("sql-svc", env={**env, "MYSQL_POOL_SIZE": "2"})

    def pings():
        rows = sql(env, "SHOW GLOBAL STATUS LIKE 'Com_admin_commands'", database=False)
        return int(rows[0][1])

    assert len(list_page(svc, "R001", KIOSK).edges) > 0
    before = pings()
    for _ in range(20):
        assert len(list_page(svc, "R001", KIOSK).edges) > 0
    assert pings() - before <= 2  # at most a ping per pooled connection, not one per call
    time.sleep(1.2)
    before = pings()
    assert len(list_page(svc, "R001", KIOSK).edges) > 0
    assert pings() - before >= 1  # idle for over a second: validated first


def metric(svc, prefix):
    """Sum of the samples whose line starts with prefix (0 when none)."""
    text = urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def service_threads(env, exclude=()):
    """The server's connection ids of the menu user, with their command (Query, Sleep...)."""
    rows = sql(env, "SELECT ID, COMMAND FROM information_schema.PROCESSLIST WHERE USER = 'menu'"
                    " AND ID <> CONNECTION_ID()")
    return {int(i): cmd for i, cmd in rows if int(i) not in exclude}


def test_slow_statement_is_stopped_by_the_server_at_the_deadline_and_the_connection_kept(
        own_db, start_service):
    d, port, env = own_db
    svc = start_service("sql-svc", env={**env, "MYSQL_POOL_SIZE": "2"})
    rule_id, version = map(int, sql(env, "SELECT productAvailabilityRuleId, version FROM"
                                         " productAvailabilityRule ORDER BY 1 LIMIT 1")[0])
    assert len(list_page(svc, "R001", KIOSK).edges) > 0
    threads = service_threads(env)
    assert len(threads) == 3  # the pool's 2 connections (opened at start-up) + the readiness probe's

    # Another client holds the rule's row lock: Terminate waits on it until the server stops
    # the statement at the call's time limit (the lock is held for 4 s).
    locker = subprocess.Popen(
        ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", port, "-umenu", f"-p{DB_PASSWORD}", "menu",
         "-e", f"BEGIN; SELECT version FROM productAvailabilityRule WHERE productAvailabilityRuleId"
               f" = {rule_id} FOR UPDATE; SELECT SLEEP(4); ROLLBACK;"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        t = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            call(svc, "TerminateAvailabilityRule", pa.TerminateAvailabilityRuleRequest(
                rule_id=rule_id, version=version, updated_by="slow"), pa.TerminateAvailabilityRuleResponse,
                timeout=1.5)
        took = time.monotonic() - t
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The service's answer (not the client's own timeout): it says which datastore, never
        # the driver's text or where the server is; that goes to the call's log line.
        _, info, _ = rich_status(e.value)
        assert info.reason == "DATASTORE_DEADLINE_EXCEEDED" and info.metadata["datastore"] == "mysql"
        assert port not in e.value.details() and "127.0.0.1" not in e.value.details()
        assert "max_statement_time" not in e.value.details()
        for _ in range(40):  # the log line is written by the service's log thread
            if "max_statement_time" in svc.log_text():
                break
            time.sleep(0.05)
        assert "max_statement_time" in svc.log_text()
        assert took < 1.5  # the service answered before the caller gave up
        # The server stopped the statement itself: the service's connections are idle again
        # while the lock is still held, and they are the same connections.
        now = service_threads(env, exclude=set(service_threads(env)) - set(threads))
        assert now.keys() == threads.keys() and set(now.values()) == {"Sleep"}, now
        assert metric(svc, 'menu_mysql_query_errors_total{statement="rule_terminate",code="DEADLINE_EXCEEDED"}') == 1
        # The connection is reused at once: no reconnect, no new server thread.
        assert len(list_page(svc, "R001", KIOSK, timeout=5).edges) > 0
        assert metric(svc, "menu_mysql_pool_connects_total") == 0
        assert metric(svc, "menu_mysql_pool_kills_total") == 0  # no KILL QUERY was needed
        assert service_threads(env, exclude=set(service_threads(env)) - set(threads)).keys() == threads.keys()
    finally:
        locker.wait(15)
    # Nothing changed: the rule is at its version, untouched by the stopped call.
    assert sql(env, f"SELECT version, updatedBy <> 'slow' FROM productAvailabilityRule"
                    f" WHERE productAvailabilityRuleId = {rule_id}") == [[str(version), "1"]]
    assert set(service_threads(env).keys()) == threads.keys()
