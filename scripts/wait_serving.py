"""Waits until a gRPC server's grpc.health.v1.Health/Check("") answers SERVING.
usage: wait_serving.py HOST:PORT SECONDS   (exit 0 when SERVING, 1 on timeout)"""
import sys
import time

import grpc

# HealthCheckRequest{service=""} encodes to no bytes; HealthCheckResponse{status=SERVING(1)}
# is field 1, varint 1. Spelled out so that this script needs no generated code.
SERVING = b"\x08\x01"


def main():
    addr, seconds = sys.argv[1], float(sys.argv[2])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # a fresh channel per try: a failed one would back off for seconds
        with grpc.insecure_channel(addr) as ch:
            try:
                if ch.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=1) == SERVING:
                    return 0
            except grpc.RpcError:
                pass
        time.sleep(0.1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
