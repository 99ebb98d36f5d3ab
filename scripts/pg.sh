#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks, from Debian's server binaries:
#   source scripts/pg.sh; pg_start DIR   → exports CARDTOKEN_TEST_POSTGRES (a URL) and PG_DATA
#   pg_stop DIR
# Runs as the `postgres` user when started as root (PostgreSQL refuses root). Fully durable
# (fsync, synchronous_commit on): the benchmark measures commits that are on disk.
pg_bin() {
  local bin
  for bin in /usr/lib/postgresql/*/bin; do [ -x "$bin/initdb" ] && { echo "$bin"; return; }; done
  command -v initdb >/dev/null && dirname "$(command -v initdb)" && return
  echo "PostgreSQL's server binaries are needed (apt-get install postgresql)" >&2
  return 1
}

pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_start() {
  local dir="$1" bin port
  bin="$(pg_bin)" || return 1
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port="${PG_PORT:-$(free_port)}"
  pg_as "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-instructions >/dev/null
  pg_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o \
    "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB \
     -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_wal_size=96MB -c min_wal_size=32MB" start >/dev/null
  export CARDTOKEN_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
  export PG_DATA="$dir/data"
}

pg_stop() {
  local dir="$1" bin
  bin="$(pg_bin)" || return 0
  [ -d "$dir/data" ] && pg_as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$dir"
}
