// Host staging (model/host_staging.h) is the only path between tensors and checkpoint files, so
// every checkpoint test runs it; these tests check the piece arithmetic itself, on pieces much
// smaller than the tensors, and that a multi-piece save and load is byte-exact.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/fs.h"
#include "model/host_staging.h"
#include "model/safetensors.h"
#include "unit/scratch.h"

namespace moe {
namespace {

// Piece sizes in bytes: one element, a size that is no multiple of 4 or 8, several elements,
// exactly the tensor, more than the tensor, and 0 (still one element per piece).
const std::vector<size_t> kPieceBytes = {4, 7, 12, 60, 1000, 0};

TEST(HostStaging, ReadVisitsEveryElementOnceInOrder) {
  std::vector<float> data(15);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = 0.25f * static_cast<float>(i) - 1.0f;
  const Tensor t = cpu_tensor(data.data(), Shape{3, 5});
  for (size_t piece_bytes : kPieceBytes) {
    std::vector<float> seen;
    read_through_host(
        t,
        [&](const Tensor& piece, int64_t first) {
          EXPECT_EQ(piece.device, Device::CPU);
          EXPECT_EQ(piece.dtype, DType::F32);
          EXPECT_EQ(first, static_cast<int64_t>(seen.size())) << piece_bytes;
          // A copy, not a view of the source.
          EXPECT_NE(piece.f32(), data.data() + first);
          seen.insert(seen.end(), piece.f32(), piece.f32() + piece.numel());
        },
        piece_bytes);
    EXPECT_EQ(seen, data) << piece_bytes;
  }
}

TEST(HostStaging, WriteFillsEveryElementOfEachDtype) {
  for (size_t piece_bytes : kPieceBytes) {
    std::vector<double> f64(14, -1.0);
    write_through_host(
        cpu_tensor(f64.data(), Shape{2, 7}),
        [](Tensor piece, int64_t first) {
          for (int64_t i = 0; i < piece.numel(); ++i)
            piece.f64()[i] = 0.5 * static_cast<double>(first + i);
        },
        piece_bytes);
    for (size_t i = 0; i < f64.size(); ++i)
      ASSERT_EQ(f64[i], 0.5 * static_cast<double>(i)) << piece_bytes;

    std::vector<int32_t> i32(9, -1);
    write_through_host(
        cpu_tensor(i32.data(), Shape{9}),
        [](Tensor piece, int64_t first) {
          for (int64_t i = 0; i < piece.numel(); ++i)
            piece.i32()[i] = static_cast<int32_t>(3 * (first + i));
        },
        piece_bytes);
    for (size_t i = 0; i < i32.size(); ++i)
      ASSERT_EQ(i32[i], static_cast<int32_t>(3 * i)) << piece_bytes;
  }
}

TEST(HostStaging, EmptyTensorsVisitNothing) {
  int calls = 0;
  read_through_host(cpu_tensor(static_cast<float*>(nullptr), Shape{0, 4}),
                    [&](const Tensor&, int64_t) { ++calls; });
  write_through_host(cpu_tensor(static_cast<float*>(nullptr), Shape{0}),
                     [&](Tensor, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(HostStaging, FindsTheFirstNonFiniteElementAcrossPieces) {
  std::vector<float> data(20, 1.0f);
  const Tensor t = cpu_tensor(data.data(), Shape{4, 5});
  for (size_t piece_bytes : kPieceBytes)
    EXPECT_FALSE(find_non_finite_staged(t, piece_bytes)) << piece_bytes;
  data[13] = std::numeric_limits<float>::infinity();
  data[17] = std::numeric_limits<float>::quiet_NaN();
  for (size_t piece_bytes : kPieceBytes) {
    const auto bad = find_non_finite_staged(t, piece_bytes);
    ASSERT_TRUE(bad) << piece_bytes;
    EXPECT_EQ(bad->index, 13) << piece_bytes;
    EXPECT_TRUE(std::isinf(bad->value)) << piece_bytes;
  }
}

// A tensor of more than two staging buffers is saved in three pieces and loaded in three: the file
// holds exactly the tensor's bytes, and reading it back restores them.
TEST(HostStaging, MultiPieceSaveAndLoadAreByteExact) {
  const testing::ScratchDir scratch;
  const int64_t n = 2 * static_cast<int64_t>(kStagingBytes / sizeof(float)) + 3;
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    w[static_cast<size_t>(i)] = std::sin(0.001f * static_cast<float>(i));
  const std::string path = scratch / "big.safetensors";
  write_safetensors(path, {{"w", cpu_tensor(w.data(), Shape{n})}});

  const SafeTensorsFile file = SafeTensorsFile::open(path);
  const std::string bytes = read_file(path);
  const size_t offset = file.entry("w").offset;
  ASSERT_EQ(bytes.size() - offset, w.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(bytes.data() + offset, w.data(), w.size() * sizeof(float)), 0);

  std::vector<float> back(w.size(), 0.0f);
  file.read_into("w", cpu_tensor(back.data(), Shape{n}));
  EXPECT_EQ(back, w);
}

}  // namespace
}  // namespace moe
