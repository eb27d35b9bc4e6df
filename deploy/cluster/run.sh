#!/usr/bin/env bash
# Many replicas in front of one database, on this machine: a private
# PostgreSQL, three warrant replicas and HAProxy in front of them, the
# cluster scenarios driven through it, one table printed, and everything
# stopped again. Installs Debian's haproxy if it is missing.
# Usage: deploy/cluster/run.sh            (builds the release binary if needed)
#        WARRANT_BIN=path/to/warrant deploy/cluster/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v haproxy >/dev/null || {
    echo "installing haproxy from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy >/dev/null
}
bin=${WARRANT_BIN:-target/release/warrant}
[ -x "$bin" ] || cargo build --release --locked --bin warrant
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
exec python3 deploy/cluster/cluster.py --bin "$bin" --pg-bin "$pg_bin"
