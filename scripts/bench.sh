#!/usr/bin/env bash
# Benchmarks the running local stack (starts it if needed) with h2load speaking gRPC over
# HTTP/2 on loopback: a bounded number of requests per case, fixed concurrency. Prints a
# Markdown table (also written to build/bench.md) for the README.
#   BENCH_REQUESTS (default 5000), BENCH_CLIENTS (8), BENCH_STREAMS (4 per connection)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${BENCH_REQUESTS:-5000} c=${BENCH_CLIENTS:-8} m=${BENCH_STREAMS:-4}
scripts/stack.sh up >/dev/null
dir=build/bench
cases=$(/usr/bin/python3 tools/bench_requests.py "$dir")

# h2load counts HTTP answers; a gRPC error still comes with HTTP 200, so count the server's
# non-OK calls of the method from its metrics (gRPC port 5005X -> metrics port 945X).
grpc_errors() {
  local mport=945${1: -1} method=${2##*/}
  curl -s "http://127.0.0.1:$mport/metrics" |
    awk -v m="grpc_method=\"$method\"" 'index($0, "grpc_server_handled_total{") == 1 && index($0, m) && !index($0, "grpc_code=\"OK\"") {s += $NF} END {print s + 0}'
}
{
  echo "| RPC | requests | concurrency | req/s | mean latency | max latency | gRPC errors |"
  echo "|---|---|---|---|---|---|---|"
  while IFS=$'\t' read -r name addr path body; do
    before=$(grpc_errors "$addr" "$path")
    out=$(h2load -n "$n" -c "$c" -m "$m" -d "$body" \
      -H 'content-type: application/grpc' -H 'te: trailers' "http://$addr$path" 2>&1)
    rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
    read -r mean max < <(awk '/^time for request:/ {print $6, $5}' <<<"$out")
    failed=$(sed -n 's/^requests: .* \([0-9]*\) failed.*/\1/p' <<<"$out")
    errors=$(($(grpc_errors "$addr" "$path") - before + failed))
    echo "| $name | $n | $c conns x $m streams | $rps | $mean | $max | $errors |"
  done <<<"$cases"
} | tee build/bench.md
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); everything on one host (services, MariaDB, dynalite, h2load)"
