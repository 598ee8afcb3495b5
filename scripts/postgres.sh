#!/usr/bin/env bash
# Makes a PostgreSQL server available on 127.0.0.1 for the store tests, from nothing:
#   - installs Debian's `postgresql` package when initdb/pg_ctl are not found (PATH, then
#     /usr/lib/postgresql/*/bin); needs root
#   - initialises a throwaway cluster (trust auth, no fsync: test data only) in
#     ~/.cache/fusion-peers/postgres, or, when the `postgres` user cannot reach that directory
#     (root's home is usually 0700), in the postgres user's home; FUSION_TEST_PG_DATA overrides
#   - starts it on 127.0.0.1:${FUSION_TEST_PG_PORT:-55432}, or reuses the one already running there
# As root, the server runs as the `postgres` system user (initdb and postgres refuse root).
# Logs go to stderr; stdout is exactly one line:
#   FUSION_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres
# `scripts/postgres.sh stop` stops the server. Safe to run repeatedly and concurrently.
set -euo pipefail

PEERS="${FUSION_PEERS_DIR:-$HOME/.cache/fusion-peers}"
PORT="${FUSION_TEST_PG_PORT:-55432}"
log() { printf '[postgres] %s\n' "$*" >&2; }
cd /  # the postgres user may not be allowed into the caller's directory

# The directory holding initdb, pg_ctl and postgres, or nothing.
find_bindir() {
  local initdb pg_ctl
  initdb=$(command -v initdb 2>/dev/null || true)
  pg_ctl=$(command -v pg_ctl 2>/dev/null || true)
  if [ -n "$initdb" ] && [ -n "$pg_ctl" ]; then
    dirname "$(readlink -f "$pg_ctl")"
    return
  fi
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
    echo "$dir"
  fi
}

is_root() { [ "$(id -u)" = 0 ]; }
# Runs a command as the user the server runs as.
as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

BIN=$(find_bindir)
if [ -z "$BIN" ]; then
  if [ "${1:-}" = stop ]; then exit 0; fi
  is_root || { log "PostgreSQL is not installed and installing it needs root (apt-get install -y postgresql)"; exit 1; }
  log "installing PostgreSQL (apt-get install -y postgresql)"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
  BIN=$(find_bindir)
  [ -n "$BIN" ] || { log "postgresql installed, but initdb/pg_ctl are still not found"; exit 1; }
fi

if is_root && ! id -u postgres >/dev/null 2>&1; then
  log "creating the postgres system user"
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
fi

# The data directory: under the peers cache when the server's user can reach it.
if [ -n "${FUSION_TEST_PG_DATA:-}" ]; then
  PGDATA="$FUSION_TEST_PG_DATA"
else
  mkdir -p "$PEERS"
  if as_pg test -x "$PEERS" 2>/dev/null; then
    PGDATA="$PEERS/postgres"
  else
    pg_home=$(getent passwd postgres | cut -d: -f6)
    if [ -n "$pg_home" ] && as_pg test -w "$pg_home" 2>/dev/null; then
      PGDATA="$pg_home/fusion-test"
    else
      PGDATA="/tmp/fusion-test-postgres"
    fi
  fi
fi

# One start or stop at a time (test.sh runs may overlap).
LOCK_DIR=$(dirname "$PGDATA")
mkdir -p "$LOCK_DIR"
exec 9>"$LOCK_DIR/.fusion-postgres.lock"
flock 9

running() { as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

if [ "${1:-}" = stop ]; then
  if [ -d "$PGDATA" ] && running; then
    log "stopping the server in $PGDATA"
    as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >&2
  fi
  exit 0
fi
[ -z "${1:-}" ] || { log "usage: scripts/postgres.sh [stop]"; exit 2; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  log "initialising a cluster in $PGDATA ($("$BIN/initdb" --version))"
  if [ -n "$(ls -A "$PGDATA" 2>/dev/null)" ]; then
    # A half-made cluster (interrupted initdb): ours to remove, unless the caller chose the path.
    [ -z "${FUSION_TEST_PG_DATA:-}" ] || { log "$PGDATA is not empty and not a cluster"; exit 1; }
    rm -rf "$PGDATA"
  fi
  mkdir -p "$PGDATA"
  if is_root; then chown postgres: "$PGDATA"; fi
  chmod 700 "$PGDATA"
  as_pg "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --no-locale \
    --no-sync >&2
fi

# Settings are rewritten each time, so a new FUSION_TEST_PG_PORT applies on the next start.
as_pg tee "$PGDATA/fusion.conf" >/dev/null <<EOF
# Written by scripts/postgres.sh: a throwaway test server.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGDATA'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
if ! grep -q "^include_if_exists = 'fusion.conf'" "$PGDATA/postgresql.conf"; then
  echo "include_if_exists = 'fusion.conf'" | as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
fi
as_pg tee "$PGDATA/pg_hba.conf" >/dev/null <<'EOF'
# Written by scripts/postgres.sh: trust on the unix socket and loopback only.
local all all trust
host  all all 127.0.0.1/32 trust
EOF

if running; then
  # Line 4 of postmaster.pid is the port the running server listens on.
  if [ "$(sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null)" = "$PORT" ]; then
    log "reusing the server already running in $PGDATA"
  else
    log "restarting the server in $PGDATA on port $PORT"
    as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >&2
  fi
fi
if ! running; then
  log "starting the server on 127.0.0.1:$PORT"
  if ! as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >&2 </dev/null 9>&-; then
    log "the server did not start; the end of $PGDATA/server.log:"
    tail -n 20 "$PGDATA/server.log" >&2 || true
    exit 1
  fi
fi

if [ -x "$BIN/pg_isready" ]; then
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 30 \
    || { log "the server in $PGDATA does not answer on 127.0.0.1:$PORT"; exit 1; }
fi
log "PostgreSQL ready on 127.0.0.1:$PORT (data in $PGDATA)"
echo "FUSION_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PORT/postgres"
