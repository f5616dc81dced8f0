"""dynamo-svc when DynamoDB misbehaves, through the real binary over gRPC:
- a fault-injecting HTTP proxy in front of a real dynalite answers throttling errors, 500s
  and partial BatchGetItem results before passing requests through: the service retries
  (counted at the proxy and in its metrics), does not retry ConditionalCheckFailed, answers
  RESOURCE_EXHAUSTED when still throttled, and never backs off past the caller's deadline;
- its own dynalite (scripts/dynalite.sh on a free port, so the shared one is untouched)
  stopped: UNAVAILABLE within the deadline; frozen: the deadline is honoured; started
  again: the same service process recovers."""

import contextlib
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest

from conftest import (ROOT, STATE, Service, dynamo_tables_env as tables_env, env_of, free_port,
                      metric, unary)
from menu.v1 import category_pb2 as cat  # noqa: E402
from menu.v1 import common_pb2  # noqa: E402
from menu.v1 import ghost_swap_pb2 as gs  # noqa: E402

KIOSK = common_pb2.CHANNEL_KIOSK
CAT = "/menu.v1.CategoryService/"


def throttle(code="ProvisionedThroughputExceededException"):
    return (400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "slow down"})


SERVER_ERROR = (500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                      "message": "boom"})


class FaultProxy:
    """HTTP proxy to dynalite. faults[op] is a list of canned answers used (and consumed) one
    per request of that operation before requests pass through; split_batch makes the next
    BatchGetItem answer report half of its keys as UnprocessedKeys; drop_after_apply[op] is a
    number of requests of that operation that are applied (forwarded to dynalite) and whose
    answer is then lost (the connection closes in the middle of the reply); drop_match[op], when
    set, limits that to requests whose body contains it (an entity write, not the revision
    bumps around it)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.faults = {}
        self.split_batch = 0
        self.drop_after_apply = {}
        self.drop_match = {}
        self.seen = []  # (operation, request body) of every request
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                op = self.headers.get("X-Amz-Target", "").split(".")[-1]
                with proxy.lock:
                    proxy.seen.append((op, body))
                    canned = proxy.faults.get(op) or []
                    answer = canned.pop(0) if canned else None
                    split = op == "BatchGetItem" and proxy.split_batch > 0
                    if split:
                        proxy.split_batch -= 1
                    drop = (proxy.drop_after_apply.get(op, 0) > 0
                            and proxy.drop_match.get(op, b"") in body)
                    if drop:
                        proxy.drop_after_apply[op] -= 1
                if drop:
                    status, data = proxy.forward(self.headers, body)  # applied by dynalite...
                    # ...and the answer cut short (a connection that dies before any byte
                    # would be retried by libcurl itself, unseen by the service)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                    self.send_header("Content-Length", str(len(data) + 10))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                    return
                if answer:
                    status, payload = answer
                    return self.reply(status, json.dumps(payload).encode())
                status, data = proxy.forward(self.headers, body)
                if split and status == 200:
                    data = proxy.unprocess_half(body, data)
                self.reply(status, data)

            def reply(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amz-crc32", str(zlib.crc32(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def forward(self, headers, body):
        keep = {k: v for k, v in headers.items() if k.lower() in (
            "content-type", "x-amz-target", "x-amz-date", "authorization")}
        req = urllib.request.Request(self.upstream, data=body, headers=keep, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    @staticmethod
    def unprocess_half(request, data):
        """Moves the found items of half the requested keys to UnprocessedKeys."""
        req, resp = json.loads(request), json.loads(data)
        (table, spec), = req["RequestItems"].items()
        keys = spec["Keys"]
        later = keys[len(keys) // 2:]
        later_codes = {k["sk"]["S"] for k in later}
        resp["Responses"][table] = [i for i in resp["Responses"][table]
                                    if i["sk"]["S"] not in later_codes]
        resp["UnprocessedKeys"] = {table: {"Keys": later}}
        return json.dumps(resp).encode()

    def count(self, op, match=b""):
        with self.lock:
            return sum(1 for o, body in self.seen if o == op and match in body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def proxied_service(dynalite, **settings):
    """A dynamo-svc with tables of its own whose DynamoDB is dynalite behind a FaultProxy;
    `settings`: more of its environment. Yields (proxy, channel, svc); stops both after."""
    proxy = FaultProxy(dynalite["DYNAMODB_ENDPOINT"])
    try:
        svc = Service("dynamo-svc", env={**env_of(dynalite), **tables_env(),
                                         "DYNAMODB_ENDPOINT": f"http://127.0.0.1:{proxy.port}",
                                         **settings}).wait_ready()
        try:
            with svc.channel() as channel:
                yield proxy, channel, svc
        finally:
            svc.stop()
    finally:
        proxy.close()


@pytest.fixture(scope="module")
def proxied(dynalite):
    with proxied_service(dynalite, DYNAMODB_MAX_ATTEMPTS="3", DYNAMODB_RETRY_BASE_MS="10") as p:
        yield p


def create(channel, cid, timeout=10):
    return unary(channel, CAT + "CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
        id=cid, channel=KIOSK, name=cid, display_order=1)), cat.CreateCategoryResponse,
        timeout=timeout)[0]


def get(channel, cid, timeout=10):
    return unary(channel, CAT + "GetCategory", cat.GetCategoryRequest(channel=KIOSK, id=cid),
                 cat.GetCategoryResponse, timeout=timeout)[0].category


def test_applied_then_lost_writes_answer_success_exactly_once(proxied):
    """DynamoDB applies each write but its answer is lost; the client retries, the retry trips
    the write's own condition, and the write token on the item shows the first attempt was
    ours: create, update and delete each answer success, once, and dynalite holds the result."""
    proxy, channel, svc = proxied
    before = proxy.count("PutItem")
    proxy.drop_after_apply["PutItem"] = 1
    made = unary(channel, CAT + "CreateCategory", cat.CreateCategoryRequest(
        category=cat.Category(channel=KIOSK, name="lost answer", display_order=7)),
        cat.CreateCategoryResponse)[0].category  # a server-generated id
    assert made.version == 1 and made.name == "lost answer"
    assert proxy.count("PutItem") - before == 2  # applied, then the retry
    assert get(channel, made.id).version == 1
    listed = unary(channel, CAT + "ListCategories", cat.ListCategoriesRequest(
        channel=KIOSK, page=common_pb2.PageRequest(first=128)), cat.ListCategoriesResponse)[0]
    assert [e.node.id for e in listed.edges if e.node.name == "lost answer"] == [made.id]

    # The entity's UpdateItem (it carries the write token), not the revision bumps around it.
    entity = b"write_token"
    before = proxy.count("UpdateItem", entity)
    proxy.drop_after_apply["UpdateItem"] = 1
    proxy.drop_match["UpdateItem"] = entity
    upd = unary(channel, CAT + "UpdateCategory", cat.UpdateCategoryRequest(category=cat.Category(
        id=made.id, channel=KIOSK, name="renamed", display_order=7, version=1)),
        cat.UpdateCategoryResponse)[0].category
    assert upd.version == 2 and upd.name == "renamed"
    assert proxy.count("UpdateItem", entity) - before == 2
    stored = get(channel, made.id)
    assert stored.version == 2 and stored.name == "renamed"

    before = proxy.count("DeleteItem")
    proxy.drop_after_apply["DeleteItem"] = 1
    unary(channel, CAT + "DeleteCategory", cat.DeleteCategoryRequest(
        channel=KIOSK, id=made.id, version=2), cat.DeleteCategoryResponse)
    assert proxy.count("DeleteItem") - before == 2
    with pytest.raises(grpc.RpcError) as e:
        get(channel, made.id)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND

    # A plain conflict is still one: another writer's item is not mistaken for ours.
    create(channel, "taken-1")
    proxy.drop_after_apply["PutItem"] = 1
    with pytest.raises(grpc.RpcError) as e:
        create(channel, "taken-1")
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_throttling_and_500_are_retried(proxied):
    proxy, channel, svc = proxied
    create(channel, "retry-1")
    before = proxy.count("GetItem")
    throttles = metric(svc, "menu_dynamodb_retries_total", operation="GetItem",
                       reason="throttling") or 0.0
    proxy.faults["GetItem"] = [throttle(), SERVER_ERROR]
    assert get(channel, "retry-1").id == "retry-1"
    assert proxy.count("GetItem") - before == 3
    assert metric(svc, "menu_dynamodb_retries_total", operation="GetItem",
                  reason="throttling") == throttles + 1
    assert metric(svc, "menu_dynamodb_retries_total", operation="GetItem", reason="server_error") >= 1
    assert metric(svc, "menu_dynamodb_errors_total", operation="GetItem",
                  type="ProvisionedThroughputExceededException") >= 1


def test_conditional_check_failed_is_not_retried(proxied):
    proxy, channel, svc = proxied
    create(channel, "ccf-1")
    before = proxy.count("PutItem")
    with pytest.raises(grpc.RpcError) as e:
        create(channel, "ccf-1")
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert proxy.count("PutItem") - before == 1


def test_still_throttled_is_resource_exhausted(proxied):
    proxy, channel, svc = proxied
    create(channel, "thr-1")
    before = proxy.count("GetItem")
    proxy.faults["GetItem"] = [throttle("ThrottlingException")] * 5
    with pytest.raises(grpc.RpcError) as e:
        get(channel, "thr-1")
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert proxy.count("GetItem") - before == 3  # DYNAMODB_MAX_ATTEMPTS
    proxy.faults["GetItem"] = []


def test_backoff_stays_inside_the_deadline(dynalite):
    """Many attempts allowed, long backoff, short deadline: the answer (the last DynamoDB
    error) comes before the deadline instead of a sleep that overruns it."""
    with proxied_service(dynalite, DYNAMODB_MAX_ATTEMPTS="20",
                         DYNAMODB_RETRY_BASE_MS="300") as (proxy, channel, _):
        for _ in range(3):
            before = proxy.count("GetItem")
            proxy.faults["GetItem"] = [SERVER_ERROR] * 50
            t0 = time.monotonic()
            with pytest.raises(grpc.RpcError) as e:
                get(channel, "any", timeout=1.0)
            took = time.monotonic() - t0
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value.details()
            assert took < 1.0
            assert 1 <= proxy.count("GetItem") - before < 20


def test_a_cancelled_call_stops_backing_off(dynalite):
    """The caller gives up while dynamo-svc backs off between DynamoDB attempts (up to 10 s
    here): the handler stops waiting at once, so the only handler thread is free for the next
    caller instead of sleeping for a caller that is gone."""
    with proxied_service(dynalite, GRPC_HANDLER_THREADS="1", DYNAMODB_MAX_ATTEMPTS="5",
                         DYNAMODB_RETRY_BASE_MS="10000",
                         DYNAMODB_RETRY_MAX_BACKOFF_MS="10000") as (proxy, channel, _):
        create(channel, "cancel-1")
        before = proxy.count("GetItem")
        proxy.faults["GetItem"] = [SERVER_ERROR] * 5
        fn = channel.unary_unary(CAT + "GetCategory",
                                 request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=cat.GetCategoryResponse.FromString)
        fut = fn.future(cat.GetCategoryRequest(channel=KIOSK, id="cancel-1"), timeout=30)
        deadline = time.monotonic() + 5
        while proxy.count("GetItem") == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.count("GetItem") > before  # the first attempt failed: backing off
        time.sleep(0.1)
        at_cancel = proxy.count("GetItem")
        fut.cancel()
        t0 = time.monotonic()
        listed = unary(channel, CAT + "ListCategories", cat.ListCategoriesRequest(
            channel=KIOSK), cat.ListCategoriesResponse, timeout=5)[0]
        assert time.monotonic() - t0 < 1.5
        assert any(e.node.id == "cancel-1" for e in listed.edges)
        # and the abandoned call made no further attempt (GetItem still fails, so a
        # retry would show here)
        time.sleep(0.5)
        assert proxy.count("GetItem") == at_cancel
        proxy.faults["GetItem"] = []


def test_batch_get_retries_unprocessed_keys(proxied):
    proxy, channel, svc = proxied
    codes = [f"U{n:03d}" for n in range(20)]
    for c in codes:
        unary(channel, "/menu.v1.GhostSwapService/PutGhostSwap", gs.PutGhostSwapRequest(
            ghost_swap=gs.GhostSwap(channel=KIOSK, product_code=c, swap_product_code="X" + c)),
            gs.PutGhostSwapResponse, timeout=10)
    before = len(proxy.seen)
    proxy.split_batch = 1
    r = unary(channel, "/menu.v1.GhostSwapService/BatchGetGhostSwaps",
              gs.BatchGetGhostSwapsRequest(channel=KIOSK, product_codes=codes),
              gs.BatchGetGhostSwapsResponse, timeout=10)[0]
    assert [s.product_code for s in r.ghost_swaps] == codes
    batches = [json.loads(b) for op, b in proxy.seen[before:] if op == "BatchGetItem"]
    assert len(batches) == 2
    (spec,) = batches[1]["RequestItems"].values()
    assert sorted(k["sk"]["S"] for k in spec["Keys"]) == codes[10:]


# ---- a private dynalite that goes away and comes back ---------------------------------------


@pytest.fixture
def own_dynalite():
    port = free_port()
    d = STATE / f"dynalite-outage-{port}"
    script = str(ROOT / "scripts/dynalite.sh")
    subprocess.run(["rm", "-rf", str(d)], check=True)
    subprocess.run([script, "start", str(d), str(port)], check=True)
    info = {"dir": d, "port": port, "script": script,
            "env": {"DYNAMODB_ENDPOINT": f"http://127.0.0.1:{port}", "AWS_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}}
    yield info
    pid_file = d / "dynalite.pid"
    if pid_file.exists():  # never leave it stopped with SIGSTOP
        try:
            os.kill(int(pid_file.read_text()), signal.SIGCONT)
        except (ProcessLookupError, ValueError):
            pass
    subprocess.run([script, "stop", str(d)], check=False)


def test_dynalite_down_is_unavailable_quickly_and_recovers(own_dynalite):
    env = dict(own_dynalite["env"])
    env.update(tables_env())
    svc = Service("dynamo-svc", env=env).wait_ready()
    d, script = own_dynalite["dir"], own_dynalite["script"]
    try:
        with svc.channel() as channel:
            create(channel, "outage-1")
            subprocess.run([script, "stop", str(d)], check=True)
            for method, req, resp in [
                ("GetCategory", cat.GetCategoryRequest(channel=KIOSK, id="outage-1"),
                 cat.GetCategoryResponse),
                ("ListCategories", cat.ListCategoriesRequest(channel=KIOSK),
                 cat.ListCategoriesResponse),
                ("CreateCategory", cat.CreateCategoryRequest(category=cat.Category(
                    id="outage-2", channel=KIOSK, name="n")), cat.CreateCategoryResponse),
            ]:
                t0 = time.monotonic()
                with pytest.raises(grpc.RpcError) as e:
                    unary(channel, CAT + method, req, resp, timeout=2.0)
                assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value.details()
                assert time.monotonic() - t0 < 2.0

            subprocess.run([script, "start", str(d), str(own_dynalite["port"])], check=True)
            deadline = time.monotonic() + 15
            while True:  # the same process, no restart: the next calls just work
                try:
                    assert get(channel, "outage-1", timeout=2.0).id == "outage-1"
                    break
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.UNAVAILABLE
                    assert time.monotonic() < deadline, "no recovery"
                    time.sleep(0.2)
            create(channel, "outage-3")
        assert svc.proc.poll() is None
    finally:
        svc.stop()


def test_frozen_dynalite_honours_the_deadline(own_dynalite):
    env = dict(own_dynalite["env"])
    env.update(tables_env())
    svc = Service("dynamo-svc", env=env).wait_ready()
    pid = int((own_dynalite["dir"] / "dynalite.pid").read_text())
    try:
        with svc.channel() as channel:
            create(channel, "frozen-1")
            os.kill(pid, signal.SIGSTOP)
            try:
                t0 = time.monotonic()
                with pytest.raises(grpc.RpcError) as e:
                    get(channel, "frozen-1", timeout=1.0)
                took = time.monotonic() - t0
                assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                assert took < 1.5
            finally:
                os.kill(pid, signal.SIGCONT)
            assert get(channel, "frozen-1", timeout=5.0).id == "frozen-1"
    finally:
        svc.stop()


def test_grace_bounds_exit_with_calls_blocked_on_a_frozen_dynalite(own_dynalite):
    """SIGTERM while handlers wait on a datastore that never answers: once SHUTDOWN_GRACE_MS
    is over the callers get UNAVAILABLE (retryable, never CANCELLED), libcurl transfers are
    aborted, and the process exits soon after, not when the calls' 30 s deadlines pass."""
    env = dict(own_dynalite["env"])
    env.update(tables_env())
    env["SHUTDOWN_GRACE_MS"] = "2000"
    svc = Service("dynamo-svc", env=env).wait_ready()
    pid = int((own_dynalite["dir"] / "dynalite.pid").read_text())
    try:
        with svc.channel() as channel:
            create(channel, "grace-1")
            fn = channel.unary_unary(CAT + "GetCategory",
                                     request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=cat.GetCategoryResponse.FromString)
            os.kill(pid, signal.SIGSTOP)
            try:
                futs = [fn.future(cat.GetCategoryRequest(channel=KIOSK, id="grace-1"), timeout=30)
                        for _ in range(4)]
                time.sleep(0.5)  # the handlers are now blocked in their HTTP requests
                t0 = time.monotonic()
                svc.send_signal(signal.SIGTERM)
                rc = svc.proc.wait(20)
                took = time.monotonic() - t0
                codes = [f.exception(5).code() for f in futs]
            finally:
                os.kill(pid, signal.SIGCONT)
        assert rc == 0
        assert took < 5, took  # 2 s grace + the handlers noticing
        assert codes == [grpc.StatusCode.UNAVAILABLE] * 4, codes
    finally:
        svc.stop()
