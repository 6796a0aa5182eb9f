# Whole-model check against the PyTorch mirror (tools/reference/moe_reference.py): logits, loss,
# aux and z losses, every parameter gradient and a 10-step AdamW trajectory, relative error
# <= 1e-4, for both architectures, dense and MoE, every router and the MoE options (sigmoid
# scores, with every balance loss, and auxiliary-loss-free balancing: their biases after the
# trajectory are compared too).
source "$(dirname "$0")/common.bash"
DUMP="$MOE_BUILD/tests/ref_dump"
CASES=(
  "model.arch=gpt model.moe_layers=none"
  "model.arch=gpt model.router=topk"
  "model.arch=gpt model.router=noisy_topk"
  "model.arch=gpt model.router=noisy_topk model.attention_scale=0.0883883 train.weight_decay_params=all"
  "model.arch=gpt model.router=temperature model.router_temperature=2 model.router_temperature_end=0.5"
  "model.arch=gpt model.router=topk model.capacity_factor=1.0 model.top_k=1"
  "model.arch=gpt model.router=noisy_topk model.n_shared_experts=1 model.moe_layers=every:2"
  "model.arch=llama model.moe_layers=none model.n_kv_heads=2"
  "model.arch=llama model.router=topk model.n_kv_heads=2"
  "model.arch=llama model.router=noisy_topk model.n_kv_heads=1"
  "model.arch=llama model.router=temperature model.router_temperature=0.7 model.router_temperature_end=1.5 model.top_k=3"
  "model.arch=llama model.router=topk model.n_shared_experts=2 model.capacity_factor=1.25 model.moe_layers=1"
  "model.arch=gpt model.router=topk model.router_score=sigmoid model.routed_scaling_factor=2.5"
  "model.arch=gpt model.router=topk model.router_score=sigmoid model.router_bias=true train.router_bias_update=0.05"
  "model.arch=gpt model.router=topk model.router_bias=true train.router_bias_update=0.05"
  "model.arch=llama model.router=topk model.router_score=sigmoid model.n_kv_heads=2 model.top_k=1"
  "model.arch=llama model.router=topk model.router_score=sigmoid model.router_bias=true model.n_kv_heads=2 train.router_bias_update=0.05 train.router_bias_update_until=6"
  "model.arch=llama model.router=temperature model.router_temperature=0.7 model.router_bias=true train.router_bias_update=0.05"
  "model.arch=gpt model.router=topk train.grad_accum=2"
  "model.arch=gpt model.router=noisy_topk model.seq_aux_loss_coef=0.1"
  "model.arch=llama model.router=temperature model.router_temperature=0.7 model.n_kv_heads=2 model.seq_aux_loss_coef=0.1"
  "model.arch=gpt model.router=noisy_topk model.aux_loss_coef=0.1 model.aux_loss_scope=global_batch train.grad_accum=3"
  "model.arch=llama model.router=topk model.aux_loss_coef=0.1 model.aux_loss_scope=global_batch train.grad_accum=2 model.seq_aux_loss_coef=0.05"
  "model.arch=gpt model.router=topk model.router_score=sigmoid model.seq_aux_loss_coef=0.1"
  "model.arch=llama model.router=topk model.router_score=sigmoid model.routed_scaling_factor=2.5 model.n_kv_heads=2 model.aux_loss_coef=0.1 model.aux_loss_scope=global_batch train.grad_accum=2"
  "model.arch=gpt model.router=topk model.router_score=sigmoid model.top_k=1 model.aux_loss_coef=0.1 model.aux_loss_scope=global_batch train.grad_accum=3 model.seq_aux_loss_coef=0.05"
  "model.arch=gpt model.router=expert_choice model.aux_loss_coef=0"
  "model.arch=llama model.router=expert_choice model.aux_loss_coef=0 model.n_kv_heads=2 model.top_k=1 model.n_shared_experts=1"
  "model.arch=gpt model.router=noisy_topk model.expert_hidden=12 model.n_experts=7 model.top_k=3 model.n_shared_experts=1 model.moe_layers=every:2"
  "model.arch=llama model.router=topk model.n_kv_heads=2 model.expert_hidden=16 model.n_experts=6 model.top_k=3 model.n_shared_experts=2"
)
i=0
for c in "${CASES[@]}"; do
  dir="$WORK/case$i"
  # shellcheck disable=SC2086
  "$DUMP" "$dir" $c >/dev/null
  if ! out=$("$PY" "$MOE_ROOT/tools/reference/moe_reference.py" check "$dir" 2>&1); then
    echo "$out"
    fail "reference mismatch for: $c"
  fi
  echo "PASS ($c): $(echo "$out" | grep -E 'trajectory|grads ' | tr -s ' ' | paste -sd';')"
  i=$((i + 1))
done
