#!/usr/bin/env python3
"""DPL import at scale (issue 13): for each backend, a fresh database with `seed-scale`'s
catalogue (200 models, 2,000 firmware versions, 20,000 device sets), a generated DPL
(bench/dpl/gen.py: 1,000,000 rows over 50,000 memberships, one row in 1,000 unknown), then
`uit-portal import-dpl` timed with /usr/bin/time -v (wall time, peak RSS):

  1. the first DPL: registers the memberships no set has yet;
  2. the next DPLs (other dates, same sets): history rows and prevalence only (median of
     `--runs`);
  3. the same bytes and date again: answered by the first import;
  4. a DPL of a tenth of the rows over the same memberships (a later date), to show memory
     follows the memberships, not the rows.

Peak RSS includes the pages of the SQLite file the process maps (`mmap_size`, 256 MiB), so
the heap (RssAnon, sampled) is reported beside it.

    cargo build --release
    python3 bench/dpl/run.py                       # SQLite and PostgreSQL
    python3 bench/dpl/run.py --backend sqlite --rows 100000
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def timed(binary, env, *args):
    """(wall seconds, peak RSS MiB, peak anonymous RSS MiB, stdout) of one command: wall time
    and peak RSS from /usr/bin/time -v; the anonymous part (the heap: what the import itself
    holds, without the pages of the SQLite file it maps) sampled from /proc every 10 ms."""
    # Files, not pipes: the import's JSON is larger than a pipe's buffer.
    out_file, err_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(["/usr/bin/time", "-v", binary, *args], env=env, stdout=out_file, stderr=err_file)
    anon_kb, child = 0, None
    while proc.poll() is None:
        if child is None:
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                    child = int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                pass
        if child is not None:
            try:
                with open(f"/proc/{child}/status") as f:
                    for line in f:
                        if line.startswith("RssAnon:"):
                            anon_kb = max(anon_kb, int(line.split()[1]))
            except OSError:
                pass
        time.sleep(0.01)
    out_file.seek(0)
    err_file.seek(0)
    stdout, stderr = out_file.read(), err_file.read()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", stderr)
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", stderr).group(1)) for k in ("User", "System"))
    return seconds, rss_kb / 1024, anon_kb / 1024, stdout, cpu


def generate(args, source, rows, path):
    with open(path, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), *source, "--rows", str(rows),
                        "--combinations", str(args.combinations)], stdout=f, check=True)


def bench(args, backend):
    data_dir = tempfile.mkdtemp(prefix="uit-dpl-")
    env = dict(os.environ, PORTAL_DATA_DIR=data_dir, PORTAL_BOOTSTRAP_PASSWORD="bench-operator-password",
               PORTAL_LOG_LEVEL="warn", PORTAL_MAIL_TRANSPORT="memory")
    database = None
    if backend == "postgres":
        database = f"uit_dpl_{os.getpid()}"
        subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
        env["PORTAL_DATABASE_URL"] = f"{args.postgres_url}/{database}"
        source = ["--postgres", env["PORTAL_DATABASE_URL"]]
    else:
        source = ["--sqlite", os.path.join(data_dir, "portal.db")]
    try:
        subprocess.run([args.binary, "seed-scale"], env=env, check=True, capture_output=True)
        big, small = os.path.join(data_dir, "dpl.csv"), os.path.join(data_dir, "dpl-small.csv")
        generate(args, source, args.rows, big)
        generate(args, source, args.rows // 10, small)
        size = os.path.getsize(big) / 2**20
        results = {"backend": backend, "rows": args.rows, "file_mib": round(size, 1)}
        wall, rss, anon, out, cpu = timed(args.binary, env, "import-dpl", big, "--as-of", "2026-01-01")
        first = json.loads(out)
        results["first"] = (wall, rss, anon, cpu)
        results["rejected"] = first["rows_rejected"]
        pick = lambda t: (t[0], t[1], t[2], t[4])  # noqa: E731
        later = [pick(timed(args.binary, env, "import-dpl", big, "--as-of", f"2026-{m:02d}-01"))
                 for m in range(2, 2 + args.runs)]
        results["later"] = (statistics.median(t[0] for t in later), max(t[1] for t in later),
                            max(t[2] for t in later), statistics.median(t[3] for t in later))
        results["again"] = pick(timed(args.binary, env, "import-dpl", big, "--as-of", "2026-01-01"))
        results["tenth"] = pick(timed(args.binary, env, "import-dpl", small, "--as-of", "2027-01-01"))
        return results
    finally:
        if database:
            subprocess.run(["psql", args.postgres_url + "/postgres", "-qc", f"DROP DATABASE {database}"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "uit-portal"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--combinations", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3, help="later DPLs to take the median of")
    args = ap.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print("| backend | scenario | wall | CPU (user+sys) | peak RSS | peak heap (RssAnon) |")
    print("|---|---|---:|---:|---:|---:|")
    for backend in backends:
        r = bench(args, backend)
        rows = f"{r['rows']:,} rows ({r['file_mib']} MiB, {r['rejected']:,} rejected)"
        for label, key in [(f"first DPL, {rows}, registers the new sets", "first"),
                           (f"next DPL (median of {args.runs}), all sets known", "later"),
                           ("the same bytes and date again", "again"),
                           (f"{r['rows'] // 10:,} rows over the same memberships", "tenth")]:
            wall, rss, anon, cpu = r[key]
            print(f"| {backend} | {label} | {wall:.1f} s | {cpu:.1f} s | {rss:.0f} MiB | {anon:.0f} MiB |", flush=True)


if __name__ == "__main__":
    main()
