"""The listeners under abuse, through the real binaries: the metrics port bound exclusively and
not starved by idle connections; an HTTP/2 ping flood and a burst of stream resets from a raw
client (hyperframe) leave the server serving everyone else."""

import resource
import socket
import time
import urllib.request

import grpc
import hpack
import pytest
from hyperframe.frame import Frame, GoAwayFrame, HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame

from conftest import HealthCheckRequest, HealthCheckResponse, SERVING, unary
from test_sql_support import db_env, fresh_database, migrate

HEALTH = "/grpc.health.v1.Health/Check"


@pytest.fixture(scope="module")
def sql_db(mariadb):
    e = db_env(mariadb, "menu_t_listeners")
    fresh_database(e)
    migrate(e)
    return e


def scrape(addr, timeout=3):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=timeout) as r:
        return r.status, r.read().decode()


def test_metrics_port_is_exclusive_and_survives_idle_connections(sql_db, start_service):
    first = start_service("sql-svc", env=sql_db)
    assert scrape(first.metrics_addr)[0] == 200
    # A second process on the same metrics port fails to start instead of sharing it.
    second = start_service("sql-svc", env={**sql_db, "METRICS_ADDR": first.metrics_addr},
                           wait=False)
    assert second.proc.wait(15) != 0
    assert "cannot listen" in second.log_text()

    # 1,100 idle connections from one address (127.0.0.2) do not starve the scraper.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
    host, port = first.metrics_addr.rsplit(":", 1)
    idle = []
    try:
        for _ in range(1100):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.settimeout(2)
            try:
                s.connect((host, int(port)))
            except OSError:
                s.close()
                continue
            idle.append(s)
        for _ in range(3):
            status, text = scrape(first.metrics_addr)
            assert status == 200 and "grpc_server_started_total" in text
    finally:
        for s in idle:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def frames_until_closed(sock, seconds):
    """Reads frames until the server closes the connection or `seconds` pass."""
    got, buf = [], b""
    end = time.monotonic() + seconds
    sock.settimeout(0.2)
    while time.monotonic() < end:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not data:
            break
        buf += data
        while len(buf) >= 9:
            f, length = Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            f.parse_body(memoryview(buf[9:9 + length]))
            got.append(f)
            buf = buf[9 + length:]
    return got


def raw_h2(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize())
    return s


def health_ok(svc):
    with grpc.insecure_channel(svc.addr) as ch:
        r, _ = unary(ch, HEALTH, HealthCheckRequest(), HealthCheckResponse, timeout=3)
        return r.status == SERVING


def test_ping_flood_and_reset_burst_leave_the_server_serving(sql_db, start_service):
    svc = start_service("sql-svc", env=sql_db)
    # A ping flood: 5,000 pings without data. The server cuts the abuser off (GOAWAY
    # ENHANCE_YOUR_CALM, "too many pings") and keeps serving everyone else.
    s = raw_h2(svc.addr)
    try:
        try:
            for i in range(5000):
                s.sendall(PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize())
        except OSError:
            pass  # closed by the server mid-flood: that is the point
        frames = frames_until_closed(s, 5)
    finally:
        s.close()
    goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaways and goaways[-1].error_code == 0xB, [type(f).__name__ for f in frames][-5:]
    assert health_ok(svc)

    # A rapid-reset burst: 2,000 streams opened and reset at once on one connection.
    enc = hpack.Encoder()
    s = raw_h2(svc.addr)
    sent = 0
    try:
        for i in range(2000):
            sid = 2 * i + 1
            hdrs = enc.encode([(":method", "POST"), (":scheme", "http"), (":path", HEALTH),
                               (":authority", svc.addr), ("content-type", "application/grpc"),
                               ("te", "trailers")])
            try:
                s.sendall(HeadersFrame(sid, hdrs, flags=["END_HEADERS"]).serialize() +
                          RstStreamFrame(sid, error_code=8).serialize())
            except OSError:
                break
            sent += 1
            # Meanwhile another client is served.
            if i % 500 == 0:
                assert health_ok(svc)
    finally:
        s.close()
    assert sent > 0
    assert svc.proc.poll() is None
    assert health_ok(svc)
    status, text = scrape(svc.metrics_addr)
    assert status == 200
