#!/usr/bin/env bash
# A private dynalite (DynamoDB API) for the local stack and the tests, LevelDB data under DIR.
#   scripts/dynalite.sh start DIR PORT   (idempotent)
#   scripts/dynalite.sh stop DIR
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cmd=$1 dir=$(realpath -m "$2")
pidfile=$dir/dynalite.pid
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case $cmd in
start)
  port=$3
  if running; then exit 0; fi
  mkdir -p "$dir/data"
  # --host keeps it on loopback; --createTableMs 0 makes CreateTable ACTIVE at once.
  "$top/.local/node/node_modules/.bin/dynalite" --host 127.0.0.1 --port "$port" \
    --path "$dir/data" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 \
    </dev/null >"$dir/dynalite.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && exit 0
    sleep 0.1
  done
  echo "dynalite did not start; see $dir/dynalite.log" >&2
  exit 1
  ;;
stop)
  if running; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; exit 0; }; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  ;;
*) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
