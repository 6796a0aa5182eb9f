#include "apps/flags.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <system_error>

#include "config/config.h"
#include "core/check.h"
#include "ops/device.h"

namespace {

// Reads all of `text` as a decimal T; false on anything else (sign on an unsigned, overflow,
// trailing characters, a leading '+' or space).
template <typename T>
bool parse_decimal(const std::string& text, T& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && !text.empty();
}

std::string refusal(const std::string& expected, const std::string& text) {
  return moe::str_cat("expects ", expected, ", got '", moe::excerpt(text), "'");
}

}  // namespace

CLI::Validator integer_in(int64_t lo, int64_t hi) {
  const std::string expected = moe::str_cat("an integer from ", lo, " to ", hi);
  return CLI::Validator(
      [=](std::string& text) {
        int64_t v = 0;
        if (!parse_decimal(text, v) || v < lo || v > hi) return refusal(expected, text);
        text = std::to_string(v);
        return std::string();
      },
      moe::str_cat("[", lo, ", ", hi, "]"));
}

CLI::Validator any_uint64() {
  return CLI::Validator(
      [](std::string& text) {
        uint64_t v = 0;
        if (!parse_decimal(text, v)) return refusal("an integer from 0 to 2^64 - 1", text);
        text = std::to_string(v);
        return std::string();
      },
      "[0, 2^64 - 1]");
}

CLI::Validator number_in(double lo, double hi) {
  const std::string expected = moe::str_cat("a number from ", lo, " to ", hi);
  return CLI::Validator(
      [=](std::string& text) {
        double v = 0;
        if (!parse_decimal(text, v) || !std::isfinite(v) || v < lo || v > hi)
          return refusal(expected, text);
        return std::string();
      },
      moe::str_cat("[", lo, ", ", hi, "]"));
}

CLI::Validator non_empty() {
  return CLI::Validator(
      [](std::string& text) { return text.empty() ? std::string("expects a value, got ''") : ""; },
      "");
}

CLI::Validator thread_count() {
  return integer_in(0, moe::kMaxThreads);
}

CLI::Validator byte_size() {
  return CLI::Validator(
      [](std::string& text) {
        static const std::pair<const char*, uint64_t> kUnits[] = {
            {"KiB", uint64_t{1} << 10}, {"MiB", uint64_t{1} << 20},
            {"GiB", uint64_t{1} << 30}, {"KB", 1'000},
            {"MB", 1'000'000},          {"GB", 1'000'000'000}};
        std::string digits = text;
        uint64_t unit = 1;
        for (const auto& [suffix, scale] : kUnits) {
          if (text.ends_with(suffix)) {
            digits = text.substr(0, text.size() - std::string(suffix).size());
            unit = scale;
            break;
          }
        }
        uint64_t v = 0, bytes = 0;
        if (!parse_decimal(digits, v) || v == 0 || __builtin_mul_overflow(v, unit, &bytes) ||
            bytes > (uint64_t{1} << 62))
          return refusal("a size such as 5GB, 200MiB or 1000000 (bytes)", text);
        text = std::to_string(bytes);
        return std::string();
      },
      "SIZE");
}

CLI::Validator device_choice() {
  return CLI::Validator(
      [](std::string& text) {
        return moe::device_from_name(text) ? std::string()
                                           : refusal("one of " + moe::device_names(), text);
      },
      "");
}

moe::Device usable_device(const std::string& name) {
  const std::optional<moe::Device> device = moe::device_from_name(name);
  MOE_CHECK(device, "--device expects one of ", moe::device_names(), ", got '", moe::excerpt(name),
            "'");
  moe::ops::require_device(*device);
  return *device;
}
