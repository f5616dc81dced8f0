"""Ghost swaps over the large generated product range, so that BatchGetGhostSwaps and
GetStoreMenu find some on every channel (dynamo-svc seed-demo only covers P1000..P1039).
usage: bench_seed.py HOST:PORT PER_CHANNEL   (PutGhostSwap through dynamo-svc; idempotent)"""

import sys
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build" / "py"))
from menu.v1 import ghost_swap_pb2  # noqa: E402

PRODUCTS = 5000  # P1000..P5999, what `sql-svc generate` creates


def failed_call(future):
    """A swap the demo data already has (P1000..P1039) is fine; any other error is not."""
    e = future.exception()
    return e is not None and e.code() != grpc.StatusCode.ALREADY_EXISTS


def main():
    addr, per_channel = sys.argv[1], int(sys.argv[2])
    if not addr.startswith("127.0.0.1:"):
        sys.exit("bench_seed: loopback only")
    with grpc.insecure_channel(addr) as ch:
        put = ch.unary_unary("/menu.v1.GhostSwapService/PutGhostSwap",
                             request_serializer=ghost_swap_pb2.PutGhostSwapRequest.SerializeToString,
                             response_deserializer=ghost_swap_pb2.PutGhostSwapResponse.FromString)
        pending, failed = [], 0
        for channel in range(1, 6):
            for i in range(per_channel):
                # spread over the range, a different subset per channel
                n = (i * 7919 + channel * 104729) % PRODUCTS
                req = ghost_swap_pb2.PutGhostSwapRequest(ghost_swap=ghost_swap_pb2.GhostSwap(
                    channel=channel, product_code=f"P{1000 + n}",
                    swap_product_code=f"P{1000 + (n + 1) % PRODUCTS}"))
                pending.append(put.future(req, timeout=30))
                if len(pending) >= 16:
                    failed += sum(map(failed_call, pending))
                    pending = []
        failed += sum(map(failed_call, pending))
    if failed:
        sys.exit(f"bench_seed: {failed} PutGhostSwap calls failed")


if __name__ == "__main__":
    main()
