#!/usr/bin/env bash
# The local stack: a private MariaDB (127.0.0.1:3307) and dynalite (127.0.0.1:8000), schema
# migrations and demo data, then the three binaries. State lives in .local/stack and survives
# down/up.
#   scripts/stack.sh up     start what is not running; return when all three are SERVING
#   scripts/stack.sh down   stop exactly what `up` started
#   scripts/stack.sh run    up, follow the logs in the foreground; Ctrl-C stops everything
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
state=.local/stack
bin=build/bin
mkdir -p "$state/logs" "$state/pids"

# Local-only settings; every variable and its default is listed in the README.
[ -f "$state/cursor.key" ] || { umask 077; openssl rand -hex 32 >"$state/cursor.key"; }
export MYSQL_HOST=127.0.0.1 MYSQL_PORT=3307 MYSQL_USER=menu MYSQL_PASSWORD=menu MYSQL_DATABASE=menu
export DYNAMODB_ENDPOINT=http://127.0.0.1:8000 AWS_REGION=us-east-1 DYNAMODB_CREATE_TABLES=1
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
export CURSOR_KEY_FILE=$top/$state/cursor.key
export DYNAMO_SVC_TARGET=dns:///127.0.0.1:50052 SQL_SVC_TARGET=dns:///127.0.0.1:50053
export LOG_LEVEL=${LOG_LEVEL:-info}

# name grpc_addr metrics_addr
SERVICES=("dynamo-svc 127.0.0.1:50052 127.0.0.1:9452" "sql-svc 127.0.0.1:50053 127.0.0.1:9453"
          "gateway 127.0.0.1:50051 127.0.0.1:9451")

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_service() {
  local name=$1 addr=$2 maddr=$3 pidf=$state/pids/$1.pid
  if alive "$pidf"; then echo "stack: $name already running (pid $(cat "$pidf"))"; return; fi
  GRPC_ADDR=$addr METRICS_ADDR=$maddr nohup "$bin/$name" >>"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  echo "stack: started $name on $addr (metrics $maddr, log $state/logs/$name.log)"
}

stop_pid() {
  local pidf=$1 pid
  alive "$pidf" || { rm -f "$pidf"; return 0; }
  pid=$(cat "$pidf")
  kill -TERM "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$pidf"
}

# A hook of a service binary (migrate, seed-demo), bounded in time.
hook() { timeout 300 "$bin/$1" "$2" >>"$state/logs/$1-$2.log" 2>&1 || {
  echo "stack: '$1 $2' failed; see $state/logs/$1-$2.log" >&2; tail -5 "$state/logs/$1-$2.log" >&2; exit 1; }; }

up() {
  scripts/mariadb.sh start "$state/mariadb" 3307
  scripts/dynalite.sh start "$state/dynalite" 8000
  hook sql-svc migrate
  if [ ! -f "$state/seeded" ]; then
    hook sql-svc seed-demo
    hook dynamo-svc seed-demo
    touch "$state/seeded"
  fi
  for s in "${SERVICES[@]}"; do start_service $s; done
  for s in "${SERVICES[@]}"; do
    set -- $s
    if ! /usr/bin/python3 scripts/wait_serving.py "$2" 20; then
      echo "stack: $1 is not SERVING; last lines of $state/logs/$1.log:" >&2
      tail -20 "$state/logs/$1.log" >&2
      exit 1
    fi
  done
  echo "stack: all three SERVING: gateway 127.0.0.1:50051, dynamo-svc :50052, sql-svc :50053"
}

down() {
  for s in "${SERVICES[@]}"; do set -- $s; stop_pid "$state/pids/$1.pid"; done
  scripts/dynalite.sh stop "$state/dynalite"
  scripts/mariadb.sh stop "$state/mariadb"
  echo "stack: stopped"
}

case ${1:-} in
up) up ;;
down) down ;;
run)
  up
  trap 'echo; down; exit 0' INT TERM
  tail -n 0 -F "$state"/logs/{dynamo-svc,sql-svc,gateway}.log &
  wait
  ;;
*) echo "usage: $0 up|down|run" >&2; exit 2 ;;
esac
