// What a forward/backward call needs to know besides its tensors.
#pragma once
#include <cstdint>

#include "core/rng.h"

namespace moe {

struct ForwardContext {
  bool training = false;
  // Evaluation draws the noisy router's noise from `key` as training does
  // (model.router_noise_at_eval); training always draws it.
  bool eval_router_noise = false;
  int64_t batch = 0;       // B of this call
  int64_t seq = 0;         // T of this call
  int64_t pos_offset = 0;  // position of the first token (decoding with a KV cache)
  bool use_kv_cache = false;
  uint64_t key = 0;                 // rng key of this micro-step (dropout masks, router noise)
  float router_temperature = 1.0f;  // temperature router: tau at this step
  float loss_scale = 1.0f;          // weight of this micro-batch's loss (1 / grad_accum)
  // The Switch loss uses the expert fractions of the whole optimizer step
  // (model.aux_loss_scope = global_batch; Model::set_step_fractions) instead of this call's.
  bool step_aux_fraction = false;

  int64_t tokens() const { return batch * seq; }
  // Key of one random site (layer, site id from core/rng_streams.h) of this step.
  uint64_t site_key(int64_t layer, uint64_t site) const { return rng_key(key, layer, site); }
};

}  // namespace moe
