#include "interop/upcycle.h"

#include <filesystem>
#include <set>

#include "core/check.h"
#include "core/fs.h"
#include "core/rng.h"
#include "core/rng_streams.h"
#include "model/checkpoint.h"
#include "nn/block.h"
#include "nn/moe_layer.h"
#include "ops/elementwise.h"

namespace moe {

namespace fs = std::filesystem;

ModelConfig upcycled_model_config(const ModelConfig& dense, const UpcycleOptions& options) {
  MOE_CHECK(dense.moe_layer_indices().empty(), "upcycle: the checkpoint is already a MoE model ",
            "(model.moe_layers = \"", dense.moe_layers, "\"); upcycling starts from a dense one ",
            "(model.moe_layers = \"none\")");
  MOE_CHECK(options.n_experts >= 2, "upcycle: the number of experts must be at least 2, got ",
            options.n_experts);
  MOE_CHECK(options.top_k >= 1 && options.top_k <= options.n_experts,
            "upcycle: top-k must be in [1, ", options.n_experts, "] (the number of experts), got ",
            options.top_k);
  ModelConfig m = dense;
  m.n_experts = options.n_experts;
  m.top_k = options.top_k;
  m.moe_layers = options.moe_layers;
  m.router = options.router;
  m.n_shared_experts = 0;  // a shared expert would add a random FFN to the dense one
  m.expert_hidden = 0;     // every expert is a copy of the dense FFN, so it has its size
  m.router_noise_at_eval = m.router_noise_at_eval && m.router == "noisy_topk";
  m.validate();
  MOE_CHECK(!m.moe_layer_indices().empty(), "upcycle: model.moe_layers = \"", m.moe_layers,
            "\" selects no layer to upcycle");
  return m;
}

std::unique_ptr<Model> upcycle_model(const Model& dense, const ModelConfig& config,
                                     uint64_t init_seed) {
  auto moe = std::make_unique<Model>(config, ArenaMode::Allocate, dense.device());
  moe->init_parameters(init_seed);  // the routers keep these values; every other tensor is copied
  std::set<std::string> copied;
  const auto copy = [&](const std::string& to, const std::string& from) {
    const Param* dst = moe->params().find(to);
    const Param* src = dense.params().find(from);
    MOE_CHECK(dst && src && dst->shape == src->shape, "upcycle: cannot copy ", from, " into ", to);
    ops::copy(dst->value, src->value);
    copied.insert(to);
  };
  for (const int64_t layer : config.moe_layer_indices())
    for (int64_t e = 0; e < config.n_experts; ++e)
      for (const char* proj : {"w1", "w2", "w3"})
        for (const char* suffix : {".weight", ".bias"}) {
          const std::string to =
              expert_param_name(moe_layer_prefix(config, layer), e, proj) + suffix;
          if (moe->params().find(to))
            copy(to, dense_ffn_param_name(dense.config(), layer, proj) + suffix);
        }
  for (const Param& p : moe->params().params())
    if (!copied.count(p.name) && dense.params().find(p.name)) copy(p.name, p.name);
  return moe;
}

UpcycleResult upcycle_checkpoint(const UpcycleOptions& options) {
  MOE_CHECK(!options.out_dir.empty(), "upcycle: no output directory given");
  MOE_CHECK(!fs::exists(options.out_dir), "upcycle: ", options.out_dir,
            " already exists; give a new directory for the upcycled checkpoint");
  LoadedCheckpoint dense = load_checkpoint(options.checkpoint);
  RunConfig config = dense.config;
  config.model = upcycled_model_config(dense.config.model, options);
  const uint64_t seed = static_cast<uint64_t>(options.seed.value_or(config.train.seed));
  const std::unique_ptr<Model> moe =
      upcycle_model(*dense.model, config.model, rng_key(seed, rng_stream::kInit));

  // save_checkpoint writes STAGING/checkpoint atomically; the finished directory is then renamed
  // to its final name, so a failure at any point leaves nothing there.
  fs::path out = fs::absolute(options.out_dir).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();  // "DIR/"
  const fs::path staging = out.parent_path() / ("." + out.filename().string() + ".upcycle.tmp");
  make_dirs(out.parent_path().string());
  fs::remove_all(staging);
  try {
    save_checkpoint(staging.string(), config, *moe, dense.tokenizer.get(), 0);
    fs::rename(staging / "checkpoint", out);
  } catch (const std::exception& e) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    fail("upcycle: writing ", options.out_dir, " failed: ", e.what());
  }
  sync_path(out.parent_path().string());
  fs::remove_all(staging);
  return {options.out_dir, config.model, moe->param_count(), moe->active_param_count()};
}

}  // namespace moe
