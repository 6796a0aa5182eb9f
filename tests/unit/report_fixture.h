// A small hand-written metrics.jsonl shared by the report tests: 2 steps of 8 tokens, 2 evals of
// a model with one MoE layer of 2 experts.
#pragma once
#include <string>

namespace moe::testing {

inline const char kTinyMetrics[] =
    R"({"type":"start","params":1000,"active_params":600,"flops_per_token":6000.0,"data":"synthetic","config":{"model":{"arch":"gpt","block_size":4,"n_layers":1,"n_embed":8,"n_heads":2,"ffn_hidden":16,"n_experts":2,"top_k":1,"router":"topk","moe_layers":"all","aux_loss_coef":0.01,"dropout":0.0},"train":{"batch_size":2,"grad_accum":1,"steps":2,"lr":0.001,"lr_schedule":"constant","seed":1},"data":{"source":"synthetic"}}}
{"type":"step","step":1,"loss":3.0,"objective":3.0,"aux_loss":2.0,"z_loss":0.0,"lr":0.001,"grad_norm":1.0,"router_temperature":1.0,"tokens_per_s":8.0,"forward_ms":100.0,"backward_ms":200.0,"optimizer_ms":50.0}
{"type":"eval","step":1,"train_loss":2.0,"val_loss":2.5,"train_ppl":7.39,"val_ppl":12.18,"moe":[{"layer":0,"expert_usage":[0.5,0.5],"entropy":0.69,"max_entropy":0.6931471805599453,"dropped_fraction":0.0,"aux_loss":1.0}]}
{"type":"step","step":2,"loss":2.0,"objective":2.0,"aux_loss":1.5,"z_loss":0.0,"lr":0.001,"grad_norm":0.5,"router_temperature":1.0,"tokens_per_s":4.0,"forward_ms":300.0,"backward_ms":400.0,"optimizer_ms":150.0}
{"type":"eval","step":2,"train_loss":1.5,"val_loss":1.8,"train_ppl":4.48,"val_ppl":6.05,"moe":[{"layer":0,"expert_usage":[0.25,0.75],"entropy":0.56,"max_entropy":0.6931471805599453,"dropped_fraction":0.0,"aux_loss":1.0}]}
)";

}  // namespace moe::testing
