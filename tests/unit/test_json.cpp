#include <gtest/gtest.h>

#include <string>

#include "core/check.h"
#include "core/fs.h"
#include "core/json.h"
#include "unit/scratch.h"

namespace moe {
namespace {

using testing::error_of;

std::string nested_arrays(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// The number of characters (UTF-8 code points) in `s`.
size_t characters(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

TEST(Json, ParsesAndNamesTheSourceOfSyntaxErrors) {
  EXPECT_EQ(parse_json(R"({"a": [1, {"b": "c"}]})", "x")["a"][1]["b"], "c");
  EXPECT_EQ(error_of([] { parse_json("{\"a\": ", "f.json"); }),
            "f.json is not valid JSON (parse error at line 1, column 7: syntax error while "
            "parsing value - unexpected end of input; expected '[', '{', or a literal)");
  EXPECT_NE(error_of([] { parse_json("{} x", "f.json"); }).find("f.json is not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_json("1e999", "f.json"); }).find("f.json is not valid JSON"),
            std::string::npos);
}

TEST(Json, NestingUpToTheBoundIsAccepted) {
  EXPECT_TRUE(parse_json(nested_arrays(kMaxJsonDepth), "x").is_array());
}

TEST(Json, DeeperNestingIsRefusedBeforeAnythingIsBuilt) {
  EXPECT_EQ(error_of([] { parse_json(nested_arrays(kMaxJsonDepth + 1), "f.json"); }),
            "f.json nests arrays and objects more than 64 deep (at byte 64)");
  // 100,000 levels: dumping, copying or destroying such a value would recurse that deep.
  const std::string deep_objects = [] {
    std::string s;
    for (int i = 0; i < 100000; ++i)
      s += "{\"k\":";
    return s + "1" + std::string(100000, '}');
  }();
  for (const std::string& text :
       {nested_arrays(100000), deep_objects, "{\"shape\": " + nested_arrays(100000) + "}",
        std::string(100000, '['),  // unterminated: a parser stops only at the end
        "[1, \"x\", " + nested_arrays(100000)})
    EXPECT_NE(error_of([&] { parse_json(text, "f.json"); }).find("nests arrays and objects"),
              std::string::npos);
}

TEST(Json, BracketsInStringsDoNotCount) {
  const std::string brackets(1000, '[');
  const nlohmann::json j = parse_json("[\"" + brackets + "\", \"\\\"[[[\", \"\\\\\", []]", "x");
  EXPECT_EQ(j[0], brackets);
  EXPECT_EQ(j[1], "\"[[[");
  EXPECT_EQ(j[2], "\\");
  EXPECT_TRUE(j[3].is_array());
}

TEST(Json, ErrorMessagesStayShort) {
  // A syntax error quotes the token it stopped in: here a megabyte-long unterminated string.
  const std::string msg = error_of([] { parse_json("[\"" + std::string(1 << 20, 'x'), "f"); });
  EXPECT_TRUE(msg.starts_with("f is not valid JSON (")) << msg;
  EXPECT_LT(msg.size(), 300u);
  EXPECT_NE(msg.find("\u2026"), std::string::npos);
}

TEST(Json, ExcerptCutsLongValuesBetweenCharacters) {
  EXPECT_EQ(json_excerpt(nlohmann::json::array({1, 2})), "[1,2]");
  const std::string long_dump = json_excerpt(parse_json(nested_arrays(kMaxJsonDepth), "x"));
  EXPECT_EQ(long_dump, nested_arrays(kMaxJsonDepth));  // 128 characters: not cut
  std::string text;
  for (int i = 0; i < 300; ++i)
    text += "\xC3\xA9";  // é, two bytes
  // 199 bytes would end inside the 100th 'é': the cut keeps 99 of them, never half of one.
  EXPECT_EQ(excerpt(text), text.substr(0, 198) + "\u2026");
  const std::string dumped = json_excerpt(nlohmann::json(std::string(10000, 'a')));
  EXPECT_EQ(characters(dumped), kMaxExcerpt);
  EXPECT_TRUE(dumped.starts_with("\"aaa") && dumped.ends_with("a\u2026"));
  // Strings built in code may hold invalid UTF-8; they are shown, not thrown on.
  EXPECT_EQ(json_excerpt(nlohmann::json(std::string("a\xFF"))), "\"a\xEF\xBF\xBD\"");
}

TEST(Json, ValueOrNamesTheSourceAndKeyOfATypeError) {
  const nlohmann::json j =
      parse_json(R"({"s": "x", "i": 7, "big": 18446744073709551615, "f": 0.5})", "m.json");
  EXPECT_EQ(json_value_or<std::string>(j, "s", "", "m.json"), "x");
  EXPECT_EQ(json_value_or<std::string>(j, "absent", "dflt", "m.json"), "dflt");
  EXPECT_EQ(json_value_or<int64_t>(j, "i", 0, "m.json"), 7);
  EXPECT_EQ(json_value_or<double>(j, "f", 0, "m.json"), 0.5);
  EXPECT_EQ(json_value_or<double>(j, "i", 0, "m.json"), 7.0);
  EXPECT_EQ(error_of([&] { json_value_or<std::string>(j, "i", "", "m.json"); }),
            "m.json: \"i\" must be a string, not 7");
  EXPECT_EQ(error_of([&] { json_value_or<int64_t>(j, "s", 0, "m.json"); }),
            "m.json: \"s\" must be a 64-bit integer, not \"x\"");
  EXPECT_EQ(error_of([&] { json_value_or<int64_t>(j, "f", 0, "m.json"); }),
            "m.json: \"f\" must be a 64-bit integer, not 0.5");
  EXPECT_EQ(error_of([&] { json_value_or<int64_t>(j, "big", 0, "m.json"); }),
            "m.json: \"big\" must be a 64-bit integer, not 18446744073709551615");
  EXPECT_EQ(error_of([&] { json_value_or<double>(j, "s", 0, "m.json"); }),
            "m.json: \"s\" must be a number, not \"x\"");
  EXPECT_EQ(error_of([] { json_value_or<int64_t>(nlohmann::json::array(), "k", 0, "m.json"); }),
            "m.json is not a JSON object");
}

TEST(Json, ReadJsonFileNamesThePath) {
  testing::ScratchDir dir;
  write_file_atomic(dir / "deep.json", nested_arrays(100000));
  EXPECT_EQ(error_of([&] { read_json_file(dir / "deep.json"); }),
            dir / "deep.json" + " nests arrays and objects more than 64 deep (at byte 64)");
}

}  // namespace
}  // namespace moe
