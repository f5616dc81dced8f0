"""The runtime as an outside client sees it, on the real binaries: health, reflection (buf curl
and a raw v1/v1alpha stream), status codes for garbage and unknown methods, request ids, JSON
logs, Prometheus metrics and graceful shutdown."""

import json
import signal
import subprocess
import threading
import time
import urllib.request
from concurrent import futures

import grpc
import pytest
from google.protobuf import descriptor_pb2

import pb
from conftest import ROOT, env_of

BUF = ROOT / ".local/node/node_modules/.bin/buf"

HealthCheckRequest = pb.message("grpc.health.v1.HealthCheckRequest")
HealthCheckResponse = pb.message("grpc.health.v1.HealthCheckResponse")
ReflectionRequest = pb.message("grpc.reflection.v1.ServerReflectionRequest")
ReflectionResponse = pb.message("grpc.reflection.v1.ServerReflectionResponse")

SERVICES = {
    "gateway": ["menu.v1.MenuService"],
    "dynamo-svc": ["menu.v1.CategoryService", "menu.v1.GhostSwapService",
                   "menu.v1.ProductCollectionService", "menu.v1.CatalogRevisionService"],
    "sql-svc": ["menu.v1.ProductAvailabilityService", "menu.v1.ReferenceDataService"],
}
STANDARD = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"]


@pytest.fixture
def datastores(mariadb, dynalite):
    env = {**env_of(mariadb), **env_of(dynalite)}
    # sql-svc may need its schema to start; the hook is idempotent.
    subprocess.run([str(ROOT / "build/bin/sql-svc"), "migrate"], env={**env, "PATH": "/usr/bin:/bin"},
                   check=False, capture_output=True, timeout=120)
    return env


def health_check(ch, service=""):
    fn = ch.unary_unary("/grpc.health.v1.Health/Check",
                        request_serializer=HealthCheckRequest.SerializeToString,
                        response_deserializer=HealthCheckResponse.FromString)
    return fn(HealthCheckRequest(service=service), timeout=5).status


def buf_list(addr, protocol):
    out = subprocess.run(
        [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol",
         protocol, "--list-methods", f"http://{addr}"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_binary_serves_health_and_reflection(name, start_service, datastores):
    svc = start_service(name, env=datastores)
    with svc.channel() as ch:
        assert health_check(ch) == 1  # SERVING
        for service in SERVICES[name] + STANDARD:
            assert health_check(ch, service) == 1
        with pytest.raises(grpc.RpcError) as e:
            health_check(ch, "menu.v1.NoSuchService")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    for protocol in ("grpc-v1", "grpc-v1alpha"):
        methods = buf_list(svc.addr, protocol)
        services = {m.split("/")[0] for m in methods}
        assert services == set(SERVICES[name] + STANDARD), methods
    assert "grpc.health.v1.Health/Watch" in methods


def reflect(ch, requests, version="v1"):
    stream = ch.stream_stream(f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
                              request_serializer=ReflectionRequest.SerializeToString,
                              response_deserializer=ReflectionResponse.FromString)
    return list(stream(iter(requests), timeout=10))


def test_reflection_describes_messages_with_their_imports(start_service):
    svc = start_service("gateway")
    with svc.channel() as ch:
        for version in ("v1", "v1alpha"):  # grpcurl asks v1 first, then falls back to v1alpha
            answers = reflect(ch, [
                ReflectionRequest(file_containing_symbol="menu.v1.GetStoreMenuRequest"),
                ReflectionRequest(file_containing_symbol="menu.v1.NoSuchThing"),
                ReflectionRequest(file_by_filename="google/protobuf/timestamp.proto"),
                ReflectionRequest(list_services=""),
            ], version)
            assert len(answers) == 4  # one answer per request, in order, on one stream
            files = {}
            for raw in answers[0].file_descriptor_response.file_descriptor_proto:
                fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
                files[fd.name] = fd
            assert "menu/v1/menu.proto" in files
            # every import the file names is served along with it, so a client can describe it
            for dep in files["menu/v1/menu.proto"].dependency:
                assert dep in files, dep
            req = next(m for m in files["menu/v1/menu.proto"].message_type
                       if m.name == "GetStoreMenuRequest")
            assert [f.name for f in req.field] == ["store_code", "channel", "at_time",
                                                   "allow_partial", "page", "include_unavailable",
                                                   "include_empty_categories", "if_none_match",
                                                   "fresh_read"]
            assert answers[1].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
            assert "menu.v1.NoSuchThing" in answers[1].error_response.error_message
            ts = descriptor_pb2.FileDescriptorProto.FromString(
                answers[2].file_descriptor_response.file_descriptor_proto[0])
            assert ts.name == "google/protobuf/timestamp.proto"
            names = [s.name for s in answers[3].list_services_response.service]
            assert set(names) == set(SERVICES["gateway"] + STANDARD)


def test_buf_curl_invokes_through_reflection(start_service):
    svc = start_service("gateway")
    out = subprocess.run(
        [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"service":""}',
         f"http://{svc.addr}/grpc.health.v1.Health/Check"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"status": "SERVING"}
    # A menu.v1 request written as proto3 JSON: buf must fetch menu.proto and its imports by
    # reflection to encode it; the server's answer names the field it rejects.
    out = subprocess.run(
        [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d",
         '{"storeCode":"not a code!","channel":"CHANNEL_KIOSK","atTime":"2030-01-01T00:00:00Z"}',
         f"http://{svc.addr}/menu.v1.MenuService/GetStoreMenu"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    err = json.loads(out.stderr or out.stdout)
    assert err["code"] == "invalid_argument", err
    assert "store_code" in err["message"]


def test_garbage_and_unknown_methods(start_service):
    svc = start_service("gateway")
    with svc.channel() as ch:
        raw = ch.unary_unary("/menu.v1.MenuService/GetStoreMenu")
        with pytest.raises(grpc.RpcError) as e:
            raw(b"\xff\xff\xff\xff\x0f", timeout=5)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "menu.v1.GetStoreMenuRequest" in e.value.details()
        unknown = ch.unary_unary("/menu.v1.MenuService/NoSuchMethod")
        with pytest.raises(grpc.RpcError) as e:
            unknown(b"", timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # the server is unharmed
        assert health_check(ch) == 1
    text = urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5).read().decode()
    assert ('grpc_server_handled_total{grpc_type="unary",grpc_service="menu.v1.MenuService",'
            'grpc_method="GetStoreMenu",grpc_code="INVALID_ARGUMENT"} 1') in text
    assert 'grpc_server_handling_seconds_bucket{grpc_type="unary",grpc_service="grpc.health.v1.Health"' in text
    assert "# TYPE grpc_server_handling_seconds histogram" in text


def test_request_id_is_echoed_and_logged(start_service):
    svc = start_service("gateway")
    with svc.channel() as ch:
        fn = ch.unary_unary("/grpc.health.v1.Health/Check")
        _, call = fn.with_call(b"", metadata=[("x-request-id", "req-abc-123")], timeout=5)
        assert ("x-request-id", "req-abc-123") in call.initial_metadata()
        _, call = fn.with_call(b"", timeout=5)
        generated = dict(call.initial_metadata())["x-request-id"]
        assert len(generated) == 36
    time.sleep(0.2)
    lines = svc.log_lines()  # every line on stdout is one JSON object
    rpc_lines = [l for l in lines if l.get("msg") == "rpc"]
    assert any(l["request_id"] == "req-abc-123" and l["status"] == "OK" for l in rpc_lines)
    assert any(l["request_id"] == generated for l in rpc_lines)
    for l in rpc_lines:
        assert {"time", "level", "service", "method", "status", "duration_ms", "peer",
                "request_id"} <= l.keys()
        assert l["service"] == "gateway"


def test_sigterm_turns_health_not_serving_and_exits_zero(start_service):
    svc = start_service("gateway")
    with svc.channel() as ch:
        watch = ch.unary_stream("/grpc.health.v1.Health/Watch",
                                request_serializer=HealthCheckRequest.SerializeToString,
                                response_deserializer=HealthCheckResponse.FromString)
        stream = watch(HealthCheckRequest(service=""), timeout=20)
        assert next(stream).status == 1
        svc.send_signal(signal.SIGTERM)
        assert next(stream).status == 2  # NOT_SERVING before the stream ends
        with pytest.raises(grpc.RpcError):
            next(stream)
    assert svc.proc.wait(20) == 0


class SlowBackend:
    """A backend written with grpcio (not our runtime) that answers every menu.v1 read of the
    gateway after a delay, so that a gateway call is in flight for as long as we like."""

    def __init__(self, delay):
        self.delay = delay
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers([self])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def service(self, details):
        names = {
            "/menu.v1.CategoryService/ListCategories": "menu.v1.ListCategoriesResponse",
            "/menu.v1.ProductAvailabilityService/BatchGetProductAvailabilities":
                "menu.v1.BatchGetProductAvailabilitiesResponse",
            "/menu.v1.GhostSwapService/BatchGetGhostSwaps": "menu.v1.BatchGetGhostSwapsResponse",
        }
        if details.method not in names:
            return None
        cls = pb.message(names[details.method])

        def handle(request, context):
            time.sleep(self.delay)
            return cls().SerializeToString()

        return grpc.unary_unary_rpc_method_handler(handle)

    def stop(self):
        self.server.stop(0)


def test_sigterm_lets_a_slow_call_finish(start_service):
    backend = SlowBackend(delay=1.0)
    try:
        target = f"ipv4:127.0.0.1:{backend.port}"
        svc = start_service("gateway", env={"DYNAMO_SVC_TARGET": target, "SQL_SVC_TARGET": target})
        GetStoreMenuRequest = pb.message("menu.v1.GetStoreMenuRequest")
        GetStoreMenuResponse = pb.message("menu.v1.GetStoreMenuResponse")
        result = {}

        def call():
            with svc.channel() as ch:
                fn = ch.unary_unary("/menu.v1.MenuService/GetStoreMenu",
                                    request_serializer=GetStoreMenuRequest.SerializeToString,
                                    response_deserializer=GetStoreMenuResponse.FromString)
                try:
                    result["resp"] = fn(GetStoreMenuRequest(store_code="S1", channel=1), timeout=10)
                except grpc.RpcError as e:
                    result["err"] = e

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.4)  # the call is now waiting on the slow backend
        t0 = time.monotonic()
        svc.send_signal(signal.SIGTERM)
        t.join(15)
        assert "err" not in result, result.get("err")
        assert "resp" in result
        assert svc.proc.wait(15) == 0
        assert time.monotonic() - t0 < 5  # drained, not killed by the grace period
    finally:
        backend.stop()


def test_tls_with_a_plaintext_health_only_listener(start_service, tmp_path):
    """Kubelet's gRPC probes cannot speak TLS: HEALTH_ADDR serves the health service, and only
    it, in plaintext while GRPC_ADDR requires TLS."""
    from conftest import tls_gateway_with_health
    svc, health_addr, cert = tls_gateway_with_health(start_service, tmp_path)
    with grpc.insecure_channel(health_addr) as ch:
        assert health_check(ch, "menu.v1.MenuService") == 1
        with pytest.raises(grpc.RpcError) as e:  # nothing but health on this port
            ch.unary_unary("/menu.v1.MenuService/GetStoreMenu")(b"", timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    with grpc.insecure_channel(svc.addr) as ch:  # the main port refuses plaintext
        with pytest.raises(grpc.RpcError) as e:
            health_check(ch)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    with grpc.secure_channel(svc.addr, creds) as ch:
        assert health_check(ch) == 1
    svc.send_signal(signal.SIGTERM)
    assert svc.proc.wait(15) == 0


def metrics_text(svc):
    with urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5) as r:
        return r.read().decode()


def test_streams_end_in_handled_total_and_health_checks_log_at_debug(start_service):
    svc = start_service("gateway")
    with svc.channel() as ch:
        for _ in range(3):
            assert health_check(ch) == 1
        watch = ch.unary_stream("/grpc.health.v1.Health/Watch",
                                request_serializer=HealthCheckRequest.SerializeToString,
                                response_deserializer=HealthCheckResponse.FromString)
        stream = watch(HealthCheckRequest(service=""), timeout=20)
        assert next(stream).status == 1
        stream.cancel()
        reflect(ch, [ReflectionRequest(list_services="")])
    text = ""
    for _ in range(50):  # the server sees the cancel a moment later
        text = metrics_text(svc)
        if 'grpc_method="Watch",grpc_code="CANCELLED"} 1' in text:
            break
        time.sleep(0.1)
    assert ('grpc_server_handled_total{grpc_type="server_stream",grpc_service="grpc.health.v1.'
            'Health",grpc_method="Watch",grpc_code="CANCELLED"} 1') in text
    assert ('grpc_server_handled_total{grpc_type="bidi_stream",grpc_service="grpc.reflection.v1.'
            'ServerReflection",grpc_method="ServerReflectionInfo",grpc_code="OK"} 1') in text
    assert "\nmenu_log_lines_dropped_total 0\n" in text
    svc.stop()
    checks = [l for l in svc.log_lines() if l.get("method") == "/grpc.health.v1.Health/Check"]
    assert len(checks) >= 3  # LOG_LEVEL=debug here; at info kubelet's probes stay quiet
    assert {l["level"] for l in checks} == {"debug"}


def test_drain_keeps_serving_then_new_calls_get_unavailable(start_service):
    svc = start_service("gateway", env={"SHUTDOWN_DRAIN_MS": "1500"})
    GetStoreMenuRequest = pb.message("menu.v1.GetStoreMenuRequest")
    GetStoreMenuResponse = pb.message("menu.v1.GetStoreMenuResponse")

    def menu(ch):
        fn = ch.unary_unary("/menu.v1.MenuService/GetStoreMenu",
                            request_serializer=GetStoreMenuRequest.SerializeToString,
                            response_deserializer=GetStoreMenuResponse.FromString)
        with pytest.raises(grpc.RpcError) as e:
            fn(GetStoreMenuRequest(store_code=""), timeout=5)  # invalid: answered by the gateway
        return e.value.code()

    with svc.channel() as ch:
        assert menu(ch) == grpc.StatusCode.INVALID_ARGUMENT
        svc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # Draining: NOT_SERVING, yet calls are still served on the open connection and on new ones.
        assert health_check(ch) == 2
        assert menu(ch) == grpc.StatusCode.INVALID_ARGUMENT
        with svc.channel() as fresh:
            assert menu(fresh) == grpc.StatusCode.INVALID_ARGUMENT
        time.sleep(1.6)
        # After the drain the listener is closed: a new connection's call is UNAVAILABLE
        # (retryable), never CANCELLED.
        opts = [("grpc.use_local_subchannel_pool", 1)]
        with grpc.insecure_channel(svc.addr, options=opts) as late:
            assert menu(late) == grpc.StatusCode.UNAVAILABLE
    assert svc.proc.wait(15) == 0


def test_a_flood_of_4mb_requests_keeps_memory_bounded(start_service):
    """100 concurrent 4 MB requests (400 MB): the excess is refused before its message is read,
    the admitted ones are read a few at a time (GRPC_MAX_QUEUED_BYTES, 8 MiB), so the gateway
    grows by tens of MiB at most, whatever the flood's size, and gives most of it back. With no
    byte budget (GRPC_MAX_QUEUED_BYTES=1 GiB) the same flood grows it by 350 MiB or more. The
    bound is on growth over the gateway's own idle RSS, which moves with everything else it
    holds."""
    svc = start_service("gateway")

    def rss_kb():
        status = open(f"/proc/{svc.proc.pid}/status").read()
        return {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
                if line.startswith(("VmHWM", "VmRSS"))}

    idle = rss_kb()["VmRSS"]
    GetStoreMenuRequest = pb.message("menu.v1.GetStoreMenuRequest")
    body = GetStoreMenuRequest(store_code="x" * 4_000_000).SerializeToString()
    channels = [svc.channel() for _ in range(4)]
    try:
        fns = [c.unary_unary("/menu.v1.MenuService/GetStoreMenu") for c in channels]
        futs = [fns[i % 4].future(body, timeout=30) for i in range(100)]
        codes = [f.exception(60).code() if f.exception(60) else grpc.StatusCode.OK for f in futs]
    finally:
        for c in channels:
            c.close()
    assert set(codes) <= {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}, \
        set(codes)
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    kb = rss_kb()
    assert kb["VmHWM"] - idle < 64 * 1024, (idle, kb)
    assert kb["VmRSS"] - idle < 48 * 1024, (idle, kb)
