#!/usr/bin/env python3
"""Readiness and review packs at scale (issue 12): seeds 20,000 device sets and 1,000,000
results (the open benchmark window holds 2,000 sets x 4 scenarios x 10 suppliers; suppliers
0-3 publish to the industry, 4-6 to participants, 7-9 privately), sets exit criteria on the
window, starts the release build and times, against the window's coverage measured in the
same run:

- GET /uit-windows/{id}/readiness as a participating supplier and as the operator
  (bar: median under 50 ms);
- POST /uit-windows/{id}/review-packs, freezing every industry result (bar: under 2 s);
- GET /review-packs/{id}: the download, with the server's resident memory before and after
  (it streams: memory grows by a few parts, not by the pack's size), and the hash checked;
- GET /review-packs/{id}/diff of two packs.

Standard library only.

    cargo build --release
    python3 bench/review_packs.py                      # SQLite
    python3 bench/review_packs.py --backend postgres   # PostgreSQL on 127.0.0.1:5432
"""
import argparse
import hashlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from catalogue import ROOT, free_port  # noqa: E402

PASSWORD = "bench-password-1"
CRITERIA = {
    "min_weighted_share": 0.5,
    "top_sets": {"top_n": 100},
    "max_unexplained_failures": 1000,
    "min_publishing_suppliers": 3,
    "no_open_blocking_issues": True,
}


def timed(fn, n, warmup=2):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.9))]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Api:
    def __init__(self, port, token=None):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.token = token

    def fresh(self):
        # The server closes idle keep-alive connections: start a new one when that happened.
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def call(self, method, path, body=None, expect=200):
        headers = {"accept": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["content-type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.fresh()
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status != expect:
            raise SystemExit(f"{method} {path} -> {resp.status} {raw[:300]!r}")
        return resp, raw

    def login(self, email):
        _, raw = self.call("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
        self.token = json.loads(raw)["access_token"]
        return self


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "uit-portal"))
    ap.add_argument("--results", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--packs", type=int, default=3)
    args = ap.parse_args()

    data_dir = tempfile.mkdtemp(prefix="uit-bench-packs-")
    env = dict(os.environ, PORTAL_DATA_DIR=data_dir, PORTAL_BOOTSTRAP_EMAIL="bench@example.org",
               PORTAL_BOOTSTRAP_PASSWORD=PASSWORD, PORTAL_LOG_LEVEL="warn", PORTAL_MAIL_TRANSPORT="memory",
               PORTAL_WINDOW_CLOCK_INTERVAL_SECONDS="0", PORTAL_LOGIN_RATE_PER_ACCOUNT_PER_MINUTE="1000000",
               PORTAL_LOGIN_RATE_PER_ADDRESS_PER_MINUTE="1000000")
    database = None
    if args.backend == "postgres":
        database = f"uit_bench_{os.getpid()}"
        subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
        env["PORTAL_DATABASE_URL"] = f"{args.postgres_url}/{database}"
    started = time.perf_counter()
    seeded = subprocess.run([args.binary, "seed-scale", "--results", str(args.results), "--user-password", PASSWORD],
                            env=env, check=True, capture_output=True, text=True)
    report = json.loads(seeded.stdout)
    seed_seconds = time.perf_counter() - started
    port = free_port()
    env["PORTAL_BIND"] = f"127.0.0.1:{port}"
    server = subprocess.Popen([args.binary, "serve"], env=env)
    try:
        for _ in range(400):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/readyz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        window = report["bench_window_id"]
        operator = Api(port).login("bench@example.org")
        supplier = Api(port).login(report["supplier_emails"][4])
        operator.call("PATCH", f"/api/v1/uit-windows/{window}", {"exit_criteria": CRITERIA})

        rows = []

        def get(api, path):
            return lambda: api.call("GET", path)

        for name, api, path in [
            ("baseline: coverage (supplier)", supplier, f"/api/v1/uit-windows/{window}/coverage"),
            ("readiness (participating supplier)", supplier, f"/api/v1/uit-windows/{window}/readiness"),
            ("readiness (operator)", operator, f"/api/v1/uit-windows/{window}/readiness"),
        ]:
            median, p90 = timed(get(api, path), args.requests)
            rows.append((name, median, p90))
        _, raw = supplier.call("GET", f"/api/v1/uit-windows/{window}/readiness")
        readiness = json.loads(raw)

        packs = []
        pack_ms = []
        for _ in range(args.packs):
            start = time.perf_counter()
            _, raw = operator.call("POST", f"/api/v1/uit-windows/{window}/review-packs", {}, expect=201)
            pack_ms.append((time.perf_counter() - start) * 1000)
            packs.append(json.loads(raw))
        pack_ms.sort()
        rows.append(("create a review pack", statistics.median(pack_ms), pack_ms[-1]))

        before = rss_kb(server.pid)
        supplier.fresh()
        start = time.perf_counter()
        supplier.conn.request("GET", f"/api/v1/review-packs/{packs[0]['id']}",
                              headers={"authorization": f"Bearer {supplier.token}"})
        resp = supplier.conn.getresponse()
        digest = hashlib.sha256()
        size = 0
        peak = before
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            peak = max(peak, rss_kb(server.pid))
        download_ms = (time.perf_counter() - start) * 1000
        etag = resp.getheader("etag", "").strip('"')
        hash_ok = digest.hexdigest() == packs[0]["sha256"] == etag
        rows.append(("download the pack (JSON)", download_ms, download_ms))

        diff_path = f"/api/v1/review-packs/{packs[-1]['id']}/diff?against={packs[0]['id']}"
        median, p90 = timed(get(supplier, diff_path), 5, warmup=1)
        rows.append(("diff of two packs", median, p90))

        baseline = rows[0][1]
        print(f"\n{args.backend}: {report['bench_window_sets']:,}-set window, {report['results']:,} results "
              f"({packs[0]['summary']['results']:,} at industry visibility); seeded in {seed_seconds:.0f} s; "
              f"{args.requests} sequential requests per read ({args.binary})")
        print(f"readiness: met={readiness['met']}, unmet={readiness['unmet']}, "
              f"{readiness['evidence']['results']:,} shared results counted for the supplier\n")
        print("| request | median ms | p90 / max ms | vs coverage |")
        print("|---|---:|---:|---:|")
        for name, median, p90 in rows:
            print(f"| {name} | {median:.1f} | {p90:.1f} | {median / baseline:.2f}x |")
        print(f"\npack: {size / 1e6:.1f} MB, hash {'checks out' if hash_ok else 'DOES NOT MATCH'}; "
              f"server RSS {before / 1024:.0f} MB before the download, peak {peak / 1024:.0f} MB during it")
        readiness_ok = max(rows[1][1], rows[2][1]) < 50
        pack_ok = rows[3][1] < 2000
        # Streaming holds at most a few 1 MiB parts (a channel of two, the one being sent) plus
        # the database's page cache, whatever the pack's size: a fixed bound, not a share.
        streams = (peak - before) < 16 * 1024
        print(f"readiness median under 50 ms: {'met' if readiness_ok else 'missed'}")
        print(f"pack created in under 2 s: {'met' if pack_ok else 'missed'}")
        print(f"download streams (RSS grows by less than 16 MB): {'met' if streams else 'missed'}")
        sys.exit(0 if hash_ok else 1)
    finally:
        server.terminate()
        server.wait()
        if database:
            subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"DROP DATABASE {database}"], check=False)


if __name__ == "__main__":
    main()
