#!/usr/bin/python3
"""Corpus preparation throughput: `moe prepare` against the tutorials' Python approach, side by side.

Builds a WikiText corpus of --repeat copies of WikiText-2 valid + test, then prepares it with the
character tokenizer (a) in moe.cpp with 1 and --threads threads and (b) in Python as the tutorials
do (line loop: strip, drop headings, str.replace("<unk>"), re.sub(r"\\s+"), "<|endoftext|>".join,
a dict lookup per character, numpy uint16 tofile). Checks that both give the same ids, and prints
MB/s of input per implementation and the ratios.

usage: bench/prepare_vs_python.py [--repeat 8] [--threads 2] [--build build] [--record FILE]
Run from the repository root after scripts/build.sh.
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np


def find_wikitext():
    for root in [os.environ.get("MOE_DATA_DIR", ""), "data", "../shared/data"]:
        d = os.path.join(root, "wikitext-2")
        if root and os.path.exists(os.path.join(d, "wiki.valid.tokens")):
            return [os.path.join(d, f) for f in ("wiki.valid.tokens", "wiki.test.tokens")]
    sys.exit("error: WikiText-2 not found (MOE_DATA_DIR, ./data, ../shared/data)")


def python_prepare(path, out_dir):
    """The tutorials' preparation, written plainly."""
    kept = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("="):
                continue
            line = re.sub(r"\s+", " ", line.replace("<unk>", "")).strip()
            if line:
                kept.append(line)
    text = "".join(l + "<|endoftext|>" for l in kept)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.uint16)
    n_train = int(len(ids) * 0.9)
    ids[:n_train].tofile(os.path.join(out_dir, "train.u16"))
    ids[n_train:].tofile(os.path.join(out_dir, "val.u16"))
    return ids


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--build", default="build")
    ap.add_argument("--record", help="also write the table to this markdown file")
    args = ap.parse_args()
    moe = os.path.join(args.build, "moe")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.tokens")
        with open(corpus, "wb") as out:
            for _ in range(args.repeat):
                for f in find_wikitext():
                    out.write(open(f, "rb").read())
        mb = os.path.getsize(corpus) / 1e6

        rows = []
        shards = {}
        for threads in sorted({1, args.threads}):
            out_dir = os.path.join(tmp, f"moe{threads}")
            cmd = [moe, "prepare", "--dataset", "wikitext", "--input", corpus, "--tokenizer",
                   "char", "--out", out_dir, "--threads", str(threads), "--quiet"]
            secs, _ = timed(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL))
            rows.append((f"moe prepare, {threads} thread{'s' if threads > 1 else ''}", secs))
            shards[threads] = [np.fromfile(os.path.join(out_dir, s), dtype=np.uint16)[16:]
                               for s in ("train.bin", "val.bin")]
        py_dir = os.path.join(tmp, "py")
        os.mkdir(py_dir)
        secs, py_ids = timed(lambda: python_prepare(corpus, py_dir))
        rows.append(("Python (tutorial approach)", secs))

        for threads, (train, val) in shards.items():
            assert np.array_equal(np.concatenate([train, val]), py_ids), \
                f"moe prepare ({threads} threads) and Python give different ids"

    py_secs = rows[-1][1]
    lines = [
        "# Corpus preparation: moe prepare vs the tutorials' Python",
        "",
        f"- date: {datetime.date.today()}, machine: {platform.machine()}, {os.cpu_count()} cores",
        f"- corpus: {args.repeat} x WikiText-2 valid+test = {mb:.1f} MB, character tokenizer, "
        f"{len(py_ids)} tokens; ids identical in all runs",
        "",
        "| implementation | seconds | MB/s | speed vs Python |",
        "|---|---:|---:|---:|",
    ]
    for name, secs in rows:
        lines.append(f"| {name} | {secs:.2f} | {mb / secs:.1f} | {py_secs / secs:.2f}x |")
    text = "\n".join(lines)
    print(text)
    if args.record:
        with open(args.record, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
