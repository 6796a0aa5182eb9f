"""Shared parts of the training benchmarks (train_vs_pytorch.py, llama_vs_pytorch.py,
moe_vs_dense.py, long_context.py): finding the data, running moe.cpp and the PyTorch peers as
child processes (each command kept for the record, each child's peak memory measured), reading
moe.cpp's metrics log, the machine's sgemm rate, FLOP counts and the Markdown record.

Every benchmark times the same steps in every implementation: all but the first WARMUP_STEPS
(thread start-up, first-touch page faults, allocator growth), evaluation excluded.
"""

import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

WARMUP_STEPS = 5
PYTHON = "/usr/bin/python3"  # Debian's python3-torch, linked to the same libopenblas as moe.cpp


def fail(message):
    sys.exit(f"error: {message}")


def find_data():
    """Tiny Shakespeare's input.txt in $MOE_DATA_DIR, ./data or ../shared/data."""
    for root in [os.environ.get("MOE_DATA_DIR", ""), "data", "../shared/data"]:
        path = os.path.join(root, "tinyshakespeare", "input.txt")
        if root and os.path.exists(path):
            return path
    fail("Tiny Shakespeare not found (MOE_DATA_DIR, ./data, ../shared/data)")


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return os.uname().machine


def torch_version():
    out = subprocess.run([PYTHON, "-c", "import torch; print(torch.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "(not installed)"


def add_run_args(ap):
    """The options every training benchmark takes: threads, build directory, moe binary, record.
    Returns a function of the parsed arguments giving the moe binary to measure."""
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--build", default="build", help="build directory (bench/sgemm_peak)")
    ap.add_argument("--moe", help="the moe binary to measure (default BUILD/moe)")
    ap.add_argument("--record", help="also write the report (Markdown) to this file")
    return lambda args: args.moe or os.path.join(args.build, "moe")


class Rounds:
    """moe.cpp and its peer run alternately: `count` times run_ours() and then run_peer(its
    result). This machine's speed drifts by up to 10% within minutes, and the PyTorch peers' by up
    to 25% between runs, so one pair can decide a ratio near a target: alternating exposes both
    sides to the same drift, and the report gives every round and the median ratio. ours_rate and
    peer_rate give a result's tokens/s."""

    def __init__(self, count, run_ours, run_peer, ours_rate, peer_rate):
        if count < 1:
            fail(f"--rounds must be at least 1 (got {count})")
        self.pairs = []
        for _ in range(count):
            ours = run_ours()
            self.pairs.append((ours, run_peer(ours)))
        self.ours_rates = [ours_rate(ours) for ours, _ in self.pairs]
        self.peer_rates = [peer_rate(peer) for _, peer in self.pairs]
        self.ratios = [o / p for o, p in zip(self.ours_rates, self.peer_rates)]
        # The round with the median ratio (the lower middle one for an even count).
        order = sorted(range(count), key=lambda i: self.ratios[i])
        self.shown = order[(count - 1) // 2]

    @staticmethod
    def add_arg(ap):
        ap.add_argument("--rounds", type=int, default=1,
                        help="run moe.cpp and its peer alternately this many times (default 1)")

    def median_pair(self):
        return self.pairs[self.shown]

    def lines(self):
        """Markdown table of every round's tokens/s and ratio; nothing for a single round."""
        if len(self.pairs) < 2:
            return []
        r = self.ratios
        lines = [f"Rounds, moe.cpp and PyTorch alternately: median ratio "
                 f"{statistics.median(r):.2f}x, range {min(r):.2f}x-{max(r):.2f}x (the table "
                 f"above is round {self.shown + 1}, the median round; for an even count the lower "
                 "middle one):", "",
                 "| round | moe.cpp tokens/s | PyTorch tokens/s | ratio |", "|---:|---:|---:|---:|"]
        for i, (o, p) in enumerate(zip(self.ours_rates, self.peer_rates)):
            lines.append(f"| {i + 1} | {o:.0f} | {p:.0f} | {r[i]:.2f}x |")
        return lines + [""]


def timed_steps(n_steps):
    """Indices of the timed steps among n_steps (all of them when there are too few)."""
    return range(WARMUP_STEPS if n_steps > WARMUP_STEPS else 0, n_steps)


class Runner:
    """Runs child processes one after the other, keeping their command lines for the record."""

    def __init__(self):
        self.commands = []

    def run(self, cmd, env=None):
        """Runs cmd with env added to the environment; returns (stdout, peak RSS in bytes).
        A failing child's stderr is passed on and ends the benchmark."""
        env = env or {}
        shown = " ".join([f"{k}={v}" for k, v in env.items()] + cmd)
        print("$ " + shown, flush=True)
        self.commands.append(shown)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True,
                                    env=dict(os.environ, **env))
            # wait4 gives this child's own resource usage (getrusage(RUSAGE_CHILDREN) would give
            # the largest of all children so far).
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            if proc.returncode != 0:
                sys.stderr.write(err.read())
                fail(f"{os.path.basename(cmd[0])} exited with status {proc.returncode}: {shown}")
            return out.read(), usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux

    def sgemm_peak(self, build, threads, blas):
        """The sgemm rate (bench/sgemm_peak) with the OpenBLAS kernels moe.cpp's run used."""
        out, _ = self.run([f"{build}/bench/sgemm_peak", "--threads", str(threads)],
                          env={"OPENBLAS_CORETYPE": blas})
        return json.loads(out.strip().splitlines()[-1])

    def train_moe(self, moe, threads, args):
        """`moe train` with args (configuration, --steps, --set ...) in a scratch directory."""
        with tempfile.TemporaryDirectory() as out_dir:
            _, rss = self.run([moe, "train", *args, "--threads", str(threads), "--quiet",
                               "--out", out_dir])
            with open(os.path.join(out_dir, "metrics.jsonl")) as f:
                records = [json.loads(line) for line in f if line.strip()]
        return MoeRun(records, rss)

    def train_peer(self, script, args, threads, blas):
        """A PyTorch peer (bench/*_pytorch.py) with the OpenBLAS kernels moe.cpp used, so that
        the two differ only in the code around the GEMMs. Returns (final JSON, eval curve)."""
        out, rss = self.run([PYTHON, script, *args, "--threads", str(threads)],
                            env={"OPENBLAS_CORETYPE": blas})
        result = json.loads(out.strip().splitlines()[-1])
        result["max_rss"] = rss
        return result, parse_curve(out)


class MoeRun:
    """One `moe train` run, read from its metrics.jsonl."""

    def __init__(self, records, max_rss):
        self.start = next(r for r in records if r["type"] == "start")
        self.steps = [r for r in records if r["type"] == "step"]
        self.curve = {r["step"]: (r["train_loss"], r["val_loss"])
                      for r in records if r["type"] == "eval"}
        self.max_rss = max_rss
        train = self.config["train"]
        self.tokens_per_step = (train["batch_size"] * train["grad_accum"] *
                                self.config["model"]["block_size"])

    @property
    def config(self):
        return self.start["config"]

    @property
    def blas(self):
        return self.start["blas"]

    def step_seconds(self):
        """Mean seconds per timed step (a step record's tokens_per_s covers the whole step)."""
        timed = [self.steps[i] for i in timed_steps(len(self.steps))]
        return sum(self.tokens_per_step / r["tokens_per_s"] for r in timed) / len(timed)

    def tokens_per_s(self):
        return self.tokens_per_step / self.step_seconds()

    def mean_ms(self, key):
        """Mean of a step record's timing (forward_ms, backward_ms, optimizer_ms), timed steps."""
        timed = [self.steps[i][key] for i in timed_steps(len(self.steps))]
        return sum(timed) / len(timed)


def parse_curve(stdout):
    """{step: (train loss, val loss)} from a peer's "step N: train loss X, val loss Y" lines."""
    return {int(m.group(1)): (float(m.group(2)), float(m.group(3))) for m in
            re.finditer(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)", stdout)}


def six_n_flops_per_token(run):
    """The usual estimate: 6 × active parameters (Kaplan et al. 2020, embedding included) plus
    causal attention 6·L·T·d, half of the 12·L·T·d full attention of PaLM (Chowdhery et al.
    2022, appendix B): per layer QKᵀ and the weighted sum of V over T/2 keys on average,
    2·2·(T/2)·d forward, three times that with backward."""
    m = run.config["model"]
    return 6 * run.start["active_params"] + 6 * m["n_layers"] * m["block_size"] * m["n_embed"]


FLOPS_DEFINITION = (
    "moe.cpp's `flops_per_token` (start record of metrics.jsonl) = 6 × (active parameters − "
    "embedding) + 6·L·d·(T+1): the dense part counts every matrix a token passes through "
    "(attention projections, router, its top-k experts, LM head) at 2 FLOPs per weight forward "
    "and 4 backward; causal attention counts QKᵀ and the weighted sum of V over (T+1)/2 keys on "
    "average, 2·2·d·(T+1)/2 per layer forward and three times that with backward. The usual "
    "estimate 6N + 6LTd, 6 × active parameters (embedding included) + 6·L·T·d, differs by the "
    "embedding lookup (no FLOPs) and the +1 of the causal mean.")


def gflops_line(name, tokens_per_s, flops_per_token, peak):
    gflops = tokens_per_s * flops_per_token / 1e9
    return (f"{name}: {flops_per_token / 1e6:.2f} MFLOP per token -> {gflops:.1f} GFLOP/s, "
            f"{100 * gflops / peak['sgemm_gflops']:.0f}% of sgemm")


def sgemm_line(peak):
    return (f"sgemm rate (bench/sgemm_peak, same kernels): {peak['sgemm_gflops']:.0f} GFLOP/s "
            f"({peak['size']}^3, {peak['threads']} threads, {peak['blas']} kernels)")


def curve_table(names, curves):
    """Markdown table of eval losses at every step any of the curves has."""
    lines = ["| step | " + " | ".join(f"{n} train | {n} val" for n in names) + " |",
             "|---:|" + "---:|---:|" * len(names)]
    for step in sorted(set().union(*curves)):
        cells = []
        for curve in curves:
            cells += [f"{v:.4f}" for v in curve[step]] if step in curve else ["-", "-"]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return lines


def max_loss_gap(a, b):
    """Largest |a - b| over the train and val losses of the steps both curves have."""
    gaps = [abs(x - y) for s in set(a) & set(b) for x, y in zip(a[s], b[s])]
    return max(gaps) if gaps else float("nan")


def header_lines(title, threads, blas, settings):
    return [f"# {title}", "",
            f"- date: {datetime.date.today()}, machine: {cpu_name()}, {os.cpu_count()} cores, "
            f"threads {threads}, OpenBLAS kernels {blas} (every run)",
            *[f"- {s}" for s in settings],
            f"- timed: every training step but the first {WARMUP_STEPS} (all of them in shorter "
            "runs); evaluation excluded", ""]


def finish(lines, runner, record, summary):
    """Prints the report (with the commands run) and writes it to `record` if given; the last
    stdout line is `summary` as one JSON object (bench/run_all.sh collects these)."""
    lines = lines + ["", "Commands:", "", "```", *runner.commands, "```"]
    report = "\n".join(lines)
    print(report)
    if record:
        with open(record, "w") as f:
            f.write(report + "\n")
    print(json.dumps(summary), flush=True)
