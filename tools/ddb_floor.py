"""The floor under dynamo-svc: the DynamoDB requests dynamo-svc really sends, replayed straight
to dynalite. Two steps (scripts/bench.sh runs both):

  ddb_floor.py capture --listen PORT --upstream http://127.0.0.1:DPORT --out FILE --seconds S
      a recording proxy: dynamo-svc pointed at it (DYNAMODB_ENDPOINT) forwards every request to
      dynalite unchanged and each request (X-Amz-Target, headers, body) is appended to FILE.
  ddb_floor.py replay --upstream http://127.0.0.1:DPORT --file FILE --concurrency N
                      --duration S [--count N] [--op GetItem] [--label TEXT]
      replays the recorded requests round-robin on N keep-alive connections (one thread each)
      and prints loadgen's JSON summary (latency of one DynamoDB request; non-200 is an error).
Loopback only; every loop is bounded in time and count."""

import argparse
import http.client
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


def loopback(url):
    u = urlparse(url)
    if u.hostname != "127.0.0.1":
        sys.exit("ddb_floor: only http://127.0.0.1 upstreams")
    return u.hostname, u.port


def capture(args):
    host, port = loopback(args.upstream)
    lock = threading.Lock()
    out = open(args.out, "a", encoding="utf-8")

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length", "connection", "expect")}
            conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request("POST", self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            conn.close()
            with lock:
                out.write(json.dumps({"path": self.path, "headers": headers,
                                      "body": body.decode("utf-8")}) + "\n")
                out.flush()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", args.listen), Proxy)
    srv.timeout = 0.2
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        srv.handle_request()
    out.close()


def summary(lat_ns, errors, elapsed):
    """The JSON shape loadgen prints (stats.c), nearest-rank percentiles in microseconds."""
    lat = sorted(lat_ns)
    n = len(lat)

    def rank(q):
        k = min(max(1, int(q * n + 0.999999)), n)
        return lat[k - 1] / 1000.0

    lat_json = {"n": n}
    if n:
        lat_json.update(mean=sum(lat) / n / 1000.0, p50=rank(0.5), p90=rank(0.9), p99=rank(0.99),
                        p999=rank(0.999), max=lat[-1] / 1000.0)
    calls = n + errors
    codes = {"OK": n} if n else {}
    if errors:
        codes["UNAVAILABLE"] = errors
    return {"calls": calls, "ok": n, "errors": errors, "codes": codes,
            "throughput_rps": calls / elapsed if elapsed else 0.0,
            "ok_rps": n / elapsed if elapsed else 0.0, "latency_us": lat_json,
            "ok_latency_us": lat_json, "elapsed_s": elapsed}


def replay(args):
    host, port = loopback(args.upstream)
    with open(args.file, encoding="utf-8") as f:
        reqs = [json.loads(line) for line in f if line.strip()]
    if args.op:
        reqs = [r for r in reqs if r["headers"].get("X-Amz-Target", "").endswith("." + args.op)]
    if not reqs:
        sys.exit(f"ddb_floor: no {args.op or ''} request recorded in {args.file}")
    stop = time.monotonic() + args.duration
    lock = threading.Lock()
    state = {"issued": 0}
    lat, errs = [], [0]

    def worker(i):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        mine, my_err, k = [], 0, i
        while time.monotonic() < stop:
            with lock:
                if state["issued"] >= args.count:
                    break
                state["issued"] += 1
            r = reqs[k % len(reqs)]
            k += 1
            body = r["body"].encode("utf-8")
            t0 = time.perf_counter_ns()
            try:
                conn.request("POST", r["path"], body=body, headers=r["headers"])
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
            if ok:
                mine.append(time.perf_counter_ns() - t0)
            else:
                my_err += 1
        conn.close()
        with lock:
            lat.extend(mine)
            errs[0] += my_err

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = summary(lat, errs[0], time.monotonic() - t0)
    out.update(label=args.label, concurrency=args.concurrency, recorded=len(reqs),
               operations=sorted({r["headers"].get("X-Amz-Target", "?") for r in reqs}))
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("--listen", type=int, required=True)
    c.add_argument("--upstream", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--seconds", type=float, default=60)
    r = sub.add_parser("replay")
    r.add_argument("--upstream", required=True)
    r.add_argument("--file", required=True)
    r.add_argument("--concurrency", type=int, default=1)
    r.add_argument("--duration", type=float, required=True)
    r.add_argument("--count", type=int, default=1000000)
    r.add_argument("--label", default="")
    r.add_argument("--op", default="", help="only requests of this operation (GetItem, Query...)")
    args = p.parse_args()
    if args.cmd == "capture":
        if args.seconds > 600:
            sys.exit("ddb_floor: --seconds at most 600")
        capture(args)
    else:
        if not 0 < args.duration <= 600:
            sys.exit("ddb_floor: 0 < --duration <= 600")
        replay(args)


if __name__ == "__main__":
    main()
