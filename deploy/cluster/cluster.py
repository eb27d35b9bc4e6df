#!/usr/bin/env python3
"""Three warrant replicas behind HAProxy over one private PostgreSQL, on
this machine, and the scenarios that prove them a cluster. Started by
deploy/cluster/run.sh; stops everything it started, whatever happens.

Every client request goes through HAProxy from its own loopback address
(127.1.x.y), so the per-IP rate limit sees many clients, as in the field;
the rate-limit scenario sends from one. Probes that must reach one replica
(readiness, a revoked token, JWKS) go to it directly.
"""
import argparse
import base64
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

PASSWORD = "cluster password 42"
RATE_PER_MIN = 60
REVOCATION_TRIALS = 200
# What the contract and the README promise.
REVOCATION_P99_BOUND = 1.0
KEY_RELOAD_BOUND = 5.0 + 1.0
READYZ_BOUND = 1.5

_addresses = (f"127.1.{i // 250}.{i % 250 + 1}" for i in itertools.count())
_address_lock = threading.Lock()


def new_client_address():
    with _address_lock:
        return next(_addresses)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, token=None, body=None, source="127.0.0.1", timeout=10):
    """One request on a fresh connection: (status, parsed body). Status 0
    is a connection that failed or an answer that never came."""
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, path, body=data, headers=headers)
        res = conn.getresponse()
        raw = res.read()
        try:
            return res.status, json.loads(raw) if raw else None
        except ValueError:
            return res.status, None
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        conn.close()


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Tally:
    """Requests and their answers outside the expected ones, by status."""

    def __init__(self):
        self.requests = 0
        self.errors = {}
        self.lock = threading.Lock()

    def count(self, status, expected):
        with self.lock:
            self.requests += 1
            if status not in expected:
                key = "conn" if status == 0 else str(status)
                self.errors[key] = self.errors.get(key, 0) + 1

    def error_text(self):
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"


class Cluster:
    def __init__(self, binary, pg_bin):
        self.binary = os.path.abspath(binary)
        self.pg_bin = pg_bin
        self.dir = tempfile.mkdtemp(prefix="warrant-cluster.")
        self.pg_port = free_port()
        self.ports = [free_port() for _ in range(3)]
        self.lb = free_port()
        self.replicas = [None] * 3
        self.haproxy = None
        self.url = f"postgres://postgres@127.0.0.1:{self.pg_port}/warrant"

    # PostgreSQL refuses to run as root: as its own user then.
    def as_postgres(self, args, **kw):
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--"] + args
        return subprocess.run(args, check=True, stdout=subprocess.DEVNULL, **kw)

    def start_postgres(self):
        data = os.path.join(self.dir, "pg")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.as_postgres([f"{self.pg_bin}/initdb", "-D", data, "-U", "postgres", "--auth=trust"])
        self.pg_ctl("start")
        self.as_postgres([f"{self.pg_bin}/createdb", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U",
                          "postgres", "warrant"])

    def pg_ctl(self, action):
        data = os.path.join(self.dir, "pg")
        opts = ["-o", f"-p {self.pg_port} -k {self.dir} -c listen_addresses=127.0.0.1"] if action == "start" else []
        mode = ["-m", "fast"] if action == "stop" else []
        self.as_postgres([f"{self.pg_bin}/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "pg.log"), "-w",
                          *opts, *mode, action])

    def env(self, i=None):
        env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": self.url, "WARRANT_LOG": "info",
               "WARRANT_TRUST_PROXY": "1", "WARRANT_RATE_LIMIT_PER_MIN": str(RATE_PER_MIN),
               # Unready for 1 s on SIGTERM before the port closes: HAProxy's
               # check (every 300 ms, down after 2 failures) takes it out first.
               "WARRANT_SHUTDOWN_DRAIN": "1"}
        if i is not None:
            env["WARRANT_BIND"] = f"127.0.0.1:{self.ports[i]}"
        return env

    def start_replica(self, i):
        log = open(os.path.join(self.dir, f"replica{i + 1}.log"), "ab")
        self.replicas[i] = subprocess.Popen([self.binary, "serve"], env=self.env(i), stderr=log,
                                            stdout=subprocess.DEVNULL)

    def log_of(self, i):
        with open(os.path.join(self.dir, f"replica{i + 1}.log"), errors="replace") as f:
            return f.read()

    def wait_ready(self, i, bound=60):
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if call(self.ports[i], "GET", "/readyz", timeout=2)[0] == 200:
                return True
            if self.replicas[i].poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def start_haproxy(self):
        servers = "\n".join(f"    server r{i + 1} 127.0.0.1:{p} check" for i, p in enumerate(self.ports))
        config = f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    # The client's address, appended: warrant runs with WARRANT_TRUST_PROXY=1.
    option forwardfor
    # One server connection per request: a replica that stops taking
    # connections is noticed by the next request, not a reused socket.
    option http-server-close
    # A connection a stopped replica refused is retried on another (the
    # request never reached it, so this is safe for a POST too).
    retries 3
    retry-on conn-failure
    option redispatch 1
frontend clients
    bind 127.0.0.1:{self.lb}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 300ms fall 2 rise 2
{servers}
"""
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(config)
        self.haproxy = subprocess.Popen(["haproxy", "-f", path, "-db"], stdout=subprocess.DEVNULL,
                                        stderr=open(os.path.join(self.dir, "haproxy.log"), "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if call(self.lb, "GET", "/readyz", timeout=2)[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("HAProxy did not answer")

    def cli(self, *args, extra=None):
        env = self.env()
        env.update(extra or {})
        return subprocess.run([self.binary, *args], env=env, capture_output=True, text=True, check=True).stdout

    def stop(self):
        for p in self.replicas + [self.haproxy]:
            if p and p.poll() is None:
                p.kill()
                p.wait()
        try:
            self.pg_ctl("stop")
        except (subprocess.CalledProcessError, OSError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Row:
    def __init__(self, name, tally, passed, delay=None, note=""):
        self.name, self.tally, self.passed, self.delay, self.note = name, tally, passed, delay, note


def signup(cluster, name):
    status, body = call(cluster.lb, "POST", "/signup", body={"username": name, "password": PASSWORD},
                        source=new_client_address())
    if status != 201:
        raise RuntimeError(f"signup {name}: {status} {body}")
    return body


class Load:
    """Clients sending authenticated reads (and, given `writes`, posts)
    through the balancer until stopped; every answer is tallied with its
    time."""

    def __init__(self, cluster, token, threads=8, writes=False):
        self.cluster, self.token, self.writes = cluster, token, writes
        self.tally = Tally()
        self.failures = []  # (sent, answered, status)
        self.stored = []
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(threads)]

    def run(self, n):
        source = new_client_address()
        while not self.stop_flag.is_set():
            sent = time.monotonic()
            if self.writes and n % 2 == 0:
                status, body = call(self.cluster.lb, "POST", "/posts", self.token, {"content": "load"},
                                    source=source)
                if status == 201:
                    with self.tally.lock:
                        self.stored.append(body["id"])
                ok = (201,)
            else:
                status, _ = call(self.cluster.lb, "GET", "/posts?limit=5", self.token, source=source)
                ok = (200,)
            self.tally.count(status, ok)
            if status not in ok:
                with self.tally.lock:
                    self.failures.append((sent, time.monotonic(), status))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def scenario_start_together(cluster):
    for i in range(3):
        cluster.start_replica(i)
    ready = [cluster.wait_ready(i) for i in range(3)]
    applied = [int(m.group(1)) if (m := re.search(r"migrations_applied=(\d+)", cluster.log_of(i))) else -1
               for i in range(3)]
    migrated = [n for n in applied if n > 0]
    passed = all(ready) and len(migrated) == 1 and applied.count(0) == 2
    return Row("replicas start together on an empty database", Tally(), passed,
               note=f"migrations applied per replica: {applied}; ready: {sum(ready)}/3")


def scenario_revocation(cluster, admin_token):
    tally = Tally()
    kinds = ["logout", "role change", "user deletion"]

    def trial(n):
        kind = kinds[n % 3]
        user = signup(cluster, f"rev{n}")
        token = user["access_token"]
        tally.count(201, (201,))
        # Known to every replica before the change, as a token in use is.
        for port in cluster.ports:
            tally.count(call(port, "GET", "/check_session", token)[0], (200,))
        sent = time.monotonic()
        if kind == "logout":
            status, _ = call(cluster.lb, "DELETE", "/logout", token, source=new_client_address())
            tally.count(status, (204,))
        elif kind == "role change":
            status, _ = call(cluster.lb, "PATCH", f"/admin/users/{user['user']['id']}", admin_token,
                             {"role": "admin"}, source=new_client_address())
            tally.count(status, (200,))
        else:
            status, _ = call(cluster.lb, "DELETE", f"/admin/users/{user['user']['id']}", admin_token,
                             source=new_client_address())
            tally.count(status, (204,))
        worst = 0.0
        for port in cluster.ports:
            while True:
                status, _ = call(port, "GET", "/check_session", token)
                tally.count(status, (200, 401))
                if status == 401 or time.monotonic() - sent > 5:
                    break
                time.sleep(0.01)
            worst = max(worst, time.monotonic() - sent)
        return worst

    with ThreadPoolExecutor(8) as pool:
        delays = sorted(pool.map(trial, range(REVOCATION_TRIALS)))
    p99 = delays[int(len(delays) * 0.99) - 1]
    passed = p99 <= REVOCATION_P99_BOUND and not tally.errors
    return Row("logout / role change / deletion refused on every replica", tally, passed, delays[-1],
               f"{REVOCATION_TRIALS} trials through the balancer, p50 {delays[len(delays) // 2] * 1000:.0f} ms, "
               f"p99 {p99 * 1000:.0f} ms (bound {REVOCATION_P99_BOUND * 1000:.0f} ms, from the request's send)")


def scenario_refresh_race(cluster):
    tally = Tally()
    same = 0
    trials = 50
    for n in range(trials):
        refresh = signup(cluster, f"race{n}")["refresh_token"]
        tally.count(201, (201,))
        source = new_client_address()
        answers = [None, None]
        barrier = threading.Barrier(2)

        def present(k):
            barrier.wait()
            answers[k] = call(cluster.ports[k], "POST", "/refresh", body={"refresh_token": refresh}, source=source)

        threads = [threading.Thread(target=present, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for status, _ in answers:
            tally.count(status, (200,))
        if all(a[0] == 200 for a in answers) and answers[0][1]["refresh_token"] == answers[1][1]["refresh_token"]:
            # The one successor both got is live.
            status, _ = call(cluster.lb, "POST", "/refresh", body={"refresh_token": answers[0][1]["refresh_token"]},
                             source=source)
            tally.count(status, (200,))
            same += status == 200
    return Row("one refresh token at two replicas at once", tally, same == trials,
               note=f"{same}/{trials}: both answered 200 with the same successor, which then worked")


def scenario_rate_limit(cluster):
    tally = Tally()
    source = new_client_address()
    accepted = 0
    started = time.monotonic()
    for n in range(2 * RATE_PER_MIN):
        # A name of its own each time: one name's wrong passwords would
        # meet its per-account budget (20) before the per-address limit.
        status, _ = call(cluster.lb, "POST", "/login", body={"username": f"nobody{n}", "password": PASSWORD},
                         source=source)
        tally.count(status, (401, 429))
        accepted += status != 429
    elapsed = time.monotonic() - started
    # A burst of the limit, then the limit's rate, whichever replica answers.
    allowed = RATE_PER_MIN + int(elapsed * RATE_PER_MIN / 60) + 1
    passed = RATE_PER_MIN <= accepted <= allowed and not tally.errors
    return Row("per-IP limit across replicas", tally, passed,
               note=f"{accepted} of {2 * RATE_PER_MIN} logins from one address got through in {elapsed:.1f} s "
                    f"(limit {RATE_PER_MIN}/min, at most {allowed})")


def scenario_rotate_key(cluster):
    tally = Tally()
    out = cluster.cli("rotate-key")
    kid = re.search(r"added signing key (\S+):", out).group(1)
    started = time.monotonic()
    worst = 0.0
    for port in cluster.ports:
        while time.monotonic() - started < 30:
            status, body = call(port, "GET", "/.well-known/jwks.json")
            tally.count(status, (200,))
            if body and any(k.get("kid") == kid for k in body["keys"]):
                break
            time.sleep(0.1)
        worst = max(worst, time.monotonic() - started)
    return Row("rotate-key reaches every replica's JWKS", tally, worst <= KEY_RELOAD_BOUND and not tally.errors,
               worst, f"new key {kid[:12]}… published by all 3 (bound {KEY_RELOAD_BOUND:.0f} s)")


def scenario_kill(cluster, token):
    with Load(cluster, token, writes=True) as load:
        time.sleep(2)
        killed_at = time.monotonic()
        cluster.replicas[2].send_signal(signal.SIGKILL)
        cluster.replicas[2].wait()
        gone_at = time.monotonic()
        time.sleep(4)
    # Only requests in flight at the killed replica may fail: sent before it
    # was gone (its sockets close as it dies, so a request a thread sends
    # after its first 502 can still reach it), answered within 1 s.
    sent_after = [f for f in load.failures if f[0] > gone_at]
    late = [f for f in load.failures if f[1] > killed_at + 1.0]
    passed = not sent_after and not late
    cluster.start_replica(2)
    ready = cluster.wait_ready(2)
    return Row("kill -9 of one replica under load", load.tally, passed and ready,
               note=f"{len(load.failures)} failed with {len(load.threads)} threads, {len(sent_after)} of them "
                    f"sent after the replica was gone, {len(late)} answered more than 1 s after the kill; "
                    f"restarted: {ready}")


def scenario_postgres_restart(cluster, token):
    readyz_503 = {}
    with Load(cluster, token, threads=6, writes=True) as load:
        time.sleep(1.5)
        # From when PostgreSQL is down: a fast shutdown first waits for
        # its checkpoint, which takes its own time under load.
        cluster.pg_ctl("stop")
        stopped_at = time.monotonic()

        def watch(i):
            # Each replica asked on its own: an unready answer may take the
            # readiness bound (1 s) to come.
            while time.monotonic() - stopped_at < 3:
                if call(cluster.ports[i], "GET", "/readyz", timeout=3)[0] == 503:
                    readyz_503[i] = time.monotonic() - stopped_at
                    return
                time.sleep(0.02)

        watchers = [threading.Thread(target=watch, args=(i,)) for i in range(3)]
        for t in watchers:
            t.start()
        for t in watchers:
            t.join()
        time.sleep(max(0.0, stopped_at + 3 - time.monotonic()))
        cluster.pg_ctl("start")
        started_at = time.monotonic()
        recovered = all(cluster.wait_ready(i, bound=20) for i in range(3))
        recovery = time.monotonic() - started_at
        time.sleep(1)
    lost = [pid for pid in load.stored if call(cluster.lb, "GET", f"/posts/{pid}", token,
                                               source=new_client_address())[0] != 200]
    server_errors = sum(v for k, v in load.tally.errors.items() if k.startswith("5") and k != "503")
    worst = max(readyz_503.values()) if len(readyz_503) == 3 else None
    passed = worst is not None and worst <= READYZ_BOUND and recovered and not lost and server_errors == 0 \
        and "conn" not in load.tally.errors
    return Row("PostgreSQL stopped and restarted under load", load.tally, passed, worst,
               f"/readyz 503 on all 3 after {worst if worst is None else round(worst, 2)} s; ready again "
               f"{recovery:.1f} s after the restart, no replica restarted; {len(load.stored)} writes "
               f"acknowledged, {len(lost)} lost")


def scenario_rolling_restart(cluster, token):
    with Load(cluster, token, writes=True) as load:
        time.sleep(1)
        for i in range(3):
            cluster.replicas[i].send_signal(signal.SIGTERM)
            code = cluster.replicas[i].wait(timeout=30)
            cluster.start_replica(i)
            if not cluster.wait_ready(i) or code != 0:
                break
            # HAProxy's `rise 2` at 300 ms: back in rotation before the next.
            time.sleep(1)
        time.sleep(1)
    passed = not load.tally.errors and all(r.poll() is None for r in cluster.replicas)
    return Row("rolling restart of all replicas under load", load.tally, passed,
               note="SIGTERM (1 s unready, then the port closes), wait for exit 0, start, ready, next")


def print_table(rows):
    head = ["scenario", "requests", "errors by status", "worst delay", "result"]
    cells = [[r.name, str(r.tally.requests), r.tally.error_text(),
              "—" if r.delay is None else f"{r.delay * 1000:.0f} ms", "pass" if r.passed else "FAIL"] for r in rows]
    widths = [max(len(c[k]) for c in cells + [head]) for k in range(len(head))]
    line = lambda c: "| " + " | ".join(x.ljust(w) for x, w in zip(c, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print(line(c))
    print()
    for r in rows:
        print(f"- {r.name}: {r.note}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--pg-bin", required=True)
    args = parser.parse_args()
    cluster = Cluster(args.bin, args.pg_bin)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rows = []
    try:
        cluster.start_postgres()
        print(f"PostgreSQL on {cluster.pg_port}; replicas on {cluster.ports}; HAProxy on {cluster.lb}", flush=True)
        rows.append(scenario_start_together(cluster))
        cluster.start_haproxy()
        cluster.cli("create-admin", "root", extra={"WARRANT_ADMIN_PASSWORD": PASSWORD})
        status, admin = call(cluster.lb, "POST", "/login", body={"username": "root", "password": PASSWORD},
                             source=new_client_address())
        assert status == 200, (status, admin)
        loader = signup(cluster, "loader")["access_token"]
        rows.append(scenario_revocation(cluster, admin["access_token"]))
        rows.append(scenario_refresh_race(cluster))
        rows.append(scenario_rate_limit(cluster))
        rows.append(scenario_rotate_key(cluster))
        rows.append(scenario_kill(cluster, loader))
        rows.append(scenario_postgres_restart(cluster, loader))
        rows.append(scenario_rolling_restart(cluster, loader))
    except Exception:
        print_table(rows)
        for i in range(3):
            print(f"--- replica {i + 1} log (tail)\n" + cluster.log_of(i)[-2000:], file=sys.stderr)
        raise
    finally:
        cluster.stop()
    print_table(rows)
    sys.exit(0 if all(r.passed for r in rows) else 1)


if __name__ == "__main__":
    main()
