"""The gateway while its backends come and go, on the real stack (MariaDB, dynalite, the real
binaries): a rolling restart of two replicas of each backend under steady load loses no
GetStoreMenu call, and after a long outage of a backend the gateway answers again within
seconds of that backend reporting SERVING (the reconnect backoff is capped)."""

import threading
import time

import grpc
import pytest

from conftest import Service, dynamo_tables_env, env_of, free_port, unary
from test_gateway_menu import sql_env  # noqa: F401 (a module fixture: demo data)

from menu.v1 import common_pb2, menu_pb2  # noqa: E402

MENU = "/menu.v1.MenuService/GetStoreMenu"
# fresh_read: past the gateway's cache, so that every call really reaches the backends being
# restarted (a cached menu would answer without them, and use up the load's budget at once).
REQUEST = menu_pb2.GetStoreMenuRequest(store_code="R001", channel=common_pb2.CHANNEL_KIOSK,
                                       page=common_pb2.PageRequest(first=5), fresh_read=True)


class Replicas:
    """Services started and restarted on fixed ports; every process is stopped at the end."""

    def __init__(self):
        self.running = {}  # port -> (Service, its env)
        self.all = []

    def start(self, name, env, port=None):
        svc = Service(name, env, port=port or free_port())
        self.all.append(svc)
        self.running[svc.port] = (svc, env)
        return svc.wait_ready()

    def stop(self, port):
        """SIGTERM: graceful (health NOT_SERVING, calls in flight finish), exit code 0."""
        svc, _ = self.running[port]
        assert svc.stop() == 0, svc.log_text()[-2000:]
        # The next process on this port logs to the same path: keep this one's lines.
        if svc.log_path.exists():
            svc.log_path = svc.log_path.rename(
                svc.log_path.with_name(f"{svc.log_path.stem}-{time.monotonic_ns()}.log"))

    def restart(self, port):
        """Stops the process on `port`, then starts the same binary there again; returns once
        it reports SERVING."""
        svc, env = self.running[port]
        self.stop(port)
        return self.start(svc.name, env, port=port)

    def stop_all(self):
        for svc in self.all:
            svc.stop()


@pytest.fixture
def replicas():
    r = Replicas()
    yield r
    r.stop_all()


class Load:
    """A few client threads calling GetStoreMenu back to back over one channel, each bounded
    in calls and time; every outcome is recorded with its end time."""

    def __init__(self, addr, threads=4, max_calls=20000, max_seconds=120):
        self.channel = grpc.insecure_channel(addr)
        self.fn = self.channel.unary_unary(
            MENU, request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=menu_pb2.GetStoreMenuResponse.FromString)
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.ok, self.failures = [], []
        self.budget = max_calls
        self.until = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        while not self.stop_event.is_set() and time.monotonic() < self.until:
            with self.lock:
                if self.budget <= 0:
                    return
                self.budget -= 1
            try:
                self.fn(REQUEST, timeout=5)
                with self.lock:
                    self.ok.append(time.monotonic())
            except grpc.RpcError as e:
                with self.lock:
                    self.failures.append((time.monotonic(), e.code(), e.details()))

    def count_ok(self):
        with self.lock:
            return len(self.ok)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(30)
        self.channel.close()


def test_rolling_restart_loses_no_call(replicas, sql_env, dynalite):
    # A call a stopping replica cannot finish within its grace gets UNAVAILABLE, which the
    # gateway retries on the other replica: the grace must leave room for that within the
    # caller's 5 s.
    grace = {"SHUTDOWN_GRACE_MS": "2000"}
    dyn_env = {**env_of(dynalite), **dynamo_tables_env(), **grace}
    dyns = [replicas.start("dynamo-svc", dyn_env) for _ in range(2)]
    sqls = [replicas.start("sql-svc", {**sql_env, **grace}) for _ in range(2)]
    gw = replicas.start("gateway", {
        "DYNAMO_SVC_TARGET": "ipv4:" + ",".join(s.addr for s in dyns),
        "SQL_SVC_TARGET": "ipv4:" + ",".join(s.addr for s in sqls)})
    load = Load(gw.addr)
    try:
        deadline = time.monotonic() + 10
        while load.count_ok() < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert load.count_ok() >= 20, load.failures[:5]
        for svc in dyns + sqls:
            before = load.count_ok()
            replicas.restart(svc.port)
            time.sleep(0.5)  # the restarted replica takes traffic again before the next goes
            assert load.count_ok() > before  # calls went on while this replica restarted
    finally:
        load.stop()
    assert load.failures == [], load.failures[:10]
    assert load.count_ok() > 100


def test_calls_succeed_within_seconds_of_a_backend_back_from_an_outage(replicas, sql_env,
                                                                       dynalite):
    dyn = replicas.start("dynamo-svc", {**env_of(dynalite), **dynamo_tables_env()})
    # (the restart below reuses this env: same tables)
    sql = replicas.start("sql-svc", sql_env)
    gw = replicas.start("gateway", {"DYNAMO_SVC_TARGET": f"ipv4:{dyn.addr}",
                                    "SQL_SVC_TARGET": f"ipv4:{sql.addr}"})
    with grpc.insecure_channel(gw.addr) as ch:
        unary(ch, MENU, REQUEST, menu_pb2.GetStoreMenuResponse, timeout=5)
        # A long outage: the gateway keeps trying (and failing), so its reconnect backoff
        # grows to its cap. gRPC's own cap (120 s) would leave it waiting many seconds more.
        replicas.stop(dyn.port)
        down_until = time.monotonic() + 12
        codes = set()
        while time.monotonic() < down_until:
            try:
                unary(ch, MENU, REQUEST, menu_pb2.GetStoreMenuResponse, timeout=2)
                codes.add("OK")
            except grpc.RpcError as e:
                codes.add(e.code())
            time.sleep(0.2)
        assert codes == {grpc.StatusCode.UNAVAILABLE}, codes

        replicas.restart(dyn.port)  # returns as soon as it reports SERVING
        serving_at = time.monotonic()
        first_ok, failed_after = None, 0
        while time.monotonic() < serving_at + 5:
            try:
                unary(ch, MENU, REQUEST, menu_pb2.GetStoreMenuResponse, timeout=2)
                first_ok = first_ok or time.monotonic()
            except grpc.RpcError:
                if first_ok:
                    failed_after += 1
            time.sleep(0.05)
    assert first_ok is not None and first_ok - serving_at < 3.0, (first_ok, serving_at)
    assert failed_after == 0


def test_errors_are_trailers_only_with_the_request_id(replicas):
    """A backend's error reaches a retrying client as a Trailers-Only response (custom headers
    would commit the call and forbid any retry, gRPC A6): no response headers of the server's
    own, x-request-id among the trailers."""
    gw = replicas.start("gateway", {})
    with grpc.insecure_channel(gw.addr) as ch:
        fn = ch.unary_unary(MENU, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=menu_pb2.GetStoreMenuResponse.FromString)
        with pytest.raises(grpc.RpcError) as e:
            fn(menu_pb2.GetStoreMenuRequest(store_code="", channel=common_pb2.CHANNEL_KIOSK),
               metadata=[("x-request-id", "trailers-only-1")], timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("x-request-id", "trailers-only-1") in e.value.trailing_metadata()
    assert "x-request-id" not in dict(e.value.initial_metadata())
