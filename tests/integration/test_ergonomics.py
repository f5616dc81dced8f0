"""What an operator meets first, on the real binaries: --version, --help and unknown arguments,
the version in the start-up line, Go-style `:PORT` listen addresses and bad addresses refused
at configuration time."""

import re
import signal
import socket
import subprocess
import time
import urllib.request

import grpc
import pytest

import pb
from conftest import (BIN, ROOT, HealthCheckRequest, HealthCheckResponse, free_port,
                      tls_gateway_with_health)


REVISION = r"[0-9a-f]{12}(-dirty)?|unknown"


def built_revision():
    """The revision compiled into the gateway (not today's HEAD: main may have moved since the
    build). Every binary and the start-up line must agree with it."""
    v = subprocess.run([str(BIN / "gateway"), "--version"], capture_output=True, text=True,
                       timeout=30).stdout
    m = re.fullmatch(rf"gateway \S+ \(({REVISION})\)\n", v)
    assert m, v
    return m.group(1)


def test_start_up_line_names_version_and_git_revision(start_service):
    svc = start_service("gateway")
    serving = [ln for ln in svc.log_lines() if ln.get("msg") == "serving"]
    assert len(serving) == 1, svc.log_text()
    assert serving[0]["version"] == (ROOT / "VERSION").read_text().strip()
    assert serving[0]["git_revision"] == built_revision()


BINARIES = ["gateway", "dynamo-svc", "sql-svc"]


def run(name, *args, env=None):
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


@pytest.mark.parametrize("name", BINARIES)
def test_version_help_and_unknown_arguments(name):
    v = run(name, "--version")
    assert v.returncode == 0, v.stderr
    assert v.stdout == f"{name} {(ROOT / 'VERSION').read_text().strip()} ({built_revision()})\n"

    h = run(name, "--help", env={"GRPC_ADDR": "10.9.9.9:1"})  # the defaults, not the environment
    assert h.returncode == 0, h.stderr
    assert h.stdout.startswith(f"usage: {name}")
    listed = dict(re.findall(r"^  (\S+(?: or \S+)?)\s+(.*)$", h.stdout, re.M))
    assert listed["GRPC_ADDR"].startswith("127.0.0.1:5005")
    assert listed["LOG_LEVEL"] == "info" and listed["LOG_LEVEL_FILE"] == "(unset)"
    own = {"gateway": "DYNAMO_SVC_TARGET", "dynamo-svc": "DYNAMODB_CATEGORY_TABLE",
           "sql-svc": "MYSQL_HOST"}[name]
    assert own in listed, h.stdout

    for bad in (["--verbose"], ["serve"], ["--version", "extra"]):
        u = run(name, *bad, env={"GRPC_ADDR": "127.0.0.1:1", "METRICS_ADDR": "off"})
        assert u.returncode == 2 and u.stdout == "", (bad, u.stdout)
        assert f"unknown argument '{bad[0]}'" in u.stderr
        assert "usage:" in u.stderr and "serving" not in u.stderr


def help_variables(name):
    """Every variable `name --help` lists ("X or X_FILE" counts as both)."""
    h = run(name, "--help")
    assert h.returncode == 0, h.stderr
    env = h.stdout.split("\nEnvironment", 1)[1]
    found = re.findall(r"^  ([A-Z][A-Z0-9_]*)(?: or ([A-Z][A-Z0-9_]*))?\s", env, re.M)
    return {v for pair in found for v in pair if v}


VAR_TABLE = "| variable | default | meaning |"


def table_variables(lines, i):
    """The variable names in the first column of the table whose header is lines[i]."""
    names = set()
    for row in lines[i + 2:]:
        if not row.startswith("|"):
            break
        names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1]))
    return names


def readme_variables():
    """{binary: variables} from README.md's variable tables, each assigned by the line that
    leads into it: "Every binary ...:" or the binaries it names before any "(" or ":"."""
    lines = (ROOT / "README.md").read_text().splitlines()
    out = {b: set() for b in BINARIES}
    tables = 0
    for i, line in enumerate(lines):
        if line.strip() != VAR_TABLE:
            continue
        tables += 1
        lead = next(ln for ln in reversed(lines[:i]) if ln.strip())
        assert lead.rstrip().endswith(":"), f"README table without a lead-in naming whose: {lead}"
        head = re.split(r"[(:]", lead, maxsplit=1)[0]
        whose = BINARIES if head.startswith("Every binary") else [
            b for b in BINARIES if re.search(rf"(?<![\w-]){b}(?![\w-])", head)]
        assert whose, lead
        for b in whose:
            out[b] |= table_variables(lines, i)
    assert tables >= 5
    return out


@pytest.mark.parametrize("name", BINARIES)
def test_help_lists_exactly_the_variables_the_readme_documents(name):
    """--help comes from the configuration loaders; README.md's tables are written by hand:
    each must name every variable the other does, for each binary."""
    listed, documented = help_variables(name), readme_variables()[name]
    assert not documented - listed, f"in README.md but not read by {name}: {documented - listed}"
    assert not listed - documented, f"read by {name} but not in README.md: {listed - documented}"
    # The component README documents a subset, never a variable the binary does not read.
    component = {"gateway": "gateway", "dynamo-svc": "services/dynamo-svc",
                 "sql-svc": "services/sql-svc"}[name]
    lines = (ROOT / component / "README.md").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() == VAR_TABLE:
            extra = table_variables(lines, i) - listed
            assert not extra, f"in {component}/README.md but not read by {name}: {extra}"
    # deploy/README.md's cluster configuration: a variable marked for this binary is read by it.
    column = 2 + BINARIES.index(name)
    deploy = (ROOT / "deploy/README.md").read_text().splitlines()
    i = deploy.index("| variable | gateway | dynamo-svc | sql-svc | value in the cluster |")
    for row in deploy[i + 2:]:
        if not row.startswith("|"):
            break
        cells = row.split("|")
        if cells[column].strip():
            extra = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[1])) - listed
            assert not extra, f"deploy/README.md sets {extra} for {name}, which does not read it"


def test_go_style_port_listens_on_every_interface(start_service):
    port, mport = free_port(), free_port()
    svc = start_service("gateway", env={"GRPC_ADDR": f":{port}", "METRICS_ADDR": f":{mport}"},
                        port=port)
    serving = [ln for ln in svc.log_lines() if ln.get("msg") == "serving"][0]
    assert serving["grpc_addr"] == f"0.0.0.0:{port}" and serving["metrics_addr"] == f"0.0.0.0:{mport}"
    # Bound on the wildcard address, not only on loopback.
    for p in (port, mport):
        with socket.socket() as s:
            with pytest.raises(OSError):
                s.bind(("0.0.0.0", p))


@pytest.mark.parametrize("var,value", [("GRPC_ADDR", "localhost"), ("GRPC_ADDR", "db.example:50051"),
                                       ("METRICS_ADDR", "127.0.0.1:99999"), ("HEALTH_ADDR", ":x")])
def test_bad_listen_address_is_refused_at_configuration_naming_the_variable(var, value):
    env = {"GRPC_ADDR": f"127.0.0.1:{free_port()}", "METRICS_ADDR": "off", var: value}
    p = run("gateway", env=env)
    assert p.returncode == 2, p.stdout
    errors = [ln for ln in p.stdout.splitlines() if '"msg":"config"' in ln]
    assert any(f"{var}={value}: not a listen address" in ln for ln in errors), p.stdout
    assert "cannot listen" not in p.stdout and '"msg":"serving"' not in p.stdout


def test_cancelled_call_and_unknown_method_log_the_real_peer(start_service):
    from test_runtime import SlowBackend
    backend = SlowBackend(delay=1.5)
    try:
        target = f"ipv4:127.0.0.1:{backend.port}"
        svc = start_service("gateway", env={"DYNAMO_SVC_TARGET": target, "SQL_SVC_TARGET": target})
        req = pb.message("menu.v1.GetStoreMenuRequest")(store_code="S1", channel=1)
        with svc.channel() as ch:
            fut = ch.unary_unary("/menu.v1.MenuService/GetStoreMenu").future(
                req.SerializeToString(), timeout=10)
            time.sleep(0.4)  # the call waits on the slow backend
            assert fut.cancel()
            with pytest.raises(grpc.RpcError):
                ch.unary_unary("/menu.v1.NoSuchService/Nope")(b"", timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rpcs = [ln for ln in svc.log_lines() if ln.get("msg") == "rpc"]
            cancelled = [ln for ln in rpcs if ln.get("status") == "CANCELLED"]
            unknown = [ln for ln in rpcs if ln.get("status") == "UNIMPLEMENTED"]
            if cancelled and unknown:
                break
            time.sleep(0.1)
        assert cancelled and unknown, svc.log_text()
        for ln in (cancelled[0], unknown[0]):
            assert re.fullmatch(r"ipv4:127\.0\.0\.1:\d+", ln["peer"]), ln
    finally:
        backend.stop()


def test_failed_tls_handshake_logs_a_warning_not_an_error(start_service, tmp_path):
    svc, _, _ = tls_gateway_with_health(start_service, tmp_path)
    with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:  # plaintext to TLS
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\0" * 64)
        s.settimeout(5)
        try:
            s.recv(100)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        failed = [ln for ln in svc.log_lines() if ln.get("event") == "tls_handshake_failed"]
        if failed:
            break
        time.sleep(0.1)
    assert failed and failed[0]["level"] == "warn", svc.log_text()
    assert not [ln for ln in svc.log_lines() if ln["level"] == "error"], svc.log_text()


def health_check(svc):
    with svc.channel() as ch:
        ch.unary_unary("/grpc.health.v1.Health/Check",
                       request_serializer=HealthCheckRequest.SerializeToString,
                       response_deserializer=HealthCheckResponse.FromString)(
            HealthCheckRequest(), timeout=5)


def wait_for_line(svc, pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = [ln for ln in svc.log_lines() if pred(ln)]
        if hits:
            return hits
        time.sleep(0.05)
    raise AssertionError(f"no such line in:\n{svc.log_text()}")


def log_level_metric(svc):
    with urllib.request.urlopen(f"http://{svc.metrics_addr}/metrics", timeout=5) as r:
        text = r.read().decode()
    return set(re.findall(r'^menu_log_level\{level="(\w+)"\} 1$', text, re.M))


def test_log_level_follows_the_file_when_it_changes_and_on_sighup(start_service, tmp_path):
    level = tmp_path / "level"
    level.write_text("info\n")
    svc = start_service("gateway", env={"LOG_LEVEL": "error", "LOG_LEVEL_FILE": str(level),
                                        "LOG_LEVEL_REFRESH_MS": "100"})
    assert log_level_metric(svc) == {"info"}  # the file wins over LOG_LEVEL
    health_check(svc)
    time.sleep(0.3)
    assert not [ln for ln in svc.log_lines() if ln["level"] == "debug"]  # health checks: debug

    # A ConfigMap update: the file is replaced (new inode), the watcher notices.
    tmp = tmp_path / "level.new"
    tmp.write_text("debug\n")
    tmp.rename(level)
    changed = wait_for_line(svc, lambda ln: ln.get("msg") == "log level changed")
    assert changed[0]["from"] == "info" and changed[0]["to"] == "debug"
    assert changed[0]["trigger"] == "file changed"
    health_check(svc)
    wait_for_line(svc, lambda ln: ln["level"] == "debug" and ln.get("method", "").endswith("/Check"))
    assert log_level_metric(svc) == {"debug"}

    # Garbage keeps the level, with one warning.
    level.write_text("loud\n")
    wait_for_line(svc, lambda ln: ln.get("msg") == "LOG_LEVEL_FILE unusable; keeping the level")
    assert log_level_metric(svc) == {"debug"}


def test_sighup_rereads_the_level_file(start_service, tmp_path):
    level = tmp_path / "level"
    level.write_text("debug")
    svc = start_service("gateway", env={"LOG_LEVEL_FILE": str(level),
                                        "LOG_LEVEL_REFRESH_MS": "3600000"})  # no polling
    level.write_text("warn")
    svc.send_signal(signal.SIGHUP)
    changed = wait_for_line(svc, lambda ln: ln.get("msg") == "log level changed")
    assert (changed[0]["from"], changed[0]["to"], changed[0]["trigger"]) == ("debug", "warn", "SIGHUP")
    assert changed[0]["level"] == "warn"
    assert svc.proc.poll() is None  # SIGHUP did not kill it
    assert log_level_metric(svc) == {"warn"}


def test_unusable_level_file_is_refused_at_start(tmp_path):
    level = tmp_path / "level"
    level.write_text("verbose")
    for path in (level, tmp_path / "missing"):
        p = run("gateway", env={"GRPC_ADDR": f"127.0.0.1:{free_port()}", "METRICS_ADDR": "off",
                                "LOG_LEVEL_FILE": str(path)})
        assert p.returncode == 2
        assert f"LOG_LEVEL_FILE={path}:" in p.stdout and '"msg":"serving"' not in p.stdout


def test_reflection_serves_proto_comments(start_service):
    """grpcurl describe / grpcui show the comments: the descriptors carry source_code_info."""
    from google.protobuf import descriptor_pb2
    from test_runtime import ReflectionRequest, reflect
    svc = start_service("gateway")
    with svc.channel() as ch:
        answers = reflect(ch, [ReflectionRequest(file_containing_symbol="menu.v1.MenuService")], "v1")
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in answers[0].file_descriptor_response.file_descriptor_proto]
    menu = next(fd for fd in files if fd.name == "menu/v1/menu.proto")
    comments = " ".join(loc.leading_comments for loc in menu.source_code_info.location)
    assert "Composed reads over dynamo-svc and sql-svc" in comments  # the service's comment
    assert "A store's menu on a channel" in comments  # GetStoreMenu's
