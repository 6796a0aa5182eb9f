#!/usr/bin/python3
"""Before/after table of two bench/run_all.sh record directories (two moe binaries measured on
the same machine): every figure of every benchmark in both summary.jsonl files, old, new and
new / old, as Markdown.

usage: bench/before_after.py OLD_DIR NEW_DIR
"""

import argparse
import json
import os

from training_bench import fail


def load_summary(directory):
    path = os.path.join(directory, "summary.jsonl")
    if not os.path.exists(path):
        fail(f"{path} not found (bench/run_all.sh --record-dir {directory} writes it)")
    figures = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                figures[record.pop("bench")] = record
            except (json.JSONDecodeError, KeyError, AttributeError):
                fail(f"{path}:{number}: not a benchmark summary line")
    return figures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old_dir")
    ap.add_argument("new_dir")
    args = ap.parse_args()
    old, new = load_summary(args.old_dir), load_summary(args.new_dir)
    print(f"| benchmark | figure | {args.old_dir} | {args.new_dir} | new / old |")
    print("|---|---|---:|---:|---:|")
    for bench in [b for b in old if b in new]:
        for key in [k for k in old[bench] if k in new[bench]]:
            a, b = old[bench][key], new[bench][key]
            change = f"{b / a:.2f}x" if a else "-"
            print(f"| {bench} | {key} | {a:.4g} | {b:.4g} | {change} |")


if __name__ == "__main__":
    main()
