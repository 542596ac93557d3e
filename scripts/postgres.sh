#!/usr/bin/env bash
# A private PostgreSQL for tests and development: Debian's packages, our own throwaway cluster.
#
#   scripts/postgres.sh install          apt-get install postgresql if initdb/pg_ctl are missing
#                                        (needs root; quiet and quick when already installed)
#   scripts/postgres.sh start DIR PORT   initdb a cluster in DIR/data (first time), start it on
#                                        127.0.0.1:PORT with its unix socket in DIR, wait until it
#                                        accepts connections, print its URL on stdout
#   scripts/postgres.sh stop DIR         stop it (fast shutdown); no-op if it is not running
#   scripts/postgres.sh status DIR       exit 0 if it is running
#
# The cluster never uses a system service or the system's cluster. Authentication is `trust`,
# but only on the loopback address and a socket in DIR. initdb refuses to run as root, so as
# root the cluster belongs to the `postgres` user (created by the package; created here if
# missing) and DIR must be reachable by that user (use a directory under /tmp). As another user
# it simply belongs to that user. The superuser is always `postgres`, so the URL is
# postgresql://postgres@127.0.0.1:PORT/postgres. PG_BIN=/path/to/bin overrides the binaries.
# Idempotent: start on a running cluster (same port) and stop on a stopped one succeed.
set -euo pipefail

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

bin_dir() {
    local dir
    if [[ -n "${PG_BIN:-}" ]]; then
        [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] || die "PG_BIN=$PG_BIN has no initdb/pg_ctl"
        echo "$PG_BIN"
        return 0
    fi
    # Debian keeps the server binaries off PATH, one directory per major version: take the newest.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

install() {
    if bin_dir >/dev/null; then
        return 0
    fi
    [[ $EUID -eq 0 ]] || die "PostgreSQL is not installed and installing it needs root: sudo apt-get install postgresql"
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and there is no apt-get: install PostgreSQL (initdb, pg_ctl) yourself"
    echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
    local log
    log="$(mktemp "${TMPDIR:-/tmp}/postgres-install.XXXXXX.log")"
    if ! { apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "apt-get install postgresql failed (full log: $log)"
    fi
    rm -f "$log"
    bin_dir >/dev/null || die "postgresql is installed but initdb/pg_ctl are not under /usr/lib/postgresql/*/bin"
}

# Run a command as the cluster's owner.
OWNER=""
as_owner() {
    if [[ -n "$OWNER" ]]; then
        runuser -u "$OWNER" -- "$@"
    else
        "$@"
    fi
}

setup_owner() {
    local dir="$1"
    if [[ $EUID -ne 0 ]]; then
        return 0
    fi
    OWNER="${PG_OWNER:-postgres}"
    if ! id -u "$OWNER" >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin "$OWNER" || die "cannot create the user $OWNER"
    fi
    chown "$OWNER:" "$dir"
    as_owner test -w "$dir" -a -x "$dir" ||
        die "$dir is not reachable by the user $OWNER (a parent directory is private): use a directory under /tmp"
}

running() {
    local data="$1"
    [[ -f "$data/PG_VERSION" ]] && as_owner "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
    local dir="$1" port="$2"
    [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "bad port: $port"
    BIN="$(bin_dir)" || die "PostgreSQL is not installed: run \`scripts/postgres.sh install\` (\`make setup\` does)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    ((${#dir} < 90)) || die "$dir is too long for a unix socket path: use a shorter directory"
    setup_owner "$dir"
    local data="$dir/data"
    if running "$data"; then
        local current
        current="$(cat "$dir/port" 2>/dev/null || true)"
        [[ "$current" == "$port" ]] || die "the cluster in $dir is already running on port ${current:-?}"
        echo "postgresql://postgres@127.0.0.1:$port/postgres"
        return 0
    fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
        as_owner "$BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C \
            >"$dir/initdb.log" 2>&1 || {
            tail -n 20 "$dir/initdb.log" >&2
            die "initdb failed (log: $dir/initdb.log)"
        }
    fi
    echo "$port" >"$dir/port"
    if ! as_owner "$BIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir" \
        start >/dev/null; then
        tail -n 20 "$dir/postgres.log" >&2 || true
        die "PostgreSQL did not start (log: $dir/postgres.log)"
    fi
    local tries=0
    until as_owner "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U postgres; do
        ((++tries < 100)) || die "PostgreSQL started but does not accept connections on port $port"
        sleep 0.1
    done
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
}

stop() {
    local dir="$1"
    [[ -d "$dir" ]] || return 0
    dir="$(cd "$dir" && pwd)"
    BIN="$(bin_dir)" || die "PostgreSQL is not installed"
    if [[ $EUID -eq 0 ]]; then
        OWNER="$(stat -c %U "$dir")"
    fi
    if running "$dir/data"; then
        as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    fi
}

status() {
    local dir="$1"
    BIN="$(bin_dir)" || exit 1
    if [[ $EUID -eq 0 && -d "$dir" ]]; then
        OWNER="$(stat -c %U "$dir")"
    fi
    running "$dir/data"
}

case "${1:-}" in
install) install ;;
start)
    [[ $# -eq 3 ]] || die "usage: $0 start DIR PORT"
    start "$2" "$3"
    ;;
stop)
    [[ $# -eq 2 ]] || die "usage: $0 stop DIR"
    stop "$2"
    ;;
status)
    [[ $# -eq 2 ]] || die "usage: $0 status DIR"
    status "$2"
    ;;
*) die "usage: $0 install | start DIR PORT | stop DIR | status DIR" ;;
esac
