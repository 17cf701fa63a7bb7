#!/usr/bin/env python3
"""Instructions per request, counted with valgrind's callgrind (issue 14): a figure that does not
move with the machine's noise, to judge a change by. Standard library only.

Seeds the scale estate once (`seed-scale`; 20,000 device sets, an open window of 2,000 sets x 4
scenarios x 10 suppliers), signs in with the normal build, then for each scenario starts the
server under `valgrind --tool=callgrind` twice, sends the scenario's request K1 and K2 times and
stops it. The instructions of one request are (I(K2) - I(K1)) / (K2 - K1): start-up, migrations,
first-use costs and shutdown cancel out. Background work is switched off (mail and notification
workers, the window clock).

    cargo build --release
    python3 bench/instructions.py                                   # SQLite
    python3 bench/instructions.py --backend postgres
    python3 bench/instructions.py --binary /tmp/uit-before --label before

Scenarios: a list of 50 results, the window's matrix unchanged since the last read (with and
without If-None-Match), one result recorded (a one-item batch that flips an outcome), the
matrix read right after such a write (the write subtracted), and a batch of 1,000 results.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from catalogue import ROOT, free_port, request  # noqa: E402

PASSWORD = "bench-password-1"


def wait_listening(port, proc):
    """Waits until the port accepts (by connecting only: no request, so every run costs the same)."""
    for _ in range(6000):
        if proc.poll() is not None:
            raise SystemExit("the server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not listen")


def call(conn, method, path, token, body=None, etag=None, expect=(200,)):
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    if etag:
        headers["if-none-match"] = etag
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status not in expect:
        raise SystemExit(f"{method} {path} -> {resp.status} {data[:300]!r}")
    return resp.getheader("etag")


def counted(args, env, port, steps):
    """Instructions of a server run that performs `steps()` requests, from callgrind's totals."""
    out = tempfile.mktemp(prefix="callgrind-", suffix=".out")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             "--dump-instr=no", "--dump-line=no", args.binary, "serve"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        steps(conn)
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=600)
    with open(out) as f:
        text = f.read()
    os.unlink(out)
    m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "uit-portal"))
    ap.add_argument("--label", default="")
    ap.add_argument("--results", type=int, default=1_000_000)
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")

    data_dir = tempfile.mkdtemp(prefix="uit-instr-")
    env = dict(os.environ, PORTAL_DATA_DIR=data_dir, PORTAL_BOOTSTRAP_EMAIL="bench@example.org",
               PORTAL_BOOTSTRAP_PASSWORD=PASSWORD, PORTAL_LOG_LEVEL="warn", PORTAL_MAIL_TRANSPORT="memory",
               PORTAL_WINDOW_CLOCK_INTERVAL_SECONDS="0", PORTAL_NOTIFICATION_WORKERS="0",
               PORTAL_MAIL_WORKERS="0", PORTAL_HTTP_WORKERS="1", PORTAL_ACCESS_TOKEN_TTL_SECONDS="86400")
    database = None
    if args.backend == "postgres":
        database = f"uit_instr_{os.getpid()}"
        subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
        env["PORTAL_DATABASE_URL"] = f"{args.postgres_url}/{database}"
    try:
        report = json.loads(subprocess.run(
            [args.binary, "seed-scale", "--results", str(args.results), "--user-password", PASSWORD],
            env=env, check=True, capture_output=True, text=True).stdout)
        port = free_port()
        env["PORTAL_BIND"] = f"127.0.0.1:{port}"
        # Tokens and ids from a normal run; the JWT secret stays in the data directory.
        server = subprocess.Popen([args.binary, "serve"], env=env)
        try:
            wait_listening(port, server)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            login = lambda e: request(conn, "POST", "/api/v1/auth/login", body={"email": e, "password": PASSWORD})["access_token"]  # noqa: E731
            reader, writer, operator = login(report["supplier_emails"][4]), login(report["supplier_emails"][9]), login("bench@example.org")
            window = report["bench_window_id"]
            items = request(conn, "GET", f"/api/v1/uit-windows/{window}/coverage", reader)["items"]
            sets = [i["device_set_id"] for i in items][:250]
            one_set = items[-1]["device_set_id"]
            release = request(conn, "GET", f"/api/v1/uit-windows/{window}", reader)["release_id"]
            now = datetime.now(timezone.utc)
            batch_windows = [request(conn, "POST", "/api/v1/uit-windows", operator, {
                "release_id": release, "name": f"UIT-INSTR-{os.getpid()}-{i}",
                "opens_at": (now - timedelta(hours=1)).isoformat(),
                "closes_at": (now + timedelta(days=5)).isoformat()})["id"] for i in range(8)]
        finally:
            server.terminate()
            server.wait(timeout=60)

        matrix = f"/api/v1/uit-windows/{window}/matrix"
        flips = iter(range(10**9))

        def write(conn):
            outcome = ["pass", "fail"][next(flips) % 2]
            call(conn, "POST", "/api/v1/results/batch", writer, {"items": [{
                "uit_window_id": window, "device_set_id": one_set, "scenario": "install_and_commission",
                "outcome": outcome, "visibility": "industry"}]})

        def unchanged_304(conn, k):
            tag = call(conn, "GET", matrix, reader)
            for _ in range(k):
                call(conn, "GET", matrix, reader, etag=tag, expect=(200, 304))

        def unchanged(conn, k):
            call(conn, "GET", matrix, reader)
            for _ in range(k):
                call(conn, "GET", matrix, reader)

        def rebuilt(conn, k):
            for _ in range(k):
                write(conn)
                call(conn, "GET", matrix, reader)

        windows = iter(batch_windows)

        def batches(conn, k):
            for _ in range(k):
                w = next(windows)
                call(conn, "POST", "/api/v1/results/batch", writer, {"items": [
                    {"uit_window_id": w, "device_set_id": s, "scenario": c, "outcome": "pass", "visibility": "private"}
                    for s in sets for c in ["install_and_commission", "prepayment_top_up",
                                            "comms_hub_replacement", "change_of_mode"]]})

        scenarios = [
            ("list of 50 results", lambda c, k: [call(c, "GET", f"/api/v1/results?uit_window_id={window}&limit=50", reader) for _ in range(k)], 2, 12),
            ("matrix, unchanged window (from memory)", unchanged, 2, 12),
            ("matrix, unchanged window (If-None-Match: 304)", unchanged_304, 2, 12),
            ("one result recorded (one-item batch)", lambda c, k: [write(c) for _ in range(k)], 2, 12),
            ("one result recorded + the matrix read after it", rebuilt, 1, 4),
            ("batch of 1,000 results (created)", batches, 1, 3),
        ]
        rows = {}
        for name, fn, k1, k2 in scenarios:
            counts = [counted(args, env, port, lambda c, k=k: fn(c, k)) for k in (k1, k2)]
            rows[name] = (counts[1] - counts[0]) / (k2 - k1)
            print(f"{name}: {rows[name]:,.0f} instructions per request", file=sys.stderr)
        rows["matrix rebuilt after a write (the write subtracted)"] = (
            rows["one result recorded + the matrix read after it"] - rows["one result recorded (one-item batch)"])
        label = f" ({args.label})" if args.label else ""
        print(f"\n{args.backend}{label}: instructions per request (callgrind, server process only)\n")
        print("| scenario | instructions per request |")
        print("|---|---:|")
        for name, n in rows.items():
            print(f"| {name} | {n / 1e6:,.2f} M |")
    finally:
        if database:
            subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"DROP DATABASE {database}"], check=False)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
