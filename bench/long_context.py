#!/usr/bin/python3
"""Long context in moe.cpp: the Llama-style MoE at block 2048, batch 4, against block 256.

Trains bench/llama_moe.toml as it is (block 256, batch 8) and with model.block_size=2048,
train.batch_size=4, one after the other, and prints for each the peak memory of the process
(max RSS, from wait4), tokens/s, the FLOP rate (flops_per_token, whose attention term grows with
the block) and its share of the sgemm rate, and the ratio of the two FLOP rates. The binary is
whatever --moe names, so the same command measures any attention implementation.

usage: bench/long_context.py [--steps 20] [--block 2048] [--batch 4] [--threads 2]
                             [--moe build/moe] [--build build] [--record FILE]
Run from the repository root after scripts/build.sh.
"""

import argparse
import os

from training_bench import (FLOPS_DEFINITION, Runner, add_run_args, find_data, finish, header_lines,
                            sgemm_line, six_n_flops_per_token)

CONFIG = os.path.join(os.path.relpath(os.path.dirname(__file__)), "llama_moe.toml")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--block", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=4)
    moe_binary = add_run_args(ap)
    args = ap.parse_args()
    moe = moe_binary(args)
    # One evaluation batch per split at the end: evaluation is not timed, only waited for.
    common = ["--config", CONFIG, "--steps", str(args.steps), "--eval-every", "0", "--set",
              "train.eval_iters=1", "--set", f"data.path={find_data()}"]
    runner = Runner()

    short = runner.train_moe(moe, args.threads, common)
    long = runner.train_moe(moe, args.threads, common + [
        "--set", f"model.block_size={args.block}", "--set", f"train.batch_size={args.batch}"])
    peak = runner.sgemm_peak(args.build, args.threads, short.blas)

    def gflops(run):
        return run.tokens_per_s() * run.start["flops_per_token"] / 1e9

    lines = header_lines(
        f"Long context (moe.cpp): block {args.block} vs {short.config['model']['block_size']}",
        args.threads, short.blas,
        [f"config {CONFIG}, and the same with model.block_size={args.block}, "
         f"train.batch_size={args.batch}",
         f"steps {args.steps}; peak RSS of the whole process"])
    lines += ["| block | batch | tokens/step | step s | tokens/s | MFLOP/token | GFLOP/s | "
              "% of sgemm | 6N + 6LTd GFLOP/s | peak RSS |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in (short, long):
        m, t = run.config["model"], run.config["train"]
        lines.append(
            f"| {m['block_size']} | {t['batch_size']} | {run.tokens_per_step} | "
            f"{run.step_seconds():.2f} | {run.tokens_per_s():.0f} | "
            f"{run.start['flops_per_token'] / 1e6:.2f} | {gflops(run):.1f} | "
            f"{100 * gflops(run) / peak['sgemm_gflops']:.0f}% | "
            f"{run.tokens_per_s() * six_n_flops_per_token(run) / 1e9:.1f} | "
            f"{run.max_rss / 2**20:.0f} MiB |")
    ratio = gflops(long) / gflops(short)
    lines += ["", f"**FLOP rate block {args.block} / block {short.config['model']['block_size']}:"
              f" {ratio:.2f}**; peak memory {long.max_rss / 2**20:.0f} vs "
              f"{short.max_rss / 2**20:.0f} MiB", "", sgemm_line(peak), "",
              f"FLOPs: {FLOPS_DEFINITION}"]
    finish(lines, runner, args.record, {
        "bench": "long_context",
        "long_gflops": gflops(long),
        "short_gflops": gflops(short),
        "gflops_ratio": ratio,
        "long_max_rss_mib": long.max_rss / 2**20,
        "short_max_rss_mib": short.max_rss / 2**20})


if __name__ == "__main__":
    main()
