#!/usr/bin/env python3
"""Writes an N-row Deployed Products List (issue 13) against the catalogue of a database, for
`uit-portal import-dpl` or `POST /api/v1/estate/imports`. Standard library only (PostgreSQL is
read with `psql`).

    python3 bench/dpl/gen.py --sqlite data/portal.db --rows 1000000 > dpl.csv
    python3 bench/dpl/gen.py --postgres postgres://postgres@127.0.0.1:5432/db --format jsonl > dpl.jsonl

Rows draw from `--combinations` distinct memberships (a Comms Hub firmware, an ESME or GSME,
and an IHD, PPMID, GPF or second meter each with some probability), skewed so a few are very
common, the way an estate is; rows of one membership are split as if by region and summed by
the import. Every `--bad-every`-th row names a firmware version that does not exist, so the
rejection path is exercised too. Deterministic for a given `--seed` and catalogue.
"""
import argparse
import csv
import json
import random
import sqlite3
import subprocess
import sys

QUERY = """SELECT dm.device_type, dm.name, fw.version, o.name
FROM firmware_versions fw JOIN device_models dm ON dm.id = fw.device_model_id
JOIN organisations o ON o.id = dm.manufacturer_org_id
WHERE fw.status <> 'withdrawn' ORDER BY dm.device_type, dm.name, fw.version"""


def catalogue(args):
    if args.sqlite:
        with sqlite3.connect(args.sqlite) as db:
            rows = db.execute(QUERY).fetchall()
    else:
        out = subprocess.run(["psql", args.postgres, "-AtF", "\t", "-c", QUERY],
                             check=True, capture_output=True, text=True).stdout
        rows = [tuple(line.split("\t")) for line in out.splitlines() if line]
    by_type = {}
    for device_type, model, version, maker in rows:
        by_type.setdefault(device_type, []).append((model, version, maker))
    for needed in ("CHF", "ESME", "GSME"):
        if not by_type.get(needed):
            sys.exit(f"the catalogue has no {needed} firmware: seed one first (uit-portal seed-scale)")
    return by_type


def skewed(rng, items):
    # Low indexes far more common, like seed-scale's estate.
    n = len(items)
    return items[(rng.randrange(n) * rng.randrange(n)) // n]


def combinations(rng, by_type, count):
    seen, combos = set(), []
    attempts = 0
    while len(combos) < count and attempts < count * 20:
        attempts += 1
        meter = rng.choice(["ESME", "GSME"])
        devices = [(meter, skewed(rng, by_type[meter]))]
        for t, p in (("IHD", 0.7), ("PPMID", 0.2), ("GPF", 0.3), ("GSME", 0.3)):
            if by_type.get(t) and rng.random() < p:
                devices.append((t, skewed(rng, by_type[t])))
        devices = sorted(set(devices))[:4]
        hub = skewed(rng, by_type["CHF"])
        key = (hub, tuple(devices))
        if key in seen:
            continue
        seen.add(key)
        combos.append((hub, devices))
    return combos


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--sqlite", help="path of the SQLite database")
    src.add_argument("--postgres", help="PostgreSQL URL (read with psql)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--combinations", type=int, default=50_000)
    ap.add_argument("--bad-every", type=int, default=1000, help="every Nth row is unknown firmware (0: none)")
    ap.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    by_type = catalogue(args)
    combos = combinations(rng, by_type, args.combinations)
    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n") if args.format == "csv" else None
    if writer:
        header = ["comms_hub_manufacturer", "comms_hub_model", "comms_hub_firmware"]
        for i in range(1, 5):
            header += [f"device{i}_type", f"device{i}_manufacturer", f"device{i}_model", f"device{i}_firmware"]
        writer.writerow(header + ["installed_count"])
    weights = [1.0 / (1 + i) for i in range(len(combos))]
    # Every combination appears at least once; the rest of the rows follow the weights.
    order = list(range(len(combos))) + rng.choices(range(len(combos)), weights, k=max(0, args.rows - len(combos)))
    rng.shuffle(order)
    for n, c in enumerate(order[: args.rows], start=1):
        (hub_model, hub_version, hub_maker), devices = combos[c]
        if args.bad_every and n % args.bad_every == 0:
            hub_version = "99.99-unknown"
        count = rng.randint(1, 500)
        if writer:
            row = [hub_maker, hub_model, hub_version]
            for t, (model, version, maker) in devices:
                row += [t, maker, model, version]
            row += [""] * (4 * (4 - len(devices)))
            writer.writerow(row + [count])
        else:
            out.write(json.dumps({
                "comms_hub_manufacturer": hub_maker, "comms_hub_model": hub_model, "comms_hub_firmware": hub_version,
                "devices": [{"type": t, "manufacturer": mk, "model": m, "firmware": v} for t, (m, v, mk) in devices],
                "installed_count": count,
            }) + "\n")


if __name__ == "__main__":
    main()
