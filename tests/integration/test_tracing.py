"""Distributed tracing across the three real processes, exported as OTLP/HTTP protobuf to a
small receiver of the test's own (otlp_receiver.py): one GetStoreMenu through the gateway is
ONE trace whose gateway SERVER span is the parent of its CLIENT spans, each backend SERVER span
a child of the matching CLIENT span, and the DynamoDB and SQL spans below the backend spans;
an incoming traceparent is honoured; a sampled-out parent produces no spans; a collector that
is gone never slows or fails a call and is counted; log lines carry the trace and span ids;
spans still queued at SIGTERM are sent before the process exits; a WatchStoreMenu stream is one
SERVER span from its start to its final status, with a "message" event per message sent; an
export the collector refuses for now (503, 429 with Retry-After) is sent again, once refused
for good (400) it is dropped and counted; OTEL_PROPAGATORS decides whether traceparent and
baggage cross to the backends."""

import os
import re
import socket
import subprocess
import time
import urllib.request

import grpc
import pytest

from conftest import BIN, CURSOR_KEY, HealthCheckRequest, HealthCheckResponse, env_of, free_port
from conftest import unary
from otlp_receiver import OtlpReceiver
from test_gateway_faults import FakeBackend, quick
from test_gateway_menu import dyn_env, up  # noqa: F401 (dyn_env: a fixture)
from test_gateway_watch import Watcher

from menu.v1 import common_pb2, menu_pb2  # noqa: E402

MENU = "/menu.v1.MenuService/GetStoreMenu"
WATCH = "/menu.v1.MenuService/WatchStoreMenu"
SERVER, CLIENT = 2, 3  # OTLP SpanKind
STATUS_ERROR = 2


@pytest.fixture(scope="module")
def sql_env(mariadb):
    env = {**os.environ, **env_of(mariadb), "CURSOR_KEY": CURSOR_KEY}
    for cmd in ("migrate", "seed-demo"):
        r = subprocess.run([str(BIN / "sql-svc"), cmd], env=env, capture_output=True,
                           timeout=180)
        assert r.returncode == 0, f"sql-svc {cmd}: {r.stdout!r} {r.stderr!r}"
    return env_of(mariadb)


@pytest.fixture
def receiver():
    r = OtlpReceiver()
    yield r
    r.close()


def otel_env(endpoint, **extra):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    env.update(extra)
    return env


def start_stack(start_service, sql_env, dyn_env, endpoints, **extra):
    """The three processes, each exporting to its entry of `endpoints` (gateway, dyn, sql)."""
    gw_ep, dyn_ep, sql_ep = endpoints
    dyn = up(start_service, "dynamo-svc", {**dyn_env, **otel_env(dyn_ep, **extra)})
    sql = up(start_service, "sql-svc", {**sql_env, **otel_env(sql_ep, **extra)})
    gw = up(start_service, "gateway", {
        "DYNAMO_SVC_TARGET": f"dns:///{dyn.addr}", "SQL_SVC_TARGET": f"dns:///{sql.addr}",
        **otel_env(gw_ep, **extra)})
    return gw, dyn, sql


def get_menu(gw, metadata=(), timeout=10):
    with gw.channel() as ch:
        # fresh_read: past the gateway's cache, so that every call reaches both backends.
        resp, call = unary(ch, MENU, menu_pb2.GetStoreMenuRequest(
            store_code="R001", channel=common_pb2.CHANNEL_KIOSK, fresh_read=True),
            menu_pb2.GetStoreMenuResponse,
            timeout=timeout, metadata=tuple(metadata) or None)
    return resp


def metric(svc, name, labels=""):
    with urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def gateway_root(spans, rid_trace=None):
    return [s for s in spans if s.service == "gateway" and s.kind == SERVER
            and s.name == "menu.v1.MenuService/GetStoreMenu"
            and (rid_trace is None or s.trace_id == rid_trace)]


def whole_trace(receiver, root):
    """The spans of root's trace once every backend's datastore spans have arrived."""
    def done(spans):
        mine = [s for s in spans if s.trace_id == root.trace_id]
        has_ddb = any(s.attrs.get("db.system") == "dynamodb" for s in mine)
        has_sql = any(s.attrs.get("db.system") == "mysql" for s in mine)
        servers = {s.service for s in mine if s.kind == SERVER}
        return mine if has_ddb and has_sql and servers >= {"dynamo-svc", "sql-svc"} else None

    mine = receiver.wait_for(done)
    assert mine, f"incomplete trace: {receiver.trace(root.trace_id)}"
    time.sleep(0.3)  # a straggling batch
    return receiver.trace(root.trace_id)


def test_one_get_store_menu_is_one_trace_across_three_processes(start_service, sql_env,
                                                                 dyn_env, receiver):
    gw, dyn, sql = start_stack(start_service, sql_env, dyn_env, [receiver.endpoint] * 3)
    rid = "trace-test-one-trace"
    menu = get_menu(gw, [("x-request-id", rid)])
    assert menu.categories

    roots = receiver.wait_for(gateway_root)
    assert len(roots) == 1, roots
    root = roots[0]
    spans = whole_trace(receiver, root)
    by_id = {s.span_id: s for s in spans}
    assert len(by_id) == len(spans), "span ids are unique"
    # One trace, one root: the gateway's server span, which had no parent.
    assert [s for s in spans if not s.parent_id] == [root]
    assert root.attrs["rpc.system"] == "grpc"
    assert root.attrs["rpc.service"] == "menu.v1.MenuService"
    assert root.attrs["rpc.method"] == "GetStoreMenu"
    assert root.attrs["rpc.grpc.status_code"] == 0
    assert root.attrs["server.port"] == gw.port
    assert root.attrs["network.peer.address"] == "127.0.0.1"

    clients = [s for s in spans if s.kind == CLIENT and s.service == "gateway"]
    assert {c.name for c in clients} >= {"menu.v1.CategoryService/ListCategories"}
    assert any(c.name.startswith("menu.v1.ProductAvailabilityService/") for c in clients)
    for c in clients:
        assert c.parent_id == root.span_id
        assert c.attrs["rpc.system"] == "grpc" and c.attrs["rpc.grpc.status_code"] == 0
        assert c.attrs["server.address"] == "127.0.0.1"

    backend_servers = [s for s in spans if s.kind == SERVER and s.service != "gateway"]
    assert {s.service for s in backend_servers} == {"dynamo-svc", "sql-svc"}
    for s in backend_servers:
        parent = by_id[s.parent_id]
        assert parent.kind == CLIENT and parent.service == "gateway"
        assert parent.name == s.name  # the matching client call

    ddb = [s for s in spans if s.attrs.get("db.system") == "dynamodb"]
    for s in ddb:
        assert by_id[s.parent_id].service == "dynamo-svc" and by_id[s.parent_id].kind == SERVER
        assert s.kind == CLIENT and s.attrs["db.operation"] in ("Query", "BatchGetItem")
        assert s.attrs["aws.dynamodb.table_names"][0].startswith("it-")
        assert ("dynamodb.attempt", {"attempt": 1, "http.response.status_code": 200}) in s.events
    mysql = [s for s in spans if s.attrs.get("db.system") == "mysql"]
    for s in mysql:
        assert by_id[s.parent_id].service == "sql-svc" and by_id[s.parent_id].kind == SERVER
        assert s.attrs["db.name"] == "menu"
    assert any(s.attrs["db.operation"].startswith("avail_") for s in mysql)

    # The call's log lines name the trace, and each its own span.
    gw_line = [r for r in gw.log_lines() if r.get("request_id") == rid and r["msg"] == "rpc"]
    assert gw_line and gw_line[0]["trace_id"] == root.trace_id
    assert gw_line[0]["span_id"] == root.span_id
    for svc in (dyn, sql):
        lines = [r for r in svc.log_lines() if r.get("request_id") == rid and r["msg"] == "rpc"]
        assert lines and all(r["trace_id"] == root.trace_id for r in lines)
        assert {r["span_id"] for r in lines} <= {s.span_id for s in backend_servers}

    assert metric(gw, "otel_spans_exported_total") >= 1
    assert metric(gw, "otel_spans_dropped_total", '{reason="queue_full"}') == 0


def test_incoming_traceparent_is_honoured_and_sampled_out_parent_records_nothing(
        start_service, sql_env, dyn_env, receiver):
    gw, dyn, sql = start_stack(start_service, sql_env, dyn_env, [receiver.endpoint] * 3)
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    get_menu(gw, [("traceparent", f"00-{trace_id}-{parent}-01"),
                  ("tracestate", "vendor=opaque,other=1")])
    root = receiver.wait_for(lambda spans: gateway_root(spans, trace_id))
    assert root and root[0].parent_id == parent
    spans = whole_trace(receiver, root[0])
    assert all(s.pb.trace_state == "vendor=opaque,other=1" for s in spans)

    # Not sampled by the caller (flags 00): the parent-based default records nothing anywhere,
    # and tells the backends so.
    unsampled = "0af7651916cd43dd8448eb211c80319c"
    get_menu(gw, [("traceparent", f"00-{unsampled}-b7ad6b7169203331-00")])
    # A sampled call afterwards: once its spans are in, those of the call before would be too.
    get_menu(gw, [("traceparent", f"00-{'1' * 32}-{'2' * 16}-01")])
    assert whole_trace(receiver, receiver.wait_for(lambda s: gateway_root(s, "1" * 32))[0])
    assert receiver.trace(unsampled) == []
    # An invalid traceparent starts a new trace instead of failing the call.
    before = len(receiver.wait_for(gateway_root))
    get_menu(gw, [("traceparent", f"00-{'0' * 32}-{parent}-01")])
    roots = receiver.wait_for(lambda s: len(gateway_root(s)) > before and gateway_root(s))
    assert roots[-1].trace_id != "0" * 32 and not roots[-1].parent_id


def blackhole():
    """A listening socket that never accepts: an exporter's request to it hangs."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def test_a_dead_collector_never_slows_or_fails_calls_and_is_counted(start_service, sql_env,
                                                                      dyn_env):
    # The gateway's collector accepts connections and never answers (its one export hangs
    # for OTEL_BSP_EXPORT_TIMEOUT while the queue of 4 fills); nothing listens at the backends'.
    hole = blackhole()
    dead = f"http://127.0.0.1:{free_port()}"
    gw, dyn, sql = start_stack(
        start_service, sql_env, dyn_env, [f"http://127.0.0.1:{hole.getsockname()[1]}", dead, dead],
        OTEL_BSP_MAX_QUEUE_SIZE="4", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="2",
        OTEL_BSP_EXPORT_TIMEOUT="3000", OTEL_BSP_SCHEDULE_DELAY="20")
    assert metric(gw, "otel_spans_dropped_total", '{reason="queue_full"}') == 0
    slowest = 0.0
    for _ in range(20):
        t0 = time.monotonic()
        assert get_menu(gw).categories
        slowest = max(slowest, time.monotonic() - t0)
    assert slowest < 1.0, f"a call took {slowest:.2f}s"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (metric(gw, "otel_spans_dropped_total", '{reason="queue_full"}') > 0
                and metric(dyn, "otel_export_failures_total") > 0
                and metric(sql, "otel_export_failures_total") > 0):
            break
        time.sleep(0.1)
    assert metric(gw, "otel_spans_dropped_total", '{reason="queue_full"}') > 0
    for svc in (dyn, sql):
        assert metric(svc, "otel_export_failures_total") > 0
        assert metric(svc, "otel_spans_dropped_total", '{reason="export_failed"}') > 0
        assert metric(svc, "otel_spans_exported_total") == 0
    assert any(r["msg"] == "trace export failed; spans dropped" for r in dyn.log_lines())
    hole.close()


def test_spans_queued_at_sigterm_are_flushed_and_failures_are_errors(start_service, receiver):
    # Backends that are not there: GetStoreMenu fails UNAVAILABLE, and the batch would only
    # leave after a minute were it not for the shutdown.
    gw = up(start_service, "gateway", {
        "DYNAMO_SVC_TARGET": f"dns:///127.0.0.1:{free_port()}",
        "SQL_SVC_TARGET": f"dns:///127.0.0.1:{free_port()}",
        "BACKEND_RETRY_MAX_ATTEMPTS": "1",
        **otel_env(receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="60000",
                   OTEL_SERVICE_NAME="edge-gateway",
                   OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,team=menu%20core",
                   OTEL_EXPORTER_OTLP_HEADERS="x-api-key=s3cr3t")})
    with pytest.raises(grpc.RpcError) as e:
        get_menu(gw, timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    time.sleep(0.3)
    assert receiver.spans == []
    assert gw.stop() == 0
    spans = receiver.spans
    root = [s for s in spans if s.kind == SERVER and s.name.endswith("GetStoreMenu")]
    assert len(root) == 1 and root[0].service == "edge-gateway"
    assert root[0].resource["deployment.environment"] == "test"
    assert root[0].resource["team"] == "menu core"
    assert root[0].pb.status.code == STATUS_ERROR
    assert root[0].attrs["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    clients = [s for s in spans if s.parent_id == root[0].span_id]
    assert clients and all(c.pb.status.code == STATUS_ERROR for c in clients)
    path, ctype, headers = receiver.requests[0]
    assert path == "/v1/traces" and ctype == "application/x-protobuf"
    assert headers.get("x-api-key") == "s3cr3t"


def watch_span(receiver, trace_id):
    spans = receiver.wait_for(lambda spans: [
        s for s in spans if s.trace_id == trace_id and s.kind == SERVER
        and s.name == "menu.v1.MenuService/WatchStoreMenu"])
    assert spans, f"no WatchStoreMenu span in {receiver.trace(trace_id)}"
    time.sleep(0.3)  # a second span of the stream would have arrived by now
    spans = [s for s in receiver.trace(trace_id) if s.kind == SERVER]
    assert len(spans) == 1, spans
    return spans[0]


def messages(span, kind):
    return [e for name, e in span.events if name == "message" and e["message.type"] == kind]


def test_a_watch_stream_is_one_server_span_until_its_final_status(start_service, sql_env,
                                                                  dyn_env, receiver):
    gw, dyn, sql = start_stack(start_service, sql_env, dyn_env, [receiver.endpoint] * 3)
    trace_id, parent = "5eed" * 8, "00f067aa0ba902b7"
    with gw.channel() as ch:
        w = Watcher(ch, metadata=[("traceparent", f"00-{trace_id}-{parent}-01")])
        pages = w.version()
        assert receiver.trace(trace_id) == [], "the span lasts as long as the stream"
        w.call.cancel()
        assert w.next() == grpc.StatusCode.CANCELLED
        span = watch_span(receiver, trace_id)
        assert span.parent_id == parent and span.service == "gateway"
        assert span.attrs["rpc.system"] == "grpc"
        assert span.attrs["rpc.service"] == "menu.v1.MenuService"
        assert span.attrs["rpc.method"] == "WatchStoreMenu"
        assert span.attrs["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]
        assert span.pb.status.code != STATUS_ERROR  # the caller left: not a server failure
        assert span.attrs["network.peer.address"] == "127.0.0.1"
        sent = messages(span, "SENT")
        assert [e["message.id"] for e in sent] == list(range(1, len(pages) + 1))
        assert all(e["message.uncompressed_size"] > 0 for e in sent)
        assert [e["message.id"] for e in messages(span, "RECEIVED")] == [1]
        # The stream's log line names its trace and span.
        lines = [r for r in gw.log_lines() if r["msg"] == "rpc" and r.get("method") == WATCH]
        assert [(r["trace_id"], r["span_id"]) for r in lines] == [(trace_id, span.span_id)]

        # A stream refused at once: its status, no message sent.
        bad = "ba5e" * 8
        w = Watcher(ch, store_code="", metadata=[("traceparent", f"00-{bad}-{parent}-01")])
        assert w.next() == grpc.StatusCode.INVALID_ARGUMENT
        span = watch_span(receiver, bad)
        assert span.attrs["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert messages(span, "SENT") == []

        # A stream the server ends (it is stopping): UNAVAILABLE, a server failure.
        stop = "c105e" + "0" * 27
        w = Watcher(ch, metadata=[("traceparent", f"00-{stop}-{parent}-01")])
        pages = w.version()
        assert gw.stop() == 0
        assert w.next() == grpc.StatusCode.UNAVAILABLE
        span = watch_span(receiver, stop)
        assert span.attrs["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
        assert span.pb.status.code == STATUS_ERROR
        assert len(messages(span, "SENT")) == len(pages)


def lone_gateway(start_service, receiver, **extra):
    """A gateway whose backends are not there: its health checks are the traced calls."""
    return up(start_service, "gateway", {
        "DYNAMO_SVC_TARGET": f"dns:///127.0.0.1:{free_port()}",
        "SQL_SVC_TARGET": f"dns:///127.0.0.1:{free_port()}",
        **otel_env(receiver.endpoint, **extra)})


def traced_check(gw, trace_id):
    with gw.channel() as ch:
        unary(ch, "/grpc.health.v1.Health/Check", HealthCheckRequest(), HealthCheckResponse,
              timeout=5, metadata=[("traceparent", f"00-{trace_id}-{'1' * 16}-01")])


def test_exports_are_retried_on_503_and_429_never_on_400(start_service, receiver):
    gw = lone_gateway(start_service, receiver)
    retries = '{reason="%s"}'

    # 503, then accepted: the same batch again after a backoff, its spans kept once.
    unavailable = "503" + "0" * 29
    receiver.fail(unavailable, (503, {}))
    traced_check(gw, unavailable)
    assert receiver.wait_for(lambda _: receiver.trace(unavailable))
    first, second = receiver.attempts_of(unavailable)
    assert (first.status, second.status) == (503, 200)
    assert first.span_ids == second.span_ids
    assert 0.4 <= second.at - first.at <= 4.0, "a backoff of 0.5 to 1 s (slack: a loaded machine)"
    with receiver.lock:
        ids = [s.span_id for s in receiver.spans]
    assert len(ids) == len(set(ids)), "nothing exported twice"
    assert metric(gw, "otel_export_retries_total", retries % "server_error") == 1

    # 429 with Retry-After: 2 s, longer than any backoff of a first retry: honoured.
    throttled = "429" + "0" * 29
    receiver.fail(throttled, (429, {"Retry-After": "2"}))
    traced_check(gw, throttled)
    assert receiver.wait_for(lambda _: receiver.trace(throttled), timeout=10)
    first, second = receiver.attempts_of(throttled)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.9
    assert metric(gw, "otel_export_retries_total", retries % "throttling") == 1

    # 400: refused for good, dropped and counted at once, never sent again.
    dropped = metric(gw, "otel_spans_dropped_total", '{reason="export_failed"}')
    refused = "400" + "0" * 29
    receiver.fail(refused, (400, {}), (400, {}))
    traced_check(gw, refused)
    assert receiver.wait_for(lambda _: receiver.attempts_of(refused))
    time.sleep(1.5)  # longer than a first retry's backoff
    assert [a.status for a in receiver.attempts_of(refused)] == [400]
    assert receiver.trace(refused) == []
    assert metric(gw, "otel_export_failures_total") == 1
    assert metric(gw, "otel_spans_dropped_total", '{reason="export_failed"}') > dropped
    assert sum(metric(gw, "otel_export_retries_total", retries % r)
               for r in ("throttling", "server_error", "connection_error")) == 2


def test_otel_propagators_tracecontext_baggage_and_none(start_service, receiver):
    # The backends are a grpcio stand-in that records the metadata each call brings.
    fake = FakeBackend(quick)
    trace_id = "ba66a9e" + "0" * 25
    sent = [("traceparent", f"00-{trace_id}-{'1' * 16}-01"), ("x-request-id", "prop-test"),
            ("baggage", "user.id=u-3f9k,tenant=menu%20co;prop=1"), ("baggage", "b=2")]

    def through(propagators):
        """What one GetStoreMenu through a gateway with this OTEL_PROPAGATORS sent on to the
        backends: the traceparent and baggage values of each backend call; the gateway."""
        env = {"DYNAMO_SVC_TARGET": fake.target, "SQL_SVC_TARGET": fake.target,
               **otel_env(receiver.endpoint)}
        if propagators is not None:
            env["OTEL_PROPAGATORS"] = propagators
        gw = start_service("gateway", env=env)
        with fake.lock:
            fake.calls.clear()
        with gw.channel() as ch:
            unary(ch, MENU, menu_pb2.GetStoreMenuRequest(
                store_code="S1", channel=common_pb2.CHANNEL_KIOSK, fresh_read=True),
                menu_pb2.GetStoreMenuResponse, timeout=10, metadata=sent)
        calls = fake.of("ListCategories") + fake.of("BatchGetProductAvailabilities")
        assert calls and all(c["request_id"] == "prop-test" for c in calls)
        return [([v for k, v in c["metadata"] if k == "traceparent"],
                 [v for k, v in c["metadata"] if k == "baggage"]) for c in calls], gw

    try:
        # The default, tracecontext,baggage: the trace goes on, the baggage passes unchanged
        # (the two headers as one list), and no span carries it.
        got, gw = through(None)
        for tp, baggage in got:
            assert len(tp) == 1 and tp[0].split("-")[1] == trace_id
            assert baggage == ["user.id=u-3f9k,tenant=menu%20co;prop=1,b=2"]
        spans = receiver.wait_for(lambda _: receiver.trace(trace_id))
        assert spans and not any("baggage" in k or "user.id" in k or "u-3f9k" in str(v)
                                 for s in spans for k, v in s.attrs.items())

        # none: nothing read, nothing sent; the gateway's call starts a trace of its own.
        got, gw = through("none")
        assert got and all(tp == [] and baggage == [] for tp, baggage in got)
        roots = receiver.wait_for(lambda s: [x for x in gateway_root(s) if x.trace_id != trace_id])
        assert roots and not roots[0].parent_id

        # An unknown propagator is ignored with one warning; tracecontext alone sends no
        # baggage.
        got, gw = through("tracecontext,b3")
        assert got and all(len(tp) == 1 and baggage == [] for tp, baggage in got)
        warned = [r for r in gw.log_lines() if r["msg"].startswith("OTEL_PROPAGATORS")]
        assert [r["propagator"] for r in warned] == ["b3"] and warned[0]["level"] == "warn"
    finally:
        fake.stop()


def test_a_health_watch_stream_has_message_events(start_service, receiver):
    gw = lone_gateway(start_service, receiver)
    trace_id = "4ea17" + "0" * 27
    with gw.channel() as ch:
        watch = ch.unary_stream("/grpc.health.v1.Health/Watch",
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=HealthCheckResponse.FromString)
        call = watch(HealthCheckRequest(), timeout=10,
                     metadata=[("traceparent", f"00-{trace_id}-{'1' * 16}-01")])
        next(call)  # the current status
        call.cancel()
    spans = receiver.wait_for(lambda _: receiver.trace(trace_id))
    assert [s.name for s in spans] == ["grpc.health.v1.Health/Watch"]
    assert spans[0].attrs["rpc.grpc.status_code"] == grpc.StatusCode.CANCELLED.value[0]
    assert [(e["message.type"], e["message.id"]) for name, e in spans[0].events
            if name == "message"] == [("RECEIVED", 1), ("SENT", 1)]
