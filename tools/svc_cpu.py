"""CPU per call of dynamo-svc and sql-svc, measured on loopback: the CPU seconds (utime + stime
from /proc/PID/stat) a service process spends over N sequential calls of one RPC, divided by N.
Starts its own MariaDB and dynalite on free loopback ports under .local/svc-cpu (seeded with the
demo data once), then the two services from a build directory. Sequential calls from one
grpcio client: the figure is the service's own work per call, not what concurrency hides.

usage: svc_cpu.py [--bin DIR] [--calls N] [--rpc NAME] [--callgrind PREFIX] [--down]
  --bin DIR    binaries to measure (default build/bin)
  --calls N    calls per RPC (default 2000; at most 100000), after 200 warm-up calls
  --rpc NAME   only this RPC: health, get, list, create or avail (one service process per
               profile); create: CreateCategory on DELIVERY, a new id per call
  --callgrind PREFIX  run the service under valgrind --tool=callgrind, counters zeroed after
               the warm-up and dumped after the N calls into PREFIX.<pid>.1 (the part of the
               profile that is exactly N calls; CPU figures are then valgrind's)
  --down       stop the datastores (they are otherwise kept for the next run)
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "py"))
from menu.v1 import category_pb2, common_pb2, product_availability_pb2  # noqa: E402

STATE = ROOT / ".local" / "svc-cpu"
TICK = os.sysconf("SC_CLK_TCK")
KIOSK = common_pb2.CHANNEL_KIOSK


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_file(name):
    f = STATE / f"{name}.port"
    if not f.exists():
        f.write_text(str(free_port()))
    return f.read_text().strip()


def cpu_seconds(pid):
    """(user, system) CPU seconds of the process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK  # utime, stime


def wait_serving(addr, seconds):
    return subprocess.run([sys.executable, str(ROOT / "scripts/wait_serving.py"), addr,
                           str(seconds)]).returncode == 0


def datastores():
    STATE.mkdir(parents=True, exist_ok=True)
    mport, dport = port_file("mariadb"), port_file("dynalite")
    subprocess.run([str(ROOT / "scripts/mariadb.sh"), "start", str(STATE / "mariadb"), mport],
                   check=True)
    subprocess.run([str(ROOT / "scripts/dynalite.sh"), "start", str(STATE / "dynalite"), dport],
                   check=True)
    return {
        "MYSQL_HOST": "127.0.0.1", "MYSQL_PORT": mport, "MYSQL_USER": "menu",
        "MYSQL_PASSWORD": "menu", "MYSQL_DATABASE": "menu",
        "DYNAMODB_ENDPOINT": f"http://127.0.0.1:{dport}", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "DYNAMODB_CREATE_TABLES": "1", "CURSOR_KEY": "svc-cpu-cursor-key-0123456789abcdef",
        "LOG_LEVEL": "info",
    }


def run_hook(binary, args, env):
    log = STATE / f"{binary.name}-{args[0]}.log"
    with open(log, "ab") as f:
        rc = subprocess.run([str(binary), *args], env=env, stdout=f, stderr=subprocess.STDOUT,
                            timeout=300).returncode
    if rc:
        sys.exit(f"{binary.name} {' '.join(args)} failed; see {log}")


def start(binary, env, wrap):
    port = free_port()
    e = dict(env, GRPC_ADDR=f"127.0.0.1:{port}", METRICS_ADDR=f"127.0.0.1:{free_port()}")
    log = open(STATE / f"{binary.name}.log", "wb")
    p = subprocess.Popen([*wrap, str(binary)], env=e, stdout=log, stderr=subprocess.STDOUT)
    addr = f"127.0.0.1:{port}"
    if not wait_serving(addr, 120 if wrap else 20):
        p.kill()
        sys.exit(f"{binary.name} did not become SERVING; see {log.name}")
    return p, addr


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def measure(p, fn, req, n):
    """req: a message, or a function returning the next one (writes that must differ)."""
    if not callable(req):
        msg, req = req, lambda: msg  # noqa: E731
    for _ in range(200):
        fn(req(), timeout=30)
    profiled = "valgrind" in p.args[0]
    if profiled:
        subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True, capture_output=True)
    (u0, s0), t0 = cpu_seconds(p.pid), time.monotonic()
    for _ in range(n):
        fn(req(), timeout=30)
    (u1, s1), wall = cpu_seconds(p.pid), time.monotonic() - t0
    if profiled:
        subprocess.run(["callgrind_control", "-d", str(p.pid)], check=True, capture_output=True)
    return [(u1 - u0 + s1 - s0) / n * 1e6, (u1 - u0) / n * 1e6, (s1 - s0) / n * 1e6, wall / n * 1e6]


def ch_stub(addr):
    """Health/Check with raw bytes: the request encodes to nothing."""
    return grpc.insecure_channel(addr).unary_unary("/grpc.health.v1.Health/Check")


def stub(addr, path, resp_cls):
    ch = grpc.insecure_channel(addr)
    return ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=resp_cls.FromString)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin"))
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--callgrind", default="")
    ap.add_argument("--rpc", choices=["health", "get", "list", "create", "avail"])
    ap.add_argument("--down", action="store_true")
    a = ap.parse_args()
    if a.down:
        subprocess.run([str(ROOT / "scripts/mariadb.sh"), "stop", str(STATE / "mariadb")])
        subprocess.run([str(ROOT / "scripts/dynalite.sh"), "stop", str(STATE / "dynalite")])
        return
    n = max(1, min(a.calls, 100000))
    binp = Path(a.bin)
    env = dict(os.environ, **datastores())
    run_hook(binp / "sql-svc", ["migrate"], env)
    if not (STATE / "seeded").exists():
        run_hook(binp / "sql-svc", ["seed-demo"], env)
        run_hook(binp / "dynamo-svc", ["seed-demo"], env)
        (STATE / "seeded").touch()
    wrap = []
    if a.callgrind:
        Path(a.callgrind).parent.mkdir(parents=True, exist_ok=True)
        wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={a.callgrind}.%p"]
    rows = []
    want = lambda name: a.rpc in (None, name)  # noqa: E731
    if want("health") or want("get") or want("list") or want("create"):
        dyn, daddr = start(binp / "dynamo-svc", env, wrap)
        try:
            lst = stub(daddr, "/menu.v1.CategoryService/ListCategories",
                       category_pb2.ListCategoriesResponse)
            lreq = category_pb2.ListCategoriesRequest(channel=KIOSK,
                                                      page=common_pb2.PageRequest(first=16))
            first = lst(lreq, timeout=30).edges[0].node.id
            get = stub(daddr, "/menu.v1.CategoryService/GetCategory",
                       category_pb2.GetCategoryResponse)
            greq = category_pb2.GetCategoryRequest(channel=KIOSK, id=first)
            if want("health"):
                rows.append(("Health Check (runtime floor)", "dynamo-svc",
                             *measure(dyn, ch_stub(daddr), b"", n)))
            if want("get"):
                rows.append(("GetCategory", "dynamo-svc", *measure(dyn, get, greq, n)))
            if want("list"):
                rows.append(("ListCategories (first 16)", "dynamo-svc", *measure(dyn, lst, lreq, n)))
            if want("create"):
                create = stub(daddr, "/menu.v1.CategoryService/CreateCategory",
                              category_pb2.CreateCategoryResponse)
                creq = lambda: category_pb2.CreateCategoryRequest(  # noqa: E731
                    category=category_pb2.Category(channel=common_pb2.CHANNEL_DELIVERY,
                                                   id=uuid.uuid4().hex, name="Measured"))
                rows.append(("CreateCategory", "dynamo-svc", *measure(dyn, create, creq, n)))
        finally:
            stop(dyn)
    if want("avail"):
        sql, saddr = start(binp / "sql-svc", env, wrap)
        try:
            la = stub(saddr, "/menu.v1.ProductAvailabilityService/ListProductAvailabilities",
                      product_availability_pb2.ListProductAvailabilitiesResponse)
            req = product_availability_pb2.ListProductAvailabilitiesRequest(
                store_code="R001", channel=KIOSK, page=common_pb2.PageRequest(first=16))
            if len(la(req, timeout=30).edges) != 16:
                sys.exit("ListProductAvailabilities: expected 16 edges on the demo data")
            rows.append(("ListProductAvailabilities (first 16)", "sql-svc",
                         *measure(sql, la, req, n)))
        finally:
            stop(sql)
    print(f"| RPC ({n} sequential calls) | process | CPU us/call | user | system | wall us/call |")
    print("|---|---|---|---|---|---|")
    for name, proc, cpu, user, system, wall in rows:
        print(f"| {name} | {proc} | {cpu:.0f} | {user:.0f} | {system:.0f} | {wall:.0f} |")


if __name__ == "__main__":
    main()
