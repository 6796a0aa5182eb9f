// moe upcycle --checkpoint DENSE --experts E --top-k K --out DIR [--moe-layers LAYERS]
//             [--router topk|noisy_topk|temperature] [--seed S]
// Sparse upcycling: a dense checkpoint becomes a MoE checkpoint whose experts start as copies of
// the dense FFNs (interop/upcycle.h); continue it with moe train --init-from DIR.
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/flags.h"
#include "interop/upcycle.h"

void add_upcycle_command(CLI::App& app) {
  auto options = std::make_shared<moe::UpcycleOptions>();
  auto seed = std::make_shared<std::optional<int64_t>>();
  CLI::App* cmd = app.add_subcommand(
      "upcycle", "turn a dense checkpoint into a MoE checkpoint whose experts copy the dense FFNs");
  cmd->add_option("--checkpoint", options->checkpoint, "dense run or checkpoint directory")
      ->required()
      ->check(non_empty());
  cmd->add_option("--experts", options->n_experts, "experts per MoE layer (model.n_experts)")
      ->required()
      ->transform(integer_in(2, 4096));
  cmd->add_option("--top-k", options->top_k, "experts per token, 1 to --experts (model.top_k)")
      ->required()
      ->transform(integer_in(1, 4096));
  cmd->add_option("--out", options->out_dir, "new checkpoint directory")
      ->required()
      ->check(non_empty());
  cmd->add_option("--moe-layers", options->moe_layers,
                  "layers to upcycle: all (default), every:N or a list such as 1,3")
      ->check(non_empty());
  cmd->add_option("--router", options->router,
                  "router of the new layers: topk (default), noisy_topk, temperature")
      ->check(non_empty());
  cmd->add_option("--seed", *seed, "seed of the routers' initialisation (default: train.seed)")
      ->transform(integer_in(INT64_MIN, INT64_MAX));
  cmd->callback([options, seed] {
    options->seed = *seed;
    const moe::UpcycleResult r = moe::upcycle_checkpoint(*options);
    std::cout << nlohmann::json{{"out", r.out_dir},
                                {"params", r.params},
                                {"active_params", r.active_params},
                                {"n_experts", r.model.n_experts},
                                {"top_k", r.model.top_k},
                                {"moe_layers", r.model.moe_layers},
                                {"router", r.model.router}}
                     .dump()
              << std::endl;
  });
}
