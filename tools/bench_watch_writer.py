"""The writer of the watch bench: once the watchers are ready (the ready file exists), renames
one category of a channel through dynamo-svc once per second (UpdateCategory with its version)
and appends, per acknowledged write, "START_US ACK_US" (CLOCK_REALTIME microseconds: the request
sent, its OK answer received) to --out; creates --done-file after the last write.
`loadgen --method watch --writes OUT` attributes each watcher's new etags to these writes.
usage: bench_watch_writer.py --dynamo 127.0.0.1:PORT --seconds N --out FILE --ready-file F
       --done-file F [--channel 1] [--wait 300]      (127.0.0.1 only; bounded)"""

import argparse
import sys
import time
from pathlib import Path

import grpc

from bench_category import CategoryRenamer
from menu.v1 import common_pb2


def now_us():
    return time.time_ns() // 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dynamo", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--done-file", required=True)
    ap.add_argument("--channel", type=int, default=common_pb2.CHANNEL_KIOSK)
    ap.add_argument("--wait", type=float, default=300)
    a = ap.parse_args()
    if not a.dynamo.startswith("127.0.0.1:"):
        sys.exit("bench_watch_writer: loopback only")
    seconds = min(a.seconds, 600.0)
    give_up = time.monotonic() + min(a.wait, 900.0)
    while not Path(a.ready_file).exists():
        if time.monotonic() > give_up:
            sys.exit("bench_watch_writer: the watchers never became ready")
        time.sleep(0.1)
    time.sleep(1.0)  # the last first messages settle
    with grpc.insecure_channel(a.dynamo) as ch, open(a.out, "w") as out:
        category = CategoryRenamer(ch, a.channel)
        t_start = time.monotonic()
        seq = 0
        while time.monotonic() - t_start < seconds:
            time.sleep(max(0.0, t_start + seq - time.monotonic()))
            start = now_us()
            category.rename(f"w{seq}")
            ack = now_us()
            out.write(f"{start} {ack}\n")
            out.flush()
            seq += 1
    Path(a.done_file).touch()


if __name__ == "__main__":
    main()
