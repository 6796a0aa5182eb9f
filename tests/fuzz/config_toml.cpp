// Fuzzes TOML configuration files (RunConfig::load_toml_text, then validate() as `moe train`
// does). An accepted configuration must survive to_json -> from_json unchanged.
#include <cstddef>
#include <cstdint>

#include "config/config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  moe::fuzz::parse_or_reject([&] {
    moe::RunConfig config;
    config.load_toml_text(moe::fuzz::as_text(data, size), "fuzz.toml");
    config.validate();
    const nlohmann::json saved = config.to_json();
    moe::RunConfig reloaded;
    reloaded.from_json(saved);
    FUZZ_REQUIRE(reloaded.to_json() == saved, "the configuration round-trips through JSON");
  });
  return 0;
}
