#!/usr/bin/env python3
"""Pools the per-run results of several run.py --json files and prints medians."""
import json
import statistics
import sys

runs = {}
for path in sys.argv[1:]:
    with open(path) as f:
        for k, v in json.load(f).items():
            runs.setdefault(k, []).extend(v)
print("| model | handler | N | runs | rows/s | p50 µs | srv CPU µs/call | vcsw/call | max foreign cores |")
print("|---|---|---|---|---|---|---|---|---|")
order = {"empty": 0, "inline": 1, "group": 2}
for k in sorted(runs, key=lambda k: (order[k.split("|")[1]], int(k.split("|")[2]), k)):
    model, handler, n = k.split("|")
    rs = runs[k]
    med = lambda f: statistics.median(r[f] for r in rs)
    print(f"| {model} | {handler} | {n} | {len(rs)} | {med('rps'):.0f} | {med('p50'):.0f} | "
          f"{med('cpu'):.0f} | {med('vcsw'):.2f} | {max(r['foreign'] for r in rs):.2f} |")
