#!/usr/bin/python3
"""Training throughput of two moe binaries on the makemoe preset, run alternately.

Where the cores are shared with other jobs, two binaries measured one after the other see
different loads; alternating short runs (A, B, A, B, ...) lets both see the same mix, and the
median of the per-round ratios B / A is the figure to compare. Prints tokens/s and the
forward/backward/optimizer milliseconds of every run (the timed steps of each: all but the first
five), then the medians.

usage: bench/alternate_binaries.py A_MOE B_MOE [--rounds 5] [--steps 30] [--threads 2]
Run from the repository root.
"""

import argparse
import statistics

from training_bench import Runner, find_data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a_moe", help="the first binary (before)")
    ap.add_argument("b_moe", help="the second binary (after)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    data = find_data()
    runner = Runner()
    train_args = ["--preset", "makemoe", "--steps", str(args.steps), "--eval-every", "0",
                  "--set", "train.eval_iters=1", "--set", f"data.path={data}"]
    rates = {"a": [], "b": []}
    ratios = []
    for round_index in range(args.rounds):
        for name, moe in [("a", args.a_moe), ("b", args.b_moe)]:
            run = runner.train_moe(moe, args.threads, train_args)
            rates[name].append(run.tokens_per_s())
            print(f"round {round_index + 1} {name}: {run.tokens_per_s():.0f} tokens/s, forward "
                  f"{run.mean_ms('forward_ms'):.1f} ms, backward {run.mean_ms('backward_ms'):.1f}"
                  f" ms, optimizer {run.mean_ms('optimizer_ms'):.1f} ms", flush=True)
        ratios.append(rates["b"][-1] / rates["a"][-1])
    print(f"median tokens/s: a {statistics.median(rates['a']):.0f}, "
          f"b {statistics.median(rates['b']):.0f}; median ratio b / a "
          f"{statistics.median(ratios):.3f} (rounds: {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
