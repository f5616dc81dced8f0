#!/usr/bin/env bash
# `make bench`: starts its own stack (private MariaDB, dynalite and the three binaries on free
# loopback ports, state under .local/bench), loads the large generated data set, drives every
# scenario with build/bin/loadgen (closed and open loop, bounded in time and count), measures
# the floors under each service (sql-svc's statement straight on MariaDB, dynamo-svc's own
# DynamoDB requests replayed straight to dynalite) and the baseline commit's GetStoreMenu in
# the same run, records CPU seconds per 1,000 calls of every process from /proc/PID/stat and
# RSS from /proc/PID/status, then writes docs/BENCHMARKS.md (tools/bench_report.py).
#   BENCH_QUICK=1        a short smoke (about 1 s per scenario, no baseline build)
#   BENCH_SECONDS=N      seconds per scenario (default 6; quick 1)
#   BENCH_BASELINE=REV   the commit GetStoreMenu is compared with (default f2e0385); "none" skips
#   BENCH_OUT=FILE       the report (default docs/BENCHMARKS.md)
#   BENCH_ONLY=watch     only the WatchStoreMenu scenario; replaces that section of the report
#   BENCH_ONLY=cache     only the gateway-cache scenario (cache_bench); replaces that section
#   BENCH_WATCHERS=N     WatchStoreMenu streams (default 10000; quick 500)
#   BENCH_WATCH_STORES=N distinct stores they watch (default 100)
#   BENCH_WATCH_WRITE_SECONDS=N  seconds of one category write a second (default 60; quick 10)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
PY=/usr/bin/python3
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then secs=${BENCH_SECONDS:-1}; else secs=${BENCH_SECONDS:-6}; fi
baseline=${BENCH_BASELINE:-f2e0385}
[ "$quick" = 1 ] && baseline=${BENCH_BASELINE:-none}
report=${BENCH_OUT:-docs/BENCHMARKS.md}
state=$top/.local/bench
out=$top/build/bench
bin=$top/build/bin
mkdir -p "$state/logs" "$out"
rm -f "$out"/*.json "$out"/*.jsonl
t_start=$(date +%s)
started=$(date -u '+%Y-%m-%d %H:%M UTC') commit=$(git rev-parse --short HEAD)
log() { echo "bench: [$(($(date +%s) - t_start)) s] $*" >&2; }

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
db_port=$(free_port) ddb_port=$(free_port)

# --- processes this script starts (and stops on exit, whatever happens) ----------------------
declare -A PID=()
stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  for k in "${!PID[@]}"; do stop_pid "${PID[$k]}"; done
  scripts/dynalite.sh stop "$state/dynalite" >/dev/null 2>&1 || true
  scripts/mariadb.sh stop "$state/mariadb" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -f "$state/cursor.key" ] || { umask 077; openssl rand -hex 32 >"$state/cursor.key"; }
export MYSQL_HOST=127.0.0.1 MYSQL_PORT=$db_port MYSQL_USER=menu MYSQL_PASSWORD=menu MYSQL_DATABASE=menu
export DYNAMODB_ENDPOINT=http://127.0.0.1:$ddb_port AWS_REGION=us-east-1 DYNAMODB_CREATE_TABLES=1
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export CURSOR_KEY_FILE=$state/cursor.key LOG_LEVEL=${BENCH_LOG_LEVEL:-info}

# start_svc KEY BINARY [VAR=value...]: one binary on free ports; sets ADDR[KEY].
declare -A ADDR=() MADDR=()
start_svc() {
  local key=$1 binary=$2
  shift 2
  local port mport
  port=$(free_port) mport=$(free_port)
  env GRPC_ADDR=127.0.0.1:$port METRICS_ADDR=127.0.0.1:$mport "$@" "$binary" \
    >>"$state/logs/$key.log" 2>&1 </dev/null &
  PID[$key]=$!
  ADDR[$key]=127.0.0.1:$port
  MADDR[$key]=127.0.0.1:$mport
  if ! $PY scripts/wait_serving.py "${ADDR[$key]}" 30; then
    echo "bench: $key is not SERVING; see $state/logs/$key.log" >&2
    tail -5 "$state/logs/$key.log" >&2
    exit 1
  fi
}
# start_stack PREFIX BINDIR: dynamo-svc, sql-svc and a gateway over them.
start_stack() {
  local p=$1 b=$2
  start_svc "${p}dynamo-svc" "$b/dynamo-svc"
  start_svc "${p}sql-svc" "$b/sql-svc"
  # MENU_CACHE_BYTES=0: these rows measure the composition itself (cache rows: cache_bench)
  start_svc "${p}gateway" "$b/gateway" DYNAMO_SVC_TARGET="dns:///${ADDR[${p}dynamo-svc]}" \
    SQL_SVC_TARGET="dns:///${ADDR[${p}sql-svc]}" MENU_CACHE_BYTES=0
}
# demo_stack PREFIX BINDIR: a sql-svc on the small demo database and a gateway over it and
# PREFIX's dynamo-svc (GetStoreMenu where MariaDB is not the bottleneck).
demo_stack() {
  local p=$1 b=$2
  start_svc "${p}demo-sql-svc" "$b/sql-svc" MYSQL_DATABASE=menu_demo
  start_svc "${p}demo-gateway" "$b/gateway" DYNAMO_SVC_TARGET="dns:///${ADDR[${p}dynamo-svc]}" \
    SQL_SVC_TARGET="dns:///${ADDR[${p}demo-sql-svc]}" MENU_CACHE_BYTES=0
}
# stop_prefix PREFIX: stops every binary whose key starts with PREFIX.
stop_prefix() {
  for k in "${!PID[@]}"; do
    [[ $k == "$1"* ]] || continue
    stop_pid "${PID[$k]}"
    unset "PID[$k]"
  done
}

# --- measurements ----------------------------------------------------------------------------
# JSON {name: {cpu_ticks, rss_kb, hwm_kb}} of every running process of ours and the datastores.
snapshot() {
  local first=1
  printf '{'
  for k in "${!PID[@]}" mariadbd dynalite; do
    local pid
    case $k in
      mariadbd) pid=$(cat "$state/mariadb/mariadbd.pid" 2>/dev/null || true) ;;
      dynalite) pid=$(cat "$state/dynalite/dynalite.pid" 2>/dev/null || true) ;;
      *) pid=${PID[$k]} ;;
    esac
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || continue
    # utime + stime: fields 14 and 15 after the ")" that ends the command name
    local ticks rss hwm
    ticks=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    [ $first = 1 ] || printf ','
    first=0
    printf '"%s":{"cpu_ticks":%s,"rss_kb":%s,"hwm_kb":%s}' "$k" "$ticks" "${rss:-0}" "${hwm:-0}"
  done
  printf '}'
}
# measure NAME COMMAND...: runs a bounded load command that prints a JSON summary, and stores
# it in $out/NAME.json with the process snapshots taken before and after.
measure() {
  local name=$1
  shift
  local before after
  before=$(snapshot)
  if ! timeout 900 "$@" >"$out/$name.raw"; then
    echo "bench: scenario $name failed: $*" >&2
    exit 1
  fi
  after=$(snapshot)
  jq --arg name "$name" --argjson before "$before" --argjson after "$after" \
    --argjson clk "$(getconf CLK_TCK)" \
    '. + {scenario: $name, procs_before: $before, procs_after: $after, clk_tck: $clk}' \
    "$out/$name.raw" >"$out/$name.json"
  rm -f "$out/$name.raw"
  log "$name: $(jq -r '"\(.calls) calls, \(.errors) errors, \(.throughput_rps | floor) /s, p50 \(.latency_us.p50) us, p99 \(.latency_us.p99) us"' "$out/$name.json")"
}
# every loadgen run is bounded by --duration and by this count
lg="$bin/loadgen --count 2000000"

# watch_bench: BENCH_WATCHERS WatchStoreMenu streams (channel 1, the first BENCH_WATCH_STORES
# stores of the large set with a menu there, in turn) on a
# gateway of their own, spread over connections of at most 200 streams each (the gateway's
# GRPC_MAX_CONCURRENT_STREAMS raised to match); once every stream has its first message,
# tools/bench_watch_writer.py renames one channel-1 category through dynamo-svc once a second.
# loadgen --method watch attributes each watcher's new etags to the writes: delivery latency is
# receipt minus the write's acknowledgement. The gateway's VmHWM and CPU seconds over the run.
watch_bench() {
  local n=${BENCH_WATCHERS:-10000} wsec=${BENCH_WATCH_WRITE_SECONDS:-60}
  local stores=${BENCH_WATCH_STORES:-100}
  if [ "$quick" = 1 ]; then n=${BENCH_WATCHERS:-500} wsec=${BENCH_WATCH_WRITE_SECONDS:-10}; fi
  local conns=$(((n + 199) / 200))
  [ "$conns" -le 64 ] || conns=64
  local per=$(((n + conns - 1) / conns))
  start_svc watch-gateway "$bin/gateway" DYNAMO_SVC_TARGET="dns:///$dyn" \
    SQL_SVC_TARGET="dns:///$sql" GRPC_MAX_CONCURRENT_STREAMS=$((per + 16))
  local ready=$out/watch.ready done=$out/watch.done writes=$out/watch-writes.txt
  rm -f "$ready" "$done" "$writes"
  local cmd=("$bin/loadgen" --target "${ADDR[watch-gateway]}" --method watch --watchers "$n"
    --connections "$conns" --watch-stores "$stores" --channel 1 --connect-timeout 180
    --duration "$((180 + wsec + 30))" --ready-file "$ready" --done-file "$done" --settle 3
    --writes "$writes")
  log "watch: $n watchers of $stores stores on $conns connections, ${wsec} s of writes"
  local before after
  before=$(snapshot)
  timeout 900 "${cmd[@]}" >"$out/watch.raw" &
  local wpid=$!
  if ! timeout 900 $PY tools/bench_watch_writer.py --dynamo "$dyn" --seconds "$wsec" \
    --out "$writes" --ready-file "$ready" --done-file "$done" --channel 1 --wait 240; then
    echo "bench: the watch writer failed" >&2
  fi
  if ! wait "$wpid"; then
    echo "bench: scenario watch failed: ${cmd[*]}" >&2
    exit 1
  fi
  after=$(snapshot)
  jq --argjson before "$before" --argjson after "$after" --argjson clk "$(getconf CLK_TCK)" \
    --arg cmd "${cmd[*]#"$top/"}" --argjson wsec "$wsec" \
    '. + {scenario: "watch", procs_before: $before, procs_after: $after, clk_tck: $clk,
          command: $cmd, write_seconds: $wsec}' "$out/watch.raw" >"$out/watch.json"
  rm -f "$out/watch.raw"
  log "watch: $(jq -r '"\(.first_messages)/\(.watchers) connected, \(.writes) writes, \(.delivered) delivered, \(.missed) missed, p50 \(.delivery_us.p50) us, p99 \(.delivery_us.p99) us"' "$out/watch.json")"
  stop_prefix watch
}

# --- the stack and the large data set ----------------------------------------------------------
log "datastores on 127.0.0.1:$db_port (MariaDB) and :$ddb_port (dynalite), state in $state"
scripts/mariadb.sh stop "$state/mariadb" >/dev/null 2>&1 || true # one left by a killed run
scripts/mariadb.sh start "$state/mariadb" "$db_port"
# dynalite starts empty each run (seeding takes seconds), so the demo data is the current one
scripts/dynalite.sh stop "$state/dynalite" >/dev/null 2>&1 || true
rm -rf "$state/dynalite"
scripts/dynalite.sh start "$state/dynalite" "$ddb_port"
timeout 300 "$bin/sql-svc" migrate >>"$state/logs/setup.log" 2>&1
timeout 300 "$bin/sql-svc" generate >>"$state/logs/setup.log" 2>&1 # 300,000 rules; once
timeout 300 "$bin/dynamo-svc" seed-demo >>"$state/logs/setup.log" 2>&1
# The demo data in a database of its own, for GetStoreMenu where MariaDB is not the bottleneck.
env -u MYSQL_HOST -u MYSQL_TCP_PORT mariadb --no-defaults --protocol=socket \
  --socket="$state/mariadb/mariadb.sock" -uroot -e 'DROP DATABASE IF EXISTS menu_demo; CREATE DATABASE menu_demo CHARACTER SET utf8mb4 COLLATE utf8mb4_bin'
for cmd in migrate seed-demo; do
  MYSQL_DATABASE=menu_demo timeout 300 "$bin/sql-svc" $cmd >>"$state/logs/setup.log" 2>&1
done
start_stack "" "$bin"
log "ghost swaps over the generated products"
timeout 300 $PY tools/bench_seed.py "${ADDR[dynamo-svc]}" 300
gw=${ADDR[gateway]} dyn=${ADDR[dynamo-svc]} sql=${ADDR[sql-svc]}
# --- GetStoreMenu with the gateway's cache (issue 12) ---------------------------------------------
# cache_bench: the large set, 2,000 stores by Zipf-like popularity on every channel, whole
# menus. A cached gateway and an uncached one (MENU_CACHE_BYTES=0) over the same backends, in
# the same run; if_none_match with unchanged menus (datastore round trips counted from the
# owners' metrics, minus the gateways' own revision polls); the staleness bound under load
# with a category write every second, read through two cached gateway replicas.
owner_round_trips() {
  $PY tools/bench_metrics.py menu_mysql_query_duration_seconds_count,menu_dynamodb_requests_total \
    "${MADDR[dynamo-svc]}" "${MADDR[sql-svc]}"
}
gateway_polls() {
  local a=()
  for k in "${!MADDR[@]}"; do [[ $k == *gateway ]] && a+=("${MADDR[$k]}"); done
  $PY tools/bench_metrics.py menu_revision_polls_total "${a[@]}"
}
cache_bench() {
  # only stores that sell on the channel (asked of sql-svc): a store off it answers
  # FAILED_PRECONDITION, which measures nothing
  local stores="--method store-menu --stores 2000 --page 0 --follow 0 --channel 1"
  stores+=" --stores-from $sql"
  local zipf="$stores --zipf 1.1"
  local warm_s=60
  [ "$quick" = 1 ] && warm_s=15
  local stale_s=${BENCH_STALENESS_SECONDS:-300}
  [ "$quick" = 1 ] && stale_s=${BENCH_STALENESS_SECONDS:-15}
  start_svc cache-gateway "$bin/gateway" DYNAMO_SVC_TARGET="dns:///$dyn" SQL_SVC_TARGET="dns:///$sql"
  start_svc cache2-gateway "$bin/gateway" DYNAMO_SVC_TARGET="dns:///$dyn" SQL_SVC_TARGET="dns:///$sql"
  start_svc nocache-gateway "$bin/gateway" DYNAMO_SVC_TARGET="dns:///$dyn" \
    SQL_SVC_TARGET="dns:///$sql" MENU_CACHE_BYTES=0
  local cgw=${ADDR[cache-gateway]}
  # warm-up: the steady state of a fleet, where every store has been asked for once (uniform:
  # 20,000 calls leave none of the ~1,200 stores on the channel out; Zipf left its tail out)
  $lg --target "$cgw" $stores --concurrency 32 --duration "$warm_s" --count 20000 >/dev/null
  measure store-menu-zipf-cached-c64 $lg --target "$cgw" $zipf --concurrency 64 --duration "$secs"
  # latency without queueing in the closed loop: one in flight, and an open loop at 2,000/s
  # with at most 64 in flight
  measure store-menu-zipf-cached-c1 $lg --target "$cgw" $zipf --concurrency 1 --duration "$secs"
  measure store-menu-zipf-cached-rate2000 $lg --target "$cgw" $zipf --rate 2000 --max-inflight 64 \
    --duration "$secs"
  measure store-menu-zipf-uncached-c16 $lg --target "${ADDR[nocache-gateway]}" $zipf \
    --concurrency 16 --duration "$secs"
  measure store-menu-zipf-uncached-c64 $lg --target "${ADDR[nocache-gateway]}" $zipf \
    --concurrency 64 --duration "$secs"
  # if_none_match: every call sends back the etag the store's last answer carried
  $lg --target "$cgw" $zipf --if-none-match --concurrency 16 --duration 2 --count 100000 >/dev/null
  # the owners' own background round trips (readiness probes, pool pings) over an idle window of
  # the same length, as a rate, to tell them from the calls' (the polls are counted exactly)
  local i0 ip0 it0 it1 rt0 p0 t0 miss0 ev0 cm="${MADDR[cache-gateway]}"
  i0=$(owner_round_trips) ip0=$(gateway_polls) it0=$(date +%s.%N)
  sleep "$secs"
  local idle_rt=$(($(owner_round_trips) - i0 - ($(gateway_polls) - ip0)))
  it1=$(date +%s.%N)
  # ... and the load generator's own store discovery (ListRestaurants pages, --stores-from)
  local disc='menu_mysql_query_duration_seconds_count{statement="ref_RESTAURANTS_fwd"}' d0
  d0=$($PY tools/bench_metrics.py "$disc" "${MADDR[sql-svc]}")
  rt0=$(owner_round_trips) p0=$(gateway_polls) t0=$(date +%s.%N)
  miss0=$($PY tools/bench_metrics.py menu_cache_misses_total "$cm")
  ev0=$($PY tools/bench_metrics.py menu_cache_evictions_total "$cm")
  measure store-menu-zipf-inm-c64 $lg --target "$cgw" $zipf --if-none-match --concurrency 64 \
    --duration "$secs"
  jq --argjson rt "$(($(owner_round_trips) - rt0))" --argjson polls "$(($(gateway_polls) - p0))" \
    --argjson miss "$(($($PY tools/bench_metrics.py menu_cache_misses_total "$cm") - miss0))" \
    --argjson ev "$(($($PY tools/bench_metrics.py menu_cache_evictions_total "$cm") - ev0))" \
    --argjson disc "$(($($PY tools/bench_metrics.py "$disc" "${MADDR[sql-svc]}") - d0))" \
    --argjson idle_rt "$idle_rt" --argjson idle_s "$(awk "BEGIN{print $it1 - $it0}")" \
    --argjson window_s "$(awk "BEGIN{print $(date +%s.%N) - $t0}")" \
    '. + {owner_round_trips: $rt, gateway_polls: $polls, cache_misses: $miss, cache_evictions: $ev,
          owner_idle_round_trips: $idle_rt, owner_idle_seconds: $idle_s, window_seconds: $window_s,
          loadgen_discovery_round_trips: $disc}' \
    "$out/store-menu-zipf-inm-c64.json" >"$out/inm.tmp" && mv "$out/inm.tmp" "$out/store-menu-zipf-inm-c64.json"
  # the staleness bound under load: zipf load on one replica while the probe reads both
  $lg --target "$cgw" $zipf --concurrency 16 --duration "$((stale_s + 3))" --count 5000000 \
    >"$out/staleness-load.raw" &
  local lg_pid=$!
  measure staleness-under-load $PY tools/bench_staleness.py \
    --gateways "$cgw,${ADDR[cache2-gateway]}" --dynamo "$dyn" --seconds "$stale_s" --bound-ms 1000
  wait "$lg_pid" || true
  $PY tools/bench_metrics.py menu_cache_hits_total "${MADDR[cache-gateway]}" >"$out/cache-hits.txt"
  $PY tools/bench_metrics.py menu_cache_misses_total "${MADDR[cache-gateway]}" >"$out/cache-misses.txt"
  stop_prefix cache
  stop_prefix nocache
}

case "${BENCH_ONLY:-}" in
  cache | watch)
    "${BENCH_ONLY}_bench"
    $PY tools/bench_report.py --dir "$out" --out "$report" --only "$BENCH_ONLY" --commit "$commit" \
      --started "$started"
    log "wrote the $BENCH_ONLY section of $report"
    exit 0
    ;;
esac
# warm-up; store-menu names only stores on the channel it asks (sql-svc: --stores-from)
sm="--method store-menu --stores-from $sql"
$lg --target "$gw" $sm --concurrency 8 --duration 2 --count 300 >/dev/null

# --- every RPC at 1, 8 and 64 calls in flight --------------------------------------------------
for c in 1 8 64; do
  measure "health-c$c" $lg --target "$gw" --method health --concurrency "$c" --duration "$secs"
  measure "get-category-c$c" $lg --target "$dyn" --method get-category --concurrency "$c" --duration "$secs"
  measure "list-categories-c$c" $lg --target "$dyn" --method list-categories --concurrency "$c" --duration "$secs"
  measure "batch-ghost-swaps-c$c" $lg --target "$dyn" --method batch-ghost-swaps --concurrency "$c" --duration "$secs"
  measure "list-availabilities-c$c" $lg --target "$sql" --method list-availabilities --concurrency "$c" --duration "$secs"
  measure "store-menu-c$c" $lg --target "$gw" $sm --concurrency "$c" --duration "$secs"
done
measure store-menu-c32 $lg --target "$gw" $sm --concurrency 32 --duration "$secs"

# --- overload: open loop at 5x the measured capacity -------------------------------------------
# overload NAME TARGET CAPACITY_FILES... -- LOADGEN_ARGS: offers 5x the best OK rate of the
# files, on 16 connections (so that per-connection stream limits do not queue calls in the
# client), deadline 2 s.
overload() {
  local name=$1 target=$2 files=() cap rate
  shift 2
  while [ "$1" != -- ]; do files+=("$1"); shift; done
  shift
  cap=$(jq -s 'map(.ok_rps) | max' "${files[@]}")
  rate=$(jq -n --argjson c "$cap" '[($c * 5 | floor), 20] | max')
  log "$name: capacity ${cap%.*}/s, offering $rate/s"
  measure "$name" $lg --target "$target" --rate "$rate" --duration "$secs" --deadline-ms 2000 \
    --max-inflight 4096 --connections 16 "$@"
}
overload overload-store-menu "$gw" "$out"/store-menu-c{8,32,64}.json -- $sm
overload overload-list-availabilities "$sql" "$out"/list-availabilities-c{8,64}.json -- \
  --method list-availabilities

# --- the floors: the same requests straight on the datastores ----------------------------------
for c in 1 8; do
  measure "floor-sql-c$c" "$bin/sqlfloor" --concurrency "$c" --duration "$secs"
done
proxy_port=$(free_port)
$PY tools/ddb_floor.py capture --listen "$proxy_port" --upstream "$DYNAMODB_ENDPOINT" \
  --out "$out/ddb-capture.jsonl" --seconds 120 &
PID[ddb-proxy]=$!
sleep 0.5
start_svc capture-dynamo-svc "$bin/dynamo-svc" DYNAMODB_ENDPOINT="http://127.0.0.1:$proxy_port"
for m in get-category list-categories batch-ghost-swaps; do
  $lg --target "${ADDR[capture-dynamo-svc]}" --method "$m" --concurrency 1 --count 50 >"$out/capture-$m.json"
done
stop_pid "${PID[capture-dynamo-svc]}"
stop_pid "${PID[ddb-proxy]}"
unset "PID[capture-dynamo-svc]" "PID[ddb-proxy]"
for op in GetItem Query BatchGetItem; do
  for c in 1 8; do
    measure "floor-ddb-$op-c$c" $PY tools/ddb_floor.py replay --upstream "$DYNAMODB_ENDPOINT" \
      --file "$out/ddb-capture.jsonl" --op "$op" --concurrency "$c" --duration "$secs"
  done
done

# --- GetStoreMenu at 32 in flight: the baseline commit, same data, same run --------------------
# On the large set (bound by the availability statement on MariaDB) and on the demo data
# (stores R001..R004 on KIOSK: a cheap statement, so the runtime is what is measured).
demo="--method store-menu --store-prefix R --store-digits 3 --stores 4 --channel 1"
demo_stack "" "$bin"
$lg --target "${ADDR[demo-gateway]}" $demo --concurrency 8 --duration 4 --count 600 >/dev/null
measure store-menu-demo-c1 $lg --target "${ADDR[demo-gateway]}" $demo --concurrency 1 --duration "$secs"
measure store-menu-demo-c32 $lg --target "${ADDR[demo-gateway]}" $demo --concurrency 32 --duration "$secs"
overload overload-store-menu-demo "${ADDR[demo-gateway]}" "$out"/store-menu-demo-c32.json -- $demo
if [ "$baseline" != none ]; then
  wt=$state/baseline-$baseline
  if [ ! -x "$wt/build/bin/gateway" ]; then
    log "building $baseline in $wt (once)"
    [ -d "$wt" ] || git worktree add --detach "$wt" "$baseline" >/dev/null
    make -C "$wt" -j"$(nproc)" build/bin/gateway build/bin/dynamo-svc build/bin/sql-svc \
      >"$state/logs/baseline-build.log" 2>&1 ||
      { echo "bench: baseline build failed; see $state/logs/baseline-build.log" >&2; exit 1; }
  fi
  start_stack base- "$wt/build/bin"
  demo_stack base- "$wt/build/bin"
  $lg --target "${ADDR[base-gateway]}" $sm --concurrency 8 --duration 2 --count 300 >/dev/null
  measure store-menu-c32-baseline $lg --target "${ADDR[base-gateway]}" $sm \
    --concurrency 32 --duration "$secs"
  $lg --target "${ADDR[base-demo-gateway]}" $demo --concurrency 8 --duration 4 --count 600 >/dev/null
  measure store-menu-demo-c32-baseline $lg --target "${ADDR[base-demo-gateway]}" $demo \
    --concurrency 32 --duration "$secs"
  stop_prefix base-
  # and the current build once more, right after, so that both see the same machine
  measure store-menu-c32-again $lg --target "$gw" $sm --concurrency 32 --duration "$secs"
  measure store-menu-demo-c32-again $lg --target "${ADDR[demo-gateway]}" $demo --concurrency 32 \
    --duration "$secs"
fi

cache_bench

# --- WatchStoreMenu (issue 12) ---------------------------------------------------------------------
watch_bench

# --- the report ----------------------------------------------------------------------------------
snapshot >"$out/final-procs.json"
$PY tools/bench_report.py --dir "$out" --out "$report" --seconds "$secs" --quick "$quick" \
  --baseline "$baseline" --wall "$(($(date +%s) - t_start))" --commit "$commit" --started "$started"
log "wrote $report"
