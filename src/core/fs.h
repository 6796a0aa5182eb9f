// Small file-system helpers whose failures are moe::Error messages naming the path and the reason.
#pragma once
#include <string>
#include <string_view>

namespace moe {

// The whole file as bytes.
std::string read_file(const std::string& path);

// Replaces PATH with `bytes` so that a crash or error at any point leaves either the old PATH or
// the new one, never a partial file: the bytes go to PATH.tmp.<pid> in the same directory, are
// fsynced, renamed over PATH, and the directory is fsynced so the rename itself is durable.
void write_file_atomic(const std::string& path, std::string_view bytes);

bool file_exists(const std::string& path);

// Creates `path` and any missing parents; an existing directory is fine.
void make_dirs(const std::string& path);

}  // namespace moe
