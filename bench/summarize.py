#!/usr/bin/env python3
"""summarize.py RUNS.TSV - Markdown summary of bench/run.sh results.

Prints one table with the median of every measure per tool and step (wall, user+sys CPU,
peak RSS, repository size after the step and its growth during the step, throughput over
the dataset), then the coffer/restic and coffer/borg ratios of median wall time per step.
Runs that failed (non-zero exit, or a restore that differs) are listed and left out of
the medians.
"""

import csv
import statistics
import sys

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
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py RUNS.TSV")
    rows = load(sys.argv[1])
    if not rows:
        sys.exit("summarize.py: no runs in " + sys.argv[1])
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


if __name__ == "__main__":
    main()
