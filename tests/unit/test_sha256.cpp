#include <gtest/gtest.h>

#include <string>

#include "core/fs.h"
#include "core/sha256.h"
#include "unit/scratch.h"

namespace moe {
namespace {

// FIPS 180-4 examples (NIST CSRC "Examples with intermediate values", SHA-256).
TEST(Sha256, KnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// A file is read in 1 MiB pieces; 3,000,000 bytes end in a partial piece. The digest is Python's
// hashlib.sha256(b"a" * 3000000).
TEST(Sha256, FileDigestOverSeveralPieces) {
  testing::ScratchDir dir;
  write_file_atomic(dir / "a.bin", std::string(3000000, 'a'));
  EXPECT_EQ(sha256_file_hex(dir / "a.bin"),
            "2a152c894398719c0570f83fac34ac03a0f6e8e474b995c2403aa5434f7b9dd4");
  write_file_atomic(dir / "empty.bin", "");
  EXPECT_EQ(sha256_file_hex(dir / "empty.bin"), sha256_hex(""));
  EXPECT_NE(testing::error_of([&] { sha256_file_hex(dir / "missing"); }).find("missing"),
            std::string::npos);
}

}  // namespace
}  // namespace moe
