#!/usr/bin/python3
"""Training throughput of moe.cpp's Llama-style MoE against efficient PyTorch, side by side.

Trains bench/llama_moe.toml (d_model 256, 4 layers, 8 heads / 2 KV heads, 8 SwiGLU experts of
512, top-2, batch 8 x 256, AdamW, clip 1.0, aux loss 0.01, dropout 0) on Tiny Shakespeare
characters in moe.cpp, then the same configuration (as moe.cpp resolved it) in
bench/llama_pytorch.py (fused attention, expert-sorted dispatch, foreach/fused AdamW) with the
OpenBLAS kernels moe.cpp used, then the sgemm rate with those kernels. Checks that both models
have the same parameter counts and prints tokens/s of each, their ratio, GFLOP/s and the share of
the sgemm rate, peak memory, and both loss curves.

usage: bench/llama_vs_pytorch.py [--steps 300] [--eval-every 100] [--eval-iters 20]
                                 [--rounds 1] [--threads 2] [--moe build/moe] [--build build]
                                 [--record FILE]
Run from the repository root after scripts/build.sh.
"""

import argparse
import json
import os
import tempfile

from training_bench import (FLOPS_DEFINITION, Rounds, Runner, add_run_args, curve_table, fail,
                            find_data, finish, gflops_line, header_lines, max_loss_gap,
                            sgemm_line, six_n_flops_per_token, torch_version)

BENCH_DIR = os.path.relpath(os.path.dirname(__file__))
CONFIG = os.path.join(BENCH_DIR, "llama_moe.toml")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-iters", type=int, default=20)
    Rounds.add_arg(ap)
    moe_binary = add_run_args(ap)
    args = ap.parse_args()
    moe = moe_binary(args)
    data = find_data()
    runner = Runner()

    def run_ours():
        return runner.train_moe(moe, args.threads, [
            "--config", CONFIG, "--steps", str(args.steps), "--eval-every", str(args.eval_every),
            "--set", f"train.eval_iters={args.eval_iters}", "--set", f"data.path={data}"])

    def run_peer(ours):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as config:
            json.dump(ours.config, config)
            config.flush()
            return runner.train_peer(os.path.join(BENCH_DIR, "llama_pytorch.py"),
                                     ["--config", config.name, "--data", data], args.threads,
                                     ours.blas)

    rounds = Rounds(args.rounds, run_ours, run_peer, lambda ours: ours.tokens_per_s(),
                    lambda peer: peer[0]["tokens_per_s"])
    ours, (peer, peer_curve) = rounds.median_pair()
    peak = runner.sgemm_peak(args.build, args.threads, ours.blas)
    for key in ("params", "active_params"):
        if ours.start[key] != peer[key]:
            fail(f"the PyTorch model has {peer[key]:,} {key}, moe.cpp's {ours.start[key]:,}")

    ours_rate, peer_rate = ours.tokens_per_s(), peer["tokens_per_s"]
    flops = ours.start["flops_per_token"]
    six_n_flops = six_n_flops_per_token(ours)
    m, t = ours.config["model"], ours.config["train"]
    lines = header_lines(
        "Llama-style MoE training: moe.cpp vs efficient PyTorch", args.threads, ours.blas,
        [f"config {CONFIG}: d_model {m['n_embed']}, {m['n_layers']} layers, {m['n_heads']} heads"
         f" / {m['n_kv_heads']} KV heads, {m['n_experts']} experts of {m['ffn_hidden']} top-"
         f"{m['top_k']}, batch {t['batch_size']} x {m['block_size']} tokens, Tiny Shakespeare "
         f"characters",
         f"steps {args.steps}, eval every {args.eval_every} "
         f"({args.eval_iters} batches)",
         f"PyTorch {torch_version()}: attention {peer['attention']}, AdamW {peer['adamw']}"])
    lines += [
        "| implementation | params | active | tokens/s | GFLOP/s | % of sgemm | peak RSS | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rate, rss in (("moe.cpp", ours_rate, ours.max_rss),
                            ("PyTorch (efficient)", peer_rate, peer["max_rss"])):
        gflops = rate * flops / 1e9
        lines.append(f"| {name} | {ours.start['params']:,} | {ours.start['active_params']:,} | "
                     f"{rate:.0f} | {gflops:.1f} | {100 * gflops / peak['sgemm_gflops']:.0f}% | "
                     f"{rss / 2**20:.0f} MiB | {rate / peer_rate:.2f}x |")
    lines += ["", *rounds.lines(), sgemm_line(peak), "",
              f"FLOPs: {FLOPS_DEFINITION}", "",
              f"With 6N + 6LTd ({six_n_flops / 1e6:.2f} MFLOP per token against "
              f"{flops / 1e6:.2f}):", "",
              "- " + gflops_line("moe.cpp", ours_rate, six_n_flops, peak),
              "- " + gflops_line("PyTorch", peer_rate, six_n_flops, peak), "",
              f"Loss curves (largest gap {max_loss_gap(ours.curve, peer_curve):.4f}):", "",
              *curve_table(["moe.cpp", "PyTorch"], [ours.curve, peer_curve])]
    finish(lines, runner, args.record, {
        "bench": "llama_vs_pytorch",
        "moe_tokens_per_s": ours_rate,
        "torch_tokens_per_s": peer_rate,
        "ratio": ours_rate / peer_rate,
        "round_ratios": rounds.ratios,
        "moe_gflops": ours_rate * flops / 1e9,
        "moe_sgemm_share": ours_rate * flops / 1e9 / peak["sgemm_gflops"],
        "sgemm_gflops": peak["sgemm_gflops"],
        "moe_max_rss_mib": ours.max_rss / 2**20,
        "max_loss_gap": max_loss_gap(ours.curve, peer_curve)})


if __name__ == "__main__":
    main()
