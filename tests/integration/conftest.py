"""Shared fixtures for the integration tests: a real MariaDB, a real dynalite and the real
binaries, each on free loopback ports, talked to over real gRPC (grpcio, an independent
client). Nothing here mocks a datastore."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("MENU_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "bin"
sys.path.insert(0, str(BUILD / "py"))

import grpc  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pb  # noqa: E402

HealthCheckRequest = pb.message("grpc.health.v1.HealthCheckRequest")
HealthCheckResponse = pb.message("grpc.health.v1.HealthCheckResponse")
SERVING = 1

STATE = ROOT / ".local" / "test"
SESSION_START = time.time()
# Secrets of the test run, distinctive so that test_zz_no_secret_in_logs can look for them in
# every log line the run wrote.
CURSOR_KEY = "integration-test-cursor-key-0123456789"
DB_PASSWORD = "it-db-pw-5b9e1c77"
AWS_SECRET = "it-aws-secret-0c7d2a91"
AWS_SESSION_TOKEN = "it-aws-session-token-83fa6e"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_serving(addr, timeout=15.0, service="", creds=None, proc=None):
    """Polls grpc.health.v1.Health/Check until SERVING or the timeout. A fresh channel per try:
    a channel that failed to connect would otherwise back off for seconds. `creds`:
    grpc.ssl_channel_credentials for a server that speaks TLS; `proc`: stop waiting as soon as
    that process has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with (grpc.secure_channel(addr, creds) if creds else grpc.insecure_channel(addr)) as ch:
            check = ch.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=HealthCheckRequest.SerializeToString,
                response_deserializer=HealthCheckResponse.FromString,
            )
            try:
                r = check(HealthCheckRequest(service=service), timeout=1)
                if r.status == SERVING:
                    return True
            except grpc.RpcError:
                pass
        time.sleep(0.05)
    return False


class Service:
    """One running binary with its own ports and a log file of its JSON lines."""

    def __init__(self, name, env=None, args=(), port=None):
        self.name = name
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.metrics_addr = f"127.0.0.1:{self.metrics_port}"
        STATE.mkdir(parents=True, exist_ok=True)
        self.log_path = STATE / f"{name}-{self.port}.log"
        full_env = dict(os.environ)
        full_env.update(
            {
                "GRPC_ADDR": self.addr,
                "METRICS_ADDR": self.metrics_addr,
                "LOG_LEVEL": "debug",
                "CURSOR_KEY": CURSOR_KEY,
                "SHUTDOWN_GRACE_MS": "5000",
            }
        )
        full_env.update(env or {})
        self.env = full_env
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN / name), *args], env=full_env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout=15.0, creds=None):
        """Returns self once SERVING (over TLS with `creds`); otherwise stops the process and
        raises with its log."""
        if not wait_serving(self.addr, timeout, creds=creds, proc=self.proc):
            self.stop()
            raise RuntimeError(f"{self.name} did not become SERVING:\n{self.log_text()}")
        return self

    def channel(self):
        return grpc.insecure_channel(self.addr)

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def log_lines(self):
        """The JSON objects logged so far (non-JSON lines are a test failure in themselves)."""
        out = []
        for line in self.log_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def start_service():
    """start_service("dynamo-svc", env={...}) -> a SERVING Service, stopped after the test."""
    started = []

    def start(name, env=None, args=(), port=None, wait=True):
        svc = Service(name, env, args, port)
        started.append(svc)
        return svc.wait_ready() if wait else svc

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture(scope="session")
def mariadb():
    """A fresh MariaDB for the whole session; connection settings as sql-svc's env."""
    port = free_port()
    d = STATE / "mariadb"
    subprocess.run([str(ROOT / "scripts/mariadb.sh"), "stop", str(d)], check=False)
    subprocess.run(["rm", "-rf", str(d)], check=True)
    subprocess.run([str(ROOT / "scripts/mariadb.sh"), "start", str(d), str(port)], check=True,
                   env={**os.environ, "MENU_DB_PASSWORD": DB_PASSWORD})
    info = {
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_PORT": str(port),
        "MYSQL_USER": "menu",
        "MYSQL_PASSWORD": DB_PASSWORD,
        "MYSQL_DATABASE": "menu",
        "dir": str(d),
    }
    yield info
    subprocess.run([str(ROOT / "scripts/mariadb.sh"), "stop", str(d)], check=False)


@pytest.fixture(scope="session")
def dynalite():
    """A fresh dynalite for the whole session; env for dynamo-svc."""
    port = free_port()
    d = STATE / "dynalite"
    subprocess.run([str(ROOT / "scripts/dynalite.sh"), "stop", str(d)], check=False)
    subprocess.run(["rm", "-rf", str(d)], check=True)
    subprocess.run([str(ROOT / "scripts/dynalite.sh"), "start", str(d), str(port)], check=True)
    info = {
        "DYNAMODB_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_SESSION_TOKEN": AWS_SESSION_TOKEN,
        "DYNAMODB_CREATE_TABLES": "1",
        "port": str(port),
        "dir": str(d),
    }
    yield info
    subprocess.run([str(ROOT / "scripts/dynalite.sh"), "stop", str(d)], check=False)


def dynamo_tables_env():
    """Table names of its own for one test module, so that nothing it asserts depends on what
    other modules wrote to the shared dynalite."""
    tag = uuid.uuid4().hex[:10]
    return {
        "DYNAMODB_CATEGORY_TABLE": f"it-{tag}-categories",
        "DYNAMODB_GHOST_SWAP_TABLE": f"it-{tag}-swaps",
        "DYNAMODB_PRODUCT_COLLECTION_TABLE": f"it-{tag}-collections",
    }


@pytest.fixture(scope="module")
def dynamo_env(dynalite):
    """dynamo-svc's environment for one test module: the session's dynalite, tables of its own."""
    return {**env_of(dynalite), **dynamo_tables_env()}


@pytest.fixture(scope="module")
def dynamo_ch(dynamo_env):
    """A channel to one dynamo-svc for the whole module (its state is all in dynalite)."""
    svc = Service("dynamo-svc", env=dynamo_env).wait_ready()
    with svc.channel() as channel:
        yield channel
    assert svc.stop() == 0


def tls_gateway_with_health(start_service, tmp_path):
    """A gateway serving TLS on GRPC_ADDR (a self-signed certificate for 127.0.0.1, made with
    the openssl CLI) and plaintext health only on HEALTH_ADDR, SERVING there.
    Returns (svc, health_addr, the certificate's path)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    health_addr = f"127.0.0.1:{free_port()}"
    svc = start_service("gateway", wait=False, env={
        "TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key), "HEALTH_ADDR": health_addr})
    assert wait_serving(health_addr, 15, proc=svc.proc), svc.log_text()
    return svc, health_addr, cert


def metric(svc, name, **labels):
    """The value of the series `name{labels}` (exactly those labels, in that order) on the
    service's /metrics, or None when it is absent."""
    text = urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5).read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.split()[-1])
    return None


def env_of(info):
    """The environment variables of a datastore fixture (drops its bookkeeping keys)."""
    return {k: v for k, v in info.items() if k.isupper()}


def status_of(fn):
    """The gRPC status code of calling fn(): OK, or the code of the RpcError it raised."""
    try:
        fn()
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def unary(channel, method, req, resp_cls, **kw):
    """Calls /pkg.Service/Method with a message class pair; returns (response, call)."""
    fn = channel.unary_unary(
        method, request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=resp_cls.FromString,
    )
    return fn.with_call(req, **kw)


def rich_status(err):
    """The google.rpc.Status of a failed call, decoded from its grpc-status-details-bin trailer
    (as grpc_status.rpc_status.from_call would), as (status, ErrorInfo, BadRequest or None).
    Fails the test when the trailer is missing: every error must carry one."""
    from google.rpc import error_details_pb2, status_pb2

    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert raw is not None, f"no grpc-status-details-bin on {err.code()}: {err.details()}"
    st = status_pb2.Status.FromString(raw)
    assert st.code == err.code().value[0] and st.message == err.details()
    info = bad = None
    for any_ in st.details:
        if any_.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            any_.Unpack(info)
        elif any_.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            any_.Unpack(bad)
    assert info is not None and info.domain == "menu.v1" and info.reason
    return st, info, bad
