"""Sums Prometheus series over several /metrics endpoints (127.0.0.1 only), for `make bench`
rows that count what the owners did during a scenario (e.g. datastore round trips).
usage: bench_metrics.py NAME[,NAME...] HOST:PORT...   prints the sum of every series of the
named metrics (a histogram's NAME_count counts its observations) over all endpoints."""

import sys
import urllib.request


def main():
    names = sys.argv[1].split(",")
    total = 0.0
    for addr in sys.argv[2:]:
        if not addr.startswith("127.0.0.1:"):
            sys.exit("bench_metrics: loopback only")
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("#"):
                    continue
                series = line.split("{", 1)[0].split(" ", 1)[0]
                if series in names:
                    total += float(line.rsplit(" ", 1)[1])
    print(f"{total:.0f}")


if __name__ == "__main__":
    main()
