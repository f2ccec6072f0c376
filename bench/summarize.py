#!/usr/bin/env python3
"""summarize.py RUNS.TSV [BIGINDEX.TSV] [--remote FILE] - Markdown summary of the benchmark.

Prints one table with the median of every measure per tool and step of bench/run.sh (wall,
user+sys CPU, peak RSS, repository size after the step and its growth during the step,
throughput over the dataset), then the coffer/restic and coffer/borg ratios of median wall
time per step. Runs that failed (non-zero exit, or a restore that differs) are listed and
left out of the medians. BIGINDEX.TSV (bench/bigindex.sh) adds a table of the backups
against a synthetic chunk index. Last comes the "Targets" table: each target of the issue
"Speed" with the measured value and whether it is met. The through-cofferd target is read
from FILE, the saved output of bench/remote.sh, when given.
"""

import argparse
import csv
import os
import re
import statistics
import sys
import time

STEPS = (
    ("a-initial", "(a) initial backup"),
    ("b-unchanged", "(b) unchanged re-backup"),
    ("c-v2", "(c) v2 backup"),
    ("d-restore", "(d) full restore"),
)
TOOLS = ("coffer", "restic", "borg")


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def ok(row):
    return row["exit"] == "0" and row["check"] in ("-", "identical")


def med(rows, key):
    return statistics.median(float(r[key]) for r in rows)


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def summary(rows):
    """{(tool, step): dict of medians} over the successful runs."""
    out = {}
    order = {t: i for i, t in enumerate(TOOLS)}
    for tool in sorted({r["tool"] for r in rows}, key=lambda t: (order.get(t, len(order)), t)):
        for step, _ in STEPS:
            sel = [r for r in rows if r["tool"] == tool and r["step"] == step and ok(r)]
            if not sel:
                continue
            wall = med(sel, "wall_s")
            data = med(sel, "data_bytes")
            out[(tool, step)] = {
                "n": len(sel),
                "wall": wall,
                "cpu": med(sel, "cpu_s"),
                "rss": med(sel, "maxrss_kib") / 1024,
                "repo": med(sel, "repo_bytes") / 1e6,
                "growth": med(sel, "growth_bytes") / 1e6 if step != "d-restore" else None,
                "mbps": data / 1e6 / wall if wall > 0 and step in ("a-initial", "d-restore") else None,
            }
    return out


def main():
    ap = argparse.ArgumentParser(
        prog="summarize.py", description="Markdown summary of bench/run.sh results.")
    ap.add_argument("runs", metavar="RUNS.TSV", help="bench/run.sh results")
    ap.add_argument("bigindex", metavar="BIGINDEX.TSV", nargs="?",
                    help="bench/bigindex.sh results")
    ap.add_argument("--remote", metavar="FILE", help="saved output of bench/remote.sh")
    args = ap.parse_args()
    rows = load(args.runs)
    if not rows:
        ap.exit(1, f"summarize.py: no runs in {args.runs}\n")
    big = load(args.bigindex) if args.bigindex else None
    remote = load_remote(args.remote) if args.remote else None
    s = summary(rows)
    tools = []
    for tool, _ in s:
        if tool not in tools:
            tools.append(tool)

    print("| tool | step | runs | wall s | CPU s | peak RSS MiB | repo MB | growth MB | MB/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for tool in tools:
        for step, label in STEPS:
            m = s.get((tool, step))
            if m is None:
                print(f"| {tool} | {label} | 0 | - | - | - | - | - | - |")
                continue
            print(f"| {tool} | {label} | {m['n']} | {fmt(m['wall'])} | {fmt(m['cpu'])} | "
                  f"{fmt(m['rss'], 0)} | {fmt(m['repo'], 1)} | {fmt(m['growth'], 1)} | "
                  f"{fmt(m['mbps'], 0)} |")

    others = [t for t in ("restic", "borg") if t in tools]
    if "coffer" in tools and others:
        print()
        print("| step | " + " | ".join(f"coffer/{t} wall" for t in others) + " |")
        print("|---|" + "---:|" * len(others))
        for step, label in STEPS:
            c = s.get(("coffer", step))
            cells = []
            for t in others:
                o = s.get((t, step))
                cells.append(fmt(c["wall"] / o["wall"]) if c and o and o["wall"] > 0 else "-")
            print(f"| {label} | " + " | ".join(cells) + " |")
    else:
        print()
        print("(no coffer/restic or coffer/borg ratios: coffer was not measured)")

    bad = [r for r in rows if not ok(r)]
    if bad:
        print()
        print("Failed runs (left out of the medians):")
        for r in bad:
            print(f"- {r['tool']} run {r['run']} {r['step']}: exit {r['exit']}, check {r['check']}")

    if big is not None:
        print_bigindex(big)
    print_targets(rows, s, big, remote, args.remote)


# ---- bench/bigindex.sh ----

BIG_STEPS = (
    ("a-first", "backup, empty cache (builds it)"),
    ("b-cached", "backup of new data, cache built"),
    ("c-unchanged", "unchanged re-backup"),
)
TARGET_ENTRIES = 10_000_000
TARGET_MIB = 1024


def big_summary(big):
    """(entries, tree MiB, {step: dict of medians}) over the successful bigindex.sh rows."""
    if not big:
        return None, None, {}
    out = {}
    for step, _ in BIG_STEPS:
        sel = [r for r in big if r["step"] == step and r["exit"] == "0"]
        if sel:
            out[step] = {
                "n": len(sel),
                "wall": med(sel, "wall_s"),
                "cpu": med(sel, "cpu_s"),
                "rss": med(sel, "maxrss_kib") / 1024,
                "growth": med(sel, "growth_bytes") / 1e6,
                "cache": med(sel, "cache_bytes") / 1e6,
            }
    return int(big[0]["entries"]), int(big[0]["tree_mib"]), out


def print_bigindex(big):
    entries, mib, b = big_summary(big)
    print()
    if entries is None:
        print("(bench/bigindex.sh: no results)")
        return
    print(f"Backups against a synthetic chunk index of {entries:,} entries "
          f"({mib} MiB trees of random data, bench/bigindex.sh):")
    print()
    print("| step | runs | wall s | CPU s | peak RSS MiB | repo growth MB | index cache MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for step, label in BIG_STEPS:
        m = b.get(step)
        if m is None:
            print(f"| {label} | 0 | - | - | - | - | - |")
            continue
        print(f"| {label} | {m['n']} | {fmt(m['wall'])} | {fmt(m['cpu'])} | {fmt(m['rss'], 0)} | "
              f"{fmt(m['growth'], 1)} | {fmt(m['cache'], 1)} |")
    bad = [r for r in big if r["exit"] != "0"]
    for r in bad:
        print(f"- failed: {r['step']}: exit {r['exit']}")


# ---- bench/remote.sh ----

REMOTE_LINE = re.compile(r"^\s*(local|remote)-\d+\s+wall\s+([0-9.]+)\s*s\b")


def load_remote(path):
    """{"local": [wall...], "remote": [wall...], "date": mtime} from remote.sh's output."""
    out = {"local": [], "remote": [], "date": None}
    try:
        with open(path) as f:
            for line in f:
                m = REMOTE_LINE.match(line)
                if m:
                    out[m.group(1)].append(float(m.group(2)))
        out["date"] = time.strftime("%Y-%m-%d", time.localtime(os.path.getmtime(path)))
    except OSError as e:
        print(f"summarize.py: cannot read {path}: {e.strerror}", file=sys.stderr)
    return out


# ---- targets ----


def verdict(ok_):
    return "met" if ok_ else "NOT met"


def print_targets(rows, s, big, remote, remote_path):
    """The issue "Speed"'s targets: one row each, measured value, target, met or not."""
    out = []

    def ratio_row(name, tool, step, key, limit, unit, digits=2):
        c, o = s.get(("coffer", step)), s.get((tool, step))
        if c is None or o is None or not o[key]:
            missing = "coffer" if c is None else tool
            out.append((name, f"not measured (no successful {missing} run)", f"≤ {limit}", "-"))
            return
        r = c[key] / o[key]
        shown = f"{r:.3f}" if abs(r - limit) < 0.005 else f"{r:.2f}"
        out.append((name, f"{shown} ({fmt(c[key], digits)} / {fmt(o[key], digits)} {unit})",
                    f"≤ {limit}", verdict(r <= limit)))

    ratio_row("(a) initial backup wall, coffer / restic", "restic", "a-initial", "wall", 0.25, "s")
    ratio_row("(a) initial backup wall, coffer / borg", "borg", "a-initial", "wall", 0.25, "s")
    ratio_row("(b) unchanged re-backup wall, coffer / restic", "restic", "b-unchanged", "wall",
              0.2, "s")
    ratio_row("(d) full restore wall, coffer / restic", "restic", "d-restore", "wall", 0.33, "s")
    ratio_row("(a) initial backup peak RSS, coffer / restic", "restic", "a-initial", "rss", 0.5,
              "MiB", 0)
    c, o = s.get(("coffer", "c-v2")), s.get(("restic", "c-v2"))
    if c and o:
        out.append(("(c) v2 backup peak RSS, coffer / restic (no target)",
                    f"{c['rss'] / o['rss']:.2f} ({c['rss']:.0f} / {o['rss']:.0f} MiB)"
                    if o["rss"] else f"{c['rss']:.0f} MiB", "-", "-"))
        out.append(("(c) v2 backup repository growth, coffer vs restic",
                    f"{c['growth']:.1f} MB / {o['growth']:.1f} MB", "≤ restic's",
                    verdict(c["growth"] <= o["growth"])))
    else:
        missing = "coffer" if c is None else "restic"
        out.append(("(c) v2 backup peak RSS (no target)",
                    f"coffer {c['rss']:.0f} MiB" if c else "not measured", "-", "-"))
        out.append(("(c) v2 backup repository growth, coffer vs restic",
                    f"not measured (no successful {missing} run)", "≤ restic's", "-"))

    name = f"index memory: {TARGET_ENTRIES // 1_000_000}M-entry index, 1 GiB backup, peak RSS"
    small = False
    if big is None:
        out.append((name, "not run (bench/bigindex.sh)", "< 200 MiB", "-"))
    else:
        entries, mib, b = big_summary(big)
        backups = [(k, b[k]) for k in ("a-first", "b-cached") if k in b]
        if entries is None or len(backups) < 2:
            out.append((name, "not measured (bench/bigindex.sh failed)", "< 200 MiB", "-"))
        else:
            peak = max(m["rss"] for _, m in backups)
            small = entries < TARGET_ENTRIES or mib < TARGET_MIB
            where = f" at {entries:,} entries, {mib} MiB" if small else ""
            out.append((name, f"{peak:.0f} MiB{where} (building the cache "
                        f"{b['a-first']['rss']:.0f}, cache built {b['b-cached']['rss']:.0f})",
                        "< 200 MiB", verdict(peak < 200) + (" (small run)" if small else "")))

    name = "backup through cofferd on loopback / local"
    if remote is None:
        out.append((name, "not run (bench/remote.sh)", "≤ 1.3", "-"))
    elif not remote["local"] or not remote["remote"]:
        out.append((name, f"no results in {remote_path}", "≤ 1.3", "-"))
    else:
        loc, rem = statistics.median(remote["local"]), statistics.median(remote["remote"])
        r = rem / loc if loc > 0 else float("inf")
        out.append((name, f"{r:.2f} ({rem:.2f} s / {loc:.2f} s, bench/remote.sh of "
                    f"{remote['date']})", "≤ 1.3", verdict(r <= 1.3)))

    print()
    print("Targets (issue \"Speed\"; ratios of medians):")
    print()
    print("| target | measured | required | result |")
    print("|---|---|---|---|")
    for row in out:
        print("| " + " | ".join(row) + " |")

    data = [float(r["data_bytes"]) for r in rows if ok(r) and r["step"] == "a-initial"]
    runs = max((int(r["run"]) for r in rows), default=0)
    if data and statistics.median(data) < 0.9 * 2**30:
        print()
        print(f"Measured on a {statistics.median(data) / 2**20:.0f} MiB dataset with {runs} "
              f"run(s) per tool; the targets are for the 1 GiB dataset and 3 runs.")
    if small:
        print()
        print("The index memory row comes from a smaller synthetic index or tree than the "
              "target's 10M entries and 1 GiB (ENTRIES, MIB of bench/bigindex.sh).")


if __name__ == "__main__":
    main()
