#!/usr/bin/env bash
# warrant benchmark: builds release, seeds a database, starts warrant, drives
# load with wrk on 127.0.0.1 and prints one table, with every rate also as a
# ratio to GET /healthz measured in the same run. Stops all it started.
#
#   bench/run.sh [--db sqlite|postgres] [--posts N] [--duration SECONDS] [--smoke] [--no-auth-cost]
#
# --db postgres uses $BENCH_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/warrant_bench?sslmode=disable; the
# database is recreated). TLS is off by default because the database is on
# loopback: a Debian PostgreSQL offers TLS, libpq takes it, and encrypting
# 127.0.0.1 traffic cost 20-30% of the PostgreSQL scenarios here.
# --smoke: 2 s per scenario on 1,000 posts and 200 users, for CI. --no-auth-cost skips the
# second build that measures the auth layer's share. The credential routes'
# rate limit is off (every request comes from 127.0.0.1); to measure its
# cost, set BENCH_RATE_LIMIT to a limit per minute above the rates reached
# (1000000).
set -euo pipefail
cd "$(dirname "$0")/.."

db=sqlite posts=100000 users=1000 duration=10 auth_cost=1 smoke=0
while [ $# -gt 0 ]; do
    case $1 in
        --db) db=$2; shift ;;
        --posts) posts=$2; shift ;;
        --duration) duration=$2; shift ;;
        --smoke) smoke=1 duration=2 posts=1000 users=200 auth_cost=0 ;;
        --no-auth-cost) auth_cost=0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
threads=2 conns=64 password="bench password 1"

command -v wrk >/dev/null || {
    echo "wrk is missing; installing it from Debian" >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
    else sudo apt-get install -y -qq wrk >/dev/null; fi
}

work=$(mktemp -d /tmp/warrant-bench.XXXXXX)
. bench/server.sh
trap 'stop_server; jobs -p | xargs -r kill 2>/dev/null; rm -rf "$work"' EXIT

echo "building (release)…" >&2
if [ $auth_cost = 1 ]; then
    cargo build --release --quiet --features bench-skip-auth --bin warrant
    cp target/release/warrant "$work/warrant-skip-auth"
fi
cargo build --release --quiet --bin warrant --example seed
bin=target/release/warrant

echo "seeding $users users and $posts posts ($db)…" >&2
verify_ms=$(target/release/examples/seed "$url" "$users" "$posts" | sed -n 's/^verify_ms=//p')

post_json() { # path body -> response body
    python3 - "$base$1" "$2" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req).read().decode())
PY
}
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

login() { post_json /login "{\"username\":\"user$1\",\"password\":\"$password\"}"; }

start_server "$bin"
export TOKEN MAX_POST_ID=$posts USERS=$users PASSWORD=$password THREADS=$threads REFRESH_TOKENS TOKENS_FILE
TOKEN=$(login 1 | field access_token)
# One access token for each of the seeded users (1,000 unless --smoke),
# logged in eight at a time: the many-clients scenario sends them round robin.
TOKENS_FILE="$work/tokens"
python3 - "$base/login" "$users" "$password" >"$TOKENS_FILE" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, users, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def login(i):
    body = json.dumps({"username": f"user{i}", "password": password}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))["access_token"]
with ThreadPoolExecutor(8) as pool:
    print("\n".join(pool.map(login, range(1, users + 1))))
PY
# Twice as many sessions as connections: wrk asks a script for more requests
# than it has connections (a spare per thread), and a refresh must never
# reuse a token.
REFRESH_TOKENS=$(for i in $(seq $((2 * conns))); do login "$i" | field refresh_token; done | paste -sd, -)

results="$work/results"
run() { # name script connections
    local line before
    before=$(cpu_ticks)
    line=$(wrk -t$threads -c"$3" -d"${duration}s" --latency -s "bench/scenarios/$2.lua" "$base" | grep '^RESULT')
    echo "$1 $line cpu_ticks=$(($(cpu_ticks) - before))" >>"$results"
}

echo "running scenarios, ${duration}s each…" >&2
run "GET /healthz" healthz $conns
run "GET /posts?limit=20" list $conns
run "GET /posts?limit=20, $users users' tokens" list_many $conns
run "GET /posts/{id}" get $conns
run "POST /posts" create $conns
run "POST /login (64 conc.)" login 64
# The same login flood, with /healthz measured beside it.
wrk -t1 -c64 -d"${duration}s" -s bench/scenarios/login.lua "$base" >/dev/null &
flood=$!
sleep 0.5
run "GET /healthz during login flood" healthz 4
wait $flood
run "POST /refresh" refresh $conns
run "mix 80/15/5" mix $conns
hwm_kib=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server_pid/status")
stop_server

if [ $auth_cost = 1 ]; then
    start_server "$work/warrant-skip-auth"
    run "GET /posts/{id} without auth checks" get $conns
    stop_server
fi

healthz_rps=$(awk '$0 ~ /^GET \/healthz RESULT/ { sub("rps=", "", $4); print $4 }' "$results")
cores=$(nproc)
printf '\nwarrant bench: %s, %s posts, %s users, %s s per scenario, wrk -t%s, %s cores\n\n' \
    "$db" "$posts" "$users" "$duration" "$threads" "$cores"
printf '| scenario | req/s | p50 ms | p99 ms | errors | × healthz | server CPU µs/req |\n|---|---:|---:|---:|---:|---:|---:|\n'
while read -r line; do
    name=${line%% RESULT*}
    eval "$(echo "${line#* RESULT }" | tr ' ' '\n' | sed 's/^/r_/')"
    awk -v n="$name" -v rps="$r_rps" -v p50="$r_p50_ms" -v p99="$r_p99_ms" -v err="$r_errors" -v h="$healthz_rps" \
        -v ticks="$r_cpu_ticks" -v reqs="$r_requests" -v tick="$tick_us" \
        'BEGIN { printf "| %s | %.0f | %.2f | %.2f | %d | %.3f | %.0f |\n", n, rps, p50, p99, err, rps / h, ticks * tick / reqs }'
done <"$results"
echo "(CPU per request during the login flood counts the flood's logins too.)"
awk -v v="$verify_ms" -v c="$cores" \
    'BEGIN { printf "\nhashing ceiling: %d cores / %.2f ms per argon2 verify = %.0f logins/s\n", c, v, c * 1000 / v }'
awk -v k="$hwm_kib" 'BEGIN { printf "peak resident memory after the mixed run (VmHWM): %.1f MiB\n", k / 1024 }'
