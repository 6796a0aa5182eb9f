#!/usr/bin/env python3
"""Training throughput of moe.cpp on CUDA against PyTorch on the same GPU, in a fixed time.

Two models: the makemoe preset (GPT-style, 8.99 M parameters, batch 16 x 32 characters; here on
synthetic ids of its 65-character vocabulary) and bench/gpt2_moe.toml (a GPT-2-small-scale
Llama-style MoE: d_model 768, 12 layers, 12 / 4 KV heads, 8 experts top-2 of hidden 2048, block
1024, the GPT-2 vocabulary, synthetic ids). For each: `moe train --device cuda`, then the same
resolved config in bench/gpu_pytorch.py twice: tokens sorted by expert with torch._grouped_mm
under torch.compile (fp32; bf16 grouped_mm operands when this torch has no fp32 grouped_mm), and
the tutorials' loop over experts with masks (eager). Every run is cut at its share of
`--seconds` (the steps done by then count); the first steps of each are not timed.

Reports per run: tokens/s (median step), step time, MFU (training FLOPs per token as moe.cpp
counts them, Model::flops_per_token, times tokens/s, over the GPU's dense fp32 rate from moe.cpp's
step records) and peak GPU memory (moe.cpp: its buffers and scratch pool; PyTorch:
max_memory_allocated). Writes DIR/results.json and DIR/results.md and each run's output to DIR.

usage: bench/gpu_vs_pytorch.py [--moe build-gpu/moe] [--out DIR] [--seconds 300]
                               [--only makemoe|gpt2-moe] [--device cuda]
(--device cpu runs moe.cpp on the CPU, which reports no MFU or GPU memory: a check of the
script's plumbing on a machine without a GPU, where the PyTorch runs report themselves skipped.)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
WARMUP_STEPS = 3

MODELS = {
    "makemoe": ["--preset", "makemoe", "--set", "data.source=synthetic",
                "--set", "model.vocab_size=65", "--steps", "2000"],
    "gpt2-moe": ["--config", os.path.join(BENCH_DIR, "gpt2_moe.toml"), "--steps", "200"],
}
# Shares of the time: each model's, then within it moe.cpp's, PyTorch grouped's (compilation
# included) and PyTorch loop's.
MODEL_SHARES = {"makemoe": 0.35, "gpt2-moe": 0.65}
SHARES = {"moe": 0.2, "grouped": 0.5, "loop": 0.3}


def run(cmd, log, seconds):
    """Runs cmd with its output in log, killed after `seconds`; returns (stdout, status)."""
    start = time.time()
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        try:
            out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True,
                                 timeout=seconds)
            status = f"exit {out.returncode}"
            stdout = out.stdout
        except subprocess.TimeoutExpired as e:
            status = f"cut at {seconds:.0f} s"
            stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        f.write(stdout)
        f.write(f"\n[{status}, {time.time() - start:.1f} s]\n")
    return stdout, status


def moe_run(moe, device, name, out, seconds):
    """moe.cpp's rate from the step records it wrote before the end or the cut."""
    run_dir = os.path.join(out, f"{name}-moe")
    _, status = run([moe, "train", *MODELS[name], "--device", device, "--set", "train.ckpt_every=0",
                     "--set", "train.eval_every=0", "--quiet", "--overwrite", "--out", run_dir],
                    os.path.join(out, f"{name}-moe.log"), seconds)
    path = os.path.join(run_dir, "metrics.jsonl")
    records = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
    start = next((r for r in records if r["type"] == "start"), None)
    steps = [r for r in records if r["type"] == "step"][WARMUP_STEPS:]
    result = {"impl": "moe.cpp", "status": status}
    if start is None or not steps:
        return {**result, "skipped": f"no timed step ({status}; see {name}-moe.log)"}, start
    rate = statistics.median(r["tokens_per_s"] for r in steps)
    tokens = start["config"]["train"]["batch_size"] * start["config"]["model"]["block_size"]
    result.update({"params": start["params"], "steps_timed": len(steps), "tokens_per_s": rate,
                   "step_ms": tokens / rate * 1e3, "flops_per_token": start["flops_per_token"]})
    if all("mfu" in r and "peak_memory_mib" in r for r in steps):  # a GPU's records
        # The GPU's fp32 rate, as the trainer divided by it: flops_per_token * tokens_per_s / mfu.
        result["peak_flops"] = statistics.median(
            start["flops_per_token"] * r["tokens_per_s"] / r["mfu"] for r in steps)
        result["mfu"] = statistics.median(r["mfu"] for r in steps)
        result["peak_memory_mib"] = max(r["peak_memory_mib"] for r in steps)
    return result, start


def peer_run(name, variant, dtype, config_path, out, seconds, ours):
    stdout, status = run([sys.executable, os.path.join(BENCH_DIR, "gpu_pytorch.py"), "--config",
                          config_path, "--moe", variant, "--dtype", dtype, "--seconds",
                          str(max(seconds - 10, 5)), "--warmup", str(WARMUP_STEPS)],
                         os.path.join(out, f"{name}-pytorch-{variant}-{dtype}.log"), seconds)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"impl": f"pytorch {variant}", "dtype": dtype,
                "skipped": f"no result ({status}; see {name}-pytorch-{variant}-{dtype}.log)"}
    r = json.loads(lines[-1])
    if "tokens_per_s" in r and "peak_flops" in ours:  # MFU by moe.cpp's count and rate
        r["mfu"] = ours["flops_per_token"] * r["tokens_per_s"] / ours["peak_flops"]
    return r


def row(name, r):
    impl = r["impl"] + (f" ({r['dtype']})" if "dtype" in r else "")
    if "tokens_per_s" not in r:
        return f"| {name} | {impl} | skipped: {r.get('skipped', '?')} | | | | |"
    mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
    memory = f"{r['peak_memory_mib']:,.0f}" if "peak_memory_mib" in r else "-"
    return (f"| {name} | {impl} | {r['tokens_per_s']:,.0f} | {r['step_ms']:.1f} | {mfu} | "
            f"{memory} | {r['steps_timed']} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moe", default="build-gpu/moe")
    ap.add_argument("--out", default="gpu-bench")
    ap.add_argument("--seconds", type=float, default=300.0, help="for all runs together")
    ap.add_argument("--only", choices=sorted(MODELS))
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = [args.only] if args.only else list(MODELS)
    total_share = sum(MODEL_SHARES[name] for name in names)
    results = {}
    lines = ["| model | implementation | tokens/s | step ms | MFU (fp32) | peak MiB | steps |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in names:
        per_model = args.seconds * MODEL_SHARES[name] / total_share
        ours, start = moe_run(args.moe, args.device, name, args.out, per_model * SHARES["moe"])
        results[name] = [ours]
        lines.append(row(name, ours))
        print(lines[-1], flush=True)
        if start is None:
            continue
        config_path = os.path.join(args.out, f"{name}-config.json")
        with open(config_path, "w") as f:
            json.dump(start["config"], f)
        for variant in ("grouped", "loop"):
            seconds = per_model * SHARES[variant]
            r = peer_run(name, variant, "fp32", config_path, args.out, seconds, ours)
            if variant == "grouped" and "tokens_per_s" not in r:
                print(f"note: {name} grouped fp32: {r.get('skipped')}; trying bf16 operands",
                      flush=True)
                results[name].append(r)
                lines.append(row(name, r))
                r = peer_run(name, variant, "bf16", config_path, args.out, seconds, ours)
            results[name].append(r)
            lines.append(row(name, r))
            print(lines[-1], flush=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    report = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(report)
    print("\n" + report, end="")


if __name__ == "__main__":
    main()
