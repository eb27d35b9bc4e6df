# Shared by bench/run.sh and bench/ab-login.sh (sourced, after `work` and
# `db` are set): the database URL, and starting, stopping and reading the
# CPU time of one warrant server at a time.
case $db in
    sqlite) url="$work/bench.db" ;;
    postgres) url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/warrant_bench?sslmode=disable} ;;
    *) echo "--db must be sqlite or postgres" >&2; exit 2 ;;
esac

server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    server_pid=
}

# Starts BINARY on the database at a free port; sets `base`.
start_server() {
    WARRANT_BIND=127.0.0.1:0 DATABASE_URL=$url WARRANT_LOG=warn,warrant::startup=info \
        WARRANT_RATE_LIMIT_PER_MIN=${BENCH_RATE_LIMIT:-0} "$1" serve 2>"$work/server.log" &
    server_pid=$!
    base=
    for _ in $(seq 200); do
        base=$(grep -o 'listening on http://[0-9.:]*' "$work/server.log" | sed 's/listening on //' | head -n 1) || true
        [ -n "$base" ] && break
        sleep 0.05
    done
    [ -n "$base" ] || { cat "$work/server.log" >&2; exit 1; }
}

# CPU time the server spent (user + system, in clock ticks), from /proc:
# steadier than rates on a shared machine.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
tick_us=$((1000000 / $(getconf CLK_TCK)))
