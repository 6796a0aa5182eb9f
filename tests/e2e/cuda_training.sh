# Training on CUDA against the CPU: the first 10 steps' losses of the same run on both devices
# agree (fp32 on both, sums in other orders), and a CUDA run killed after a checkpoint and resumed
# repeats the uninterrupted CUDA run bit for bit. Synthetic tokens, so that it needs no data files.
# Skipped (exit 77), with the reason, where this build or machine has no usable CUDA.
source "$(dirname "$0")/common.bash"
M="$MOE_BIN"

SYNTHETIC=(--set data.source=synthetic --set model.vocab_size=65)
if ! err=$("$M" train "${TINY[@]}" "${SYNTHETIC[@]}" --steps 1 --device cuda --out "$WORK/probe" \
             2>&1 >/dev/null); then
  [[ $err == *"cannot run on cuda: "* ]] || fail "train --device cuda: unexpected failure: $err"
  echo "skip: no CUDA training check: ${err#error: }"
  exit 77
fi

# The 10-step loss trajectory: makemoe (dropout, noisy top-k router: the same masks and noise on
# both devices) and llama-moe-tiny, each with z loss, on both devices from the same seed.
LLAMA=(--preset llama-moe-tiny --set model.n_layers=2 --set model.block_size=32
       --set train.batch_size=4 --set train.eval_iters=2 --threads 2 --quiet)
for name in makemoe llama; do
  if [[ $name == makemoe ]]; then args=("${TINY[@]}" --set model.z_loss_coef=0.001)
  else args=("${LLAMA[@]}"); fi
  for device in cpu cuda; do
    "$M" train "${args[@]}" "${SYNTHETIC[@]}" --steps 10 --eval-every 10 --seed 5 \
      --device "$device" --out "$WORK/$name-$device" >/dev/null
  done
  # Each step's loss and objective within 1e-3 relative: fp32 sums in other orders differ by ~1e-6
  # at step 1, and AdamW's first updates (lr times the sign of each gradient) can amplify that
  # where a gradient is near 0; a wrong kernel, or a top-k choice that flips, shows as far more.
  "$PY" - "$WORK/$name-cpu/metrics.jsonl" "$WORK/$name-cuda/metrics.jsonl" "$name" <<'PYEOF'
import json, sys
def steps(path):
    return {r["step"]: r for r in map(json.loads, open(path)) if r["type"] == "step"}
cpu, gpu, name = steps(sys.argv[1]), steps(sys.argv[2]), sys.argv[3]
assert sorted(cpu) == sorted(gpu) == list(range(1, 11)), (sorted(cpu), sorted(gpu))
worst = 0.0
print(f"{name}: step  cpu loss      cuda loss     rel. difference")
for s in sorted(cpu):
    for key in ("loss", "objective"):
        diff = abs(gpu[s][key] - cpu[s][key]) / abs(cpu[s][key])
        worst = max(worst, diff)
    print(f"{name}: {s:4d}  {cpu[s]['loss']:.8f}  {gpu[s]['loss']:.8f}  "
          f"{abs(gpu[s]['loss'] - cpu[s]['loss']) / cpu[s]['loss']:.1e}")
gpu_last = gpu[10]
for key in ("peak_memory_mib", "mfu"):
    assert key in gpu_last and gpu_last[key] > 0, f"cuda step record lacks {key}: {gpu_last}"
    assert key not in cpu[10], f"cpu step record has {key}"
print(f"{name}: cuda vs cpu over 10 steps: largest relative difference {worst:.1e}; "
      f"cuda peak memory {gpu_last['peak_memory_mib']:.1f} MiB, mfu {gpu_last['mfu']:.2e}")
assert worst <= 1e-3, f"{name}: the cuda losses leave the cpu trajectory ({worst:.1e} > 1e-3)"
PYEOF
done

# Resume exactness on the GPU: killed after a checkpoint, resumed, bit for bit the uninterrupted
# run (the same step and eval records), and the same final weights.
ARGS=("${LLAMA[@]}" "${SYNTHETIC[@]}" --set train.grad_accum=2 --steps 200 --eval-every 50
      --ckpt-every 20 --seed 7 --device cuda)
"$M" train "${ARGS[@]}" --out "$WORK/full" >/dev/null
run_killed_then_resumed "$WORK/killed" "${ARGS[@]}"
expect_same_metrics "$WORK/full/metrics.jsonl" "$WORK/killed/metrics.jsonl"
cmp "$WORK/full/checkpoint/model.safetensors" "$WORK/killed/checkpoint/model.safetensors" ||
  fail "resumed cuda weights differ from the uninterrupted cuda run's"
echo "cuda_training: ok"
