#!/usr/bin/python3
"""Training throughput of moe.cpp against the PyTorch tutorial code, side by side.

Trains the makemoe preset (the makeMoE model: 8.99 M parameters, 8 experts, top-2 noisy router)
in moe.cpp and in bench/makemoe_pytorch.py (the tutorial's code: per-expert loops with masks) for
the same number of steps on Tiny Shakespeare with the same batch, one after the other in this
script, and prints tokens/s of each, their ratio, both loss curves at the same steps, and
moe.cpp's effective GFLOP/s against the machine's measured sgemm rate (bench/sgemm_peak).
Both use the same OpenBLAS kernels: PyTorch runs with OPENBLAS_CORETYPE set to the family
moe.cpp's run reported.

usage: bench/train_vs_pytorch.py [--steps 300] [--eval-every 100] [--eval-iters 50]
                                 [--threads 2] [--build build] [--record FILE]
Run from the repository root after scripts/build.sh.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile


def find_data():
    for root in [os.environ.get("MOE_DATA_DIR", ""), "data", "../shared/data"]:
        path = os.path.join(root, "tinyshakespeare", "input.txt")
        if root and os.path.exists(path):
            return path
    sys.exit("Tiny Shakespeare not found: set MOE_DATA_DIR")


def run(cmd, env=None):
    print("$ " + " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=env).stdout
    return out


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-iters", type=int, default=50)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--build", default="build")
    ap.add_argument("--record", help="also write the report (markdown) to this file")
    args = ap.parse_args()
    data = find_data()

    peak = json.loads(run([f"{args.build}/bench/sgemm_peak", "--threads", str(args.threads)]))

    with tempfile.TemporaryDirectory() as out_dir:
        ours_out = run([f"{args.build}/moe", "train", "--preset", "makemoe", "--steps",
                        str(args.steps), "--eval-every", str(args.eval_every), "--set",
                        f"train.eval_iters={args.eval_iters}", "--set", f"data.path={data}",
                        "--threads", str(args.threads), "--quiet", "--out", out_dir])
        ours = json.loads(ours_out.strip().splitlines()[-1])
        ours_curve = {}
        with open(os.path.join(out_dir, "metrics.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                if r["type"] == "start":
                    blas = r["blas"]
                if r["type"] == "eval":
                    ours_curve[r["step"]] = (r["train_loss"], r["val_loss"])

    # PyTorch's CPU matmuls call the same OpenBLAS: give it the kernels moe.cpp chose, so that
    # the two differ only in the code around the GEMMs.
    torch_out = run(["/usr/bin/python3", "bench/makemoe_pytorch.py", "--data", data, "--steps",
                     str(args.steps), "--eval-every", str(args.eval_every), "--eval-iters",
                     str(args.eval_iters), "--threads", str(args.threads)],
                    env=dict(os.environ, OPENBLAS_CORETYPE=blas))
    torch_res = json.loads(torch_out.strip().splitlines()[-1])
    torch_curve = {}
    for m in re.finditer(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)", torch_out):
        torch_curve[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))

    ratio = ours["tokens_per_s"] / torch_res["tokens_per_s"]
    gflops = ours["tokens_per_s"] * ours["flops_per_token"] / 1e9
    lines = [
        f"# makemoe training: moe.cpp vs PyTorch tutorial code",
        "",
        f"- date: {datetime.date.today()}, machine: {cpu_name()}, {os.cpu_count()} cores, "
        f"threads {args.threads}, OpenBLAS kernels {blas} (both)",
        f"- steps {args.steps}, batch 16 x 32 tokens, eval every {args.eval_every} "
        f"({args.eval_iters} batches)",
        "",
        "| implementation | params | tokens/s | ratio |",
        "|---|---:|---:|---:|",
        f"| moe.cpp | {ours['params']:,} | {ours['tokens_per_s']:.0f} | {ratio:.2f}x |",
        f"| PyTorch {torch_version()} (tutorial code) | {torch_res['params']:,} | "
        f"{torch_res['tokens_per_s']:.0f} | 1.00x |",
        "",
        f"moe.cpp: {ours['flops_per_token'] / 1e6:.1f} MFLOP per token (forward + backward) -> "
        f"{gflops:.1f} GFLOP/s effective, {100 * gflops / peak['sgemm_gflops']:.0f}% of the "
        f"measured sgemm rate ({peak['sgemm_gflops']:.0f} GFLOP/s, {peak['size']}^3, "
        f"{peak['threads']} threads, {peak['blas']} kernels)",
        "",
        "| step | moe.cpp train | moe.cpp val | PyTorch train | PyTorch val |",
        "|---:|---:|---:|---:|---:|",
    ]
    for step in sorted(set(ours_curve) | set(torch_curve)):
        cells = [f"{v:.4f}" for v in ours_curve.get(step, ())] or ["-", "-"]
        cells += [f"{v:.4f}" for v in torch_curve.get(step, ())] or ["-", "-"]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    report = "\n".join(lines)
    print(report)
    if args.record:
        with open(args.record, "w") as f:
            f.write(report + "\n")


def torch_version():
    out = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    main()
