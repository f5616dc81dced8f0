"""The /metrics of the three running binaries as Prometheus and an operator read them: the
exposition passes `promtool check metrics`; every known series exists at 0 before the first
call; process_* and menu_build_info are there; go-grpc-prometheus' message counters count a
unary call as one message each way and a stream by its messages; the gateway's client counts
started calls; DynamoDB latency has sub-millisecond buckets."""

import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import grpc
import pytest

from conftest import (ROOT, HealthCheckRequest, HealthCheckResponse, Service, dynamo_tables_env,
                      env_of, unary)
from menu.v1 import category_pb2 as cat, common_pb2 as cm, menu_pb2 as mn

PROMTOOL = shutil.which("promtool")


def scrape(svc):
    return urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5).read().decode()


def samples(text):
    """{'name{labels}': value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def series(name, **labels):
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def unary_labels(service, method, **more):
    return dict(grpc_type="unary", grpc_service=service, grpc_method=method, **more)


@pytest.fixture(scope="module")
def stack(mariadb, dynalite):
    dyn = Service("dynamo-svc", env={**env_of(dynalite), **dynamo_tables_env()}).wait_ready()
    sql = Service("sql-svc", env=env_of(mariadb)).wait_ready()
    gw = Service("gateway", env={"DYNAMO_SVC_TARGET": f"dns:///{dyn.addr}",
                                 "SQL_SVC_TARGET": f"dns:///{sql.addr}"}).wait_ready()
    yield dyn, sql, gw
    for s in (gw, dyn, sql):
        s.stop()


def promtool_check(text):
    if not PROMTOOL:
        pytest.skip("promtool missing (Debian package prometheus; make deps installs it)")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_exposition_passes_promtool_and_known_series_start_at_zero(stack):
    dyn, sql, gw = stack
    texts = {s.name: scrape(s) for s in stack}  # before any call of the test
    for text in texts.values():
        promtool_check(text)
    d, q, g = (samples(texts[n]) for n in ("dynamo-svc", "sql-svc", "gateway"))
    # every registered method, before its first call
    for s, service, method in [(d, "menu.v1.CategoryService", "ListCategories"),
                               (d, "menu.v1.GhostSwapService", "BatchGetGhostSwaps"),
                               (q, "menu.v1.ReferenceDataService", "ListRuleGroups"),
                               (g, "menu.v1.MenuService", "GetStoreMenu")]:
        labels = unary_labels(service, method)
        for name in ("grpc_server_started_total", "grpc_server_msg_received_total",
                     "grpc_server_msg_sent_total", "grpc_server_handling_seconds_count"):
            assert s[series(name, **labels)] == 0, name
        assert s[series("grpc_server_handled_total", **labels, grpc_code="OK")] == 0
    # every DynamoDB operation, every pool counter, every backend method of the gateway
    for op in ("GetItem", "PutItem", "Query", "BatchGetItem"):
        assert d[series("menu_dynamodb_requests_total", operation=op, outcome="OK")] == 0
        assert d[series("menu_dynamodb_request_duration_seconds_count", operation=op)] == 0
    assert q["menu_mysql_pool_acquire_timeouts_total"] == 0
    assert q[series("menu_mysql_pool_kills_total", result="ok")] == 0
    backend = unary_labels("menu.v1.ProductAvailabilityService", "BatchGetProductAvailabilities")
    for name in ("grpc_client_started_total", "grpc_client_msg_sent_total",
                 "grpc_client_msg_received_total"):
        assert g[series(name, **backend)] == 0, name
    assert g[series("grpc_client_handled_total", **backend, grpc_code="OK")] == 0
    # every dependency
    assert d[series("menu_dependency_up", dependency="dynamodb")] == 1
    assert q[series("menu_dependency_up", dependency="mysql")] == 1
    assert g[series("menu_dependency_up", dependency="dynamo-svc")] == 1
    assert g[series("menu_dependency_up", dependency="sql-svc")] == 1
    # sub-millisecond DynamoDB buckets
    assert series("menu_dynamodb_request_duration_seconds_bucket", operation="GetItem",
                  le="0.0001") in d


def test_process_metrics_and_build_info(stack):
    version = (ROOT / "VERSION").read_text().strip()
    for svc in stack:
        s = samples(scrape(svc))
        assert s["process_resident_memory_bytes"] > 1 << 20
        assert s["process_virtual_memory_bytes"] >= s["process_resident_memory_bytes"]
        assert 0 < s["process_open_fds"] <= s["process_max_fds"]
        assert s["process_threads"] >= 16  # GRPC_HANDLER_THREADS at least
        assert s["process_cpu_seconds_total"] >= 0
        assert abs(s["process_start_time_seconds"] - time.time()) < 600
        info = [k for k in s if k.startswith("menu_build_info{")]
        assert len(info) == 1 and s[info[0]] == 1, info
        assert f'version="{version}"' in info[0] and f'service="{svc.name}"' in info[0]
        assert 'revision="' in info[0] and 'revision=""' not in info[0]


def test_message_counters_count_a_unary_call_once_each_way(stack):
    dyn, _, gw = stack
    labels = unary_labels("menu.v1.CategoryService", "ListCategories")
    before = samples(scrape(dyn))
    with dyn.channel() as ch:
        unary(ch, "/menu.v1.CategoryService/ListCategories",
              cat.ListCategoriesRequest(channel=cm.CHANNEL_KIOSK), cat.ListCategoriesResponse)
        with pytest.raises(grpc.RpcError):  # INVALID_ARGUMENT: a message in, none out
            unary(ch, "/menu.v1.CategoryService/ListCategories", cat.ListCategoriesRequest(),
                  cat.ListCategoriesResponse)
    after = samples(scrape(dyn))
    delta = {n: after[series(n, **labels)] - before[series(n, **labels)]
             for n in ("grpc_server_started_total", "grpc_server_msg_received_total",
                       "grpc_server_msg_sent_total")}
    assert delta == {"grpc_server_started_total": 2, "grpc_server_msg_received_total": 2,
                     "grpc_server_msg_sent_total": 1}

    # The gateway's client: every backend call it started, one request message each.
    with gw.channel() as ch:
        try:
            unary(ch, "/menu.v1.MenuService/GetStoreMenu",
                  mn.GetStoreMenuRequest(store_code="R001", channel=cm.CHANNEL_KIOSK),
                  mn.GetStoreMenuResponse, timeout=10)
        except grpc.RpcError:
            pass  # whatever the data, the calls were made
    cats = unary_labels("menu.v1.CategoryService", "ListCategories")
    deadline = time.monotonic() + 5
    while True:  # a backend call cut short by the caller's deadline ends a moment later
        g = samples(scrape(gw))
        started = g[series("grpc_client_started_total", **cats)]
        handled = sum(v for k, v in g.items() if k.startswith("grpc_client_handled_total{")
                      and 'grpc_method="ListCategories"' in k)
        if handled == started or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert started >= 1
    assert g[series("grpc_client_msg_sent_total", **cats)] == started
    assert handled == started
    assert g[series("grpc_client_msg_received_total", **cats)] == \
        g[series("grpc_client_handled_total", **cats, grpc_code="OK")]
    promtool_check(scrape(gw))
    promtool_check(scrape(dyn))


def test_a_stream_counts_its_messages(dynalite):
    """Health/Watch: one request in, one message per status change out (SERVING, then
    NOT_SERVING while draining)."""
    svc = Service("dynamo-svc", env={**env_of(dynalite), **dynamo_tables_env(),
                                     "SHUTDOWN_DRAIN_MS": "3000"}).wait_ready()
    labels = dict(grpc_type="server_stream", grpc_service="grpc.health.v1.Health",
                  grpc_method="Watch")
    try:
        s = samples(scrape(svc))
        assert s[series("grpc_server_msg_sent_total", **labels)] == 0
        seen = []
        ch = svc.channel()
        watch = ch.unary_stream("/grpc.health.v1.Health/Watch",
                                request_serializer=HealthCheckRequest.SerializeToString,
                                response_deserializer=HealthCheckResponse.FromString)
        stream = watch(HealthCheckRequest(service=""), timeout=20)

        def read():
            try:
                for r in stream:
                    seen.append(r.status)
            except grpc.RpcError:
                pass

        t = threading.Thread(target=read, daemon=True)
        t.start()
        deadline = time.monotonic() + 5
        while len(seen) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        svc.send_signal(signal.SIGTERM)  # draining: NOT_SERVING is sent, metrics still served
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert seen == [1, 2]
        s = samples(scrape(svc))
        assert s[series("grpc_server_started_total", **labels)] == 1
        assert s[series("grpc_server_msg_received_total", **labels)] == 1
        assert s[series("grpc_server_msg_sent_total", **labels)] == 2
        stream.cancel()
        ch.close()
    finally:
        svc.stop()


def test_a_bidi_stream_counts_each_message(stack):
    """Server reflection: three requests on one stream, three answers."""
    import pb

    req = pb.message("grpc.reflection.v1.ServerReflectionRequest")
    resp = pb.message("grpc.reflection.v1.ServerReflectionResponse")
    _, sql, _ = stack
    labels = dict(grpc_type="bidi_stream", grpc_service="grpc.reflection.v1.ServerReflection",
                  grpc_method="ServerReflectionInfo")
    before = samples(scrape(sql))
    with sql.channel() as ch:
        stream = ch.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=req.SerializeToString, response_deserializer=resp.FromString)
        answers = list(stream(iter([req(list_services="")] * 3), timeout=10))
    assert len(answers) == 3
    after = samples(scrape(sql))
    for name in ("grpc_server_msg_received_total", "grpc_server_msg_sent_total"):
        assert after[series(name, **labels)] - before[series(name, **labels)] == 3, name
