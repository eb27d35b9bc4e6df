#!/usr/bin/env bash
# Many replicas in front of one database, on this machine: a private
# PostgreSQL, three warrant replicas and HAProxy in front of them, the
# cluster scenarios driven through it, one table printed, and everything
# stopped again. Installs Debian's haproxy if it is missing.
# Needs python3 and PostgreSQL's server binaries (Debian: postgresql).
# Usage: deploy/cluster/run.sh            (builds the release binary if needed)
#        WARRANT_BIN=path/to/warrant deploy/cluster/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v haproxy >/dev/null || {
    echo "installing haproxy from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null
}
command -v python3 >/dev/null || { echo "deploy/cluster/run.sh needs python3" >&2; exit 2; }
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pg_bin" ] || { echo "deploy/cluster/run.sh needs PostgreSQL's server binaries (Debian: postgresql)" >&2; exit 2; }
if [ -z "${WARRANT_BIN:-}" ]; then
    # The binary of this tree, wherever cargo puts it: built (or found up
    # to date) now, never a stale one.
    cargo build --release --locked --quiet --bin warrant
    WARRANT_BIN="${CARGO_TARGET_DIR:-target}/release/warrant"
fi
bin=$WARRANT_BIN
exec python3 deploy/cluster/cluster.py --bin "$bin" --pg-bin "$pg_bin"
