#!/usr/bin/env python3
"""Window scopes and coverage suggestions at scale (issue 13, parts 2 and 3): a fresh database
with `seed-scale`'s catalogue and benchmark window, a generated DPL of 20,000 distinct
memberships (bench/dpl/gen.py, one row each) imported with `uit-portal import-dpl`, then, over
HTTP against the release build (median and p95 of `--runs` requests after a warm-up):

  1. POST /uit-windows/{id}/scope, strategy prevalence (top 100, covering every live version):
     loads the 20,000 sets of the latest DPL, samples, writes, announces;
  2. POST /uit-windows/{id}/scope, strategy explicit, listing all 20,000 DPL sets;
  3. GET /uit-windows/{id}/suggestions over that 20,000-set scope as a supplier: the first
     request after the scope grew from the sample to the 20,000 sets (the grid's frame rebuilt
     with every set's members read), after the same sets were listed again in another order and
     after a claim (the frame rebuilt, the members it had kept), then warm ones.

Bar: sampling and suggestions for 20,000 sets under 200 ms. Standard library only.

    cargo build --release
    python3 bench/scope/run.py                       # SQLite
    python3 bench/scope/run.py --backend postgres    # PostgreSQL on 127.0.0.1:5432
    python3 bench/scope/run.py --baseline OLD_BINARY # the same against an older build, same run
"""
import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from catalogue import ROOT, connect, free_port, request, timed_fn  # noqa: E402

PASSWORD = "bench-password-1"


def timed(fn, n, warmup=2):
    return timed_fn(fn, n, warmup)


def dpl_set_ids(env, backend):
    query = "SELECT device_set_id FROM device_set_prevalence WHERE as_of = (SELECT MAX(as_of) FROM device_set_prevalence) ORDER BY device_set_id"
    if backend == "sqlite":
        with sqlite3.connect(os.path.join(env["PORTAL_DATA_DIR"], "portal.db")) as db:
            return [r[0] for r in db.execute(query)]
    out = subprocess.run(["psql", env["PORTAL_DATABASE_URL"], "-At", "-c", query],
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def prepare(args, env, backend):
    seeded = subprocess.run([args.binary, "seed-scale", "--results", "1000", "--user-password", PASSWORD],
                            env=env, check=True, capture_output=True, text=True)
    report = json.loads(seeded.stdout)
    source = (["--sqlite", os.path.join(env["PORTAL_DATA_DIR"], "portal.db")] if backend == "sqlite"
              else ["--postgres", env["PORTAL_DATABASE_URL"]])
    dpl = os.path.join(env["PORTAL_DATA_DIR"], "dpl.csv")
    with open(dpl, "w") as f:
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "dpl", "gen.py"), *source,
                        "--rows", str(args.sets), "--combinations", str(args.sets), "--bad-every", "0"],
                       stdout=f, check=True)
    subprocess.run([args.binary, "import-dpl", dpl, "--as-of", "2026-11-01"], env=env, check=True,
                   capture_output=True)
    return report


def bench(args, backend):
    data_dir = tempfile.mkdtemp(prefix="uit-scope-")
    env = dict(os.environ, PORTAL_DATA_DIR=data_dir, PORTAL_BOOTSTRAP_EMAIL="bench@example.org",
               PORTAL_BOOTSTRAP_PASSWORD=PASSWORD, PORTAL_LOG_LEVEL="warn", PORTAL_MAIL_TRANSPORT="memory",
               PORTAL_WINDOW_CLOCK_INTERVAL_SECONDS="0")
    database = None
    if backend == "postgres":
        database = f"uit_scope_{os.getpid()}"
        subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
        env["PORTAL_DATABASE_URL"] = f"{args.postgres_url}/{database}"
    report = prepare(args, env, backend)
    ids = dpl_set_ids(env, backend)
    port = free_port()
    env["PORTAL_BIND"] = f"127.0.0.1:{port}"
    server = subprocess.Popen([args.binary, "serve"], env=env)
    try:
        conn = connect(port, tries=400, timeout=120)
        login = lambda email: request(conn, "POST", "/api/v1/auth/login", body={"email": email, "password": PASSWORD})["access_token"]  # noqa: E731
        operator, supplier = login("bench@example.org"), login(report["supplier_emails"][4])
        window = report["bench_window_id"]
        scope = f"/api/v1/uit-windows/{window}/scope"
        suggestions = f"/api/v1/uit-windows/{window}/suggestions"
        sample = {"strategy": "prevalence", "top_n": 100, "cover_every_live_version": True}
        listed = {"strategy": "explicit", "device_set_ids": ids}
        rows = []
        answer = request(conn, "POST", scope, operator, sample)
        rows.append((f"POST scope, prevalence top 100 + live cover ({len(ids):,} DPL sets -> "
                     f"{len(answer['sets'])} sets, {answer['covered_share']:.1%} of the base)",)
                    + timed(lambda: request(conn, "POST", scope, operator, sample), args.runs))
        rows.append((f"POST scope, explicit list of {len(ids):,} sets",)
                    + timed(lambda: request(conn, "POST", scope, operator, listed), args.runs))
        def first_after(change, prepare=lambda: None):
            """(median, p95) of the first suggestions after `change`, each run after `prepare`."""
            samples = []
            for n in range(args.runs):
                prepare()
                change(n)
                start = time.perf_counter()
                request(conn, "GET", suggestions, supplier)
                samples.append((time.perf_counter() - start) * 1000)
            samples.sort()
            return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]

        # The grid's frame keeps the members of the sets it had; a set's members never change.
        # Worst case: the scope grows from the 309-set sample to the 20,000 listed sets, all
        # of whose members are read.
        def sampled():
            request(conn, "POST", scope, operator, sample)
            request(conn, "GET", suggestions, supplier)
        order = lambda n: listed if n % 2 else dict(listed, device_set_ids=ids[::-1])  # noqa: E731
        rows.append((f"GET suggestions, first after the scope grows from {len(answer['sets'])} to {len(ids):,} sets",)
                    + first_after(lambda n: request(conn, "POST", scope, operator, order(n)), sampled))
        rows.append((f"GET suggestions, first after a scope change (the same {len(ids):,} sets reordered)",)
                    + first_after(lambda n: request(conn, "POST", scope, operator, order(n))))
        claims = f"/api/v1/uit-windows/{window}/claims"
        held = []
        def claim(_):
            top = request(conn, "GET", suggestions + "?limit=1", supplier)["items"][0]["device_set_id"]
            held.append(request(conn, "POST", claims, supplier, {"device_set_id": top})["id"])
        rows.append(("GET suggestions, first after a claim",) + first_after(claim))
        for claim_id in held:
            request(conn, "DELETE", f"/api/v1/claims/{claim_id}", supplier)
        candidates = request(conn, "GET", suggestions, supplier)["candidates"]
        rows.append((f"GET suggestions, warm ({candidates:,} candidates)",)
                    + timed(lambda: request(conn, "GET", suggestions, supplier), args.runs))
        rows.append(("GET suggestions?limit=100, warm",)
                    + timed(lambda: request(conn, "GET", suggestions + "?limit=100", supplier), args.runs))
        return rows
    finally:
        server.terminate()
        server.wait(timeout=60)
        if database:
            subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"DROP DATABASE {database}"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "uit-portal"))
    ap.add_argument("--baseline", help="an older build to measure in the same run; adds its medians and the ratio")
    ap.add_argument("--sets", type=int, default=20_000, help="distinct memberships in the DPL")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if not args.baseline:
        print("| backend | request | median | p95 |")
        print("|---|---|---:|---:|")
    else:
        print("| backend | request | median | p95 | baseline median | ratio |")
        print("|---|---|---:|---:|---:|---:|")
    for backend in backends:
        rows = bench(args, backend)
        if not args.baseline:
            for name, median, p95 in rows:
                print(f"| {backend} | {name} | {median:.0f} ms | {p95:.0f} ms |", flush=True)
            continue
        base = bench(argparse.Namespace(**dict(vars(args), binary=args.baseline)), backend)
        for (name, median, p95), (_, base_median, _) in zip(rows, base):
            print(f"| {backend} | {name} | {median:.0f} ms | {p95:.0f} ms | {base_median:.0f} ms "
                  f"| {median / base_median:.2f} |", flush=True)


if __name__ == "__main__":
    main()
