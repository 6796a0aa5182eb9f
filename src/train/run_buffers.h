// What training and evaluation allocate besides the parameters, gathered so that a run and its
// memory estimate use the same code: the estimate builds the same objects on a measuring model
// with measuring arenas (core/arena.h), which allocate nothing and add up the bytes.
#pragma once
#include <cstdint>

#include "config/config.h"
#include "core/arena.h"
#include "core/memory.h"
#include "model/model.h"
#include "nn/expert_exchange.h"
#include "ops/device.h"
#include "train/optimizer.h"

namespace moe {

// Allocates the model's activations for batches of (batch, block_size) (Model::allocate) and the
// token and target buffers such a batch is written into.
class BatchBuffers {
 public:
  BatchBuffers(Model& model, int64_t batch, ArenaMode mode = ArenaMode::Allocate);
  Tensor tokens() const { return tokens_; }    // (batch, block_size) I32
  Tensor targets() const { return targets_; }  // (batch, block_size) I32
  // The model's memory (parameters, gradients, activations) and these buffers'.
  MemoryUse memory_use(const Model& model) const;

 private:
  Arena arena_;
  Tensor tokens_, targets_;
};

// Everything a training run allocates besides the parameters: BatchBuffers for train.batch_size
// and the AdamW moments of `optimizer_shard` (the whole parameter table unless ZeRO-1 shards it).
class TrainingBuffers {
 public:
  TrainingBuffers(Model& model, const TrainConfig& train, ElementRange optimizer_shard,
                  ArenaMode mode = ArenaMode::Allocate);
  BatchBuffers batch;
  AdamW optimizer;
  // (1 + ops::kRouterStats L + L E + 1) F64 on the model's device: Model::loss_stats() and
  // Model::expert_fractions() summed over a step's micro-batches, then the gradients' sum of
  // squares. The trainer reads it once per step.
  Tensor step_stats() const { return step_stats_; }
  // (train.grad_accum, L E) F64 on the model's device: the expert fractions of each micro-batch of
  // the step, for global-batch balancing (model.aux_loss_scope = global_batch); empty otherwise.
  Tensor micro_fractions() const { return micro_fractions_; }
  MemoryUse memory_use(const Model& model) const;

 private:
  Arena stats_arena_;
  Tensor step_stats_;
  Tensor micro_fractions_;
};

// The memory of one process of a training run of `config` on `processes` processes (with
// dist.zero = 1 each holds the moments of its shard; the largest, rank 0's, is counted; with an
// `exchange`, expert parallel, it holds the exchange's slice of the experts), and of evaluating
// `model` on batches of `batch` rows (moe eval), allocating nothing.
MemoryUse training_memory(const RunConfig& config, int processes = 1,
                          ExpertExchange* exchange = nullptr);
MemoryUse evaluation_memory(const ModelConfig& model, int64_t batch);

}  // namespace moe
