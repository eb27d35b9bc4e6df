#!/usr/bin/env bash
# A/B of the login path: two release binaries of warrant, alternated on one
# seeded database, each serving POST /login (64 connections, the seeded
# users round robin, right passwords) for DURATION seconds per round. Prints
# logins/s and the server's own CPU time per login for every round.
#
#   bench/ab-login.sh A_BINARY B_BINARY [--db sqlite|postgres] [--duration S] [--rounds N]
#
# Seeds with the current tree's seeder (cargo build --release --example seed).
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2; shift 2
db=sqlite duration=10 rounds=2 users=200 password="bench password 1"
while [ $# -gt 0 ]; do
    case $1 in
        --db) db=$2; shift ;;
        --duration) duration=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
work=$(mktemp -d /tmp/warrant-ab.XXXXXX)
. bench/server.sh
trap 'stop_server; rm -rf "$work"' EXIT
cargo build --release --quiet --example seed
target/release/examples/seed "$url" "$users" 0 >/dev/null

export USERS=$users PASSWORD=$password

printf '| round | binary | logins/s | p99 ms | errors | server CPU µs/login |\n|---|---|---:|---:|---:|---:|\n'
for round in $(seq "$rounds"); do
    for side in A B; do
        bin=$a; [ $side = B ] && bin=$b
        start_server "$bin"
        before=$(cpu_ticks)
        line=$(wrk -t2 -c64 -d"${duration}s" --latency -s bench/scenarios/login.lua "$base" | grep '^RESULT')
        ticks=$(($(cpu_ticks) - before))
        stop_server
        eval "$(echo "${line#RESULT }" | tr ' ' '\n' | sed 's/^/r_/')"
        awk -v r="$round" -v s="$side" -v rps="$r_rps" -v p99="$r_p99_ms" -v err="$r_errors" \
            -v ticks="$ticks" -v reqs="$r_requests" -v tick="$tick_us" \
            'BEGIN { printf "| %s | %s | %.1f | %.0f | %d | %.0f |\n", r, s, rps, p99, err, ticks * tick / reqs }'
    done
done
