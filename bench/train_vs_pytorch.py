#!/usr/bin/python3
"""Training throughput of moe.cpp against the PyTorch tutorial code, side by side.

Trains the makemoe preset (the makeMoE model: 8.99 M parameters, 8 experts, top-2 noisy router)
in moe.cpp and in bench/makemoe_pytorch.py (the tutorial's code: per-expert loops with masks) for
the same number of steps on Tiny Shakespeare with the same batch, one after the other in this
script, and prints tokens/s of each, their ratio, both loss curves at the same steps, and
moe.cpp's effective GFLOP/s against the machine's measured sgemm rate (bench/sgemm_peak).
Both use the same OpenBLAS kernels: PyTorch and sgemm_peak run with OPENBLAS_CORETYPE set to the
family moe.cpp's run reported.

usage: bench/train_vs_pytorch.py [--steps 300] [--eval-every 100] [--eval-iters 50]
                                 [--rounds 1] [--threads 2] [--moe build/moe] [--build build]
                                 [--record FILE]
Run from the repository root after scripts/build.sh.
"""

import argparse
import os

from training_bench import (Rounds, Runner, add_run_args, curve_table, find_data, finish,
                            gflops_line, header_lines, max_loss_gap, sgemm_line, torch_version)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-iters", type=int, default=50)
    Rounds.add_arg(ap)
    moe_binary = add_run_args(ap)
    args = ap.parse_args()
    moe = moe_binary(args)
    data = find_data()
    runner = Runner()

    def run_ours():
        return runner.train_moe(moe, args.threads, [
            "--preset", "makemoe", "--steps", str(args.steps), "--eval-every",
            str(args.eval_every), "--set", f"train.eval_iters={args.eval_iters}", "--set",
            f"data.path={data}",
            # The tutorial's code draws the router noise in evaluation too: measure both alike.
            "--set", "model.router_noise_at_eval=true"])

    def run_peer(ours):
        return runner.train_peer(
            os.path.join(os.path.relpath(os.path.dirname(__file__)), "makemoe_pytorch.py"),
            ["--data", data, "--steps", str(args.steps), "--eval-every", str(args.eval_every),
             "--eval-iters", str(args.eval_iters)], args.threads, ours.blas)

    rounds = Rounds(args.rounds, run_ours, run_peer, lambda ours: ours.tokens_per_s(),
                    lambda peer: peer[0]["tokens_per_s"])
    ours, (torch_res, torch_curve) = rounds.median_pair()
    peak = runner.sgemm_peak(args.build, args.threads, ours.blas)

    ours_rate = ours.tokens_per_s()
    ratio = ours_rate / torch_res["tokens_per_s"]
    lines = header_lines("makemoe training: moe.cpp vs PyTorch tutorial code", args.threads,
                         ours.blas,
                         [f"steps {args.steps}, batch 16 x 32 tokens, "
                          f"eval every {args.eval_every} ({args.eval_iters} batches)"])
    lines += [
        "| implementation | params | tokens/s | ratio |",
        "|---|---:|---:|---:|",
        f"| moe.cpp | {ours.start['params']:,} | {ours_rate:.0f} | {ratio:.2f}x |",
        f"| PyTorch {torch_version()} (tutorial code) | {torch_res['params']:,} | "
        f"{torch_res['tokens_per_s']:.0f} | 1.00x |",
        "",
        gflops_line("moe.cpp (forward + backward, moe.cpp's flops_per_token)", ours_rate,
                    ours.start["flops_per_token"], peak),
        "",
        sgemm_line(peak),
        "",
        f"Loss curves (largest gap {max_loss_gap(ours.curve, torch_curve):.4f}):",
        "",
        *curve_table(["moe.cpp", "PyTorch"], [ours.curve, torch_curve]),
        "",
        *rounds.lines(),
    ]
    finish(lines, runner, args.record, {
        "bench": "train_vs_pytorch",
        "moe_tokens_per_s": ours_rate,
        "torch_tokens_per_s": torch_res["tokens_per_s"],
        "ratio": ratio,
        "round_ratios": rounds.ratios,
        "moe_gflops": ours_rate * ours.start["flops_per_token"] / 1e9,
        "sgemm_gflops": peak["sgemm_gflops"],
        "max_loss_gap": max_loss_gap(ours.curve, torch_curve)})


if __name__ == "__main__":
    main()
