#!/usr/bin/env python3
"""Device-set list latency at scale (issue 3): seeds 200 models / 2,000 firmware / 20,000 sets,
starts the release build, and times list queries against a baseline measured in the same run
(fetching one set by key). Standard library only.

    cargo build --release
    python3 bench/catalogue.py                      # SQLite
    python3 bench/catalogue.py --backend postgres   # PostgreSQL on 127.0.0.1:5432
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-operator-password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(binary, env, *args):
    out = subprocess.run([binary, *args], env=env, check=True, capture_output=True, text=True)
    return out.stdout


def request(conn, method, path, token=None, body=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 400:
        raise SystemExit(f"{method} {path} -> {resp.status} {data[:300]!r}")
    return json.loads(data) if data else None


def connect(port, tries=200, timeout=30):
    """An HTTP connection to the server on `port` once it answers /readyz (polled every 50 ms)."""
    conn = None
    for _ in range(tries):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            request(conn, "GET", "/readyz")
            break
        except (ConnectionRefusedError, OSError):
            time.sleep(0.05)
    return conn


def timed_fn(fn, n, warmup):
    """(median, p95) in ms of `n` calls of `fn` after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def timed(conn, path, token, n, warmup=20):
    for _ in range(warmup):
        request(conn, "GET", path, token)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        request(conn, "GET", path, token)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "uit-portal"))
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--device-sets", type=int, default=20000)
    args = ap.parse_args()

    data_dir = tempfile.mkdtemp(prefix="uit-bench-")
    env = dict(os.environ, PORTAL_DATA_DIR=data_dir, PORTAL_BOOTSTRAP_EMAIL="bench@example.org",
               PORTAL_BOOTSTRAP_PASSWORD=PASSWORD, PORTAL_LOG_LEVEL="warn", PORTAL_MAIL_TRANSPORT="memory",
               PORTAL_WINDOW_CLOCK_INTERVAL_SECONDS="0")
    database = None
    if args.backend == "postgres":
        database = f"uit_bench_{os.getpid()}"
        subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
        env["PORTAL_DATABASE_URL"] = f"{args.postgres_url}/{database}"
    report = json.loads(run(args.binary, env, "seed-scale", "--device-sets", str(args.device_sets)))
    port = free_port()
    env["PORTAL_BIND"] = f"127.0.0.1:{port}"
    server = subprocess.Popen([args.binary, "serve"], env=env)
    try:
        conn = connect(port)
        token = request(conn, "POST", "/api/v1/auth/login", body={"email": "bench@example.org", "password": PASSWORD})["access_token"]
        some_set = request(conn, "GET", "/api/v1/device-sets?limit=1", token)["items"][0]["id"]
        scenarios = [
            ("baseline: one set by id", f"/api/v1/device-sets/{some_set}"),
            ("list, no filter (50)", "/api/v1/device-sets?limit=50"),
            (f"firmware_id, busiest ({report['busiest_firmware_sets']} sets)",
             f"/api/v1/device-sets?firmware_id={report['busiest_firmware_id']}&limit=50"),
            (f"firmware_id, rarest ({report['quietest_firmware_sets']} set)",
             f"/api/v1/device-sets?firmware_id={report['quietest_firmware_id']}&limit=50"),
            ("min_prevalence=1000", "/api/v1/device-sets?min_prevalence=1000&limit=50"),
        ]
        rows = []
        for name, path in scenarios:
            median, p95 = timed(conn, path, token, args.requests)
            rows.append((name, median, p95))
        base = rows[0][1]
        print(f"\n{args.backend}: {report['device_sets']} device sets, {report['firmware']} firmware, "
              f"{args.requests} sequential requests per scenario (after 20 warm-up)\n")
        print("| scenario | median ms | p95 ms | median / baseline |")
        print("|---|---:|---:|---:|")
        for name, median, p95 in rows:
            print(f"| {name} | {median:.2f} | {p95:.2f} | {median / base:.2f}x |")
    finally:
        server.terminate()
        server.wait(timeout=30)
        if database:
            subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"DROP DATABASE {database}"], check=False)


if __name__ == "__main__":
    sys.exit(main())
