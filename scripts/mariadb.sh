#!/usr/bin/env bash
# A private MariaDB server for the local stack and the tests: data under DIR, TCP on
# 127.0.0.1:PORT, database `menu`, user `menu` with password $MENU_DB_PASSWORD (default `menu`).
#   scripts/mariadb.sh start DIR PORT    (idempotent: returns at once if it already runs)
#   scripts/mariadb.sh stop DIR
set -euo pipefail
cmd=$1 dir=$(realpath -m "$2")
# The clients below talk over the socket; the caller's MYSQL_HOST/MYSQL_TCP_PORT must not redirect them.
unset MYSQL_HOST MYSQL_TCP_PORT MYSQL_PWD
pidfile=$dir/mariadbd.pid

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case $cmd in
start)
  port=$3
  # A private tmpdir: the shared /tmp is cleaned by other processes, which breaks
  # mariadb-install-db's bootstrap ("Could not remove temporary table ... error: 2").
  mkdir -p "$dir/tmp"
  if ! running; then
    if [ ! -d "$dir/data/mysql" ]; then
      mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(id -un)" --tmpdir="$dir/tmp" \
        --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 ||
        { cat "$dir/install.log" >&2; exit 1; }
    fi
    mariadbd --no-defaults --datadir="$dir/data" --tmpdir="$dir/tmp" --socket="$dir/mariadb.sock" --port="$port" \
      --bind-address=127.0.0.1 --user="$(id -un)" --pid-file="$pidfile" \
      --log-error="$dir/error.log" --skip-name-resolve --character-set-server=utf8mb4 \
      --collation-server=utf8mb4_bin --default-time-zone=+00:00 --innodb-buffer-pool-size=256M \
      --innodb-flush-log-at-trx-commit=2 --max-connections=500 </dev/null >/dev/null 2>&1 &
  fi
  # Ready, then (again, idempotently) the database and the user the services log in with.
  for _ in $(seq 1 150); do
    if mariadb-admin --no-defaults --protocol=socket --socket="$dir/mariadb.sock" -uroot ping >/dev/null 2>&1; then
      pw=${MENU_DB_PASSWORD:-menu}
      [[ $pw != *"'"* && $pw != *\\* ]] || { echo "MENU_DB_PASSWORD: no quotes or backslashes" >&2; exit 2; }
      mariadb --no-defaults --protocol=socket --socket="$dir/mariadb.sock" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS menu CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS 'menu'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS 'menu'@'localhost' IDENTIFIED BY '$pw';
ALTER USER 'menu'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'menu'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON menu.* TO 'menu'@'127.0.0.1';
GRANT ALL PRIVILEGES ON menu.* TO 'menu'@'localhost';
GRANT ALL PRIVILEGES ON \`menu\\_%\`.* TO 'menu'@'127.0.0.1';
SQL
      exit 0
    fi
    sleep 0.2
  done
  echo "mariadb did not start; see $dir/error.log" >&2
  tail -20 "$dir/error.log" >&2 || true
  exit 1
  ;;
stop)
  if running; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  ;;
*) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
