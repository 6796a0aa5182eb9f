# Auxiliary-loss-free balancing balances: on a short Tiny Shakespeare run where plain top-k
# without an aux loss leaves its busiest expert with over twice its uniform share, the selection
# biases bring it under 1.5x. The load is the final evaluation's expert usage (metrics.jsonl),
# the share of the N*k assignments per expert on validation batches, in the busiest MoE layer.
# The test prints the three runs' figures and validation losses (plain top-k, Switch aux loss
# 0.01, selection biases). The validation loss is printed, not asserted: in this regime (300
# steps of a 2-layer model) the bias run came out above the aux-loss run on both seeds compared
# (seed 11: 2.394 vs 2.359; seed 12: 2.400 vs 2.384), so "no worse than the aux loss" does not
# hold here. It does later: the same runs continued to 3,000 steps (constant learning rate) end at
# 1.847 (bias) vs 1.858 (aux) for seed 11 and 1.860 vs 1.862 for seed 12, the bias run ahead of the
# aux run from step 1,800 on seed 11 and from 2,400 on seed 12 — too long a run for this test.
source "$(dirname "$0")/common.bash"
M=$MOE_BIN
# Why these settings: 8 experts, top-2, softmax top-k, no dropout, lr 3e-3 and 300 steps (about
# 20 s per run on one core) is a setup where plain top-k collapses clearly:
# busiest expert 2.79x / 2.90x / 2.47x the uniform share for seeds 11 / 12 / 13, and
# gamma = 0.001 (DeepSeek-V3's value) balances it to 1.17x / 1.38x / 1.13x; seed 11 sits far
# from both thresholds (2.0 and 1.5).
BASE=(--preset makemoe --set model.n_layers=2 --set model.n_embed=64 --set model.n_heads=4
      --set model.ffn_hidden=128 --set model.block_size=32 --set model.n_experts=8
      --set model.top_k=2 --set model.router=topk --set model.dropout=0 --set train.batch_size=16
      --set train.lr=3e-3 --set train.eval_iters=20 --steps 300 --eval-every 300 --seed 11
      --threads 1 --quiet)

"$M" train "${BASE[@]}" --out "$WORK/plain" >/dev/null
"$M" train "${BASE[@]}" --set model.aux_loss_coef=0.01 --out "$WORK/aux" >/dev/null
"$M" train "${BASE[@]}" --set model.router_bias=true --set train.router_bias_update=0.001 \
  --out "$WORK/bias" >/dev/null

"$PY" - "$WORK" <<'PYEOF'
import json, sys
def last_eval(name):
    evals = [json.loads(l) for l in open(f"{sys.argv[1]}/{name}/metrics.jsonl")]
    evals = [r for r in evals if r["type"] == "eval"]
    return evals[-1]
def busiest(record):
    # the largest expert share over all MoE layers, in units of the uniform share 1/E
    return max(max(l["expert_usage"]) * len(l["expert_usage"]) for l in record["moe"])
plain, aux, bias = last_eval("plain"), last_eval("aux"), last_eval("bias")
print(f"busiest expert / uniform share: top-k {busiest(plain):.2f}, "
      f"Switch aux {busiest(aux):.2f}, loss-free bias {busiest(bias):.2f}")
print(f"val loss: top-k {plain['val_loss']:.4f}, Switch aux {aux['val_loss']:.4f}, "
      f"loss-free bias {bias['val_loss']:.4f}")
assert busiest(plain) > 2.0, "plain top-k is already balanced: the test shows nothing"
assert busiest(bias) < 1.5, "the selection biases did not balance the load"
PYEOF
