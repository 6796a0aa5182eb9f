// Checks for numeric flags, shared by every subcommand. CLI11 reads numbers with strtoll/strtoull
// in base 0 and ignores overflow, so "99999999999999999999" became INT64_MAX, "-1" a huge unsigned
// seed and "010" eight. These validators read the text as a decimal number, refuse it unless it
// lies in the accepted range (the message names the flag, the range and the value), and hand CLI11
// the canonical decimal form to convert. Every numeric option takes one of them via ->transform().
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "core/tensor.h"

// An integer in [lo, hi].
CLI::Validator integer_in(int64_t lo, int64_t hi);

// Any value of a uint64_t: 0 to 2^64 - 1 (sampling seeds).
CLI::Validator any_uint64();

// A finite number in [lo, hi] (pass the target type's limits for "any": a float flag must not
// become inf).
CLI::Validator number_in(double lo, double hi);

// A value that must not be empty, for flags where an empty one would read as "not given".
CLI::Validator non_empty();

// --threads of every command: 0 (the default: all cores, or OMP_NUM_THREADS) to moe::kMaxThreads,
// the bound train.threads also has.
CLI::Validator thread_count();

// A size in bytes as transformers' max_shard_size writes it: an integer, optionally followed by
// KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), from 1 byte to 2^62; handed on
// as the number of bytes.
CLI::Validator byte_size();

// --device of train, eval, generate and compare: a device name (core/tensor.h), "cpu" or "cuda".
CLI::Validator device_choice();

// The device `name` names (checked by device_choice()) once this build and machine can run it; one
// error line with the reason when they cannot, which commands ask before they write or allocate.
moe::Device usable_device(const std::string& name);
