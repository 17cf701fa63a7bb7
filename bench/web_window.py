#!/usr/bin/env python3
"""The window page for people at scale (issue 11): seeds an estate whose open benchmark window
holds 2,000 device sets (`seed-scale --results N`: the first 2,000 sets, every scenario, up to
ten suppliers), starts the server, signs in through the form as a supplier admin (the session
cookie, as a browser would), and times GET /windows/{id} (the header, the coverage over all
2,000 sets and the first heatmap page of 50 rows). Reports the median and p90 in ms and the
page weight in KB; the bars are a median under 300 ms and a page under 300 KB. Also times
page 20 and a filtered page. Standard library only.

    cargo build --release
    python3 bench/web_window.py                        # 2,000-set window, 80,000 results
    python3 bench/web_window.py --binary target/debug/uit-portal --requests 20

Measured 2026-12-05, release build, 2 cores shared with three other builds, `python3
bench/web_window.py --device-sets 2000 --results 80000 --requests 20`: first page median
337 ms, p90 428 ms, 88 KB (page 20: 332 / 364 ms; a filtered page with no rows: 312 ms). The
weight bar is met; the time bar (300 ms) is missed by ~12% on this loaded machine. Nearly
all of it is the API's grid (the empty filtered page costs 312 ms), so the next step is the
grid, not the page. (Debug build, same data: 3.3 s.)
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from catalogue import ROOT, free_port  # noqa: E402

PASSWORD = "bench-password-1"


class Browser:
    """Keeps the cookies the server sets; follows no redirects."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies = {}

    def send(self, method, path, form=None):
        headers = {"accept": "text/html"}
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["content-type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        for value in resp.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return resp.status, data

    def sign_in(self, email):
        status, page = self.send("GET", "/sign-in")
        csrf = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
        status, _ = self.send("POST", "/sign-in", {"csrf": csrf, "email": email, "password": PASSWORD})
        if status != 303:
            raise SystemExit(f"sign-in as {email} answered {status}")


def timed(fn, n, warmup=3):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.9))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "uit-portal"))
    ap.add_argument("--device-sets", type=int, default=5000)
    ap.add_argument("--results", type=int, default=80_000)
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()

    data_dir = tempfile.mkdtemp(prefix="uit-bench-web-")
    env = dict(os.environ, PORTAL_DATA_DIR=data_dir, PORTAL_BOOTSTRAP_EMAIL="bench@example.org",
               PORTAL_BOOTSTRAP_PASSWORD=PASSWORD, PORTAL_LOG_LEVEL="warn", PORTAL_MAIL_TRANSPORT="memory",
               PORTAL_WINDOW_CLOCK_INTERVAL_SECONDS="0")
    started = time.perf_counter()
    seeded = subprocess.run([args.binary, "seed-scale", "--device-models", "200", "--firmware", "1000",
                             "--device-sets", str(args.device_sets), "--results", str(args.results),
                             "--user-password", PASSWORD], env=env, check=True, capture_output=True, text=True)
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
        b = Browser(port)
        b.sign_in(report["supplier_emails"][4])
        window = report["bench_window_id"]
        path = f"/windows/{window}"
        pages = {}

        def fetch(p):
            status, body = b.send("GET", p)
            if status != 200:
                raise SystemExit(f"GET {p} -> {status} {body[:300]!r}")
            pages[p] = body

        rows = []
        for name, p in [
            ("window page, first 50 rows", path),
            ("window page 20 (rows 951-1,000)", path + "?page=20"),
            ("filtered: unclaimed, ESME, by name", path + "?state=unclaimed&device_type=ESME&sort=name"),
        ]:
            median, p90 = timed(lambda: fetch(p), args.requests)
            rows.append((name, median, p90, len(pages[p]) / 1024))
        # The baseline, in the same run: the API's matrix and coverage of the same window for the
        # same person (what the page is computed from), and one window by id.
        api = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        api.request("POST", "/api/v1/auth/login", body=json.dumps(
            {"email": report["supplier_emails"][4], "password": PASSWORD}),
            headers={"content-type": "application/json"})
        token = json.loads(api.getresponse().read())["access_token"]

        def api_get(p):
            api.request("GET", p, headers={"authorization": f"Bearer {token}", "accept": "application/json"})
            r = api.getresponse()
            body = r.read()
            if r.status != 200:
                raise SystemExit(f"GET {p} -> {r.status} {body[:300]!r}")
            return body

        baselines = []
        for name, p in [
            ("API: the window by id", f"/api/v1/uit-windows/{window}"),
            ("API: matrix (JSON, 2,000 rows)", f"/api/v1/uit-windows/{window}/matrix"),
            ("API: coverage", f"/api/v1/uit-windows/{window}/coverage"),
        ]:
            body = api_get(p)
            median, p90 = timed(lambda: api_get(p), args.requests)
            baselines.append((name, median, p90, len(body) / 1024))

        first = pages[path].decode()
        shown = re.search(r"([\d,]+) device sets?, showing ([\d,]+)-([\d,]+)", first)
        print(f"\n{report['bench_window_sets']:,}-set window, {report['results']:,} results, "
              f"{report['device_sets']:,} device sets in all; seeded in {seed_seconds:.0f} s; "
              f"{args.requests} sequential requests each, signed in as a supplier admin ({args.binary})")
        heatmap = first[first.find('class="heatmap"'):]
        row_count = heatmap.count('<th scope="row">')
        print(f"heatmap: {shown.group(0) if shown else '?'}; rows on the page: {row_count}\n")
        matrix_median = baselines[1][1]
        print("| request | median ms | p90 ms | weight KB | vs the API's matrix |")
        print("|---|---:|---:|---:|---:|")
        for name, median, p90, kb in baselines + rows:
            print(f"| {name} | {median:.1f} | {p90:.1f} | {kb:.1f} | {median / matrix_median:.2f}x |")
        _, median, _, kb = rows[0]
        ok = median < 300 and kb < 300
        print(f"\nbars (median < 300 ms, < 300 KB): {'met' if ok else 'NOT met'}")
        sys.exit(0 if ok else 1)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
