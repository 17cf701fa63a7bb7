#!/usr/bin/env python3
"""Notification fan-out and delivery (issue 6). Standard library only.

Starts a local SMTP sink, seeds N confirmed subscribers without an account (all on topic
`uit_windows`, no filters), starts the release build with the sink as its SMTP server, and
then, per run, moves a UIT window's closing date through the API. That one change matches
every subscriber. Per run it measures:

- fan-out: the server's own timing of the transaction that writes the N notifications and
  consumes the event (its `fanned out change events` log line), and the event's
  `consumed_at - occurred_at` from the API (which adds the wait for the next poll);
- delivery: N emails over N / (last - first arrival at the sink), and the time from the change
  to the last email.

Prints the medians over the runs as a markdown table.

    cargo build --release
    python3 bench/notifications.py                      # SQLite
    python3 bench/notifications.py --backend postgres   # PostgreSQL on 127.0.0.1:5432
    python3 bench/notifications.py --subscribers 10000 --runs 3 --workers 2 --batch 50

Each run also measures a baseline: the sink fed by smtplib over one connection.
"""
import argparse
import http.client
import json
import os
import smtplib
import socketserver
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from catalogue import ROOT, free_port, request  # noqa: E402

PASSWORD = "bench-password-1"


class Sink(socketserver.ThreadingTCPServer):
    """An SMTP server that accepts everything and keeps the arrival time of each message."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.arrivals = []
        self.lock = threading.Lock()
        self.connections = 0


class SinkHandler(socketserver.StreamRequestHandler):
    def handle(self):
        with self.server.lock:
            self.server.connections += 1
        write = self.wfile.write
        write(b"220 sink ESMTP\r\n")
        readline = self.rfile.readline
        while True:
            line = readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                write(b"354 go ahead\r\n")
                while True:
                    data = readline()
                    if not data or data == b".\r\n":
                        break
                if not data:
                    return
                now = time.monotonic()
                with self.server.lock:
                    self.server.arrivals.append(now)
                write(b"250 OK\r\n")
            elif verb == b"QUIT":
                write(b"221 bye\r\n")
                return
            else:
                write(b"250 OK\r\n")


SUBSCRIBERS_SQL = """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
INSERT INTO subscriptions (id, user_id, email, topics_json, filters_json, mode, status, confirm_token_hash,
    confirmation_sent_at, confirmed_at, unsubscribe_token, unsubscribed_at, created_at, updated_at, version)
SELECT 'bench-sub-' || i, NULL, 'subscriber-' || i || '@example.org', '["uit_windows"]', '{{}}', 'immediate',
    'active', NULL, '{now}', '{now}', 'uitu_bench_' || i, NULL, '{now}', '{now}', 1 FROM n"""


def sink_baseline(sink, count=2000):
    """The sink's own rate: `count` emails of a notification's size over one connection from
    Python's smtplib, which sends a message and its terminating dot in one write. Returns
    emails/s; the sink forgets them afterwards."""
    body = ("Subject: baseline\r\nMessage-ID: <b@bench>\r\n\r\n" + "x" * 76 + "\r\n") * 40
    with sink.lock:
        start = len(sink.arrivals)
    client = smtplib.SMTP("127.0.0.1", sink.server_address[1])
    for _ in range(count):
        client.sendmail("bench@example.org", ["baseline@example.org"], body)
    client.quit()
    with sink.lock:
        arrivals = sink.arrivals[start:]
        del sink.arrivals[start:]
        sink.connections -= 1
    return (count - 1) / (arrivals[-1] - arrivals[0])


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "uit-portal"))
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=16, help="PORTAL_NOTIFICATION_WORKERS (the default)")
    ap.add_argument("--batch", type=int, default=50, help="PORTAL_NOTIFICATION_BATCH_SIZE")
    ap.add_argument("--smtp-pool", type=int, default=4, help="PORTAL_SMTP_POOL_SIZE")
    args = ap.parse_args()

    sink = Sink()
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    data_dir = tempfile.mkdtemp(prefix="uit-bench-")
    log_path = os.path.join(data_dir, "server.log")
    env = dict(os.environ, PORTAL_DATA_DIR=data_dir, PORTAL_BOOTSTRAP_EMAIL="bench@example.org",
               PORTAL_BOOTSTRAP_PASSWORD=PASSWORD, PORTAL_LOG_LEVEL="info", PORTAL_LOG_FORMAT="json",
               PORTAL_MAIL_TRANSPORT="smtp", PORTAL_SMTP_URL=f"smtp://127.0.0.1:{sink.server_address[1]}",
               PORTAL_SMTP_POOL_SIZE=str(args.smtp_pool), PORTAL_PUBLIC_URL="https://uit.example.org",
               PORTAL_MAIL_POLL_INTERVAL_MS="50", PORTAL_NOTIFICATION_WORKERS=str(args.workers),
               PORTAL_NOTIFICATION_BATCH_SIZE=str(args.batch), PORTAL_WINDOW_CLOCK_INTERVAL_SECONDS="0")
    database = None
    if args.backend == "postgres":
        database = f"uit_bench_{os.getpid()}"
        subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
        env["PORTAL_DATABASE_URL"] = f"{args.postgres_url}/{database}"
    subprocess.run([args.binary, "migrate"], env=env, check=True, capture_output=True)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    seed = SUBSCRIBERS_SQL.format(count=args.subscribers, now=now)
    if args.backend == "postgres":
        subprocess.run(["psql", env["PORTAL_DATABASE_URL"], "-qc", seed], check=True)
    else:
        with sqlite3.connect(os.path.join(data_dir, "portal.db")) as db:
            db.execute(seed)

    port = free_port()
    env["PORTAL_BIND"] = f"127.0.0.1:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen([args.binary, "serve"], env=env, stdout=log, stderr=log)
    try:
        def api(method, path, token=None, body=None):
            # A connection per call: the waits between calls outlast HTTP keep-alive.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                return request(conn, method, path, token, body)
            finally:
                conn.close()

        for _ in range(400):
            try:
                api("GET", "/readyz")
                break
            except (ConnectionRefusedError, OSError):
                time.sleep(0.05)
        token = api("POST", "/api/v1/auth/login", body={"email": "bench@example.org", "password": PASSWORD})["access_token"]
        release = api("POST", "/api/v1/releases", token, {"name": f"Bench {os.getpid()}", "kind": "sec_release"})["id"]
        start = datetime.now(timezone.utc) + timedelta(days=30)
        window = api("POST", "/api/v1/uit-windows", token, {
            "release_id": release, "name": f"UIT-BENCH-{os.getpid()}",
            "opens_at": start.isoformat(), "closes_at": (start + timedelta(days=10)).isoformat()})["id"]
        # The window's scheduling is itself a change every subscriber hears of: a warm-up run.
        expected = args.subscribers
        deadline = time.monotonic() + 600
        while len(sink.arrivals) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"warm-up: {len(sink.arrivals)} of {expected} emails after 600 s")
            time.sleep(0.05)

        runs = []
        for run in range(args.runs):
            baseline = sink_baseline(sink)
            before = len(sink.arrivals)
            log_offset = os.path.getsize(log_path)
            closes = start + timedelta(days=11 + run)
            changed = time.monotonic()
            api("PATCH", f"/api/v1/uit-windows/{window}", token, {"closes_at": closes.isoformat()})
            expected = before + args.subscribers
            deadline = time.monotonic() + 600
            while len(sink.arrivals) < expected:
                if time.monotonic() > deadline:
                    raise SystemExit(f"run {run}: {len(sink.arrivals) - before} of {args.subscribers} emails")
                time.sleep(0.02)
            arrivals = sink.arrivals[before:expected]
            events = api("GET", f"/api/v1/change-events?entity_id={window}&limit=500", token)["items"]
            event = [e for e in events if e["kind"] == "window.extended"][-1]
            consumed = (parse_time(event["consumed_at"]) - parse_time(event["occurred_at"])).total_seconds()
            fanout_ms = None
            with open(log_path) as log:
                log.seek(log_offset)
                for line in log:
                    if "fanned out change events" in line:
                        record = json.loads(line)
                        # The JSON log flattens an event's fields into the record.
                        fields = record.get("fields", record)
                        if fields.get("notifications") == args.subscribers:
                            fanout_ms = fields["elapsed_ms"]
            spread = arrivals[-1] - arrivals[0]
            rate = args.subscribers / spread if spread > 0 else float("inf")
            runs.append({
                "fanout_ms": fanout_ms,
                "consumed_ms": consumed * 1000,
                "rate": rate,
                "last_s": arrivals[-1] - changed,
                "baseline": baseline,
                "ratio": rate / baseline,
            })
            print(f"run {run + 1}: fan-out {fanout_ms} ms (consumed after {consumed * 1000:.0f} ms), "
                  f"{runs[-1]['rate']:.0f} emails/s ({runs[-1]['ratio']:.2f}x the sink baseline's "
                  f"{baseline:.0f}/s), last email {runs[-1]['last_s']:.1f} s after the change",
                  file=sys.stderr)

        med = lambda key: statistics.median(r[key] for r in runs if r[key] is not None)  # noqa: E731
        print(f"\n{args.backend}: {args.subscribers:,} subscribers, {args.runs} runs (medians), "
              f"{args.workers} notification workers, batches of {args.batch}, SMTP pool {args.smtp_pool}, "
              f"{sink.connections} SMTP connections in all\n")
        print("| measure | median | target |")
        print("|---|---:|---:|")
        print(f"| fan-out of one change to {args.subscribers:,} subscribers (transaction) | {med('fanout_ms'):.0f} ms | < 1 s |")
        print(f"| change -> event consumed (includes the 50 ms poll) | {med('consumed_ms'):.0f} ms | |")
        print(f"| delivery to the SMTP sink | {med('rate'):.0f} emails/s | >= 300 emails/s |")
        print(f"| baseline: the sink fed by smtplib, 1 connection | {med('baseline'):.0f} emails/s | |")
        print(f"| delivery / baseline | {med('ratio'):.2f}x | |")
        print(f"| change -> last of {args.subscribers:,} emails | {med('last_s'):.1f} s | |")
        met = med('ratio') >= 1.0 and sink.connections <= 4
        print(f"\n- delivery {med('ratio'):.2f}x the baseline over {sink.connections} connections "
              f"(issue 14's bar: >= 1.0x with at most 4 connections; run with --workers 4): "
              f"{'met' if met else 'missed'}")
    finally:
        server.terminate()
        server.wait()
        sink.shutdown()
        if database:
            subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"DROP DATABASE {database}"], check=False)


if __name__ == "__main__":
    main()
