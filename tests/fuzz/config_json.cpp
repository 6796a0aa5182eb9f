// Fuzzes a checkpoint's config.json (parse_checkpoint_config: JSON, RunConfig::from_json and the
// model's validation). An accepted configuration must survive to_json -> from_json unchanged.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "model/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  moe::fuzz::parse_or_reject([&] {
    const moe::RunConfig config =
        moe::parse_checkpoint_config(moe::fuzz::as_text(data, size), "config.json");
    const nlohmann::json saved = config.to_json();
    moe::RunConfig reloaded;
    reloaded.from_json(saved);
    FUZZ_REQUIRE(reloaded.to_json() == saved, "config.json round-trips");
  });
  return 0;
}
