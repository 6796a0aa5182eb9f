// SHA-256 (FIPS 180-4) through OpenSSL's libcrypto, which uses the CPU's SHA extensions where it
// has them. Digests are 64 lowercase hex digits, as sha256sum prints them, so a file's checksum can
// be checked by hand.
#pragma once
#include <string>
#include <string_view>

namespace moe {

std::string sha256_hex(std::string_view bytes);

// The digest of a file's bytes, read in pieces (the file may be larger than memory).
std::string sha256_file_hex(const std::string& path);

}  // namespace moe
