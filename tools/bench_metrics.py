"""Sums Prometheus series over several /metrics endpoints (127.0.0.1 only), for `make bench`
rows that count what the owners did during a scenario (e.g. datastore round trips).
usage: bench_metrics.py NAME[,NAME...] HOST:PORT...   prints the sum of every series of the
named metrics (a histogram's NAME_count counts its observations) over all endpoints. A NAME may
select series by labels: NAME{label="value",...} sums only the series that carry all of them."""

import re
import sys
import urllib.request


def parse_selector(text):
    """'name{a="x",b="y"}' -> ('name', ['a="x"', 'b="y"'])."""
    m = re.fullmatch(r'([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?', text)
    if not m:
        sys.exit(f"bench_metrics: bad metric selector {text!r}")
    return m.group(1), re.findall(r'[A-Za-z_][A-Za-z0-9_]*="[^"]*"', m.group(2) or "")


def main():
    selectors = [parse_selector(s) for s in re.split(r',(?![^{]*\})', sys.argv[1])]
    total = 0.0
    for addr in sys.argv[2:]:
        if not addr.startswith("127.0.0.1:"):
            sys.exit("bench_metrics: loopback only")
        try:
            with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError as e:  # a process the run already stopped: it counts nothing any more
            print(f"bench_metrics: {addr}: {e}; counted as 0", file=sys.stderr)
            continue
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            series = line.split("{", 1)[0].split(" ", 1)[0]
            labels = line.split("{", 1)[1].rsplit("}", 1)[0] if "{" in line else ""
            if any(series == name and all(p in labels for p in pairs)
                   for name, pairs in selectors):
                total += float(line.rsplit(" ", 1)[1])
    print(f"{total:.0f}")


if __name__ == "__main__":
    main()
