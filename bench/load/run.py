#!/usr/bin/env python3
"""Load benchmarks (issue 7): throughput and tail latency of the release build under concurrent
load on loopback, against a bare baseline measured in the same run (examples/baseline.rs: one
actix-web + diesel endpoint reading one organisation by key from the same database, with the
portal's pool). Standard library only; the load generator is oha (`cargo install oha --locked`).

    cargo build --release --bin uit-portal --example baseline
    python3 bench/load/run.py                       # SQLite and PostgreSQL, 3 runs each
    python3 bench/load/run.py --backend sqlite --runs 1 --duration 5   # a quick look

Per backend it seeds once (`seed-scale --results`, like bench/results.py but smaller by
default), then for each run starts the portal and the baseline afresh, reads the portal's idle
resident memory, and runs every scenario for --duration seconds after a short warm-up. The
table shows, per scenario, the median over the runs of requests/s, p50 and p99, and of each
run's ratio to that run's baseline. The goals (README.md) are checked at the end.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PASSWORD = "bench-password-1"
OPERATOR = "bench@example.org"
SCENARIOS = ["install_and_commission", "prepayment_top_up", "comms_hub_replacement", "change_of_mode"]

# key, label in the table
ROWS = [
    ("baseline", "baseline: one organisation by id (bare actix-web + diesel)"),
    ("health", "`GET /healthz`"),
    ("list", "list of 50 results, `?uit_window_id=` (the bench window)"),
    ("list_all", "list of 50 results, no filter"),
    ("matrix", "matrix of the bench window"),
    ("batch", "batch of 1,000 results (amends all 1,000)"),
    ("login", "login"),
    ("list_storm", "list of 50 results, `?uit_window_id=`, during a login storm"),
    ("list_all_storm", "list of 50 results, no filter, during a login storm"),
]
# The lists the goals are checked for, with their storm counterparts.
LISTS = [("list", "list_storm", "`?uit_window_id=`"), ("list_all", "list_all_storm", "no filter")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, token=None, body=None, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status >= 400:
        raise SystemExit(f"{method} {path} -> {resp.status} {data[:300]!r}")
    return json.loads(data) if data else None


def wait_ready(port, proc, path):
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"process exited during start-up ({proc.returncode})")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status < 500:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"nothing answered on port {port}")


# How long after a scenario its resident memory is read again: long enough for the requests
# still in flight to finish and for the server's periodic malloc_trim (every 2 s) to run.
SETTLE_SECONDS = 3


def rss_mb(pid, field="VmRSS"):
    """Resident set size of a process, in MB (VmRSS from /proc; RssAnon for its anonymous part,
    without the pages of the binary and of SQLite's memory-mapped database file, which the
    kernel can drop at will)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field}")


class Oha:
    def __init__(self, binary, concurrency):
        self.binary = binary
        self.concurrency = concurrency

    def args(self, port, path, seconds, token=None, method="GET", body=None):
        args = [self.binary, "--no-tui", "--output-format", "json", "-z", f"{seconds}s",
                "-c", str(self.concurrency), "-m", method]
        if token:
            args += ["-H", f"authorization: Bearer {token}"]
        if body is not None:
            args += ["-T", "application/json", "-d", json.dumps(body)]
        return args + [f"http://127.0.0.1:{port}{path}"]

    def start(self, *a, **kw):
        return subprocess.Popen(self.args(*a, **kw), stdout=subprocess.PIPE, text=True)

    @staticmethod
    def finish(proc, what):
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"oha failed for {what}")
        report = json.loads(out)
        codes = report.get("statusCodeDistribution", {})
        bad = {c: n for c, n in codes.items() if not c.startswith("2")}
        if bad or not codes:
            raise SystemExit(f"{what}: non-2xx answers {codes}; errors {report.get('errorDistribution')}")
        p = report["latencyPercentiles"]
        return {"rps": report["summary"]["requestsPerSec"], "p50": p["p50"] * 1000, "p99": p["p99"] * 1000,
                "n": sum(codes.values())}

    def run(self, port, path, seconds, warmup, **kw):
        if warmup:
            self.finish(self.start(port, path, warmup, **kw), path + " (warm-up)")
        return self.finish(self.start(port, path, seconds, **kw), path)


def batch_load(port, token, window, sets, seconds, warmup, concurrency):
    """1,000-result batches from `concurrency` clients, each amending its own 250 device sets x
    4 scenarios, alternating the outcome so that every batch rewrites all 1,000 results. oha
    sends one fixed body, which after the first request would only measure "unchanged"."""
    stop = time.perf_counter() + warmup + seconds
    measure_from = time.perf_counter() + warmup
    samples, errors, lock = [], [], threading.Lock()

    def client(i):
        mine = sets[i * 250:(i + 1) * 250]
        bodies = {outcome: json.dumps({"items": [
            {"uit_window_id": window, "device_set_id": s, "scenario": c, "outcome": outcome,
             "visibility": "private", "executed_at": "2026-11-20T10:00:00Z"} for s in mine for c in SCENARIOS]})
            for outcome in ("blocked", "pass", "fail")}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
        # A first batch of `blocked` (never used after), so that the pass/fail alternation that
        # follows changes every result whatever an earlier run left behind.
        outcomes = ["blocked"]
        while True:
            start = time.perf_counter()
            if start >= stop:
                break
            outcome = outcomes[-1]
            conn.request("POST", "/api/v1/results/batch", body=bodies[outcome], headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            end = time.perf_counter()
            outcomes.append("fail" if outcome == "pass" else "pass")
            answer = json.loads(data) if resp.status == 200 else {}
            if resp.status != 200 or (len(outcomes) > 2 and answer["updated"] != 1000):
                with lock:
                    errors.append(f"{resp.status} {data[:200]!r}")
                break
            if start >= measure_from and len(outcomes) > 2:
                with lock:
                    samples.append((end - start) * 1000)
        conn.close()

    if len(sets) < 250 * concurrency:
        raise SystemExit(f"the bench window has {len(sets)} sets; {concurrency} batch clients need {250 * concurrency}")
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors or not samples:
        raise SystemExit(f"batch: {errors[:3]}")
    samples.sort()
    return {"rps": len(samples) / seconds, "p50": statistics.median(samples),
            "p99": samples[min(len(samples) - 1, int(len(samples) * 0.99))], "n": len(samples)}


def seed(args, env):
    started = time.perf_counter()
    out = subprocess.run([args.binary, "seed-scale", "--device-sets", str(args.device_sets),
                          "--results", str(args.results), "--user-password", PASSWORD],
                         env=env, check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    report["seconds"] = time.perf_counter() - started
    return report


def one_run(args, env, database_url, report, oha):
    port = free_port()
    server_env = dict(env, PORTAL_BIND=f"127.0.0.1:{port}")
    server = subprocess.Popen([args.binary, "serve"], env=server_env)
    base_port = free_port()
    baseline = subprocess.Popen([args.baseline, "--database-url", database_url, "--bind", f"127.0.0.1:{base_port}"],
                                stdout=subprocess.DEVNULL)
    try:
        wait_ready(port, server, "/readyz")
        wait_ready(base_port, baseline, "/")
        time.sleep(1)
        idle_rss = rss_mb(server.pid)

        login = lambda email: call(port, "POST", "/api/v1/auth/login", body={"email": email, "password": PASSWORD})  # noqa: E731
        reader = login(report["supplier_emails"][4])["access_token"]
        writer = login(report["supplier_emails"][9])["access_token"]
        window = report["bench_window_id"]
        me = call(port, "GET", "/api/v1/me", reader)
        org = me["organisation"]["id"]
        list_path = f"/api/v1/results?uit_window_id={window}&limit=50"
        list_all_path = "/api/v1/results?limit=50"
        for path in (list_path, list_all_path):
            assert len(call(port, "GET", path, reader)["items"]) == 50
        sets = [i["device_set_id"] for i in call(port, "GET", f"/api/v1/uit-windows/{window}/coverage", reader)["items"]]
        login_body = {"email": report["supplier_emails"][0], "password": PASSWORD}

        d, w = args.duration, args.warmup
        got = {"rss": idle_rss, "rss_after": {}}

        def measure(key, fn):
            got[key] = fn()
            # At the scenario's end (requests the load tool gave up on may still be running,
            # e.g. queued password hashes of 19 MiB each), then once the server has settled.
            got.setdefault("rss_end", {})[key] = rss_mb(server.pid)
            time.sleep(SETTLE_SECONDS)
            got["rss_after"][key] = rss_mb(server.pid)
            got.setdefault("anon_after", {})[key] = rss_mb(server.pid, "RssAnon")

        measure("baseline", lambda: oha.run(base_port, f"/organisations/{org}", d, w))
        measure("health", lambda: oha.run(port, "/healthz", d, w))
        measure("list", lambda: oha.run(port, list_path, d, w, token=reader))
        measure("list_all", lambda: oha.run(port, list_all_path, d, w, token=reader))
        measure("matrix", lambda: oha.run(port, f"/api/v1/uit-windows/{window}/matrix", d, w, token=reader))
        measure("batch", lambda: batch_load(port, writer, window, sets, d, w, args.batch_clients))
        measure("login", lambda: oha.run(port, "/api/v1/auth/login", d, w, method="POST", body=login_body))

        def during_storm(path):
            # The storm starts first and ends last, so that every list request meets it.
            storm = Oha(oha.binary, args.storm_concurrency).start(port, "/api/v1/auth/login", d + 2 * w,
                                                                  method="POST", body=login_body)
            time.sleep(w)
            listed = oha.run(port, path, d, 0, token=reader)
            Oha.finish(storm, "login storm")
            return listed

        measure("list_storm", lambda: during_storm(list_path))
        measure("list_all_storm", lambda: during_storm(list_all_path))
        print(f"  resident memory: {idle_rss:.0f} MB idle; after each scenario: "
              + ", ".join(f"{k} {v:.0f} MB" for k, v in got["rss_after"].items())
              + "; anonymous: " + ", ".join(f"{k} {v:.0f} MB" for k, v in got["anon_after"].items()),
              file=sys.stderr, flush=True)
        return got
    finally:
        for proc in (server, baseline):
            proc.terminate()
            proc.wait(timeout=60)


def median(values):
    return statistics.median(values)


def table(backend, report, runs, args):
    lines = [f"\n### {backend}\n",
             f"{report['results']:,} results, {report['device_sets']:,} device sets, bench window "
             f"{report['bench_window_sets']:,} sets x 4 scenarios x 10 suppliers (seeded in {report['seconds']:.0f} s); "
             f"median of {len(runs)} run(s) of {args.duration} s per scenario, {args.concurrency} connections "
             f"({args.batch_clients} for batches, {args.storm_concurrency} more for the login storm)\n",
             "| scenario | req/s | p50 ms | p99 ms | req/s / baseline | p50 / baseline | p99 / baseline |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for key, name in ROWS:
        r = [run[key] for run in runs]
        ratio = lambda m: median([run[key][m] / run["baseline"][m] for run in runs])  # noqa: E731
        lines.append(f"| {name} | {median([x['rps'] for x in r]):,.0f} | {median([x['p50'] for x in r]):.2f} | "
                     f"{median([x['p99'] for x in r]):.2f} | {ratio('rps'):.2f}x | {ratio('p50'):.1f}x | "
                     f"{ratio('p99'):.1f}x |")
    rss = median([run["rss"] for run in runs])
    after = {key: median([run["rss_after"][key] for run in runs]) for key, _ in ROWS}
    anon = {key: median([run["anon_after"][key] for run in runs]) for key, _ in ROWS}
    end = {key: median([run["rss_end"][key] for run in runs]) for key, _ in ROWS}
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    lines.append("")
    # Issue 14's bars (issue 9's were 40% and 3x for the lists and 50 MB idle).
    for key, storm_key, label in LISTS:
        rps = median([run[key]["rps"] / run["baseline"]["rps"] for run in runs])
        p99 = median([run[key]["p99"] / run["baseline"]["p99"] for run in runs])
        storm = median([run[storm_key]["p99"] / run[key]["p99"] for run in runs])
        lines += [
            f"- list ({label}) throughput {rps:.2f}x the baseline's (bar: >= 0.6x): {verdict(rps >= 0.6)}",
            f"- list ({label}) p99 {p99:.1f}x the baseline's (bar: <= 2x): {verdict(p99 <= 2)}",
            f"- list ({label}) p99 during a login storm {storm:.1f}x its idle p99 (bar: <= 2x): {verdict(storm <= 2)}"]
    matrix = median([run["matrix"]["rps"] for run in runs])
    last = list(after)[-1]
    lines += [f"- matrix under load {matrix:,.0f} req/s (bar: >= 500): {verdict(matrix >= 500)}",
              f"- idle resident memory {rss:.1f} MB after start-up (bar: <= 25 MB): {verdict(rss <= 25)}",
              f"- resident memory after the load run {after[last]:.0f} MB, {anon[last]:.0f} MB of it anonymous, "
              f"{SETTLE_SECONDS} s after its last scenario ended ({end[last]:.0f} MB at its end) "
              f"(bar: <= 80 MB): {verdict(after[last] <= 80)}",
              "",
              f"Resident memory {SETTLE_SECONDS} s after each scenario (all / anonymous, the rest being the binary's "
              "and the memory-mapped database's pages; in brackets, all at the scenario's end): "
              + ", ".join(f"{key} {mb:.0f} / {anon[key]:.0f} MB ({end[key]:.0f})"
                          for key, mb in after.items() if key != "baseline") + "."]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "uit-portal"))
    ap.add_argument("--baseline", default=os.path.join(ROOT, "target", "release", "examples", "baseline"))
    ap.add_argument("--oha", default=shutil.which("oha") or "oha")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per scenario")
    ap.add_argument("--concurrency", type=int, default=8, help="connections per scenario")
    ap.add_argument("--batch-clients", type=int, default=2)
    ap.add_argument("--storm-concurrency", type=int, default=8, help="connections logging in during the storm")
    ap.add_argument("--device-sets", type=int, default=20000)
    ap.add_argument("--results", type=int, default=200_000)
    args = ap.parse_args()
    for path in (args.binary, args.baseline):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"{path} not found: cargo build --release --bin uit-portal --example baseline")
    if not shutil.which(args.oha) and not os.access(args.oha, os.X_OK):
        raise SystemExit("oha not found: cargo install oha --locked (or --oha PATH)")
    oha = Oha(args.oha, args.concurrency)

    out = []
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        data_dir = tempfile.mkdtemp(prefix="uit-load-")
        env = dict(os.environ, PORTAL_DATA_DIR=data_dir, PORTAL_BOOTSTRAP_EMAIL=OPERATOR,
                   PORTAL_BOOTSTRAP_PASSWORD=PASSWORD, PORTAL_LOG_LEVEL="warn", PORTAL_MAIL_TRANSPORT="memory",
                   PORTAL_WINDOW_CLOCK_INTERVAL_SECONDS="0", PORTAL_ACCESS_TOKEN_TTL_SECONDS="3600",
                   PORTAL_LOGIN_RATE_PER_ACCOUNT_PER_MINUTE="1000000",
                   PORTAL_LOGIN_RATE_PER_ADDRESS_PER_MINUTE="1000000")
        database = None
        if backend == "postgres":
            database = f"uit_load_{os.getpid()}"
            subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
            url = f"{args.postgres_url}/{database}"
        else:
            url = f"sqlite://{data_dir}/portal.db"
        env["PORTAL_DATABASE_URL"] = url
        try:
            report = seed(args, env)
            runs = []
            for i in range(args.runs):
                print(f"{backend}: run {i + 1} of {args.runs}", file=sys.stderr, flush=True)
                runs.append(one_run(args, env, url, report, oha))
            out.append(table(backend, report, runs, args))
            print(out[-1], flush=True)
        finally:
            if database:
                subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"DROP DATABASE {database}"], check=False)
            shutil.rmtree(data_dir, ignore_errors=True)
    if len(out) > 1:
        print("\n\nAll backends:\n" + "\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
