#!/usr/bin/env bash
# moe compare under mpirun: every configuration trains data-parallel over the job's processes,
# with the losses of a one-process comparison with the same global batch; rank 0 alone prints and
# writes the summary, the report and the run directories; a configuration that fails ends the
# whole job at once, naming the rank; other commands are refused on several processes. Skipped
# (exit 77, with the reason) without MPI or mpirun.
source "$(dirname "$0")/common.bash"
M=$MOE_BIN
[[ ${MOE_MPI:-OFF} == ON ]] || { echo "skipped: this build has no MPI (configure with -DMOE_MPI=ON)"; exit 77; }
command -v mpirun >/dev/null || { echo "skipped: mpirun not found (scripts/setup.sh --test installs openmpi-bin)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
MPIRUN=(timeout 120 mpirun --oversubscribe --quiet)

# Two routing methods of the shipped set (softmax top-2 with the Switch loss; sigmoid scores with
# auxiliary-loss-free balancing), shrunk to a tiny model and 4 steps.
SET=configs/compare-routing
CONFIGS=("$MOE_ROOT/$SET/1_softmax_top2_switch.toml" "$MOE_ROOT/$SET/3_sigmoid_loss_free.toml")
SMALL=(--set model.n_layers=2 --set model.n_embed=32 --set model.n_heads=4 --set model.ffn_hidden=64
       --set model.block_size=16 --set train.batch_size=4 --set train.eval_every=2
       --set train.eval_iters=2 --set train.router_bias_update=0.01 --steps 4 --threads 1)

# One process with grad_accum 2 against 2 processes with 1 micro-batch each.
"$M" compare --configs "${CONFIGS[@]}" "${SMALL[@]}" --set train.grad_accum=2 --quiet --out "$WORK/one" >/dev/null
"${MPIRUN[@]}" -np 2 "$M" compare --configs "${CONFIGS[@]}" "${SMALL[@]}" --out "$WORK/dp2" \
  >"$WORK/dp2.out" 2>"$WORK/dp2.err"

# Rank 0 alone prints: each run's line and progress once, the summary once, nothing on stderr.
[[ $(grep -c '^compare: \[1/2\]' "$WORK/dp2.out") -eq 1 ]] || fail "expected one line per run: $(cat "$WORK/dp2.out")"
[[ $(grep -c '^moe train: data parallel on 2 processes' "$WORK/dp2.out") -eq 2 ]] || fail "expected 2 data-parallel openings: $(cat "$WORK/dp2.out")"
[[ $(grep -c '^# Dense vs MoE comparison' "$WORK/dp2.out") -eq 1 ]] || fail "expected one summary: $(cat "$WORK/dp2.out")"
[[ ! -s "$WORK/dp2.err" ]] || fail "a rank printed on stderr: $(cat "$WORK/dp2.err")"
echo "ok: one rank prints: $(grep -m1 'data parallel' "$WORK/dp2.out")"
for f in summary.md summary.csv report.html; do
  [[ -s "$WORK/dp2/$f" ]] || fail "no $f"
done

# Each run trained on 2 processes with the one-process run's losses (data_parallel.sh says why
# within 1e-6, step 1 exactly, grad_norm within 1e-4), and the summaries count the same tokens.
for cfg in "${CONFIGS[@]}"; do
  name=$(basename "$cfg" .toml)
  grep -q '"processes":2' "$WORK/dp2/$name/metrics.jsonl" || fail "$name: start record without processes: 2"
  [[ -f "$WORK/dp2/$name/checkpoint/model.safetensors" ]] || fail "$name: no checkpoint"
  echo "$name, 2 processes vs 1 process with grad_accum 2:"
  compare_losses "$WORK/one/$name/metrics.jsonl" "$WORK/dp2/$name/metrics.jsonl" 1e-6 step1 1e-4
done
tokens() { grep -o '[0-9]\+ training tokens' "$1"; }
[[ $(tokens "$WORK/one/summary.md") == $(tokens "$WORK/dp2/summary.md") ]] ||
  fail "token budgets differ: $(tokens "$WORK/one/summary.md") vs $(tokens "$WORK/dp2/summary.md")"
grep -q "grad_accum 1 on each of 2 data-parallel processes" "$WORK/dp2/summary.md" ||
  fail "summary.md does not say how the batch was shared: $(head -3 "$WORK/dp2/summary.md")"
echo "ok: both summaries count $(tokens "$WORK/dp2/summary.md")"

# A configuration that fails on rank 0 alone (its run directory cannot be created; rank 1 is
# already training and waits for it) ends the job within seconds, naming the rank and the run.
mkdir -p "$WORK/blocked"; echo "in the way" >"$WORK/blocked/3_sigmoid_loss_free"
SECONDS=0
out=$("${MPIRUN[@]}" -np 2 "$M" compare --configs "${CONFIGS[@]}" "${SMALL[@]}" --quiet \
        --out "$WORK/blocked" 2>&1) && fail "a failing configuration did not fail the job"
[[ $out == *"error: rank 0 of 2: configuration 3_sigmoid_loss_free failed: "*"cannot create directory"* ]] ||
  fail "no clear error for the failing configuration: $out"
((SECONDS < 60)) || fail "the job took ${SECONDS}s to end"
[[ -f "$WORK/blocked/1_softmax_top2_switch/checkpoint/model.safetensors" ]] || fail "the first run's results were lost"
echo "ok: failing configuration ended the job in ${SECONDS}s: $(grep -m1 '^error:' <<<"$out")"

# Other commands run as one process.
out=$("${MPIRUN[@]}" -np 2 "$M" info --checkpoint "$WORK/one/1_softmax_top2_switch" 2>&1) && fail "info ran on 2 processes"
[[ $out == *"error: rank "*"only moe train and moe compare run on several processes"* ]] || fail "no clear error for info: $out"
echo "ok: info on 2 processes refused: $(grep -m1 '^error:' <<<"$out")"
echo "compare on several processes: all cases passed"
