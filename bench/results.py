#!/usr/bin/env python3
"""Matrix, coverage and batch latency at scale (issues 4 and 14): seeds 20,000 device sets and
1,000,000 results (an open benchmark window holds 2,000 sets x 4 scenarios x 10 suppliers),
starts the release build, and times against a baseline measured in the same run (reading one
result by id): repeated reads of an unchanged window, the same with If-None-Match (304), the
matrix built afresh after a write, and batches of 1,000 creations and 1,000 amendments; then
each bar of issue 14 with met or missed. Standard library only.

    cargo build --release
    python3 bench/results.py                      # SQLite
    python3 bench/results.py --backend postgres   # PostgreSQL on 127.0.0.1:5432
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from catalogue import ROOT, connect, free_port, request, timed_fn  # noqa: E402

PASSWORD = "bench-password-1"


def timed(fn, n, warmup=3):
    return timed_fn(fn, n, warmup)


def get(conn, path, token, accept="application/json", etag=None, expect=200):
    headers = {"authorization": f"Bearer {token}", "accept": accept}
    if etag:
        headers["if-none-match"] = etag
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != expect:
        raise SystemExit(f"GET {path} -> {resp.status} {body[:300]!r}")
    return resp.getheader("etag")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "uit-portal"))
    ap.add_argument("--results", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--batches", type=int, default=7)
    args = ap.parse_args()

    import tempfile
    data_dir = tempfile.mkdtemp(prefix="uit-bench-")
    env = dict(os.environ, PORTAL_DATA_DIR=data_dir, PORTAL_BOOTSTRAP_EMAIL="bench@example.org",
               PORTAL_BOOTSTRAP_PASSWORD=PASSWORD, PORTAL_LOG_LEVEL="warn", PORTAL_MAIL_TRANSPORT="memory",
               PORTAL_WINDOW_CLOCK_INTERVAL_SECONDS="0")
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
        conn = connect(port, tries=400, timeout=120)
        login = lambda email: request(conn, "POST", "/api/v1/auth/login", body={"email": email, "password": PASSWORD})["access_token"]  # noqa: E731
        # Supplier 4 publishes to participants: it sees industry, participants and its own private results.
        supplier = login(report["supplier_emails"][4])
        writer = login(report["supplier_emails"][9])
        operator = login("bench@example.org")
        window = report["bench_window_id"]
        one = request(conn, "GET", f"/api/v1/results?uit_window_id={window}&limit=1", supplier)["items"][0]["id"]
        matrix_path = f"/api/v1/uit-windows/{window}/matrix"
        coverage_path = f"/api/v1/uit-windows/{window}/coverage"
        rows = []
        for name, fn in [
            ("baseline: one result by id", lambda: get(conn, f"/api/v1/results/{one}", supplier)),
            ("matrix (supplier, participant)", lambda: get(conn, matrix_path, supplier)),
            ("matrix (operator)", lambda: get(conn, matrix_path, operator)),
            ("matrix as CSV", lambda: get(conn, matrix_path, supplier, "text/csv")),
            ("coverage (supplier)", lambda: get(conn, coverage_path, supplier)),
            ("coverage ?state=unclaimed", lambda: get(conn, coverage_path + "?state=unclaimed", supplier)),
        ]:
            rows.append((name,) + timed(fn, args.requests))
        # The same matrix with the ETag of the last answer: 304, no body.
        tag = get(conn, matrix_path, supplier)
        if tag:  # (a build from before issue 14 sends none)
            rows.append(("matrix, unchanged (If-None-Match: 304)",)
                        + timed(lambda: get(conn, matrix_path, supplier, etag=tag, expect=304), args.requests))
        # Built afresh: another supplier records one result before each (untimed) request.
        one_set = request(conn, "GET", coverage_path, supplier)["items"][-1]["device_set_id"]
        flips = iter(range(10**9))

        recorded = []

        def rebuilt():
            outcome = ["pass", "fail"][next(flips) % 2]
            start = time.perf_counter()
            request(conn, "POST", "/api/v1/results/batch", writer, {"items": [{
                "uit_window_id": window, "device_set_id": one_set, "scenario": "install_and_commission",
                "outcome": outcome, "visibility": "industry"}]})
            recorded.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            get(conn, matrix_path, supplier)
            return (time.perf_counter() - start) * 1000

        for _ in range(3):
            rebuilt()
        recorded.clear()
        built = sorted(rebuilt() for _ in range(args.requests))
        rows.append(("matrix rebuilt after a write (supplier)", statistics.median(built),
                     built[max(0, int(len(built) * 0.95) - 1)]))
        recorded.sort()
        rows.append(("one result recorded (one-item batch, amending)", statistics.median(recorded),
                     recorded[max(0, int(len(recorded) * 0.95) - 1)]))

        sets = [i["device_set_id"] for i in request(conn, "GET", coverage_path, supplier)["items"]][:250]
        scenarios = ["install_and_commission", "prepayment_top_up", "comms_hub_replacement", "change_of_mode"]
        release = request(conn, "GET", f"/api/v1/uit-windows/{window}", supplier)["release_id"]
        now = datetime.now(timezone.utc)

        def batch(window_id, outcome):
            items = [{"uit_window_id": window_id, "device_set_id": s, "scenario": c, "outcome": outcome,
                      "visibility": "private", "executed_at": "2026-11-20T10:00:00Z"} for s in sets for c in scenarios]
            result = request(conn, "POST", "/api/v1/results/batch", writer, {"items": items})
            return result["created"] + result["updated"]

        creates, updates = [], []
        for i in range(args.batches):
            fresh = request(conn, "POST", "/api/v1/uit-windows", operator, {
                "release_id": release, "name": f"UIT-BATCH-{os.getpid()}-{i}",
                "opens_at": (now - timedelta(hours=1)).isoformat(), "closes_at": (now + timedelta(days=5)).isoformat()})["id"]
            start = time.perf_counter()
            assert batch(fresh, "pass") == 1000
            creates.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            assert batch(fresh, "fail") == 1000
            updates.append((time.perf_counter() - start) * 1000)
        for name, samples in [("batch of 1,000: create", creates), ("batch of 1,000: amend all", updates)]:
            samples.sort()
            rows.append((name, statistics.median(samples), samples[-1]))

        base = rows[0][1]
        print(f"\n{args.backend}: {report['results']:,} results, {report['device_sets']:,} device sets; bench window "
              f"{report['bench_window_sets']:,} sets x 4 scenarios x 10 suppliers; seeded in {seed_seconds:.0f} s; "
              f"{args.requests} sequential requests per read scenario, {args.batches} batches each\n")
        print("| scenario | median ms | p95 (batches: max) ms | median / baseline |")
        print("|---|---:|---:|---:|")
        for name, median, p95 in rows:
            print(f"| {name} | {median:.1f} | {p95:.1f} | {median / base:.1f}x |")
        by_name = {name: median for name, median, _ in rows}
        batch_bar = 30 if args.backend == "sqlite" else 60
        print()
        for name, bar in [("matrix (supplier, participant)", 10), ("coverage (supplier)", 10),
                          ("matrix rebuilt after a write (supplier)", 10),
                          ("one result recorded (one-item batch, amending)", 1.5),
                          ("batch of 1,000: create", batch_bar), ("batch of 1,000: amend all", batch_bar)]:
            verdict = "met" if by_name[name] <= bar else "missed"
            print(f"- {name}: median {by_name[name]:.1f} ms (bar: <= {bar} ms): {verdict}")
    finally:
        server.terminate()
        server.wait(timeout=60)
        if database:
            subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"DROP DATABASE {database}"], check=False)


if __name__ == "__main__":
    sys.exit(main())
