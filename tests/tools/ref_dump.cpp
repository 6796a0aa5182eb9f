// ref_dump OUT_DIR [key=value ...]: builds a small model from the given settings, runs a short
// AdamW trajectory of train.steps steps of train.grad_accum micro-batches each (as the trainer:
// losses weighted 1/grad_accum, the step's routing counted first for global-batch balancing), and
// writes everything the PyTorch mirror (tools/reference/moe_reference.py check OUT_DIR) needs to
// recompute and compare: weights, batches, router noise, logits, losses, every gradient and the
// loss trajectory.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/arena.h"
#include "core/check.h"
#include "core/fs.h"
#include "core/rng.h"
#include "core/rng_streams.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "nn/moe_layer.h"
#include "ops/device.h"
#include "ops/elementwise.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"

namespace {

// Small defaults; every one can be overridden on the command line.
moe::RunConfig default_config() {
  moe::RunConfig c;
  moe::ModelConfig& m = c.model;
  m.vocab_size = 37;
  m.block_size = 16;
  m.n_embed = 32;
  m.n_layers = 2;
  m.n_heads = 4;
  m.ffn_hidden = 48;
  m.n_experts = 4;
  m.top_k = 2;
  m.dropout = 0.0f;
  m.init = "normal";
  m.init_std = 0.2f;
  m.aux_loss_coef = 0.01f;
  m.z_loss_coef = 0.001f;
  c.train.batch_size = 3;
  c.train.steps = 10;
  c.train.lr = 1e-2f;
  c.train.min_lr = 1e-3f;
  c.train.warmup_steps = 2;
  c.train.weight_decay = 0.1f;
  c.train.grad_clip = 1.0f;
  return c;
}

int run(int argc, char** argv) {
  MOE_CHECK(argc >= 2, "usage: ref_dump OUT_DIR [key=value ...]");
  const std::string out = argv[1];
  moe::RunConfig cfg = default_config();
  for (int i = 2; i < argc; ++i) {
    std::string kv = argv[i];
    auto eq = kv.find('=');
    MOE_CHECK(eq != std::string::npos, "expected key=value, got ", kv);
    cfg.set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  cfg.model.validate();
  cfg.train.validate();
  const moe::ModelConfig& mc = cfg.model;
  const moe::TrainConfig& tc = cfg.train;
  const int64_t steps = tc.steps, accum = tc.grad_accum, b = tc.batch_size, t = mc.block_size,
                n = b * t;
  moe::make_dirs(out);

  moe::Model model(mc);
  model.init_parameters(static_cast<uint64_t>(tc.seed));
  model.allocate(b, t);
  std::vector<std::pair<std::string, moe::Tensor>> weights;
  for (const moe::Param& p : model.params().params())
    weights.emplace_back(p.name, p.value);
  moe::write_safetensors(out + "/model.safetensors", weights);

  nlohmann::json config = moe::model_config_json(mc);
  config["moe_layers"] = mc.moe_layer_indices();
  config["n_kv_heads"] = mc.kv_heads();
  moe::write_file_atomic(out + "/config.json", config.dump(2));

  // Batches: uniform random tokens (targets are independent draws too: any ids are valid).
  moe::Arena arena{moe::ops::device_memory(moe::Device::CPU)};
  // (steps * accum, b, t): micro-batch a of step s is row s * accum + a.
  moe::Tensor tokens = arena.alloc(moe::Shape{steps * accum, b, t}, moe::DType::I32);
  moe::Tensor targets = arena.alloc(moe::Shape{steps * accum, b, t}, moe::DType::I32);
  std::mt19937 gen(static_cast<uint32_t>(tc.seed));
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(mc.vocab_size - 1));
  for (int64_t i = 0; i < tokens.numel(); ++i)
    tokens.i32()[i] = id(gen);
  for (int64_t i = 0; i < targets.numel(); ++i)
    targets.i32()[i] = id(gen);

  std::vector<std::pair<std::string, moe::Tensor>> case_tensors = {{"tokens", tokens},
                                                                   {"targets", targets}};
  moe::Tensor logits0 = arena.alloc(moe::Shape{b, t, mc.vocab_size});
  moe::Tensor loss0 = arena.alloc(moe::Shape{1}), aux0 = arena.alloc(moe::Shape{1}),
              z0 = arena.alloc(moe::Shape{1}), seq_aux0 = arena.alloc(moe::Shape{1});
  moe::Tensor trajectory = arena.alloc(moe::Shape{steps});
  std::vector<moe::Tensor> grads0;
  nlohmann::json lrs = nlohmann::json::array(), temps = nlohmann::json::array(),
                 gammas = nlohmann::json::array();

  moe::AdamW optimizer(model.params(), tc, {0, model.params().numel()});
  const auto moe_layers = model.moe_layers();
  const auto moe_indices = model.moe_layer_indices();
  const bool step_routing =
      mc.aux_loss_scope == "global_batch" && !moe_indices.empty() && accum > 1;
  for (int64_t s = 0; s < steps; ++s) {
    moe::ForwardContext ctx;
    ctx.training = true;
    ctx.batch = b;
    ctx.seq = t;
    ctx.router_temperature = mc.temperature_at(s, steps);
    ctx.loss_scale = 1.0f / static_cast<float>(accum);
    const float lr = moe::lr_at(tc, s);
    lrs.push_back(lr);
    temps.push_back(ctx.router_temperature);
    auto micro_batch = [&](const moe::Tensor& all, int64_t a) {
      return all.rows(s * accum + a, s * accum + a + 1).view(moe::Shape{b, t});
    };
    auto micro_key = [&](int64_t a) {
      return moe::rng_key(static_cast<uint64_t>(tc.seed), moe::rng_stream::kStep, s, a);
    };
    if (step_routing) {
      const int64_t count = model.expert_fractions().numel();
      std::vector<float> own(static_cast<size_t>(count));
      std::vector<double> micro_fractions;  // (accum, L E)
      for (int64_t a = 0; a < accum; ++a) {
        ctx.key = micro_key(a);
        model.route(ctx, micro_batch(tokens, a));
        moe::ops::copy(moe::cpu_tensor(own.data(), moe::Shape{count}),
                       model.expert_fractions().view(moe::Shape{count}));
        micro_fractions.insert(micro_fractions.end(), own.begin(), own.end());
      }
      model.set_step_fractions(micro_fractions);
    }
    ctx.step_aux_fraction = step_routing;
    model.params().zero_grads();
    moe::LossInfo mean;  // over the step's micro-batches
    for (int64_t a = 0; a < accum; ++a) {
      ctx.key = micro_key(a);
      model.forward(ctx, micro_batch(tokens, a), micro_batch(targets, a));
      const moe::LossInfo info = model.read_stats().loss;
      mean.ce += info.ce / static_cast<double>(accum);
      mean.aux += info.aux / static_cast<double>(accum);
      mean.z += info.z / static_cast<double>(accum);
      mean.seq_aux += info.seq_aux / static_cast<double>(accum);
      mean.objective += info.objective / static_cast<double>(accum);
      for (size_t l = 0; l < moe_layers.size(); ++l) {
        moe::Tensor eps = moe_layers[l]->noise_eps(n);
        if (eps.empty()) continue;
        moe::Tensor copy = arena.alloc(eps.shape);
        moe::ops::copy(copy, eps);
        case_tensors.emplace_back(
            "noise_eps." + std::to_string(s * accum + a) + "." + std::to_string(moe_indices[l]),
            copy);
      }
      if (s == 0 && a == 0)
        moe::ops::copy(logits0.view(moe::Shape{n, mc.vocab_size}), model.logits());
      model.backward(ctx);
    }
    trajectory.f32()[s] = static_cast<float>(mean.objective);
    if (s == 0) {
      loss0.f32()[0] = static_cast<float>(mean.ce);
      aux0.f32()[0] = static_cast<float>(mean.aux);
      z0.f32()[0] = static_cast<float>(mean.z);
      seq_aux0.f32()[0] = static_cast<float>(mean.seq_aux);
      for (const moe::Param& p : model.params().params()) {
        moe::Tensor g = arena.alloc(p.shape);
        moe::ops::copy(g, p.grad);
        grads0.push_back(g);
      }
    }
    double sum_squares = 0.0;
    moe::grad_sum_squares(moe::cpu_tensor(&sum_squares, moe::Shape{1}), optimizer.grads());
    moe::clip_grads(optimizer.grads(), std::sqrt(sum_squares), tc.grad_clip);
    optimizer.step(lr, s + 1);
    const float gamma = tc.router_bias_update_at(s);
    gammas.push_back(gamma);
    model.update_router_biases(gamma);
  }
  case_tensors.emplace_back("logits", logits0);
  case_tensors.emplace_back("loss", loss0);
  case_tensors.emplace_back("aux_loss", aux0);
  case_tensors.emplace_back("z_loss", z0);
  case_tensors.emplace_back("seq_aux_loss", seq_aux0);
  case_tensors.emplace_back("trajectory", trajectory);
  size_t i = 0;
  nlohmann::json decay = nlohmann::json::array();
  for (const moe::Param& p : model.params().params()) {
    const moe::Tensor& grad = grads0[i++];
    // The router's selection biases are state, not parameters: their values after the
    // trajectory are checked instead of a gradient.
    if (!p.trainable) {
      case_tensors.emplace_back("router_bias." + p.name, p.value);
      continue;
    }
    case_tensors.emplace_back("grad." + p.name, grad);
    if (moe::weight_decay_applies(tc, p)) decay.push_back(p.name);
  }
  moe::write_safetensors(out + "/case.safetensors", case_tensors);
  nlohmann::json train = {{"steps", steps},
                          {"grad_accum", accum},
                          {"lr", lrs},
                          {"temperature", temps},
                          {"beta1", tc.beta1},
                          {"beta2", tc.beta2},
                          {"eps", tc.adam_eps},
                          {"weight_decay", tc.weight_decay},
                          {"grad_clip", tc.grad_clip},
                          {"router_bias_update", gammas},
                          {"decay_params", decay}};
  moe::write_file_atomic(out + "/train.json", train.dump(2));
  std::printf("ref_dump: wrote %s (%lld parameters, %zu MoE layers)\n", out.c_str(),
              static_cast<long long>(model.param_count()), moe_layers.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const moe::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
