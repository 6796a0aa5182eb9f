#!/usr/bin/env bash
# Data-parallel training under mpirun: 2 and 4 processes give the losses of one process with the
# same global batch, a run saved on N processes resumes on M, ranks given different runs are
# refused, and a rank that fails ends the whole job at once, naming the rank, with the last
# checkpoint intact. Skipped (exit 77, with the reason) on a build without MPI or without mpirun.
source "$(dirname "$0")/common.bash"
M=$MOE_BIN
COLLECTIVES=$MOE_BUILD/tests/collectives_check
# Every collective against the host's rank-order result: as one process on every build, then on
# 3 and 4 processes (3: where adding in another order than rank order changes a float sum).
"$COLLECTIVES" >/dev/null || fail "collectives on one process"
[[ ${MOE_MPI:-OFF} == ON ]] || { echo "skipped: this build has no MPI (configure with -DMOE_MPI=ON)"; exit 77; }
command -v mpirun >/dev/null || { echo "skipped: mpirun not found (scripts/setup.sh --test installs openmpi-bin)"; exit 77; }
# Root may run mpirun only when asked; more ranks than cores need --oversubscribe.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(timeout 120 mpirun --oversubscribe --quiet)

for n in 3 4; do
  "${MPIRUN[@]}" -np $n "$COLLECTIVES" || fail "collectives on $n processes"
done

# 8 steps with an eval every 4 and a checkpoint every 4.
RUN=("${ONE_THREAD[@]}" --steps 8 --eval-every 4 --ckpt-every 4)

# same_losses A B: the step and eval losses of two metrics.jsonl files agree within 1e-6
# relative, step 1's exactly (the same weights and batches give the same forward pass); later
# steps may differ in the last bits, since a process sums its micro-batches' gradients in its
# backward pass while ranks add theirs afterwards. Those last bits can tip a token whose top-2
# experts are a near tie to the other expert: the losses barely move (the two gates are nearly
# equal; seen: 1e-8 relative), but the gradient norm jumps (seen: 5.4e-6 relative at one step of
# 20), so grad_norm is held to 1e-4. Prints the figures.
same_losses() { compare_losses "$1" "$2" 1e-6 step1 1e-4; }

# 2 ranks x batch 4 = one process with grad_accum 2; 4 ranks x batch 4 x grad_accum 2 = one
# process with grad_accum 8; both random windows and the tutorial's chunks.
for sampling in random chunks; do
  "$M" train "${RUN[@]}" --set data.sampling=$sampling --set train.grad_accum=2 --out "$WORK/one2_$sampling" >/dev/null
  "${MPIRUN[@]}" -np 2 "$M" train "${RUN[@]}" --set data.sampling=$sampling --out "$WORK/dp2_$sampling" >"$WORK/dp2.out"
  echo "2 processes vs 1 process with grad_accum 2 ($sampling):"
  same_losses "$WORK/one2_$sampling/metrics.jsonl" "$WORK/dp2_$sampling/metrics.jsonl"
  # Rank 0 alone prints: its summary is the one JSON line.
  [[ $(grep -c '^{' "$WORK/dp2.out") -eq 1 ]] || fail "expected one summary line: $(cat "$WORK/dp2.out")"
done
# Global-batch balancing: each rank routes its own micro-batches and one sum over the ranks
# gathers the step's expert fractions, those of one process bit for bit (with only its own
# micro-batches' fractions a rank's aux loss would differ far beyond the tolerance).
GLOBAL=(--set model.aux_loss_scope=global_batch --set model.aux_loss_coef=0.05)
"$M" train "${RUN[@]}" "${GLOBAL[@]}" --set train.grad_accum=4 --out "$WORK/one4_global" >/dev/null
"${MPIRUN[@]}" -np 2 "$M" train "${RUN[@]}" "${GLOBAL[@]}" --set train.grad_accum=2 --out "$WORK/dp2_global" >/dev/null
echo "global-batch balancing, 2 processes x grad_accum 2 vs 1 process with grad_accum 4:"
same_losses "$WORK/one4_global/metrics.jsonl" "$WORK/dp2_global/metrics.jsonl"

# Rank 0 alone prints progress: the opening lines once, and nothing on stderr.
LOUD=()
for a in "${RUN[@]}"; do [[ $a == --quiet ]] || LOUD+=("$a"); done
"${MPIRUN[@]}" -np 2 "$M" train "${LOUD[@]}" --out "$WORK/loud" >"$WORK/loud.out" 2>"$WORK/loud.err"
[[ $(grep -c '^moe train: data parallel on 2 processes' "$WORK/loud.out") -eq 1 ]] || fail "expected one opening: $(cat "$WORK/loud.out")"
[[ ! -s "$WORK/loud.err" ]] || fail "a rank printed on stderr: $(cat "$WORK/loud.err")"
echo "ok: one rank prints: $(grep -m1 'data parallel' "$WORK/loud.out")"

"$M" train "${RUN[@]}" --set train.grad_accum=8 --out "$WORK/one8" >/dev/null
"${MPIRUN[@]}" -np 4 "$M" train "${RUN[@]}" --set train.grad_accum=2 --out "$WORK/dp4" >/dev/null
echo "4 processes x grad_accum 2 vs 1 process with grad_accum 8:"
same_losses "$WORK/one8/metrics.jsonl" "$WORK/dp4/metrics.jsonl"
# The start record says how many processes ran; config.json holds the global grad_accum.
grep -q '"processes":4' "$WORK/dp4/metrics.jsonl" || fail "start record without processes: 4"
grep -q '"grad_accum": *8' "$WORK/dp4/checkpoint/config.json" || fail "config.json lacks the global grad_accum 8"
# The checkpoint has the files of a single-process run.
[[ $(cd "$WORK/dp4/checkpoint" && ls) == $(cd "$WORK/one8/checkpoint" && ls) ]] || fail "checkpoint files differ"

# N -> M: a 4-process run stopped by SIGTERM after a checkpoint (every rank stops after the same
# step) resumes on 2 processes and on 1: train.grad_accum in config.json is the step's
# micro-batches over all ranks (8), and any process count dividing it continues the same run.
LONG=("${ONE_THREAD[@]}" --steps 20 --eval-every 10 --ckpt-every 2 --set train.grad_accum=2)
"$M" train "${LONG[@]}" --set train.grad_accum=8 --out "$WORK/one8_long" >/dev/null
"${MPIRUN[@]}" -np 4 "$M" train "${LONG[@]}" --out "$WORK/dp4to2" >/dev/null 2>"$WORK/stop.err" &
mpirun_pid=$!
for _ in $(seq 1 600); do
  [[ -f "$WORK/dp4to2/checkpoint/train_state.safetensors" ]] && break
  sleep 0.05
done
kill -TERM $(pgrep -P "$(pgrep -P $mpirun_pid)") 2>/dev/null || true  # the ranks (timeout's grandchildren)
rc=0; wait $mpirun_pid || rc=$?
[[ $rc -eq 143 ]] || fail "the stopped job exited $rc, expected 143: $(cat "$WORK/stop.err")"
grep -q "moe train: stopped by SIGTERM after step" "$WORK/stop.err" || fail "no stop message: $(cat "$WORK/stop.err")"
echo "ok: 4 processes stopped: $(grep -m1 'stopped by' "$WORK/stop.err")"
cp -r "$WORK/dp4to2" "$WORK/dp4to1"
"${MPIRUN[@]}" -np 2 "$M" train --resume "$WORK/dp4to2" --quiet >/dev/null
"$M" train --resume "$WORK/dp4to1" --quiet >/dev/null
echo "4 processes, stopped, then 2 processes, vs 1 process with grad_accum 8:"
same_losses "$WORK/one8_long/metrics.jsonl" "$WORK/dp4to2/metrics.jsonl"
echo "4 processes, stopped, then 1 process:"
same_losses "$WORK/one8_long/metrics.jsonl" "$WORK/dp4to1/metrics.jsonl"
# 3 processes cannot share 8 micro-batches.
out=$("${MPIRUN[@]}" -np 3 "$M" train --resume "$WORK/dp4to1" --steps 50 2>&1) && fail "3 processes resumed a run of 8 micro-batches"
[[ $out == *"error: rank "*"which 3 processes cannot share evenly"* ]] || fail "no clear error for 3 processes: $out"
echo "ok: 3 processes refused: $(grep -m1 '^error:' <<<"$out")"

# ZeRO-1 (dist.zero=1): the moments are sharded, the gradients reduce-scattered and the weights
# all-gathered. Each gradient element is the same rank-order sum as the plain all-reduce's, so the
# losses and the saved moments are the same bits; only grad_norm, summed shard by shard, may
# differ in its last bits.
# same_bits A B: the losses of two metrics.jsonl files are identical, grad_norm within 1e-6.
same_bits() { compare_losses "$1" "$2" 1e-6 losses; }
# same_moments A B: the adam.m and adam.v tensors of two train_state.safetensors are the same bytes.
same_moments() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return {k: data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys() == {"adam.m", "adam.v"}, f"{sorted(a)} vs {sorted(b)}"
for k in sorted(a):
    assert a[k] == b[k], f"{k} differs"
print(f"  moments identical: {', '.join(f'{k} {len(a[k])} bytes' for k in sorted(a))}")
PYEOF
}
# optimizer_bytes FILE: the optimizer state of the start record's memory line ("moe train: memory").
optimizer_figure() { grep -o 'optimizer state [0-9.]* [KMG]*i*B' "$1"; }
for n in 2 4; do
  "${MPIRUN[@]}" -np $n "$M" train "${LOUD[@]}" --set train.grad_accum=$((4 / n)) --out "$WORK/plain$n" >"$WORK/plain$n.out"
  "${MPIRUN[@]}" -np $n "$M" train "${LOUD[@]}" --set train.grad_accum=$((4 / n)) --set dist.zero=1 --out "$WORK/zero$n" >"$WORK/zero$n.out"
  echo "ZeRO-1 on $n processes vs plain data parallel on $n:"
  same_bits "$WORK/plain$n/metrics.jsonl" "$WORK/zero$n/metrics.jsonl"
  same_moments "$WORK/plain$n/checkpoint/train_state.safetensors" "$WORK/zero$n/checkpoint/train_state.safetensors"
  [[ $(cd "$WORK/zero$n/checkpoint" && ls) == $(cd "$WORK/plain$n/checkpoint" && ls) ]] || fail "ZeRO checkpoint files differ"
  grep -q "optimizer moments sharded (ZeRO-1)" "$WORK/zero$n.out" || fail "no ZeRO-1 opening line: $(cat "$WORK/zero$n.out")"
  # The moments count 1 / n: the memory figure and the start record's memory_bytes.
  "$PY" - "$WORK/plain$n/metrics.jsonl" "$WORK/zero$n/metrics.jsonl" "$n" <<'PYEOF'
import json, sys
plain, zero = (json.loads(open(p).readline())["memory_bytes"] for p in sys.argv[1:3])
n = int(sys.argv[3])
start = json.loads(open(sys.argv[1]).readline())
moments = 2 * 4 * start["params"]
saved = plain - zero
assert moments * (n - 1) / n - 256 <= saved <= moments * (n - 1) / n + 4096, f"memory {plain} -> {zero}: saved {saved}, moments {moments}"
print(f"  memory_bytes {plain} -> {zero}: {saved} bytes saved of {moments} bytes of moments ({saved / moments:.3f}, expected {(n - 1) / n:.3f})")
PYEOF
  echo "  memory line: plain $(optimizer_figure "$WORK/plain$n.out"), ZeRO-1 $(optimizer_figure "$WORK/zero$n.out")"
done
# With clipping the global norm is the sum of the shards' partial norms: the same run within 1e-6.
"${MPIRUN[@]}" -np 2 "$M" train "${RUN[@]}" --set train.grad_clip=0.5 --out "$WORK/plain_clip" >/dev/null
"${MPIRUN[@]}" -np 2 "$M" train "${RUN[@]}" --set train.grad_clip=0.5 --set dist.zero=1 --out "$WORK/zero_clip" >/dev/null
echo "ZeRO-1 on 2 processes vs plain, with train.grad_clip=0.5:"
same_losses "$WORK/plain_clip/metrics.jsonl" "$WORK/zero_clip/metrics.jsonl"
# A ZeRO-1 checkpoint resumes on any process count, with or without ZeRO, and a plain one with it:
# 4 steps, then 4 more, against the uninterrupted 8 of plain data parallel on 4 processes (within
# 1e-6: one process or two add the micro-batches' gradients in another order than four).
# A constant learning rate, so that a run of 4 steps continues as one of 8.
CONST=("${ONE_THREAD[@]}" --eval-every 4 --ckpt-every 4 --set train.lr_schedule=constant --set train.grad_accum=1)
"${MPIRUN[@]}" -np 4 "$M" train "${CONST[@]}" --steps 8 --out "$WORK/plain4c" >/dev/null
"${MPIRUN[@]}" -np 4 "$M" train "${CONST[@]}" --set dist.zero=1 --steps 4 --out "$WORK/z4" >/dev/null
cp -r "$WORK/z4" "$WORK/z4to1" && cp -r "$WORK/z4" "$WORK/z4to2"
"$M" train --resume "$WORK/z4to1" --set dist.zero=0 --steps 8 --quiet >/dev/null
"${MPIRUN[@]}" -np 2 "$M" train --resume "$WORK/z4to2" --steps 8 --quiet >/dev/null
"${MPIRUN[@]}" -np 4 "$M" train "${CONST[@]}" --steps 4 --out "$WORK/p4toz2" >/dev/null
"${MPIRUN[@]}" -np 2 "$M" train --resume "$WORK/p4toz2" --set dist.zero=1 --steps 8 --quiet >/dev/null
grep -q '"zero": *1' "$WORK/p4toz2/checkpoint/config.json" || fail "config.json lacks dist.zero 1 after resuming with it"
for run in z4to1 z4to2 p4toz2; do
  echo "$run vs 4 plain processes, uninterrupted:"
  same_losses "$WORK/plain4c/metrics.jsonl" "$WORK/$run/metrics.jsonl"
done
expect_error "--set of a non-dist setting on resume" "--set may change only dist.* settings, not 'train.lr=1'" \
  "$M" train --resume "$WORK/z4to1" --set train.lr=1 --steps 9
expect_error "dist.zero=2" "dist.zero = 2 must be 0" "$M" train "${RUN[@]}" --set dist.zero=2 --out "$WORK/zero_bad"

# Ranks given different runs are refused, each with the same error, before anything is written.
out=$("${MPIRUN[@]}" -np 1 "$M" train "${RUN[@]}" --out "$WORK/mismatch" : \
        -np 1 "$M" train "${RUN[@]}" --set train.lr=2e-3 --out "$WORK/mismatch" 2>&1) && fail "different runs were not refused"
[[ $out == *"error: rank "*"rank 1 was given another run than rank 0"* ]] || fail "no clear mismatch error: $out"
[[ ! -e "$WORK/mismatch/metrics.jsonl" ]] || fail "a refused job wrote its metrics log"
echo "ok: mismatch refused: $(grep -m1 '^error:' <<<"$out")"

# A rank running another build (here: the binary with one more byte) is refused too.
cp "$M" "$WORK/moe_other" && printf '\n' >>"$WORK/moe_other"
out=$("${MPIRUN[@]}" -np 1 "$M" train "${RUN[@]}" --out "$WORK/other" : \
        -np 1 "$WORK/moe_other" train "${RUN[@]}" --out "$WORK/other" 2>&1) && fail "another binary was not refused"
[[ $out == *"error: rank "*"rank 1 runs another moe binary than rank 0"* ]] || fail "no clear binary error: $out"
echo "ok: another binary refused: $(grep -m1 '^error:' <<<"$out")"

# A rank that fails (rank 1 cannot find the data; rank 0 is already waiting for it in the first
# gradient sum) ends the job within seconds, naming the rank.
mkdir -p "$WORK/elsewhere"
SECONDS=0
out=$("${MPIRUN[@]}" -np 1 "$M" train "${RUN[@]}" --out "$WORK/fault" : \
        -np 1 env -C "$WORK/elsewhere" MOE_DATA_DIR="$WORK/none" "$M" train "${RUN[@]}" --out "$WORK/fault" 2>&1) && fail "a failing rank did not fail the job"
rc=$?
[[ $out == *"error: rank 1 of 2: cannot find"* ]] || fail "the failing rank is not named: $out"
((SECONDS < 60)) || fail "the job took ${SECONDS}s to end"
echo "ok: failing rank ended the job in ${SECONDS}s: $(grep -m1 '^error:' <<<"$out")"

# Divergence after a checkpoint: every rank stops with the error, and the step-2 checkpoint
# stays intact and loadable.
DIVERGE=("${ONE_THREAD[@]}" --set train.lr=10 --set train.min_lr=0 --set train.weight_decay=10 --eval-every 0 --steps 20 --ckpt-every 2)
out=$("${MPIRUN[@]}" -np 2 "$M" train "${DIVERGE[@]}" --out "$WORK/diverge" 2>&1) && fail "a diverging job did not fail"
[[ $out == *"error: rank "*"training stopped; the last checkpoint (step 2) in $WORK/diverge is intact"* ]] || fail "no clear divergence error: $out"
"$M" info --checkpoint "$WORK/diverge" >/dev/null || fail "the step-2 checkpoint does not load"
echo "ok: divergence stopped every rank; the step-2 checkpoint loads"
echo "data parallel: all cases passed"
