// Sparse upcycling (Komatsuzaki et al. 2023, "Sparse Upcycling: Training Mixture-of-Experts from
// Dense Checkpoints"): a dense checkpoint becomes a MoE checkpoint in which every expert of every
// MoE layer starts as a copy of that layer's dense FFN, the routers are new (initialised as a
// fresh model's routers, from a seed), and every other tensor is copied. With identical experts
// and gates that sum to 1 (softmax over the kept top-k, ops/moe_router.h) each MoE layer computes
// its dense FFN, so the upcycled model starts with the dense model's loss; training (moe train
// --init-from) then lets the experts diverge.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "model/model.h"

namespace moe {

struct UpcycleOptions {
  std::string checkpoint;          // the dense checkpoint: a run or checkpoint directory
  std::string out_dir;             // the new checkpoint directory; must not exist
  int64_t n_experts = 8;           // E >= 2
  int64_t top_k = 2;               // in [1, E]
  std::string moe_layers = "all";  // model.moe_layers of the result
  std::string router = "topk";     // model.router of the result
  std::optional<int64_t> seed;     // router initialisation; default the checkpoint's train.seed
};

// The MoE model settings for a dense model `dense`: E experts of its FFN, top-k routing with the
// given router on the given layers, no shared experts (they would start random). Refuses a model
// that already has MoE layers and E or k out of range.
ModelConfig upcycled_model_config(const ModelConfig& dense, const UpcycleOptions& options);

// A model of `config` (from upcycled_model_config) whose experts are copies of `dense`'s FFNs,
// whose routers are initialised as Model::init_parameters(init_seed) would, and whose other
// tensors are `dense`'s.
std::unique_ptr<Model> upcycle_model(const Model& dense, const ModelConfig& config,
                                     uint64_t init_seed);

struct UpcycleResult {
  std::string out_dir;  // the checkpoint written
  ModelConfig model;    // its model settings
  int64_t params = 0;   // total parameters of the result
  int64_t active_params = 0;
};

// Reads the dense checkpoint, upcycles it and writes the result with the dense checkpoint's
// tokenizer and train/data settings as an ordinary checkpoint (step 0, no optimizer state) that
// `moe train --init-from` continues from. The directory appears complete or not at all: it is
// written beside its final name and renamed into place.
UpcycleResult upcycle_checkpoint(const UpcycleOptions& options);

}  // namespace moe
