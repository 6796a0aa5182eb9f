#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "model/safetensors.h"
#include "unit/scratch.h"

namespace fs = std::filesystem;
using moe::SafeTensorsFile;
using moe::Shape;

namespace {

class SafeTensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (size_t i = 0; i < w_.size(); ++i)
      w_[i] = 0.5f * static_cast<float>(i) - 1.0f;
    for (size_t i = 0; i < ids_.size(); ++i)
      ids_[i] = static_cast<int32_t>(i * 7) - 3;
  }
  std::string path(const std::string& name) const { return scratch_ / name; }

  // Writes w (2, 3) F32 and ids (5) I32 with one metadata entry.
  std::string write_sample() {
    std::string p = path("model.safetensors");
    moe::write_safetensors(p,
                           {{"w", moe::cpu_tensor(w_.data(), Shape{2, 3})},
                            {"ids", moe::cpu_tensor(ids_.data(), Shape{5})}},
                           {{"format", "pt"}});
    return p;
  }

  // A file with the given header text (padded to 8 bytes) followed by data_bytes zero bytes.
  std::string write_raw(const std::string& header, size_t data_bytes) {
    std::string h = header;
    h.append((8 - h.size() % 8) % 8, ' ');
    uint64_t n = h.size();
    std::string bytes(8, '\0');
    std::memcpy(bytes.data(), &n, 8);
    bytes += h;
    bytes.append(data_bytes, '\0');
    std::string p = path("raw.safetensors");
    moe::write_file_atomic(p, bytes);
    return p;
  }

  // The message of the moe::Error that opening `p` throws ("" if none).
  static std::string open_error(const std::string& p) {
    try {
      SafeTensorsFile::open(p);
    } catch (const moe::Error& e) {
      return e.what();
    }
    return "";
  }

  moe::testing::ScratchDir scratch_;
  std::vector<float> w_ = std::vector<float>(6);
  std::vector<int32_t> ids_ = std::vector<int32_t>(5);
};

TEST_F(SafeTensorsTest, RoundTrip) {
  std::string p = write_sample();
  SafeTensorsFile f = SafeTensorsFile::open(p);
  ASSERT_EQ(f.entries().size(), 2u);
  EXPECT_EQ(f.entries()[0].name, "w");
  EXPECT_EQ(f.entries()[1].name, "ids");
  EXPECT_TRUE(f.has("w"));
  EXPECT_FALSE(f.has("v"));
  EXPECT_EQ(f.entry("w").dtype, moe::DType::F32);
  EXPECT_EQ(f.entry("w").shape, (Shape{2, 3}));
  EXPECT_EQ(f.entry("w").bytes, 24u);
  EXPECT_EQ(f.entry("ids").dtype, moe::DType::I32);
  EXPECT_EQ(f.entry("ids").offset, f.entry("w").offset + 24);
  EXPECT_EQ(f.metadata().at("format"), "pt");

  std::vector<float> w(6, 0.f);
  std::vector<int32_t> ids(5, 0);
  f.read_into("w", moe::cpu_tensor(w.data(), Shape{2, 3}));
  f.read_into("ids", moe::cpu_tensor(ids.data(), Shape{5}));
  EXPECT_EQ(w, w_);
  EXPECT_EQ(ids, ids_);
}

TEST_F(SafeTensorsTest, LayoutFollowsTheFormat) {
  std::string bytes = moe::read_file(write_sample());
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 24 + 20);
  nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(h["w"]["dtype"], "F32");
  EXPECT_EQ(h["w"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(h["w"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(h["ids"]["dtype"], "I32");
  EXPECT_EQ(h["ids"]["data_offsets"], nlohmann::json({24, 44}));
  EXPECT_EQ(h["__metadata__"]["format"], "pt");
  float first;
  std::memcpy(&first, bytes.data() + 8 + n, 4);
  EXPECT_EQ(first, w_[0]);
}

TEST_F(SafeTensorsTest, ScalarAndEmptyTensorsRoundTrip) {
  float s = 3.5f;
  moe::Tensor scalar = moe::cpu_tensor(&s, Shape{});
  moe::Tensor empty = moe::cpu_tensor(w_.data(), Shape{0, 3});
  moe::write_safetensors(path("s"), {{"empty", empty}, {"scalar", scalar}});
  SafeTensorsFile f = SafeTensorsFile::open(path("s"));
  float out = 0;
  f.read_into("scalar", moe::cpu_tensor(&out, Shape{}));
  EXPECT_EQ(out, 3.5f);
  EXPECT_EQ(f.entry("empty").bytes, 0u);
  EXPECT_TRUE(f.metadata().empty());
}

TEST_F(SafeTensorsTest, ReadIntoChecksShapeAndDtype) {
  SafeTensorsFile f = SafeTensorsFile::open(write_sample());
  std::vector<float> w(6);
  try {
    f.read_into("w", moe::cpu_tensor(w.data(), Shape{3, 2}));
    FAIL() << "expected moe::Error";
  } catch (const moe::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("tensor w"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected F32 (3, 2), found F32 (2, 3)"), std::string::npos) << msg;
  }
  std::vector<int32_t> wi(6);
  EXPECT_THROW(f.read_into("w", moe::cpu_tensor(wi.data(), Shape{2, 3})), moe::Error);
  EXPECT_THROW(f.read_into("missing", moe::cpu_tensor(w.data(), Shape{2, 3})), moe::Error);
  EXPECT_THROW(f.entry("missing"), moe::Error);
}

TEST_F(SafeTensorsTest, ReadRangeIntoReadsElementsOfTheFlatTensor) {
  SafeTensorsFile f = SafeTensorsFile::open(write_sample());
  std::vector<float> part(3, 9.0f);
  f.read_range_into("w", 2, moe::cpu_tensor(part.data(), Shape{3}));
  EXPECT_EQ(part, (std::vector<float>{w_[2], w_[3], w_[4]}));
  f.read_range_into("w", 6, moe::cpu_tensor(part.data(), Shape{0}));  // empty at the end
  try {
    f.read_range_into("w", 4, moe::cpu_tensor(part.data(), Shape{3}));
    FAIL() << "expected moe::Error";
  } catch (const moe::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected elements [4, 7) of F32, found F32 (2, 3)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(f.read_range_into("w", -1, moe::cpu_tensor(part.data(), Shape{1})), moe::Error);
}

TEST_F(SafeTensorsTest, WriteRejectsBadInput) {
  moe::Tensor w = moe::cpu_tensor(w_.data(), Shape{2, 3});
  EXPECT_THROW(moe::write_safetensors(path("x"), {{"a", w}, {"a", w}}), moe::Error);
  EXPECT_THROW(moe::write_safetensors(path("x"), {{"", w}}), moe::Error);
  EXPECT_THROW(moe::write_safetensors(path("x"), {{"__metadata__", w}}), moe::Error);
  moe::Tensor gpu = w;
  gpu.device = moe::Device::CUDA;
  EXPECT_THROW(moe::write_safetensors(path("x"), {{"a", gpu}}), moe::Error);
  EXPECT_FALSE(moe::file_exists(path("x")));
}

TEST_F(SafeTensorsTest, FailedWriteLeavesOldFileIntact) {
  std::string p = write_sample();
  std::string before = moe::read_file(p);
  std::vector<float> other(4, 9.f);
  EXPECT_THROW(moe::write_safetensors(path("no_such_dir/model.safetensors"),
                                      {{"w", moe::cpu_tensor(other.data(), Shape{4})}}),
               moe::Error);
  // Replacing the file with a directory in the way fails at the rename, after writing everything.
  fs::create_directories(path("blocked/x"));
  EXPECT_THROW(
      moe::write_safetensors(path("blocked"), {{"w", moe::cpu_tensor(other.data(), Shape{4})}}),
      moe::Error);
  EXPECT_EQ(moe::read_file(p), before);
  EXPECT_EQ(SafeTensorsFile::open(p).entries().size(), 2u);
}

TEST_F(SafeTensorsTest, MissingFile) {
  std::string msg = open_error(path("absent.safetensors"));
  EXPECT_NE(msg.find("absent.safetensors"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, ShorterThanSizeField) {
  moe::write_file_atomic(path("short"), "abc");
  std::string msg = open_error(path("short"));
  EXPECT_NE(msg.find("checkpoint " + path("short") + " is truncated or corrupt"), std::string::npos)
      << msg;
}

TEST_F(SafeTensorsTest, TruncatedData) {
  std::string p = write_sample();
  fs::resize_file(p, fs::file_size(p) - 1);
  std::string msg = open_error(p);
  EXPECT_NE(msg.find("is truncated or corrupt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ids"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, TruncatedHeader) {
  std::string p = write_sample();
  fs::resize_file(p, 20);
  std::string msg = open_error(p);
  EXPECT_NE(msg.find("header size"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, TrailingBytes) {
  std::string p = write_sample();
  moe::write_file_atomic(p, moe::read_file(p) + "xxxx");
  EXPECT_NE(open_error(p).find("is truncated or corrupt"), std::string::npos);
}

TEST_F(SafeTensorsTest, HeaderNotJson) {
  std::string p = write_sample();
  std::string bytes = moe::read_file(p);
  bytes[8] = '[';  // the header's opening brace
  bytes[9] = '#';
  moe::write_file_atomic(p, bytes);
  std::string msg = open_error(p);
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, HeaderNotObject) {
  EXPECT_NE(open_error(write_raw("[1, 2]", 0)).find("not a JSON object"), std::string::npos);
}

TEST_F(SafeTensorsTest, UnknownDtype) {
  std::string msg =
      open_error(write_raw(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", 16));
  EXPECT_NE(msg.find("unsupported dtype F64"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, ShapeDoesNotMatchOffsets) {
  std::string msg =
      open_error(write_raw(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12));
  EXPECT_NE(msg.find("span 12 bytes"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, OffsetsBeyondFile) {
  std::string msg =
      open_error(write_raw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8));
  EXPECT_NE(msg.find("is truncated or corrupt"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, OverlappingTensors) {
  std::string msg = open_error(write_raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
      "b":{"dtype":"I32","shape":[2],"data_offsets":[4,12]}})",
                                         12));
  EXPECT_NE(msg.find("overlap"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, HoleInData) {
  std::string msg =
      open_error(write_raw(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8));
  EXPECT_NE(msg.find("unused bytes"), std::string::npos) << msg;
}

TEST_F(SafeTensorsTest, MalformedEntries) {
  for (const char* header : {
           R"({"a":{"dtype":"F32","shape":[1]}})",
           R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
           R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
           R"({"a":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})",
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})",
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})",
           R"({"a":{"dtype":3,"shape":[1],"data_offsets":[0,4]}})",
           R"({"a":[1]})",
           R"({"__metadata__":{"k":1}})",
           R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}})",
       }) {
    std::string msg = open_error(write_raw(header, 4));
    EXPECT_NE(msg.find("raw.safetensors"), std::string::npos) << header << " -> " << msg;
  }
}

TEST_F(SafeTensorsTest, DeeplyNestedHeaderIsAnErrorNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const std::string& header :
       {R"({"a":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,4]}})",
        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":)" + deep + "}}"}) {
    const std::string msg = open_error(write_raw(header, 4));
    EXPECT_EQ(msg, "checkpoint " + path("raw.safetensors") +
                       " is truncated or corrupt: its header nests arrays and objects more than "
                       "64 deep (at byte " +
                       std::to_string(header.find("[[") + 62) + ")");
  }
}

TEST_F(SafeTensorsTest, MessagesQuoteLongValuesInShort) {
  // A tensor name of a megabyte and data_offsets of 100,000 entries, in a one-line message.
  std::string offsets = "[0";
  for (int i = 0; i < 100000; ++i)
    offsets += ",4";
  offsets += "]";
  const std::string name(1 << 20, 'n');
  const std::string msg = open_error(write_raw(
      "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + offsets + "}}", 4));
  const std::string shown_name = std::string(moe::kMaxExcerpt - 1, 'n') + "\u2026";
  EXPECT_TRUE(msg.starts_with("checkpoint " + path("raw.safetensors") +
                              " is truncated or corrupt: tensor " + shown_name +
                              " has bad data_offsets [0,4,4,"))
      << msg.substr(0, 400);
  EXPECT_TRUE(msg.ends_with("\u2026")) << msg;
  EXPECT_LT(msg.size(), 600u);
}

TEST_F(SafeTensorsTest, NonRegularFileIsRefused) {
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  EXPECT_EQ(open_error(path("fifo")),
            "cannot read " + path("fifo") + ": it is a FIFO, not a regular file");
}

}  // namespace
