"""MenuService.GetStoreMenu on the real stack: a real MariaDB and dynalite, the real sql-svc and
dynamo-svc binaries, and the gateway pointed at them. What a caller sees: the composed menu is
what the owners answer when asked directly; the two backends are asked at the same time; a
stopped backend fails the call (or, with allow_partial, becomes a missing part); a caller's
short deadline is honoured against a frozen backend; request ids reach both backends; client
metrics per backend; round robin over two sql-svc replicas."""

import datetime
import json
import os
import signal
import subprocess
import time
import urllib.request
from types import SimpleNamespace

import grpc
import pytest
from google.protobuf import timestamp_pb2

from conftest import BIN, CURSOR_KEY, env_of, unary
from conftest import SERVING, HealthCheckRequest, HealthCheckResponse

from menu.v1 import category_pb2, common_pb2, ghost_swap_pb2, menu_pb2  # noqa: E402
from menu.v1 import product_availability_pb2 as pa_pb2  # noqa: E402

MENU = "/menu.v1.MenuService/GetStoreMenu"
LIST_CATEGORIES = "/menu.v1.CategoryService/ListCategories"
CREATE_CATEGORY = "/menu.v1.CategoryService/CreateCategory"
PUT_SWAP = "/menu.v1.GhostSwapService/PutGhostSwap"
BATCH_SWAPS = "/menu.v1.GhostSwapService/BatchGetGhostSwaps"
LIST_AVAIL = "/menu.v1.ProductAvailabilityService/ListProductAvailabilities"

KIOSK = common_pb2.CHANNEL_KIOSK
STORE = "R001"  # seed-demo: about 40 products on KIOSK
PART = menu_pb2.MenuPart


def at_time():
    """A fixed instant, so that direct and composed answers (and their cursors) match."""
    return timestamp_pb2.Timestamp(seconds=int(datetime.datetime(2030, 1, 1).timestamp()))


# ---- stack -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sql_env(mariadb):
    """Schema and demo data in the session's MariaDB, loaded by sql-svc's own subcommands."""
    env = dict(os.environ)
    env.update(env_of(mariadb))
    env["CURSOR_KEY"] = CURSOR_KEY
    for cmd in ("migrate", "seed-demo"):
        r = subprocess.run([str(BIN / "sql-svc"), cmd], env=env, capture_output=True,
                           timeout=180)
        assert r.returncode == 0, f"sql-svc {cmd}: {r.stdout!r} {r.stderr!r}"
    return env_of(mariadb)


def up(start_service, name, env, creds=None):
    """start_service, then wait for SERVING with a fresh channel per attempt: a channel that
    saw the port closed backs off reconnecting for seconds, which would dominate test time.
    `creds`: grpc.ssl_channel_credentials for a service that serves TLS."""
    svc = start_service(name, env=env, wait=False)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if svc.proc.poll() is not None:
            break
        try:
            with (grpc.secure_channel(svc.addr, creds) if creds else svc.channel()) as ch:
                r, _ = unary(ch, "/grpc.health.v1.Health/Check", HealthCheckRequest(),
                             HealthCheckResponse, timeout=0.5)
            if r.status == SERVING:
                return svc
        except grpc.RpcError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not become SERVING:\n{svc.log_text()}")


def gateway_env(dynamo_target, sql_target, **extra):
    env = {"DYNAMO_SVC_TARGET": dynamo_target, "SQL_SVC_TARGET": sql_target}
    env.update(extra)
    return env


@pytest.fixture
def stack(start_service, sql_env, dynalite):
    dyn = up(start_service, "dynamo-svc", env_of(dynalite))
    sql = up(start_service, "sql-svc", sql_env)
    gw = up(start_service, "gateway", gateway_env(f"dns:///{dyn.addr}", f"dns:///{sql.addr}"))
    yield SimpleNamespace(dyn=dyn, sql=sql, gw=gw)
    for svc in (sql, dyn):  # never leave a frozen process behind
        if svc.proc.poll() is None:
            svc.proc.send_signal(signal.SIGCONT)


def call(svc, method, req, resp_cls, timeout=10, rid=None):
    md = (("x-request-id", rid),) if rid else None
    with svc.channel() as ch:
        resp, c = unary(ch, method, req, resp_cls, timeout=timeout, metadata=md)
    return resp


def menu_call(gw, timeout=10, rid=None, **fields):
    fields.setdefault("store_code", STORE)
    fields.setdefault("channel", KIOSK)
    return call(gw, MENU, menu_pb2.GetStoreMenuRequest(**fields), menu_pb2.GetStoreMenuResponse,
                timeout=timeout, rid=rid)


def menu_error(gw, timeout=10, **fields):
    """(code, details, seconds) of a GetStoreMenu that must fail."""
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        menu_call(gw, timeout=timeout, **fields)
    return e.value.code(), e.value.details(), time.monotonic() - t0


def write_dynamo_data(dyn, creds=None):
    """Categories and ghost swaps on KIOSK through dynamo-svc's own API (idempotent: the
    dynalite of the session is shared, so ALREADY_EXISTS/ABORTED mean it is there)."""
    with (grpc.secure_channel(dyn.addr, creds) if creds else dyn.channel()) as ch:
        for i, name in enumerate(["Burgers", "Drinks", "Desserts"]):
            cat = category_pb2.Category(id=f"gw-cat-{i}", channel=KIOSK, name=name,
                                        display_order=10 * (i + 1))
            try:
                unary(ch, CREATE_CATEGORY, category_pb2.CreateCategoryRequest(category=cat),
                      category_pb2.CreateCategoryResponse, timeout=10)
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.ALREADY_EXISTS, e.details()
        for src, dst in [("P1001", "P1031"), ("P1003", "P1033"), ("P1008", "P1038")]:
            gs = ghost_swap_pb2.GhostSwap(channel=KIOSK, product_code=src, swap_product_code=dst)
            try:
                unary(ch, PUT_SWAP, ghost_swap_pb2.PutGhostSwapRequest(ghost_swap=gs),
                      ghost_swap_pb2.PutGhostSwapResponse, timeout=10)
            except grpc.RpcError as e:
                assert e.code() in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.ABORTED), \
                    e.details()


# ---- logs and metrics ----------------------------------------------------------------------


def log_lines(svc):
    """Complete JSON lines so far (a line still being written is skipped)."""
    text = svc.log_path.read_text(errors="replace")
    out = []
    for line in text.split("\n")[:-1]:
        if line.strip():
            out.append(json.loads(line))
    return out


def rpc_lines(svc, method, rid=None, want=1, timeout=5.0):
    """The per-call log lines of `method` (and request id); waits for `want` of them, since
    a server logs its line just after sending the reply."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in log_lines(svc) if l.get("msg") == "rpc" and l.get("method") == method
                 and (rid is None or l.get("request_id") == rid)]
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def interval(line):
    """(start, end) in seconds since the epoch of a server's call, from its log line."""
    end = datetime.datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return end - line["duration_ms"] / 1000.0, end


def metrics_text(svc):
    with urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5) as r:
        return r.read().decode()


def metric_value(text, name, **labels):
    total = None
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


# ---- direct answers ------------------------------------------------------------------------


def direct_menu(dyn, sql, page):
    cats = call(dyn, LIST_CATEGORIES,
                category_pb2.ListCategoriesRequest(channel=KIOSK,
                                                   page=common_pb2.PageRequest(first=128)),
                category_pb2.ListCategoriesResponse)
    prods = call(sql, LIST_AVAIL,
                 pa_pb2.ListProductAvailabilitiesRequest(store_code=STORE, channel=KIOSK,
                                                         at_time=at_time(), page=page),
                 pa_pb2.ListProductAvailabilitiesResponse)
    codes = [e.node.product_code for e in prods.edges]
    swaps = call(dyn, BATCH_SWAPS,
                 ghost_swap_pb2.BatchGetGhostSwapsRequest(channel=KIOSK, product_codes=codes),
                 ghost_swap_pb2.BatchGetGhostSwapsResponse).ghost_swaps if codes else []
    by_code = {s.product_code: s for s in swaps}
    return cats, prods, [by_code[c] for c in codes if c in by_code]


# ---- tests ---------------------------------------------------------------------------------


def test_menu_equals_what_the_owners_answer(stack):
    write_dynamo_data(stack.dyn)
    page = common_pb2.PageRequest(first=5)
    got = menu_call(stack.gw, at_time=at_time(), page=page)
    cats, prods, swaps = direct_menu(stack.dyn, stack.sql, page)

    assert len(cats.edges) >= 3 and len(prods.edges) == 5 and swaps  # not vacuous
    assert list(got.categories) == [e.node for e in cats.edges]
    assert list(got.products.edges) == list(prods.edges)
    assert got.products.page_info == prods.page_info
    assert got.at_time == prods.at_time and got.at_time.seconds > 0
    assert list(got.ghost_swaps) == swaps  # page order; only products of the page
    assert list(got.missing_parts) == []

    # The cursors pass through: the next page through the gateway is sql-svc's next page.
    page2 = common_pb2.PageRequest(first=5, after=got.products.page_info.end_cursor)
    got2 = menu_call(stack.gw, at_time=at_time(), page=page2)
    _, prods2, swaps2 = direct_menu(stack.dyn, stack.sql, page2)
    assert list(got2.products.edges) == list(prods2.edges)
    assert got2.products.page_info == prods2.page_info
    assert list(got2.ghost_swaps) == swaps2
    assert {e.node.product_code for e in got.products.edges}.isdisjoint(
        e.node.product_code for e in got2.products.edges)


def test_backend_calls_overlap(stack):
    """Measured, not assumed: from the gateway's per-backend offsets and from the backends'
    own log lines (their end time minus their duration)."""
    write_dynamo_data(stack.dyn)
    overlaps = 0
    for i in range(5):
        rid = f"gw-overlap-{i}-{time.time_ns()}"
        menu_call(stack.gw, rid=rid, at_time=at_time())
        [gw_line] = rpc_lines(stack.gw, MENU, rid)
        assert gw_line["status"] == "OK"
        # Both calls were started before either finished.
        assert gw_line["categories_start_ms"] <= gw_line["products_end_ms"]
        assert gw_line["products_start_ms"] <= gw_line["categories_end_ms"]
        # Swaps follow availability (they need its product codes).
        assert gw_line["ghost_swaps_start_ms"] >= gw_line["products_end_ms"]

        [cat_line] = rpc_lines(stack.dyn, LIST_CATEGORIES, rid)
        [prod_line] = rpc_lines(stack.sql, LIST_AVAIL, rid)
        c0, c1 = interval(cat_line)
        p0, p1 = interval(prod_line)
        # Log times have millisecond resolution: allow 1 ms on each comparison.
        if c0 <= p1 + 0.001 and p0 <= c1 + 0.001:
            overlaps += 1
    # The gateway's own offsets above prove both calls were in flight at once every time. On the
    # backends' side a call of a few ms can end before the other backend's thread is even
    # scheduled (2 cores shared by 5 processes), so require most, not all, windows to overlap;
    # sequential calls would overlap in none.
    assert overlaps >= 3


def test_request_id_reaches_both_backends(stack):
    write_dynamo_data(stack.dyn)
    rid = f"gw-rid-{time.time_ns()}"
    with stack.gw.channel() as ch:
        _, c = unary(ch, MENU, menu_pb2.GetStoreMenuRequest(store_code=STORE, channel=KIOSK),
                     menu_pb2.GetStoreMenuResponse, timeout=10,
                     metadata=(("x-request-id", rid),))
    assert ("x-request-id", rid) in c.initial_metadata()
    assert rpc_lines(stack.gw, MENU, rid)
    assert rpc_lines(stack.dyn, LIST_CATEGORIES, rid)
    assert rpc_lines(stack.dyn, BATCH_SWAPS, rid)
    assert rpc_lines(stack.sql, LIST_AVAIL, rid)

    # Without one, the gateway makes one and the backends log that same id.
    with stack.gw.channel() as ch:
        _, c = unary(ch, MENU, menu_pb2.GetStoreMenuRequest(store_code=STORE, channel=KIOSK),
                     menu_pb2.GetStoreMenuResponse, timeout=10)
    made = dict(c.initial_metadata())["x-request-id"]
    assert made and made != rid
    assert rpc_lines(stack.sql, LIST_AVAIL, made)
    assert rpc_lines(stack.dyn, LIST_CATEGORIES, made)


def test_client_metrics_per_backend(stack):
    write_dynamo_data(stack.dyn)
    for _ in range(3):
        menu_call(stack.gw)
    text = metrics_text(stack.gw)
    for service, method in [("menu.v1.CategoryService", "ListCategories"),
                            ("menu.v1.GhostSwapService", "BatchGetGhostSwaps"),
                            ("menu.v1.ProductAvailabilityService", "ListProductAvailabilities")]:
        assert metric_value(text, "grpc_client_handled_total", grpc_service=service,
                            grpc_method=method, grpc_code="OK") == 3.0, text
        assert metric_value(text, "grpc_client_handling_seconds_count", grpc_service=service,
                            grpc_method=method) == 3.0
    # The server's own count is recorded just after the reply is sent: give it a moment.
    deadline = time.monotonic() + 2
    while metric_value(text, "grpc_server_handled_total", grpc_method="GetStoreMenu",
                       grpc_code="OK") != 3.0 and time.monotonic() < deadline:
        time.sleep(0.05)
        text = metrics_text(stack.gw)
    assert metric_value(text, "grpc_server_handled_total", grpc_method="GetStoreMenu",
                        grpc_code="OK") == 3.0


def test_invalid_input_names_the_field_and_calls_no_backend(stack):
    cases = [({"store_code": ""}, "store_code"), ({"store_code": "bad code!"}, "store_code"),
             ({"store_code": "x" * 51}, "store_code"),
             ({"channel": common_pb2.CHANNEL_UNSPECIFIED}, "channel"),
             ({"channel": 42}, "channel")]
    for fields, field in cases:
        code, details, _ = menu_error(stack.gw, **fields)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith(field + ":"), details
    assert rpc_lines(stack.sql, LIST_AVAIL, want=0, timeout=0.3) == []
    assert rpc_lines(stack.dyn, LIST_CATEGORIES, want=0, timeout=0.3) == []


def test_paging_is_validated_by_sql_svc(stack):
    """The gateway passes paging through; sql-svc's INVALID_ARGUMENT reaches the caller,
    named, even with allow_partial (it is the caller's mistake, not an outage)."""
    for allow_partial in (False, True):
        code, details, _ = menu_error(stack.gw, page=common_pb2.PageRequest(first=-1),
                                      allow_partial=allow_partial)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "sql-svc (ProductAvailabilityService.ListProductAvailabilities)" in details
        assert "page.first" in details
        code, details, _ = menu_error(stack.gw, page=common_pb2.PageRequest(after="forged"),
                                      allow_partial=allow_partial)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "page.after" in details


def test_empty_page_makes_no_ghost_swap_call(stack):
    write_dynamo_data(stack.dyn)
    full = menu_call(stack.gw, at_time=at_time(), page=common_pb2.PageRequest(first=128))
    assert not full.products.page_info.has_next_page
    rid = f"gw-empty-{time.time_ns()}"
    got = menu_call(stack.gw, rid=rid, at_time=at_time(), page=common_pb2.PageRequest(
        first=5, after=full.products.page_info.end_cursor))
    assert len(got.products.edges) == 0 and list(got.ghost_swaps) == []
    assert list(got.missing_parts) == [] and len(got.categories) >= 3
    [line] = rpc_lines(stack.gw, MENU, rid)
    assert "ghost_swaps_start_ms" not in line
    assert rpc_lines(stack.dyn, LIST_CATEGORIES, rid)
    assert rpc_lines(stack.dyn, BATCH_SWAPS, rid, want=0, timeout=0.3) == []


def test_dynamo_svc_stopped(stack):
    stack.dyn.stop()
    code, details, secs = menu_error(stack.gw)
    assert code == grpc.StatusCode.UNAVAILABLE
    # Categories, or ghost swaps if availability answered first: whichever call fails first.
    assert details.startswith(("dynamo-svc (CategoryService.ListCategories): ",
                               "dynamo-svc (GhostSwapService.BatchGetGhostSwaps): ")), details
    assert secs < 3.0

    got = menu_call(stack.gw, allow_partial=True, at_time=at_time())
    assert list(got.missing_parts) == [PART.MENU_PART_CATEGORIES, PART.MENU_PART_GHOST_SWAPS]
    assert list(got.categories) == [] and list(got.ghost_swaps) == []
    direct = call(stack.sql, LIST_AVAIL, pa_pb2.ListProductAvailabilitiesRequest(
        store_code=STORE, channel=KIOSK, at_time=at_time()), pa_pb2.ListProductAvailabilitiesResponse)
    assert len(direct.edges) > 0
    assert list(got.products.edges) == list(direct.edges)
    assert got.products.page_info == direct.page_info


def test_sql_svc_stopped(stack):
    write_dynamo_data(stack.dyn)
    stack.sql.stop()
    code, details, secs = menu_error(stack.gw)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert details.startswith(
        "sql-svc (ProductAvailabilityService.ListProductAvailabilities): "), details
    assert secs < 3.0

    got = menu_call(stack.gw, allow_partial=True)
    assert list(got.missing_parts) == [PART.MENU_PART_PRODUCTS, PART.MENU_PART_GHOST_SWAPS]
    assert not got.HasField("products") and list(got.ghost_swaps) == []
    direct = call(stack.dyn, LIST_CATEGORIES, category_pb2.ListCategoriesRequest(
        channel=KIOSK, page=common_pb2.PageRequest(first=128)), category_pb2.ListCategoriesResponse)
    assert len(direct.edges) >= 3
    assert list(got.categories) == [e.node for e in direct.edges]


@pytest.mark.parametrize("frozen", ["sql", "dyn"])
def test_short_deadline_against_a_frozen_backend(stack, frozen):
    """A backend frozen with SIGSTOP (its socket still accepts, nothing answers): a 50 ms
    deadline comes back as DEADLINE_EXCEEDED in about 50 ms, not a hang."""
    menu_call(stack.gw, allow_partial=True)  # connections are up: the freeze hits mid-call
    svc = getattr(stack, frozen)
    svc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(3):
            code, _, secs = menu_error(stack.gw, timeout=0.05)
            assert code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert secs < 0.2, secs
        lines = rpc_lines(stack.gw, MENU, want=4)
        failed = [l for l in lines if l["status"] == "DEADLINE_EXCEEDED"]
        assert len(failed) == 3
        # The frozen backend's call is the one that ran out of time (for dynamo-svc that is
        # categories or ghost swaps, whichever expires first; the other is cut short).
        parts = ["products"] if frozen == "sql" else ["categories", "ghost_swaps"]
        backend = "sql-svc (" if frozen == "sql" else "dynamo-svc ("
        for l in failed:
            assert l["duration_ms"] < 100, l
            assert l["error"].startswith(backend), l
            assert "DEADLINE_EXCEEDED" in [l.get(f"{p}_status") for p in parts], l

        # With allow_partial the frozen parts are missing and the rest arrives within the
        # caller's deadline (the backends get a little less time than the caller gave).
        t0 = time.monotonic()
        got = menu_call(stack.gw, timeout=1.0, allow_partial=True)
        secs = time.monotonic() - t0
        want = ([PART.MENU_PART_PRODUCTS, PART.MENU_PART_GHOST_SWAPS] if frozen == "sql" else
                [PART.MENU_PART_CATEGORIES, PART.MENU_PART_GHOST_SWAPS])
        assert list(got.missing_parts) == want
        assert 0.8 < secs < 1.0, secs
    finally:
        svc.send_signal(signal.SIGCONT)
    # Thawed, it answers again through the same channel.
    got = menu_call(stack.gw, allow_partial=True)
    assert (PART.MENU_PART_PRODUCTS if frozen == "sql" else PART.MENU_PART_CATEGORIES) \
        not in got.missing_parts


def test_round_robin_over_two_sql_replicas(start_service, sql_env, dynalite):
    dyn = up(start_service, "dynamo-svc", env_of(dynalite))
    a = up(start_service, "sql-svc", sql_env)
    b = up(start_service, "sql-svc", sql_env)
    gw = up(start_service, "gateway", gateway_env(
        f"dns:///{dyn.addr}", f"ipv4:127.0.0.1:{a.port},127.0.0.1:{b.port}"))
    n = 20
    for i in range(n):
        got = menu_call(gw, allow_partial=True, rid=f"gw-rr-{i}-{time.time_ns()}")
        assert PART.MENU_PART_PRODUCTS not in got.missing_parts
    count_a = len(rpc_lines(a, LIST_AVAIL, want=1))
    count_b = len(rpc_lines(b, LIST_AVAIL, want=1))
    assert count_a + count_b == n
    # round_robin alternates over READY replicas; both must carry a real share.
    assert count_a >= n // 4 and count_b >= n // 4, (count_a, count_b)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=menu-test-ca")
    for name, ext in [("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "extendedKeyUsage=clientAuth")]:
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(ext + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    return {k: str(d / k) for k in ("ca.crt", "server.crt", "server.key", "client.crt",
                                      "client.key")}


def test_mutual_tls_to_backends(start_service, sql_env, dynalite, tmp_path):
    pki = make_pki(tmp_path)
    read = lambda k: open(pki[k], "rb").read()  # noqa: E731
    creds = grpc.ssl_channel_credentials(read("ca.crt"), read("client.key"), read("client.crt"))
    serve_tls = {"TLS_CERT_FILE": pki["server.crt"], "TLS_KEY_FILE": pki["server.key"],
                 "TLS_CLIENT_CA_FILE": pki["ca.crt"]}
    dyn = up(start_service, "dynamo-svc", {**env_of(dynalite), **serve_tls}, creds)
    sql = up(start_service, "sql-svc", {**sql_env, **serve_tls}, creds)
    targets = (f"dns:///{dyn.addr}", f"dns:///{sql.addr}")
    gw = up(start_service, "gateway", gateway_env(
        *targets, BACKEND_TLS_CA_FILE=pki["ca.crt"], BACKEND_TLS_CERT_FILE=pki["client.crt"],
        BACKEND_TLS_KEY_FILE=pki["client.key"]))
    write_dynamo_data(dyn, creds)
    got = menu_call(gw, allow_partial=True)
    assert list(got.missing_parts) == []
    assert len(got.categories) >= 3 and len(got.products.edges) > 0 and got.ghost_swaps

    # Without a client certificate the backends refuse the gateway: UNAVAILABLE, named.
    no_cert = up(start_service, "gateway", gateway_env(*targets,
                                                       BACKEND_TLS_CA_FILE=pki["ca.crt"]))
    code, details, secs = menu_error(no_cert)
    assert code == grpc.StatusCode.UNAVAILABLE and secs < 3.0
    assert details.startswith(("dynamo-svc (", "sql-svc (")), details
    # Nor does a plaintext gateway get an answer.
    plain = up(start_service, "gateway", gateway_env(*targets))
    code, _, _ = menu_error(plain)
    assert code == grpc.StatusCode.UNAVAILABLE
