"""GetStoreMenu under backend faults that the real services cannot be made to show on demand:
a backend that is slow, that fails once with UNAVAILABLE (retried) or with INTERNAL (not
retried), and a caller that cancels. The backends here are small grpcio servers in this
process implementing the backend services with injected faults; they stand in for a
misbehaving service, never for a datastore. Composition against the real services is in
test_gateway_menu.py."""

import threading
import time
from concurrent import futures

import grpc
import pytest

from conftest import unary

from menu.v1 import category_pb2, common_pb2, ghost_swap_pb2, menu_pb2  # noqa: E402
from menu.v1 import product_availability_pb2 as pa_pb2  # noqa: E402

MENU = "/menu.v1.MenuService/GetStoreMenu"
KIOSK = common_pb2.CHANNEL_KIOSK
PART = menu_pb2.MenuPart


class FakeBackend:
    """A grpcio server on a loopback port. `behaviour(method, request, context)` returns the
    response (or aborts); every call is recorded with its start/end on this process's
    monotonic clock and whether the caller cancelled it."""

    METHODS = {
        "menu.v1.CategoryService": {
            "ListCategories": (category_pb2.ListCategoriesRequest,
                               category_pb2.ListCategoriesResponse)},
        "menu.v1.GhostSwapService": {
            "BatchGetGhostSwaps": (ghost_swap_pb2.BatchGetGhostSwapsRequest,
                                   ghost_swap_pb2.BatchGetGhostSwapsResponse)},
        "menu.v1.ProductAvailabilityService": {
            "BatchGetProductAvailabilities": (pa_pb2.BatchGetProductAvailabilitiesRequest,
                                              pa_pb2.BatchGetProductAvailabilitiesResponse)},
    }

    def __init__(self, behaviour, workers=16):
        self.behaviour = behaviour
        self.calls = []
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
        for service, methods in self.METHODS.items():
            handlers = {name: grpc.unary_unary_rpc_method_handler(
                self._handler(name), request_deserializer=req.FromString,
                response_serializer=resp.SerializeToString)
                for name, (req, resp) in methods.items()}
            self.server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _handler(self, name):
        def handle(request, context):
            rec = {"method": name, "start": time.monotonic(), "end": None, "cancelled": None,
                   "request_id": dict(context.invocation_metadata()).get("x-request-id"),
                   "metadata": list(context.invocation_metadata()), "request": request}
            with self.lock:
                self.calls.append(rec)
            try:
                return self.behaviour(name, request, context)
            finally:
                # Still active here unless the caller cancelled or its deadline passed.
                rec["cancelled"] = not context.is_active()
                rec["end"] = time.monotonic()
        return handle

    def of(self, method, timeout=2.0):
        """The calls of `method`, once every handler has returned (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                calls = [c for c in self.calls if c["method"] == method]
            if all(c["end"] is not None for c in calls) or time.monotonic() > deadline:
                return calls
            time.sleep(0.01)

    def started(self, method):
        with self.lock:
            return [c for c in self.calls if c["method"] == method]

    @property
    def target(self):
        return f"ipv4:127.0.0.1:{self.port}"

    def stop(self):
        self.server.stop(0)


def sleep_unless_cancelled(context, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end and context.is_active():
        time.sleep(0.005)


def categories(n=2, codes=("P1", "P2", "P3")):
    """n categories, each holding `codes`."""
    return category_pb2.ListCategoriesResponse(edges=[
        category_pb2.CategoryEdge(cursor=f"c{i}", node=category_pb2.Category(
            id=f"cat-{i}", channel=KIOSK, name=f"Category {i}", display_order=i,
            product_codes=list(codes)))
        for i in range(n)], page_info=common_pb2.PageInfo(start_cursor="c0",
                                                            end_cursor=f"c{n - 1}"))


def availability_for(request):
    """Every asked code is available (swap targets too)."""
    return pa_pb2.BatchGetProductAvailabilitiesResponse(at_time=request.at_time, results=[
        pa_pb2.ProductAvailabilityResult(
            product_code=c, available=True, reason=pa_pb2.AVAILABILITY_REASON_ALLOWED,
            display_name=f"Product {c}", winner=pa_pb2.ProductAvailability(
                product_code=c, display_name=f"Product {c}", rule_id=1))
        for c in request.product_codes])


def swaps_for(request):
    return ghost_swap_pb2.BatchGetGhostSwapsResponse(ghost_swaps=[
        ghost_swap_pb2.GhostSwap(channel=request.channel, product_code=c,
                                 swap_product_code=c + "-S") for c in request.product_codes])


def quick(name, request, context):
    if name == "ListCategories":
        return categories()
    if name == "BatchGetProductAvailabilities":
        return availability_for(request)
    return swaps_for(request)


def items(menu):
    return [i for c in menu.categories for i in c.items]


def codes(menu):
    return [i.product_code for i in items(menu)]


@pytest.fixture
def fakes():
    made = []

    def make(behaviour, workers=16):
        f = FakeBackend(behaviour, workers)
        made.append(f)
        return f
    yield make
    for f in made:
        f.stop()


def gateway(start_service, dyn, sql, **env):
    return start_service("gateway", env={"DYNAMO_SVC_TARGET": dyn.target,
                                         "SQL_SVC_TARGET": sql.target, **env})


def menu_call(gw, timeout=10, **fields):
    fields.setdefault("store_code", "S1")
    fields.setdefault("channel", KIOSK)
    with gw.channel() as ch:
        resp, _ = unary(ch, MENU, menu_pb2.GetStoreMenuRequest(**fields),
                        menu_pb2.GetStoreMenuResponse, timeout=timeout)
    return resp


def gateway_line(gw, status=None, timeout=5.0):
    """The last GetStoreMenu log line of the gateway (written just after the reply)."""
    import json
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(l) for l in gw.log_path.read_text().split("\n")[:-1] if l.strip()]
        lines = [l for l in lines if l.get("method") == MENU
                 and (status is None or l["status"] == status)]
        if lines or time.monotonic() > deadline:
            return lines[-1] if lines else None
        time.sleep(0.05)


# ---- concurrency ---------------------------------------------------------------------------


def test_slow_backends_are_waited_for_in_parallel(start_service, fakes):
    """Availability and ghost swaps of the page's codes are asked at the same time."""
    def slow(name, request, context):
        if name != "ListCategories":
            sleep_unless_cancelled(context, 0.3)
        return quick(name, request, context)
    dyn, sql = fakes(slow), fakes(slow)
    gw = gateway(start_service, dyn, sql)
    t0 = time.monotonic()
    got = menu_call(gw)
    secs = time.monotonic() - t0
    assert len(got.categories) == 2 and codes(got) == ["P1", "P2", "P3"] * 2
    assert [i.swap.product_code for i in got.categories[0].items] == ["P1-S", "P2-S", "P3-S"]
    # Sequential would be >= 0.9 s (availability, swaps, availability of the swap targets).
    assert secs < 0.85, secs
    [s] = dyn.of("BatchGetGhostSwaps")
    p = sql.of("BatchGetProductAvailabilities")
    assert len(p) == 2  # the page's codes, then the swap targets
    assert p[0]["start"] < s["end"] and s["start"] < p[0]["end"]  # same clock: this process's
    assert list(p[0]["request"].product_codes) == ["P1", "P2", "P3"]
    assert list(p[1]["request"].product_codes) == ["P1-S", "P2-S", "P3-S"]
    # Every chunk is evaluated at one instant.
    assert p[0]["request"].at_time == p[1]["request"].at_time and p[0]["request"].at_time.seconds


def test_one_call_per_hundred_swap_codes_and_five_hundred_availability_codes(start_service,
                                                                           fakes):
    cats = [[f"P{c * 200 + i:04d}" for i in range(200)] for c in range(4)]  # 800 codes

    def big_page(name, request, context):
        if name == "ListCategories":
            return category_pb2.ListCategoriesResponse(edges=[
                category_pb2.CategoryEdge(cursor=f"c{i}", node=category_pb2.Category(
                    id=f"cat-{i}", channel=KIOSK, name="n", product_codes=codes))
                for i, codes in enumerate(cats)])
        if name == "BatchGetGhostSwaps":
            return ghost_swap_pb2.BatchGetGhostSwapsResponse()
        return quick(name, request, context)
    dyn, sql = fakes(big_page), fakes(big_page)
    gw = gateway(start_service, dyn, sql)
    got = menu_call(gw)
    assert codes(got) == [c for codes in cats for c in codes]
    assert sorted(len(c["request"].product_codes) for c in dyn.of("BatchGetGhostSwaps")) == \
        [100] * 8
    assert sorted(len(c["request"].product_codes) for c in sql.of("BatchGetProductAvailabilities")) \
        == [300, 500]


def test_menus_in_flight_are_not_bounded_by_handler_threads(start_service, fakes):
    """GetStoreMenu holds no thread while its backend calls run: with one handler thread,
    48 menus whose backends each take 0.3 s are all in flight at once (one thread parked per
    menu would take 48 x 0.3 s)."""
    n = 48

    def slow(name, request, context):
        if name != "BatchGetGhostSwaps":
            sleep_unless_cancelled(context, 0.3)
        return quick(name, request, context)
    dyn, sql = fakes(slow, workers=2 * n), fakes(slow, workers=2 * n)
    gw = gateway(start_service, dyn, sql, GRPC_HANDLER_THREADS="1", GRPC_CQ_THREADS="1",
                 GRPC_MAX_IN_FLIGHT=str(4 * n))
    with gw.channel() as ch:
        fn = ch.unary_unary(MENU, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=menu_pb2.GetStoreMenuResponse.FromString)
        fn(menu_pb2.GetStoreMenuRequest(store_code="S1", channel=KIOSK), timeout=10)  # connect
        t0 = time.monotonic()
        futs = [fn.future(menu_pb2.GetStoreMenuRequest(store_code="S1", channel=KIOSK),
                          timeout=10) for _ in range(n)]
        got = [f.result() for f in futs]
        secs = time.monotonic() - t0
    assert all(len(g.categories) == 2 and len(items(g)) == 6 and
               all(i.HasField("swap") for i in items(g)) for g in got)
    assert secs < 3.0, secs
    # Seen from the backend: the calls of (nearly) all menus overlapped (each menu's
    # availability of its page's codes; the first menu only connected).
    calls = [c for c in sql.of("BatchGetProductAvailabilities")
             if list(c["request"].product_codes) == ["P1", "P2", "P3"]][1:]
    latest_start = max(c["start"] for c in calls)
    assert sum(c["end"] > latest_start for c in calls) >= n - 4


# ---- deadlines and cancellation ------------------------------------------------------------


def test_deadline_against_a_slow_backend(start_service, fakes):
    def slow_sql(name, request, context):
        sleep_unless_cancelled(context, 5)
        return quick(name, request, context)
    dyn, sql = fakes(quick), fakes(slow_sql)
    gw = gateway(start_service, dyn, sql)
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        menu_call(gw, timeout=0.05)
    secs = time.monotonic() - t0
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert secs < 0.2, secs
    # The backend call carried the deadline and was abandoned with it, not left running.
    time.sleep(0.3)
    calls = sql.of("BatchGetProductAvailabilities")  # the page's codes, the swap targets
    assert calls
    for p in calls:
        assert p["cancelled"] and p["end"] - p["start"] < 0.2, p


def test_caller_cancel_cancels_backend_calls(start_service, fakes):
    """The caller gives up: both backend calls end within moments, and so does the gateway's
    handler. (Needs the server runtime to have GRPC_OP_RECV_CLOSE_ON_SERVER outstanding while
    the handler runs: the C core propagates a cancel to child calls when that op completes.)"""
    def slow(name, request, context):
        if name != "ListCategories":
            sleep_unless_cancelled(context, 5)
        return quick(name, request, context)
    dyn, sql = fakes(slow), fakes(slow)
    gw = gateway(start_service, dyn, sql)
    with gw.channel() as ch:
        fn = ch.unary_unary(MENU, request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=menu_pb2.GetStoreMenuResponse.FromString)
        fut = fn.future(menu_pb2.GetStoreMenuRequest(store_code="S1", channel=KIOSK), timeout=10)
        deadline = time.monotonic() + 3
        while (not dyn.started("BatchGetGhostSwaps")
               or not sql.started("BatchGetProductAvailabilities")) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        fut.cancel()
        cancelled_at = time.monotonic()
    time.sleep(0.5)
    for rec in dyn.of("BatchGetGhostSwaps") + sql.of("BatchGetProductAvailabilities"):
        assert rec["cancelled"], rec
        assert rec["end"] - cancelled_at < 0.3, rec
    line = gateway_line(gw)
    assert line["status"] == "CANCELLED", line
    assert line["duration_ms"] < 1000, line
    # The caller's cancel is not a backend's CANCELLED: it is never retried.
    assert len(dyn.started("ListCategories")) == 1
    assert len(sql.started("BatchGetProductAvailabilities")) == 1


# ---- retries and failures ------------------------------------------------------------------


def test_unavailable_is_retried(start_service, fakes):
    failures = {"ListCategories": 1, "BatchGetProductAvailabilities": 2}

    def flaky(name, request, context):
        if failures.get(name, 0) > 0:
            failures[name] -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return quick(name, request, context)
    dyn, sql = fakes(flaky), fakes(flaky)
    gw = gateway(start_service, dyn, sql)
    got = menu_call(gw)
    assert len(got.categories) == 2 and codes(got) == ["P1", "P2", "P3"] * 2
    assert list(got.missing_parts) == []
    assert len(dyn.of("ListCategories")) == 2
    assert len(sql.of("BatchGetProductAvailabilities")) == 4  # 2 failed + page + swap targets
    # Retries are transparent to the client metrics: one call, one OK.
    import urllib.request
    with urllib.request.urlopen(f"http://{gw.metrics_addr}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert ('grpc_client_handled_total{grpc_type="unary",grpc_service="menu.v1.CategoryService",'
            'grpc_method="ListCategories",grpc_code="OK"} 1') in text


def test_cancelled_by_a_backend_is_retried(start_service, fakes):
    """A replica that is going away may cut calls with CANCELLED; the reads are idempotent, so
    the retry policy covers it like UNAVAILABLE."""
    failures = {"ListCategories": 1}

    def cutting(name, request, context):
        if failures.get(name, 0) > 0:
            failures[name] -= 1
            context.abort(grpc.StatusCode.CANCELLED, "server shutting down")
        return quick(name, request, context)
    dyn, sql = fakes(cutting), fakes(quick)
    gw = gateway(start_service, dyn, sql)
    got = menu_call(gw)
    assert len(got.categories) == 2 and list(got.missing_parts) == []
    assert len(dyn.of("ListCategories")) == 2


def test_unavailable_retries_are_bounded(start_service, fakes):
    def down(name, request, context):
        if name == "BatchGetProductAvailabilities":
            context.abort(grpc.StatusCode.UNAVAILABLE, "still down")
        if name == "BatchGetGhostSwaps":  # no swap targets: one availability call to count
            return ghost_swap_pb2.BatchGetGhostSwapsResponse()
        return quick(name, request, context)
    dyn, sql = fakes(down), fakes(down)
    gw = gateway(start_service, dyn, sql)
    with pytest.raises(grpc.RpcError) as e:
        menu_call(gw)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    # A backend status without grpc-status-details-bin may be the channel's own (it names
    # addresses): the caller learns which backend failed, the log line has the text.
    assert e.value.details().startswith(
        "sql-svc (ProductAvailabilityService.BatchGetProductAvailabilities): unavailable "
        "(request id ")
    assert "still down" in gateway_line(gw, status="UNAVAILABLE")["products_error"]
    assert len(sql.of("BatchGetProductAvailabilities")) == 3  # maxAttempts

    # allow_partial: the categories, without items, and products named missing.
    got = menu_call(gw, allow_partial=True)
    assert list(got.missing_parts) == [PART.MENU_PART_PRODUCTS]
    assert [c.id for c in got.categories] == ["cat-0", "cat-1"]
    assert items(got) == [] and not got.HasField("at_time")


def test_other_failures_are_not_retried(start_service, fakes):
    def broken(name, request, context):
        if name == "ListCategories":
            context.abort(grpc.StatusCode.INTERNAL, "bug")
        return quick(name, request, context)
    dyn, sql = fakes(broken), fakes(quick)
    gw = gateway(start_service, dyn, sql)
    with pytest.raises(grpc.RpcError) as e:
        menu_call(gw)
    assert e.value.code() == grpc.StatusCode.INTERNAL
    assert e.value.details().startswith(
        "dynamo-svc (CategoryService.ListCategories): call failed (request id ")
    assert "bug" in gateway_line(gw, status="INTERNAL")["categories_error"]
    assert len(dyn.of("ListCategories")) == 1

    # allow_partial: without categories nothing else can be asked; every part is named.
    got = menu_call(gw, allow_partial=True)
    assert list(got.missing_parts) == [PART.MENU_PART_CATEGORIES, PART.MENU_PART_PRODUCTS,
                                       PART.MENU_PART_GHOST_SWAPS]
    assert len(got.categories) == 0 and not sql.of("BatchGetProductAvailabilities")


def test_ghost_swaps_failure(start_service, fakes):
    def swaps_down(name, request, context):
        if name == "BatchGetGhostSwaps":
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "throttled")
        return quick(name, request, context)
    dyn, sql = fakes(swaps_down), fakes(quick)
    gw = gateway(start_service, dyn, sql)
    with pytest.raises(grpc.RpcError) as e:
        menu_call(gw)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert e.value.details() == "dynamo-svc (GhostSwapService.BatchGetGhostSwaps): throttled"
    got = menu_call(gw, allow_partial=True)
    assert list(got.missing_parts) == [PART.MENU_PART_GHOST_SWAPS]
    assert codes(got) == ["P1", "P2", "P3"] * 2
    assert not any(i.HasField("swap") for c in got.categories for i in c.items)
    line = gateway_line(gw, status="OK")
    assert line["ghost_swaps_status"] == "RESOURCE_EXHAUSTED"
    assert "throttled" in line["ghost_swaps_error"]
