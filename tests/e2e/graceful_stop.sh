# SIGINT/SIGTERM during training: the run finishes its step, saves a checkpoint, says where it is
# and how to resume, and exits 128 + signal; resumed, it prints the losses of an uninterrupted run
# bit for bit. A second signal ends it at once without damaging the checkpoint. `moe compare`
# stops after the current run's checkpoint.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"
STEPS=40
ARGS=("${TINY[@]}" --set train.grad_accum=2 --steps $STEPS --eval-every 10 --seed 11)
"$M" train "${ARGS[@]}" --ckpt-every 0 --out "$WORK/full" >/dev/null

# wait_for_steps PID FILE N: until FILE holds N step records, while process PID runs.
wait_for_steps() {
  for _ in $(seq 1 2400); do
    [[ -f $2 && $(grep -c '"type":"step"' "$2" || true) -ge $3 ]] && return 0
    kill -0 "$1" 2>/dev/null || fail "the process ended before $3 step records in $2"
    sleep 0.05
  done
  fail "no $3 step records in $2"
}

# stop_with SIGNAL CODE: stop a run after its first step record; it must exit CODE with the
# message, hold a checkpoint of a step before the end, and resume to the uninterrupted losses.
stop_with() {
  local sig=$1 code=$2 dir="$WORK/stopped_$1" rc=0
  "$M" train "${ARGS[@]}" --ckpt-every 0 --out "$dir" >"$dir.out" 2>"$dir.err" &
  local pid=$!
  wait_for_steps $pid "$dir/metrics.jsonl" 1
  kill -"$sig" $pid
  wait $pid || rc=$?
  [[ $rc -eq $code ]] || fail "$sig: exit code $rc, expected $code: $(cat "$dir.err")"
  local step
  step=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["steps"])' "$dir.out")
  grep -q "moe train: stopped by SIG$sig after step $step; checkpoint saved in $dir/checkpoint; continue with: moe train --resume $dir" "$dir.err" \
    || fail "$sig: message: $(cat "$dir.err")"
  grep -q "\"stopped_by\":\"SIG$sig\"" "$dir.out" || fail "$sig: summary line lacks stopped_by"
  ((step >= 1 && step < STEPS)) || fail "$sig: stopped at step $step"
  [[ $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"]["model.safetensors"]["bytes"] > 0)' "$dir/checkpoint/manifest.json") == True ]] \
    || fail "$sig: no complete checkpoint"
  echo "ok: $sig stopped the run after step $step with exit code $rc"
  "$M" train --resume "$dir" --quiet >/dev/null
  expect_same_metrics "$WORK/full/metrics.jsonl" "$dir/metrics.jsonl"
}
stop_with INT 130
stop_with TERM 143

# A second signal ends the process at once (exit 130) whatever it is doing, saves included; the
# checkpoints written every step stay loadable and the run resumes exactly. Bigger batches make a
# step take long enough for the second signal to arrive within it.
BIG=("${TINY[@]}" --set train.batch_size=96 --steps 8 --eval-every 4 --ckpt-every 1 --seed 11)
"$M" train "${BIG[@]}" --out "$WORK/big_full" >/dev/null
dir="$WORK/twice"
"$M" train "${BIG[@]}" --out "$dir" >/dev/null 2>"$dir.err" &
pid=$!
wait_for_steps $pid "$dir/metrics.jsonl" 2
kill -INT $pid
for _ in $(seq 1 600); do grep -q "stopping after this step" "$dir.err" && break; sleep 0.01; done
kill -INT $pid
rc=0; wait $pid || rc=$?
[[ $rc -eq 130 ]] || fail "two signals: exit code $rc"
grep -q "second signal, stopping at once" "$dir.err" || fail "two signals: message: $(cat "$dir.err")"
"$M" train --resume "$dir" --quiet >/dev/null
expect_same_metrics "$WORK/big_full/metrics.jsonl" "$dir/metrics.jsonl"

# moe compare: the stop ends the current run after its checkpoint; later runs are not started.
printf '[model]\nn_layers = 2\nn_embed = 32\nn_heads = 4\nffn_hidden = 64\nblock_size = 16\n[train]\nbatch_size = 4\nsteps = 40\neval_every = 10\neval_iters = 4\nckpt_every = 0\n' >"$WORK/a.toml"
cp "$WORK/a.toml" "$WORK/b.toml"
"$M" compare --configs "$WORK/a.toml" "$WORK/b.toml" --threads 2 --quiet --out "$WORK/cmp" >"$WORK/cmp.out" 2>"$WORK/cmp.err" &
pid=$!
wait_for_steps $pid "$WORK/cmp/a/metrics.jsonl" 1
kill -INT $pid
rc=0; wait $pid || rc=$?
[[ $rc -eq 130 ]] || fail "compare: exit code $rc: $(cat "$WORK/cmp.err")"
grep -q "moe compare: stopped by SIGINT; the run it stopped has a checkpoint in $WORK/cmp/a (continue it with: moe train --resume $WORK/cmp/a)" "$WORK/cmp.err" \
  || fail "compare: message: $(cat "$WORK/cmp.err")"
[[ ! -e "$WORK/cmp/b" ]] || fail "compare started the next run after the stop"
grep -q "not run: the comparison was stopped by SIGINT" "$WORK/cmp/summary.md" || fail "compare: summary lacks the stop"
"$M" train --resume "$WORK/cmp/a" --quiet >/dev/null
echo "graceful stop: all cases passed"
