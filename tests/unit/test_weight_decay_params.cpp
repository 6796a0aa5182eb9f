#include <gtest/gtest.h>

#include <vector>

#include "core/check.h"
#include "model/model.h"
#include "ops/elementwise.h"
#include "train/optimizer.h"

namespace moe {
namespace {

// With zero gradients AdamW's moments stay 0, so one step only decays: a parameter becomes
// value * (1 - lr * weight_decay) when decay applies to it and keeps its value otherwise.
// "weights" decays matrices and embeddings only; "all" every parameter, as
// torch.optim.AdamW(model.parameters()) does in the makeMoE tutorial.
TEST(WeightDecayParams, WeightsDecaysMatricesAndAllDecaysEveryParameter) {
  for (const char* scope : {"weights", "all"}) {
    RunConfig c = RunConfig::preset("makemoe");
    c.model.n_layers = 1;
    c.model.n_embed = 16;
    c.model.n_heads = 2;
    c.model.ffn_hidden = 16;
    c.model.n_experts = 2;
    c.model.block_size = 8;
    c.model.vocab_size = 10;
    c.train.lr = 0.5f;
    c.train.weight_decay = 0.2f;
    c.train.weight_decay_params = scope;
    c.validate();
    Model model(c.model);
    model.init_parameters(7);
    ParamTable& table = model.params();
    ops::fill(table.flat_grads(), 0.0f);
    const float* values = table.flat_values().f32();
    const std::vector<float> before(values, values + table.numel());
    AdamW optimizer(table, c.train, {0, table.numel()});
    optimizer.step(c.train.lr, 1);
    const bool all = c.train.weight_decay_params == "all";
    int64_t decayed = 0, kept = 0;
    for (const Param& p : table.params()) {
      const bool decays = all || p.decay;
      EXPECT_EQ(weight_decay_applies(c.train, p), decays) << scope << " " << p.name;
      const float factor = decays ? 1.0f - c.train.lr * c.train.weight_decay : 1.0f;
      for (int64_t i = p.offset; i < p.offset + p.shape.numel(); ++i)
        ASSERT_FLOAT_EQ(values[i], before[i] * factor)
            << scope << " " << p.name << " [" << i << "]";
      (decays ? decayed : kept) += 1;
    }
    // Both kinds exist in the model: biases and LayerNorms are what the scopes disagree on.
    EXPECT_GT(decayed, 0) << scope;
    EXPECT_EQ(kept == 0, all) << scope;
  }
}

TEST(WeightDecayParams, MakemoePresetDecaysEveryParameterAsTheTutorial) {
  EXPECT_EQ(RunConfig::preset("makemoe").train.weight_decay_params, "all");
  EXPECT_EQ(RunConfig{}.train.weight_decay_params, "weights");
  RunConfig c;
  c.set("train.weight_decay_params", "biases");
  EXPECT_THROW(c.validate(), Error);
}

}  // namespace
}  // namespace moe
