#include "train/run_buffers.h"

#include "train/zero_sharding.h"

namespace moe {

// The batch buffers are tiny: an arena sized exactly for them (block size 0) rather than a
// default 64 MiB block. They are host memory on every device: the sampler writes the batch there
// and Model::forward copies it to the model's device.
BatchBuffers::BatchBuffers(Model& model, int64_t batch, ArenaMode mode)
    : arena_(ops::device_memory(Device::CPU), 0, mode) {
  const int64_t seq = model.config().block_size;
  model.allocate(batch, seq);
  tokens_ = arena_.alloc(Shape{batch, seq}, DType::I32);
  targets_ = arena_.alloc(Shape{batch, seq}, DType::I32);
}

MemoryUse BatchBuffers::memory_use(const Model& model) const {
  return {model.weight_bytes(), 0, model.activation_bytes() + arena_.bytes_reserved()};
}

TrainingBuffers::TrainingBuffers(Model& model, const TrainConfig& train,
                                 ElementRange optimizer_shard, ArenaMode mode)
    : batch(model, train.batch_size, mode),
      optimizer(model.params(), train, optimizer_shard, mode),
      stats_arena_(ops::device_memory(model.device()), 0, mode) {
  const ModelConfig& m = model.config();
  const int64_t fractions = static_cast<int64_t>(m.moe_layer_indices().size()) * m.n_experts;
  step_stats_ = stats_arena_.alloc(Shape{model.loss_stats().numel() + fractions + 1}, DType::F64);
  if (m.aux_loss_scope == "global_batch" && fractions > 0)
    micro_fractions_ = stats_arena_.alloc(Shape{train.grad_accum, fractions}, DType::F64);
}

MemoryUse TrainingBuffers::memory_use(const Model& model) const {
  MemoryUse use = batch.memory_use(model);
  use.optimizer = optimizer.bytes_reserved();
  use.activations += stats_arena_.bytes_reserved();
  return use;
}

MemoryUse training_memory(const RunConfig& config, int processes, ExpertExchange* exchange) {
  Model model(config.model, ArenaMode::Measure, Device::CPU, exchange);
  if (config.train.bf16()) model.use_bf16_gemms();
  const int shards = config.dist.zero == 1 ? processes : 1;
  const ElementRange shard = ZeroSharding::shard_of(model.params().numel(), 0, shards);
  return TrainingBuffers(model, config.train, shard, ArenaMode::Measure).memory_use(model);
}

MemoryUse evaluation_memory(const ModelConfig& model_config, int64_t batch) {
  Model model(model_config, ArenaMode::Measure);
  return BatchBuffers(model, batch, ArenaMode::Measure).memory_use(model);
}

}  // namespace moe
