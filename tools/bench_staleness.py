"""The staleness bound under load, measured: a writer renames one category through dynamo-svc
every second (each name carries its sequence number) while one reader per gateway replica reads
that store's menu in a loop. A read that started more than the bound after a write was
acknowledged must show that write (or a later one); every read that does not is a violation.
Also reports, per write, how long after the acknowledgement each gateway first answered it.
Prints one JSON object (the loadgen fields `make bench` logs, plus the staleness ones).
usage: bench_staleness.py --gateways A,B --dynamo ADDR --seconds N [--bound-ms 1000]
       [--store S00001] [--channel 1]      (127.0.0.1 only; bounded by --seconds)"""

import argparse
import json
import sys
import threading
import time

import grpc

from bench_category import CategoryRenamer, stub
from menu.v1 import common_pb2, menu_pb2


def seq_of(name):
    return int(name.rsplit("#", 1)[1]) if "#" in name else -1


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def reader(addr, req, cat_id, stop, out):
    with grpc.insecure_channel(addr) as ch:
        get = stub(ch, "/menu.v1.MenuService/GetStoreMenu", menu_pb2.GetStoreMenuRequest,
                   menu_pb2.GetStoreMenuResponse)
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                m = get(req, timeout=5)
            except grpc.RpcError as e:
                out.append((t0, time.monotonic(), None, e.code().name))
                continue
            name = next((c.name for c in m.categories if c.id == cat_id), "")
            out.append((t0, time.monotonic(), seq_of(name), "OK"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", required=True)
    ap.add_argument("--dynamo", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--bound-ms", type=float, default=1000)
    ap.add_argument("--store", default="S00001")
    ap.add_argument("--channel", type=int, default=common_pb2.CHANNEL_KIOSK)
    a = ap.parse_args()
    gws = a.gateways.split(",")
    if not all(x.startswith("127.0.0.1:") for x in gws + [a.dynamo]):
        sys.exit("bench_staleness: loopback only")
    bound = a.bound_ms / 1000.0
    seconds = min(a.seconds, 900.0)
    with grpc.insecure_channel(a.dynamo) as ch:
        category = CategoryRenamer(ch, a.channel)
        req = menu_pb2.GetStoreMenuRequest(store_code=a.store, channel=a.channel,
                                           include_empty_categories=True)
        stop = threading.Event()
        reads = {g: [] for g in gws}
        threads = [threading.Thread(target=reader, args=(g, req, category.id, stop, reads[g]))
                   for g in gws]
        for t in threads:
            t.start()
        acks = []  # (seq, ack time)
        t_start = time.monotonic()
        seq = 0
        try:
            while time.monotonic() - t_start < seconds:
                due = t_start + seq + 1.0
                time.sleep(max(0.0, due - time.monotonic()))
                category.rename(seq)
                acks.append((seq, time.monotonic()))
                seq += 1
            time.sleep(bound + 0.3)  # the last write's bound passes while reading
        finally:
            stop.set()
            for t in threads:
                t.join()
    t_end = time.monotonic()
    violations, worst = 0, 0.0
    lags = []
    lat = []
    codes = {}
    for g, rs in reads.items():
        for t0, t1, seen, code in rs:
            codes[code] = codes.get(code, 0) + 1
            lat.append((t1 - t0) * 1e6)
            if seen is None:
                continue
            # the newest write acknowledged at least `bound` before this read started
            due = [s for s, ack in acks if ack + bound <= t0]
            if due and seen < due[-1]:
                violations += 1
                late = t0 - [ack for s, ack in acks if s == seen + 1][0]
                worst = max(worst, late)
        for s, ack in acks:
            first_seen = next((t0 for t0, _, seen, _ in rs if seen is not None and seen >= s
                               and t0 >= ack), None)
            if first_seen is not None:
                lags.append((first_seen - ack) * 1000.0)
    calls = sum(codes.values())
    print(json.dumps({
        "calls": calls, "errors": calls - codes.get("OK", 0), "codes": codes,
        "throughput_rps": calls / (t_end - t_start), "ok_rps": codes.get("OK", 0) / (t_end - t_start),
        "latency_us": {"p50": pct(lat, 50), "p99": pct(lat, 99)},
        "writes": len(acks), "gateways": len(gws), "bound_ms": a.bound_ms, "seconds": seconds,
        "violations": violations, "worst_late_s": worst,
        "visible_after_ack_ms": {"p50": pct(lags, 50), "p99": pct(lags, 99),
                                 "max": max(lags) if lags else None},
    }))


if __name__ == "__main__":
    main()
