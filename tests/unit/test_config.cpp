#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "core/check.h"
#include "core/fs.h"
#include "model/model.h"
#include "train/expert_parallel.h"
#include "unit/scratch.h"

namespace moe {
namespace {

TEST(Config, MakemoePresetHasTheTutorialsParameterCount) {
  RunConfig c = RunConfig::preset("makemoe");
  Model m(c.model);
  // makeMoE reports 8.99 M; this is its exact count (8 experts of 131,712, routers with biases).
  EXPECT_EQ(m.param_count(), 8996545);
  // Six of eight experts per layer are idle for a token: 8 layers * 6 * 131,712.
  EXPECT_EQ(m.active_param_count(), 8996545 - 8 * 6 * 131712);
}

TEST(Config, MakemoeFinePresetKeepsMakemoesActiveExpertWidth) {
  const RunConfig coarse = RunConfig::preset("makemoe");
  RunConfig fine = RunConfig::preset("makemoe-fine");
  fine.validate();
  // DeepSeekMoE's segmentation: a token's routed plus shared expert hidden units equal makemoe's
  // top-2 of 512.
  EXPECT_EQ((fine.model.top_k + fine.model.n_shared_experts) * fine.model.expert_ffn_hidden(),
            coarse.model.top_k * coarse.model.ffn_hidden);
  const Model a(coarse.model, ArenaMode::Measure), b(fine.model, ArenaMode::Measure);
  std::printf("makemoe:      %lld parameters, %lld active per token\n",
              static_cast<long long>(a.param_count()),
              static_cast<long long>(a.active_param_count()));
  std::printf("makemoe-fine: %lld parameters, %lld active per token\n",
              static_cast<long long>(b.param_count()),
              static_cast<long long>(b.active_param_count()));
  // Per layer, an expert of hidden 128 has 2 * 128 * 128 + 128 + 128 = 33,024 parameters; the
  // 32 experts (31 routed, 1 shared) hold 1,056,768 (makemoe's 8: 1,053,696) and the two router
  // projections 2 * 31 * 129 = 7,998 (makemoe: 2,064).
  EXPECT_EQ(b.param_count(), 8996545 + 8 * ((1056768 + 7998) - (1053696 + 2064)));
  // Active: the routers, 7 routed and 1 shared expert = 272,190 per layer (makemoe 265,488); the
  // 6,702 more are the larger router and the 6 extra output biases of 128.
  EXPECT_EQ(b.active_param_count(), a.active_param_count() + 8 * (272190 - 265488));
  EXPECT_LT(static_cast<double>(b.active_param_count()) / a.active_param_count(), 1.021);
}

TEST(Config, ExpertHiddenSizesTheExpertsAndSharedExpertsOnly) {
  ModelConfig m = RunConfig::preset("llama-moe-tiny").model;
  m.moe_layers = "every:2";  // layers 1 and 3 MoE, 0 and 2 dense
  m.n_shared_experts = 1;
  m.expert_hidden = 96;
  m.validate();
  const Model model(m, ArenaMode::Measure);
  const ParamTable& p = model.params();
  EXPECT_EQ(p.find("model.layers.0.mlp.gate_proj.weight")->shape, (Shape{384, 128}));
  EXPECT_EQ(p.find("model.layers.1.block_sparse_moe.experts.5.w1.weight")->shape, (Shape{96, 128}));
  EXPECT_EQ(p.find("model.layers.1.block_sparse_moe.experts.5.w2.weight")->shape, (Shape{128, 96}));
  EXPECT_EQ(p.find("model.layers.3.block_sparse_moe.shared_experts.0.w3.weight")->shape,
            (Shape{96, 128}));
  m.expert_hidden = 0;  // 0: ffn_hidden
  EXPECT_EQ(m.expert_ffn_hidden(), 384);
  RunConfig c;
  c.set("model.expert_hidden", "-1");
  try {
    c.validate();
    FAIL() << "expert_hidden -1 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.expert_hidden"), std::string::npos) << e.what();
  }
}

TEST(Config, LlamaPresetValidatesAndUsesGroupedQueryAttention) {
  RunConfig c = RunConfig::preset("llama-moe-tiny");
  c.validate();
  EXPECT_EQ(c.model.arch, "llama");
  EXPECT_LT(c.model.kv_heads(), c.model.n_heads);
  Model m(c.model);
  EXPECT_NE(m.params().find("model.layers.3.block_sparse_moe.experts.7.w3.weight"), nullptr);
  EXPECT_EQ(m.params().find("lm_head.bias"), nullptr);
}

TEST(Config, FirstModelDifferenceNamesTheFirstDifferingSettingAndBothValues) {
  const ModelConfig a = RunConfig::preset("makemoe").model;
  ModelConfig b = a;
  EXPECT_FALSE(first_model_difference(a, b));
  b.dropout = 0.0f;
  b.top_k = 1;  // registered before model.dropout
  const auto d = first_model_difference(a, b);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->name, "model.top_k");
  EXPECT_EQ(d->a, 2);
  EXPECT_EQ(d->b, 1);
  b.top_k = a.top_k;
  EXPECT_EQ(first_model_difference(a, b)->name, "model.dropout");
}

TEST(Config, UnknownPresetAndKeysAreRejected) {
  EXPECT_THROW(RunConfig::preset("gpt5"), Error);
  RunConfig c;
  EXPECT_THROW(c.set("model.n_embd", "3"), Error);
  EXPECT_THROW(c.set("n_layers", "four"), Error);
  c.set("n_layers", "3");  // a bare key resolves when unique
  EXPECT_EQ(c.model.n_layers, 3);
  c.set("train.lr", "3e-4");
  EXPECT_FLOAT_EQ(c.train.lr, 3e-4f);
}

TEST(Config, ValidationNamesTheBadValue) {
  auto expect_error = [](const std::string& key, const std::string& value,
                         const std::string& fragment) {
    RunConfig c = RunConfig::preset("llama-moe-tiny");
    c.set(key, value);
    try {
      c.validate();
      FAIL() << key << "=" << value << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error("model.top_k", "9", "model.top_k");
  expect_error("model.n_kv_heads", "3", "divisible by model.n_kv_heads");
  expect_error("model.n_heads", "3", "divisible by model.n_heads");
  expect_error("model.router", "hash", "model.router");
  expect_error("model.moe_layers", "0,7", "names layer 7");
  expect_error("model.moe_layers", "1,1", "twice");
  expect_error("train.min_lr", "1", "train.min_lr");
  expect_error("data.train_fraction", "1", "data.train_fraction");
  expect_error("train.steps", "0", "config value train.steps = 0 is out of range [1, ");
  expect_error("train.threads", "1025",
               "config value train.threads = 1025 is out of range [0, 1024]");
  expect_error("train.threads", "-1", "train.threads");
  expect_error("train.device", "tpu", "config value train.device = 'tpu' is not one of: cpu, cuda");
  expect_error("train.device", "CPU", "is not one of: cpu, cuda");
}

TEST(Config, ExpertChoiceRefusesTheSettingsItGivesNoMeaningAndIsNotCausal) {
  RunConfig c = RunConfig::preset("llama-moe-tiny");  // aux_loss_coef 0.01
  EXPECT_TRUE(c.model.non_causal_reason().empty());
  c.set("model.router", "expert_choice");
  try {
    c.validate();
    FAIL() << "expert choice with an aux loss was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.aux_loss_coef = 0.01 has no meaning with "
                                         "model.router = expert_choice"),
              std::string::npos)
        << e.what();
  }
  c.set("model.aux_loss_coef", "0");
  c.set("model.z_loss_coef", "0.001");
  EXPECT_NO_THROW(c.validate());
  EXPECT_NE(c.model.non_causal_reason().find("not causal"), std::string::npos);
  c.set("model.capacity_factor", "1.25");
  EXPECT_THROW(c.validate(), Error);
  // Without MoE layers nothing is routed, so the model stays causal.
  c.set("model.capacity_factor", "0");
  c.set("model.moe_layers", "none");
  EXPECT_TRUE(c.model.non_causal_reason().empty());
}

TEST(Config, DeviceNamesTheDeviceAndDefaultsToTheCpu) {
  RunConfig c = RunConfig::preset("makemoe");
  EXPECT_EQ(c.train.device, "cpu");
  EXPECT_EQ(c.train.device_kind(), Device::CPU);
  c.set("train.device", "cuda");
  c.validate();  // a name this build may not run is still a valid setting
  EXPECT_EQ(c.train.device_kind(), Device::CUDA);
  EXPECT_EQ(c.to_json()["train"]["device"], "cuda");
  EXPECT_EQ(device_from_name("cuda"), Device::CUDA);
  EXPECT_EQ(device_from_name("gpu"), std::nullopt);
  EXPECT_EQ(device_names(), "cpu, cuda");
}

TEST(Config, NumbersOutsideTheirTypeAreNamed) {
  RunConfig c;
  EXPECT_EQ(testing::error_of([&] { c.set("train.seed", "99999999999999999999999"); }),
            "config key 'train.seed' = 99999999999999999999999 is outside the 64-bit integer "
            "range");
  EXPECT_EQ(testing::error_of([&] { c.set("train.lr", "1e39"); }),
            "config key 'train.lr' = 1e39 is outside the range of a 32-bit float");
  EXPECT_EQ(testing::error_of([&] { c.set("train.lr", "nan"); }),
            "config key 'train.lr' expects a number, got 'nan'");
  // config.json holds an unsigned integer above INT64_MAX: named, not wrapped to a negative seed.
  EXPECT_EQ(testing::error_of([&] {
              c.from_json(nlohmann::json::parse(R"({"train": {"seed": 18446744073709551615}})"));
            }),
            "config key 'train.seed' = 18446744073709551615 is outside the 64-bit integer range");
}

TEST(Config, BooleanSettings) {
  RunConfig c = RunConfig::preset("makemoe");
  EXPECT_FALSE(c.model.router_noise_at_eval);
  c.set("model.router_noise_at_eval", "true");
  EXPECT_TRUE(c.model.router_noise_at_eval);
  c.validate();
  try {
    c.set("model.router_noise_at_eval", "yes");
    FAIL() << "'yes' was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "config key 'model.router_noise_at_eval' expects true or false, got 'yes'");
  }
  // JSON (config.json) keeps it a boolean.
  EXPECT_EQ(c.to_json()["model"]["router_noise_at_eval"], true);
  RunConfig back;
  back.from_json(c.to_json());
  EXPECT_TRUE(back.model.router_noise_at_eval);
  // Only the noisy router draws noise.
  c.set("model.router", "topk");
  try {
    c.validate();
    FAIL() << "noise at eval accepted for a topk router";
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("model.router_noise_at_eval needs model.router = noisy_topk"),
        std::string::npos)
        << e.what();
  }
}

TEST(Config, MoeLayerSelection) {
  ModelConfig m;
  m.n_layers = 6;
  m.moe_layers = "all";
  EXPECT_EQ(m.moe_layer_indices(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  m.moe_layers = "none";
  EXPECT_TRUE(m.moe_layer_indices().empty());
  m.moe_layers = "every:2";
  EXPECT_EQ(m.moe_layer_indices(), (std::vector<int64_t>{1, 3, 5}));
  m.moe_layers = "5,0,2";
  EXPECT_EQ(m.moe_layer_indices(), (std::vector<int64_t>{0, 2, 5}));
  EXPECT_TRUE(m.is_moe_layer(2));
  EXPECT_FALSE(m.is_moe_layer(1));
}

TEST(Config, TemperatureScheduleIsLinear) {
  ModelConfig m;
  m.router = "temperature";
  m.router_temperature = 2.0f;
  m.router_temperature_end = 0.5f;
  EXPECT_FLOAT_EQ(m.temperature_at(0, 100), 2.0f);
  EXPECT_FLOAT_EQ(m.temperature_at(50, 100), 1.25f);
  EXPECT_FLOAT_EQ(m.temperature_at(100, 100), 0.5f);
  m.router_temperature_steps = 10;
  EXPECT_FLOAT_EQ(m.temperature_at(40, 100), 0.5f);
  m.router = "topk";
  EXPECT_FLOAT_EQ(m.temperature_at(0, 100), 1.0f);
}

// Expects validate() to refuse c with a message containing `fragment`.
void expect_invalid(const RunConfig& c, const std::string& fragment) {
  try {
    c.validate();
    FAIL() << "accepted; expected an error containing: " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Config, SigmoidGatingAndRouterBiasCombinations) {
  RunConfig c = RunConfig::preset("makemoe");  // noisy_topk
  EXPECT_EQ(c.model.router_score, "softmax");
  EXPECT_FALSE(c.model.router_bias);
  c.set("model.router_score", "sigmoid");
  expect_invalid(c, "model.router_score = sigmoid needs model.router = topk");
  c.set("model.router", "temperature");
  expect_invalid(c, "needs model.router = topk, got temperature");
  c.set("model.router", "topk");
  c.set("model.routed_scaling_factor", "2.5");
  c.set("model.router_bias", "true");
  c.validate();
  RunConfig back;
  back.from_json(c.to_json());
  EXPECT_EQ(back.model.router_score, "sigmoid");
  EXPECT_FLOAT_EQ(back.model.routed_scaling_factor, 2.5f);
  EXPECT_TRUE(back.model.router_bias);
  c.set("model.router_score", "softmax");
  expect_invalid(c, "model.routed_scaling_factor = 2.5 needs model.router_score = sigmoid");
  c.set("model.routed_scaling_factor", "1");
  c.set("model.router", "temperature");
  c.validate();  // softmax scores with biases: topk and temperature
  c.set("model.router", "noisy_topk");
  expect_invalid(c, "model.router_bias needs model.router = topk or temperature");
  c.set("model.router", "topk");
  c.set("model.router_score", "relu");
  expect_invalid(c, "model.router_score = 'relu' is not one of: softmax, sigmoid");
}

TEST(Config, RouterBiasUpdateSchedule) {
  TrainConfig t;
  EXPECT_FLOAT_EQ(t.router_bias_update_at(0), 1e-3f);
  t.router_bias_update = 0.01f;
  t.router_bias_update_until = 30;
  EXPECT_FLOAT_EQ(t.router_bias_update_at(29), 0.01f);
  EXPECT_FLOAT_EQ(t.router_bias_update_at(30), 0.0f);
  RunConfig c;
  c.set("train.router_bias_update", "-0.5");
  expect_invalid(c, "train.router_bias_update = -0.5 is out of range [0, 1]");
}

TEST(Config, TomlFileAndJsonRoundTrip) {
  const std::string path = ::testing::TempDir() + "/cfg_test.toml";
  {
    std::ofstream f(path);
    f << "[model]\narch = \"llama\"\nn_layers = 3\nn_heads = 4\nn_kv_heads = 2\n"
         "aux_loss_coef = 0.02\n[train]\nsteps = 77\n";
  }
  RunConfig c;
  c.load_toml(path);
  EXPECT_EQ(c.model.arch, "llama");
  EXPECT_EQ(c.model.n_layers, 3);
  EXPECT_FLOAT_EQ(c.model.aux_loss_coef, 0.02f);
  EXPECT_EQ(c.train.steps, 77);
  RunConfig back;
  back.from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());

  std::ofstream(path) << "[model]\nrouter_noise_at_eval = true\n";
  c.load_toml(path);
  EXPECT_TRUE(c.model.router_noise_at_eval);
  std::ofstream(path) << "[model]\nrouter_noise_at_eval = 1\n";
  EXPECT_THROW(c.load_toml(path), Error);
  std::ofstream(path) << "[model]\nn_layers = [1, 2]\n";
  EXPECT_THROW(c.load_toml(path), Error);
  std::ofstream(path) << "[model\n";
  EXPECT_THROW(c.load_toml(path), Error);
  std::remove(path.c_str());
}

// A file that sets no key would train the defaults without a word.
TEST(Config, TomlFileThatSetsNothingIsRefused) {
  testing::ScratchDir dir;
  for (const char* text : {"", "# only a comment\n", "[model]\n[train]\n"}) {
    write_file_atomic(dir / "c.toml", text);
    RunConfig c;
    EXPECT_EQ(testing::error_of([&] { c.load_toml(dir / "c.toml"); }),
              "config file " + dir / "c.toml" +
                  " sets nothing: it needs [model], [train], [data] or [dist] tables with keys")
        << text;
  }
  write_file_atomic(dir / "c.toml", "n_layers = 2\n");
  RunConfig c;
  EXPECT_EQ(testing::error_of([&] { c.load_toml(dir / "c.toml"); }),
            "config file " + dir / "c.toml" +
                ": top-level key 'n_layers' must be a table ([model], [train], [data] or [dist])");
  EXPECT_EQ(testing::error_of([&] { c.load_toml("/dev/zero"); }),
            "cannot read /dev/zero: it is a character device, not a regular file");
}

TEST(Config, ExpertParallelSizeIsRefusedByNameWhenItCannotWork) {
  RunConfig c;
  EXPECT_EQ(c.dist.expert_parallel, 1);
  c.set("dist.expert_parallel", "0");
  EXPECT_EQ(testing::error_of([&] { c.validate(); }),
            "config value dist.expert_parallel = 0 must be at least 1 (the processes that share "
            "each MoE layer's experts)");
  c.set("dist.expert_parallel", "2");
  EXPECT_NO_THROW(c.validate());
  c.set("dist.zero", "1");
  EXPECT_EQ(testing::error_of([&] { c.validate(); }),
            "dist.expert_parallel = 2 and dist.zero = 1 cannot be combined yet: ZeRO-1 shards the "
            "moments of a whole parameter table; set dist.zero = 0 to train expert parallel");
  // Whether it fits the job and the model is checked when the job is known.
  EXPECT_EQ(testing::error_of([] { check_expert_parallel(2, 3, 8); }),
            "dist.expert_parallel = 2 must divide the job's 3 processes (mpirun -np); each group "
            "of 2 consecutive ranks shares the experts");
  EXPECT_EQ(testing::error_of([] { check_expert_parallel(4, 4, 6); }),
            "dist.expert_parallel = 4 must divide model.n_experts = 6 (each process holds as many "
            "experts)");
  EXPECT_NO_THROW(check_expert_parallel(2, 4, 8));
}

TEST(Config, RoutingMethodsThatCannotBeCombinedAreRefusedByName) {
  // Each case: settings applied in order to llama-moe-tiny (router topk, aux_loss_coef 0.01), all
  // but the last valid together, and the fragment of the error the last one causes.
  struct Case {
    std::vector<std::pair<std::string, std::string>> settings;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {{{"model.router", "expert_choice"},
        {"model.aux_loss_coef", "0"},
        {"model.router_bias", "true"}},
       "model.router = expert_choice takes neither model.router_bias"},
      {{{"model.router", "expert_choice"},
        {"model.aux_loss_coef", "0"},
        {"model.seq_aux_loss_coef", "0.1"}},
       "model.router = expert_choice takes neither"},
      {{{"model.router_bias", "true"}, {"model.aux_loss_scope", "global_batch"}},
       "model.router_bias and model.aux_loss_scope = global_batch cannot be combined"},
  };
  for (const Case& k : cases) {
    RunConfig c = RunConfig::preset("llama-moe-tiny");
    for (size_t i = 0; i + 1 < k.settings.size(); ++i)
      c.set(k.settings[i].first, k.settings[i].second);
    EXPECT_NO_THROW(c.validate()) << k.fragment;  // each method alone is valid
    c.set(k.settings.back().first, k.settings.back().second);
    try {
      c.validate();
      ADD_FAILURE() << "accepted: " << k.fragment;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(k.fragment), std::string::npos) << e.what();
    }
  }
}

// DeepSeek-V3 balances sigmoid scores with the sequence-wise loss; the global-batch Switch loss
// normalises them the same way.
TEST(Config, SigmoidScoresTakeEveryBalanceLoss) {
  RunConfig c = RunConfig::preset("llama-moe-tiny");
  c.set("model.router_score", "sigmoid");
  c.set("model.seq_aux_loss_coef", "0.1");
  EXPECT_NO_THROW(c.validate());
  c.set("model.aux_loss_scope", "global_batch");
  EXPECT_NO_THROW(c.validate());
  c.set("model.seq_aux_loss_coef", "0");
  EXPECT_NO_THROW(c.validate());
}

}  // namespace
}  // namespace moe
