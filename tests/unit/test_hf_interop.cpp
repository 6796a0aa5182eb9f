// Hugging Face interop pieces (src/interop): config.json in both directions and its refusals,
// sharded weights and their index, the tokenizer files, 16-bit safetensors.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/json.h"
#include "interop/hf_config.h"
#include "interop/hf_tokenizer.h"
#include "interop/hf_weights.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "unit/data_files.h"
#include "unit/scratch.h"

namespace {

using moe::testing::error_of;

moe::ModelConfig llama_moe() {
  moe::ModelConfig m;
  m.arch = "llama";
  m.router = "topk";
  m.vocab_size = 300;
  m.block_size = 64;
  m.n_embed = 48;
  m.n_layers = 3;
  m.n_heads = 6;
  m.n_kv_heads = 2;
  m.ffn_hidden = 40;
  m.n_experts = 5;
  m.top_k = 2;
  m.aux_loss_coef = 0.01f;
  m.norm_eps = 1e-6f;
  m.rope_theta = 500000.0f;
  m.init_std = 0.02f;
  return m;
}

// model_config_from_hf of a JSON that went through text, as a file would.
moe::ModelConfig from_hf(const nlohmann::ordered_json& j) {
  return moe::model_config_from_hf(moe::parse_json(j.dump(), "test"), "config.json");
}

TEST(HfConfig, MixtralRoundTrip) {
  const moe::ModelConfig m = llama_moe();
  const nlohmann::ordered_json j = moe::hf_config_json(m, 256, "bfloat16");
  EXPECT_EQ(j["architectures"][0], "MixtralForCausalLM");
  EXPECT_EQ(j["num_local_experts"], 5);
  EXPECT_EQ(j["num_key_value_heads"], 2);
  EXPECT_EQ(j["rms_norm_eps"].dump(), "1e-06");  // the configured number, not its float's double
  EXPECT_EQ(j["eos_token_id"], 256);
  const moe::ModelConfig back = from_hf(j);
  EXPECT_EQ(back.moe_layers, "all");
  EXPECT_EQ(back.n_experts, m.n_experts);
  EXPECT_EQ(back.top_k, m.top_k);
  EXPECT_EQ(back.kv_heads(), m.kv_heads());
  EXPECT_EQ(back.n_embed, m.n_embed);
  EXPECT_EQ(back.ffn_hidden, m.ffn_hidden);
  EXPECT_EQ(back.block_size, m.block_size);
  EXPECT_EQ(back.norm_eps, m.norm_eps);
  EXPECT_EQ(back.rope_theta, m.rope_theta);
  EXPECT_EQ(back.aux_loss_coef, m.aux_loss_coef);
  EXPECT_EQ(back.init_std, m.init_std);
}

// Mixtral's intermediate_size is the experts' size: a fine-grained expert size (no dense layer, no
// shared expert) exports as it and imports as ffn_hidden, the same tensors.
TEST(HfConfig, FineGrainedExpertsExportTheirSize) {
  moe::ModelConfig m = llama_moe();
  m.expert_hidden = 16;
  const nlohmann::ordered_json j = moe::hf_config_json(m, 256, "float32");
  EXPECT_EQ(j["intermediate_size"], 16);
  const moe::ModelConfig back = from_hf(j);
  EXPECT_EQ(back.expert_ffn_hidden(), 16);
  const moe::Model a(m, moe::ArenaMode::Measure), b(back, moe::ArenaMode::Measure);
  const auto &pa = a.params().params(), &pb = b.params().params();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].name, pb[i].name);
    EXPECT_EQ(pa[i].shape, pb[i].shape);
  }
  m.n_shared_experts = 1;
  EXPECT_THROW(moe::hf_config_json(m, 256, "float32"), moe::Error);
}

TEST(HfConfig, LlamaDense) {
  moe::ModelConfig m = llama_moe();
  m.moe_layers = "none";
  m.router = "noisy_topk";  // unused without MoE layers
  const nlohmann::ordered_json j = moe::hf_config_json(m, std::nullopt, "float32");
  EXPECT_EQ(j["architectures"][0], "LlamaForCausalLM");
  EXPECT_FALSE(j.contains("num_local_experts"));
  EXPECT_TRUE(j["eos_token_id"].is_null());
  const moe::ModelConfig back = from_hf(j);
  EXPECT_TRUE(back.moe_layer_indices().empty());
  EXPECT_EQ(back.n_layers, 3);
}

TEST(HfConfig, ExportRefusesWhatTransformersCannotExpress) {
  const auto refusal = [](auto edit) {
    moe::ModelConfig m = llama_moe();
    edit(m);
    return error_of([&] { moe::check_hf_exportable(m); });
  };
  EXPECT_NE(refusal([](auto& m) { m.arch = "gpt"; }).find("model.arch = gpt"), std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m.router = "noisy_topk"; }).find("model.router = noisy_topk"),
            std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m.router = "temperature"; }).find("model.router = temperature"),
            std::string::npos);
  EXPECT_NE(
      refusal([](auto& m) { m.router_score = "sigmoid"; }).find("model.router_score = sigmoid"),
      std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m.router_bias = true; }).find("model.router_bias = true"),
            std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m.n_shared_experts = 1; }).find("model.n_shared_experts"),
            std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m.capacity_factor = 1.5f; }).find("model.capacity_factor"),
            std::string::npos);
  EXPECT_NE(refusal([](auto& m) { m.moe_layers = "every:2"; }).find("model.moe_layers"),
            std::string::npos);
  EXPECT_EQ(refusal([](auto& m) { m.moe_layers = "0,1,2"; }), "");  // every layer, spelled out
}

TEST(HfConfig, ImportRefusesByName) {
  const nlohmann::ordered_json base = moe::hf_config_json(llama_moe(), 256, "float32");
  const auto refusal = [&](const char* key, nlohmann::ordered_json value) {
    nlohmann::ordered_json j = base;
    j[key] = value;
    return error_of([&] { from_hf(j); });
  };
  EXPECT_NE(refusal("rope_scaling", {{"type", "yarn"}}).find("rope_scaling"), std::string::npos);
  EXPECT_NE(refusal("attention_bias", true).find("attention_bias"), std::string::npos);
  EXPECT_NE(refusal("mlp_bias", true).find("mlp_bias"), std::string::npos);
  EXPECT_NE(refusal("hidden_act", "gelu").find("hidden_act"), std::string::npos);
  EXPECT_NE(refusal("sliding_window", 32).find("sliding_window"), std::string::npos);
  EXPECT_EQ(refusal("sliding_window", 64), "");  // the whole context: no effect
  EXPECT_NE(refusal("tie_word_embeddings", true).find("tie_word_embeddings"), std::string::npos);
  EXPECT_NE(refusal("architectures", {"Qwen2MoeForCausalLM"}).find("Qwen2MoeForCausalLM"),
            std::string::npos);
  EXPECT_NE(refusal("model_type", "llama").find("model_type"), std::string::npos);
  EXPECT_NE(refusal("head_dim", 16).find("head_dim"), std::string::npos);
  EXPECT_NE(refusal("num_experts_per_tok", 9).find("model.top_k"), std::string::npos);
  EXPECT_NE(refusal("hidden_size", "48").find("hidden_size"), std::string::npos);
  // transformers 5 keeps RoPE settings in rope_parameters.
  nlohmann::ordered_json v5 = base;
  v5.erase("rope_theta");
  v5["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1234.0}};
  EXPECT_EQ(from_hf(v5).rope_theta, 1234.0f);
  v5["rope_parameters"]["rope_type"] = "llama3";
  EXPECT_NE(error_of([&] { from_hf(v5); }).find("rope_type"), std::string::npos);
}

TEST(HfWeights, ShardsFollowTransformersRule) {
  moe::testing::ScratchDir dir;
  std::vector<float> a(100, 1.0f), b(100, 2.0f), big(300, 3.0f), c(10, 4.0f);
  const std::vector<std::pair<std::string, moe::Tensor>> tensors = {
      {"a", moe::cpu_tensor(a.data(), moe::Shape{100})},
      {"b", moe::cpu_tensor(b.data(), moe::Shape{10, 10})},
      {"big", moe::cpu_tensor(big.data(), moe::Shape{300})},
      {"c", moe::cpu_tensor(c.data(), moe::Shape{10})}};
  // 400 + 400 bytes fill a 1000-byte shard; 1200 is alone (larger than the limit); then 40.
  moe::write_hf_weights(dir.str(), tensors, moe::StoredDType::F32, 1000);
  const nlohmann::json index = moe::read_json_file(dir / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"], 2040);
  EXPECT_EQ(index["weight_map"]["a"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["b"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["big"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["c"], "model-00003-of-00003.safetensors");
  EXPECT_FALSE(moe::file_exists(dir / "model.safetensors"));
  const moe::HfWeights w = moe::HfWeights::open(dir.str());
  EXPECT_EQ(w.names(), (std::vector<std::string>{"a", "b", "big", "c"}));
  std::vector<float> out(100);
  w.read_into("b", moe::cpu_tensor(out.data(), moe::Shape{10, 10}));
  EXPECT_EQ(out, b);

  // One shard is model.safetensors, without an index; BF16 halves the bytes.
  moe::testing::ScratchDir single;
  moe::write_hf_weights(single.str(), tensors, moe::StoredDType::BF16, 1020);
  EXPECT_TRUE(moe::file_exists(single / "model.safetensors"));
  EXPECT_FALSE(moe::file_exists(single / "model.safetensors.index.json"));
  const moe::HfWeights one = moe::HfWeights::open(single.str());
  EXPECT_EQ(one.entry("big").stored, moe::StoredDType::BF16);
  one.read_into("a", moe::cpu_tensor(out.data(), moe::Shape{100}));
  EXPECT_EQ(out, a);  // 1.0 is exact in bf16
}

TEST(HfWeights, IndexErrorsNameTheFile) {
  moe::testing::ScratchDir dir;
  std::vector<float> a(100, 1.0f), b(100, 2.0f), c(100, 3.0f);
  // a and b in the first shard, c in the second.
  moe::write_hf_weights(dir.str(),
                        {{"a", moe::cpu_tensor(a.data(), moe::Shape{100})},
                         {"b", moe::cpu_tensor(b.data(), moe::Shape{100})},
                         {"c", moe::cpu_tensor(c.data(), moe::Shape{100})}},
                        moe::StoredDType::F32, 800);
  const std::string index_path = dir / "model.safetensors.index.json";
  const std::string good = moe::read_file(index_path);
  nlohmann::json index = moe::parse_json(good, "index");
  index["weight_map"]["c"] = "model-00001-of-00002.safetensors";  // a shard that lacks c
  moe::write_file_atomic(index_path, index.dump());
  EXPECT_NE(error_of([&] { moe::HfWeights::open(dir.str()); }).find("does not hold it"),
            std::string::npos);
  index["weight_map"]["c"] = "../model-00002-of-00002.safetensors";
  moe::write_file_atomic(index_path, index.dump());
  EXPECT_NE(error_of([&] { moe::HfWeights::open(dir.str()); }).find("not a file name"),
            std::string::npos);
  index = moe::parse_json(good, "index");
  index["weight_map"].erase("b");  // the shard holds a tensor the index does not place
  moe::write_file_atomic(index_path, index.dump());
  EXPECT_NE(error_of([&] { moe::HfWeights::open(dir.str()); }).find("does not place there"),
            std::string::npos);
}

TEST(HfTokenizer, Gpt2FilesRoundTrip) {
  const std::unique_ptr<moe::BpeTokenizer> gpt2 =
      moe::BpeTokenizer::load_dir(moe::testing::data_file("gpt2"));
  moe::testing::ScratchDir dir;
  moe::write_hf_tokenizer(dir.str(), *gpt2, 1024);
  EXPECT_EQ(moe::read_file(dir / "vocab.json"), gpt2->encoder_json());
  const nlohmann::json config = moe::read_json_file(dir / "tokenizer_config.json");
  EXPECT_EQ(config["eos_token"], "<|endoftext|>");
  EXPECT_EQ(config["model_max_length"], 1024);
  const nlohmann::json tj = moe::read_json_file(dir / "tokenizer.json");
  EXPECT_EQ(tj["model"]["vocab"].size(), 50257u);
  EXPECT_EQ(tj["model"]["merges"].size(), 50000u);
  EXPECT_EQ(tj["model"]["merges"][0], "Ġ t");
  EXPECT_EQ(tj["added_tokens"][0]["id"], 50256);

  const std::string text = "Hello world, it's  2026!\n<|endoftext|>é";
  const std::unique_ptr<moe::BpeTokenizer> from_json = moe::read_hf_tokenizer(dir.str());
  EXPECT_EQ(from_json->vocab_bpe(), gpt2->vocab_bpe());
  EXPECT_EQ(from_json->encode(text), gpt2->encode(text));
  std::filesystem::remove(dir / "tokenizer.json");
  const std::unique_ptr<moe::BpeTokenizer> from_files = moe::read_hf_tokenizer(dir.str());
  EXPECT_EQ(from_files->encoder_json(), gpt2->encoder_json());
  EXPECT_EQ(from_files->eot_id(), 50256);
}

TEST(HfTokenizer, RefusesOtherTokenizers) {
  moe::testing::ScratchDir dir;
  EXPECT_NE(error_of([&] { moe::read_hf_tokenizer(dir.str()); }).find("has no tokenizer"),
            std::string::npos);
  moe::write_file_atomic(dir / "tokenizer.json",
                         R"({"model": {"type": "Unigram", "vocab": []}, "normalizer": null})");
  EXPECT_NE(error_of([&] { moe::read_hf_tokenizer(dir.str()); }).find("Unigram"),
            std::string::npos);
  moe::write_file_atomic(dir / "tokenizer.json",
                         R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
                             "normalizer": {"type": "NFC"}})");
  EXPECT_NE(error_of([&] { moe::read_hf_tokenizer(dir.str()); }).find("normalizer"),
            std::string::npos);
}

TEST(SafeTensors16, WidenedOnReadRoundedOnWrite) {
  moe::testing::ScratchDir dir;
  std::vector<float> w = {1.0f, -0.5f, 3.14159265f, 1e-8f};
  std::vector<int32_t> ids = {7, -1};
  for (moe::StoredDType stored : {moe::StoredDType::F16, moe::StoredDType::BF16}) {
    const std::string path = dir / std::string(moe::stored_dtype_name(stored));
    moe::write_safetensors(path,
                           {{"w", moe::cpu_tensor(w.data(), moe::Shape{2, 2})},
                            {"ids", moe::cpu_tensor(ids.data(), moe::Shape{2})}},
                           {}, stored);
    const moe::SafeTensorsFile f = moe::SafeTensorsFile::open(path);
    EXPECT_EQ(f.entry("w").stored, stored);
    EXPECT_EQ(f.entry("w").dtype, moe::DType::F32);
    EXPECT_EQ(f.entry("w").bytes, 8u);
    EXPECT_EQ(f.entry("ids").stored, moe::StoredDType::I32);  // integers are never narrowed
    std::vector<float> back(4);
    f.read_into("w", moe::cpu_tensor(back.data(), moe::Shape{2, 2}));
    EXPECT_EQ(back[0], 1.0f);
    EXPECT_EQ(back[1], -0.5f);
    EXPECT_NEAR(back[2], 3.14159265f, stored == moe::StoredDType::BF16 ? 0.0079 : 0.00099);
    EXPECT_NE(back[2], 3.14159265f);
    std::vector<int32_t> ids_back(2);
    f.read_into("ids", moe::cpu_tensor(ids_back.data(), moe::Shape{2}));
    EXPECT_EQ(ids_back, ids);
  }
}

}  // namespace
