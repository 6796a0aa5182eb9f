#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "core/check.h"

namespace moe {
namespace {

std::string error_of(const RunConfig& c) {
  try {
    c.validate();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DataConfig, PreparedSourceNeedsADirectory) {
  RunConfig c;
  c.set("data.source", "prepared");
  EXPECT_NE(error_of(c).find("data.dir is required"), std::string::npos) << error_of(c);
  c.set("data.dir", "data/wt2");
  EXPECT_EQ(error_of(c), "");
}

TEST(DataConfig, SamplingIsRandomOrChunks) {
  RunConfig c;
  EXPECT_EQ(c.data.sampling, "random");
  c.set("sampling", "chunks");  // a bare key resolves when unique
  EXPECT_EQ(error_of(c), "");
  c.set("data.sampling", "sliding");
  EXPECT_NE(error_of(c).find("data.sampling = 'sliding' is not one of: random, chunks"),
            std::string::npos)
      << error_of(c);
}

TEST(DataConfig, NewKeysRoundTripThroughJson) {
  RunConfig a;
  a.set("data.source", "prepared");
  a.set("data.dir", "some/dir");
  a.set("data.sampling", "chunks");
  RunConfig b;
  b.from_json(a.to_json());
  EXPECT_EQ(b.data.source, "prepared");
  EXPECT_EQ(b.data.dir, "some/dir");
  EXPECT_EQ(b.data.sampling, "chunks");
}

TEST(DataConfig, WikitextPresetIsLlamaOnPreparedChunks) {
  RunConfig c = RunConfig::preset("wikitext-moe");
  EXPECT_EQ(c.model.arch, "llama");
  EXPECT_EQ(c.model.block_size, 128);
  EXPECT_EQ(c.data.source, "prepared");
  EXPECT_EQ(c.data.sampling, "chunks");
  // The data directory is the user's (moe train --data DIR).
  EXPECT_NE(error_of(c).find("data.dir is required"), std::string::npos);
  c.set("data.dir", "data/wt2-gpt2");
  EXPECT_EQ(error_of(c), "");
}

}  // namespace
}  // namespace moe
