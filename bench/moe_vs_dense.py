#!/usr/bin/python3
"""Step time of moe.cpp's Llama-style MoE against a dense model of equal active FLOPs.

Trains bench/llama_moe.toml (8 experts of 512, top-2) and the same model with dense SwiGLU FFNs
of top_k x 512 = 1024 hidden units (model.moe_layers=none), one after the other, and checks that
a token passes through the same number of parameters in both, the MoE's router excepted. Prints
the step time of each (with its forward / backward / optimizer parts), the ratio MoE / dense
(target <= 1.15: sparse dispatch should cost little beyond the FLOPs it does), GFLOP/s, and both
loss curves.

usage: bench/moe_vs_dense.py [--steps 100] [--eval-every 50] [--eval-iters 20] [--threads 2]
                             [--moe build/moe] [--build build] [--record FILE]
Run from the repository root after scripts/build.sh.
"""

import argparse
import os

from training_bench import (FLOPS_DEFINITION, Runner, add_run_args, curve_table, fail, find_data,
                            finish, header_lines, sgemm_line)

CONFIG = os.path.join(os.path.relpath(os.path.dirname(__file__)), "llama_moe.toml")
TARGET = 1.15


def router_params(config):
    """Router weights a token passes through in the MoE run (E x C per layer, no bias)."""
    m = config["model"]
    return m["n_layers"] * m["n_experts"] * m["n_embed"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-iters", type=int, default=20)
    moe_binary = add_run_args(ap)
    args = ap.parse_args()
    moe = moe_binary(args)
    common = ["--config", CONFIG, "--steps", str(args.steps), "--eval-every",
              str(args.eval_every), "--set", f"train.eval_iters={args.eval_iters}", "--set",
              f"data.path={find_data()}"]
    runner = Runner()

    sparse = runner.train_moe(moe, args.threads, common)
    m = sparse.config["model"]
    dense_hidden = m["top_k"] * m["ffn_hidden"]
    dense = runner.train_moe(moe, args.threads, common + [
        "--set", "model.moe_layers=none", "--set", f"model.ffn_hidden={dense_hidden}"])
    peak = runner.sgemm_peak(args.build, args.threads, sparse.blas)
    if dense.blas != sparse.blas:
        fail(f"the runs used different OpenBLAS kernels: {sparse.blas}, {dense.blas}")
    if sparse.start["active_params"] - router_params(sparse.config) != dense.start["active_params"]:
        fail(f"active parameters differ beyond the router: MoE {sparse.start['active_params']:,}"
             f" - router {router_params(sparse.config):,} vs dense "
             f"{dense.start['active_params']:,}")

    ratio = sparse.step_seconds() / dense.step_seconds()
    t = sparse.config["train"]
    lines = header_lines(
        "Llama-style MoE vs dense at equal active parameters (moe.cpp)", args.threads,
        sparse.blas,
        [f"config {CONFIG} (MoE: {m['n_experts']} experts of {m['ffn_hidden']}, top-"
         f"{m['top_k']}) and the same with model.moe_layers=none, model.ffn_hidden="
         f"{dense_hidden} (dense); batch {t['batch_size']} x {m['block_size']} tokens",
         f"active parameters per token: MoE {sparse.start['active_params']:,} = dense "
         f"{dense.start['active_params']:,} + router {router_params(sparse.config):,}",
         f"steps {args.steps}, eval every {args.eval_every} "
         f"({args.eval_iters} batches)"])
    lines += ["| model | params | step ms | forward | backward | optimizer | tokens/s | "
              "GFLOP/s | % of sgemm |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, run in (("MoE", sparse), ("dense", dense)):
        gflops = run.tokens_per_s() * run.start["flops_per_token"] / 1e9
        lines.append(f"| {name} | {run.start['params']:,} | {1e3 * run.step_seconds():.1f} | "
                     f"{run.mean_ms('forward_ms'):.1f} | {run.mean_ms('backward_ms'):.1f} | "
                     f"{run.mean_ms('optimizer_ms'):.1f} | {run.tokens_per_s():.0f} | "
                     f"{gflops:.1f} | {100 * gflops / peak['sgemm_gflops']:.0f}% |")
    lines += ["", f"**Step time MoE / dense: {ratio:.3f}** (target <= {TARGET}: "
              f"{'met' if ratio <= TARGET else 'not met'})", "", sgemm_line(peak), "",
              f"FLOPs: {FLOPS_DEFINITION}", "", "Loss curves:", "",
              *curve_table(["MoE", "dense"], [sparse.curve, dense.curve])]
    finish(lines, runner, args.record, {
        "bench": "moe_vs_dense",
        "moe_step_ms": 1e3 * sparse.step_seconds(),
        "dense_step_ms": 1e3 * dense.step_seconds(),
        "step_time_ratio": ratio})


if __name__ == "__main__":
    main()
