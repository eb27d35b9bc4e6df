#!/usr/bin/env bash
# A/B of the request paths: two release binaries of warrant, alternated on
# one seeded database (A, B, B, A, …), each serving every scenario below for
# DURATION seconds per round. Prints, per scenario, the server's own CPU
# time per request for every run (steadier than rates on a shared machine)
# and its ratio to GET /healthz's in the same run.
#
#   bench/ab.sh A_BINARY B_BINARY [--db sqlite|postgres] [--duration S] [--rounds N] [--posts N] [--conns N]
#
# --conns (default 64, the saturated case) at 4 measures a moderate load,
# where each request finds the threads it hands work to asleep.
#
# Seeds with the current tree's seeder (cargo build --release --example seed).
# The same binary as A and B measures the noise.
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2; shift 2
db=sqlite duration=10 rounds=2 users=1000 posts=100000 conns=64
while [ $# -gt 0 ]; do
    case $1 in
        --db) db=$2; shift ;;
        --duration) duration=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --posts) posts=$2; shift ;;
        --conns) conns=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
threads=2 password="bench password 1"
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
work=$(mktemp -d /tmp/warrant-ab.XXXXXX)
. bench/server.sh
trap 'stop_server; rm -rf "$work"' EXIT
cargo build --release --quiet --example seed
echo "seeding $users users and $posts posts ($db)…" >&2
target/release/examples/seed "$url" "$users" "$posts" >/dev/null

logins() { # first count field -> one value per line, eight logins at a time
    python3 - "$base/login" "$1" "$2" "$3" "$password" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, first, count, field, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def login(i):
    body = json.dumps({"username": f"user{i}", "password": password}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))[field]
with ThreadPoolExecutor(8) as pool:
    print("\n".join(pool.map(login, range(first, first + count))))
PY
}

# Access tokens outlive a server: log them in once, on A.
start_server "$a"
TOKENS_FILE="$work/tokens"
logins 1 "$users" access_token >"$TOKENS_FILE"
TOKEN=$(head -n 1 "$TOKENS_FILE")
stop_server
export TOKEN TOKENS_FILE MAX_POST_ID=$posts USERS=$users PASSWORD=$password THREADS=$threads REFRESH_TOKENS

scenarios=("GET /healthz:healthz" "GET /posts?limit=20:list" "GET /posts?limit=20, $users tokens:list_many"
    "GET /posts/{id}:get" "POST /posts:create" "POST /refresh:refresh")
results="$work/results"
# A run first, unmeasured: the first server on a fresh database pays for a
# cold page cache (its list ran ≈ 10 % dearer), which is neither binary's.
start_server "$a"
wrk -t$threads -c$conns -d3s -s bench/scenarios/list.lua "$base" >/dev/null
stop_server
# A B, then B A: the database grows with every write scenario, so a side
# that always ran second would pay for a larger table (ABBA order).
for round in $(seq "$rounds"); do
    order="A B"; [ $((round % 2)) = 0 ] && order="B A"
    for side in $order; do
        bin=$a; [ $side = B ] && bin=$b
        start_server "$bin"
        # Refresh tokens rotate away: fresh ones each run, two per connection.
        REFRESH_TOKENS=$(logins 1 $((2 * conns)) refresh_token | paste -sd, -)
        for entry in "${scenarios[@]}"; do
            name=${entry%%:*} script=${entry##*:}
            before=$(cpu_ticks)
            line=$(wrk -t$threads -c$conns -d"${duration}s" -s "bench/scenarios/$script.lua" "$base" | grep '^RESULT')
            ticks=$(($(cpu_ticks) - before))
            eval "$(echo "${line#RESULT }" | tr ' ' '\n' | sed 's/^/r_/')"
            [ "$r_errors" = 0 ] || cp "$work/server.log" "/tmp/warrant-ab-$side$round.log"
            echo "$name|$side$round|$(awk -v t="$ticks" -v r="$r_requests" -v u="$tick_us" 'BEGIN { printf "%.1f", t * u / r }')|$r_errors" >>"$results"
        done
        stop_server
    done
done

printf '\nwarrant A/B: %s, %s posts, %s users, %s connections, %s s per scenario, %s rounds; server CPU µs per request (× its run'"'"'s /healthz)\n\n' \
    "$db" "$posts" "$users" "$conns" "$duration" "$rounds"
python3 - "$results" "$rounds" <<'PY'
import sys
rows, runs = {}, []
for line in open(sys.argv[1]):
    name, run, cpu, errors = line.rstrip("\n").split("|")
    rows.setdefault(name, {})[run] = (float(cpu), int(errors))
    if run not in runs: runs.append(run)
print("| scenario | " + " | ".join(runs) + " | B/A |")
print("|---|" + "---:|" * (len(runs) + 1))
health = rows["GET /healthz"]
for name, by_run in rows.items():
    cells = []
    for run in runs:
        cpu, errors = by_run[run]
        cell = f"{cpu:.1f} ({cpu / health[run][0]:.1f}×)"
        cells.append(cell + (f" {errors} err" if errors else ""))
    mean = lambda side: sum(c for r, (c, _) in by_run.items() if r.startswith(side)) / sum(1 for r in by_run if r.startswith(side))
    print(f"| {name} | " + " | ".join(cells) + f" | {mean('B') / mean('A'):.3f} |")
PY
