# Sourced by .ci/run (and usable by hand: `source .ci/postgres.sh && start_test_postgres`).
# Starts a throwaway PostgreSQL server in a temporary folder, as a non-root user, on a free
# loopback port, exports IDIOLECT_TEST_PG_URL for the tests and stops it when the shell exits.
# Debian's `postgresql` package is installed first if no server binaries are present.

_pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -n "$d" ]; then echo "$d"; return; fi
  command -v pg_ctl >/dev/null && dirname "$(command -v pg_ctl)"
}

start_test_postgres() {
  if [ -z "$(_pg_bindir)" ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || { echo "error: could not install PostgreSQL (Debian's postgresql package)" >&2; return 1; }
    else
      echo "error: no PostgreSQL server binaries and no apt-get as root to install them" >&2; return 1
    fi
  fi
  local bin run=() port
  bin=$(_pg_bindir)
  PG_TEST_DIR=$(mktemp -d /tmp/idiolect-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root: the server runs as `nobody`, owning only its folder.
    chown nobody "$PG_TEST_DIR"
    run=(runuser -u nobody --)
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${run[@]}" "$bin/initdb" -D "$PG_TEST_DIR/data" -U idiolect --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$PG_TEST_DIR/initdb.log" 2>&1 || { cat "$PG_TEST_DIR/initdb.log" >&2; return 1; }
  # A test server: durability off (the folder is deleted at exit), loopback only.
  "${run[@]}" "$bin/pg_ctl" -D "$PG_TEST_DIR/data" -l "$PG_TEST_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TEST_DIR -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c max_connections=300" start >/dev/null \
    || { cat "$PG_TEST_DIR/server.log" >&2; return 1; }
  PG_TEST_BIN=$bin
  PG_TEST_RUN=("${run[@]}")
  export IDIOLECT_TEST_PG_URL="postgresql+psycopg://idiolect@127.0.0.1:$port/postgres"
  trap stop_test_postgres EXIT
  echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for the tests at 127.0.0.1:$port"
}

stop_test_postgres() {
  [ -n "${PG_TEST_DIR:-}" ] || return 0
  "${PG_TEST_RUN[@]}" "$PG_TEST_BIN/pg_ctl" -D "$PG_TEST_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_TEST_DIR"
  PG_TEST_DIR=
}
