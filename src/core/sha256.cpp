#include "core/sha256.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/check.h"
#include "core/fs.h"

namespace moe {

namespace {

// An EVP digest context for SHA-256; every OpenSSL failure becomes a moe::Error.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    MOE_CHECK(ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1,
              "sha256: OpenSSL could not start a digest");
  }
  void update(const void* data, size_t bytes) {
    MOE_CHECK(EVP_DigestUpdate(ctx_.get(), data, bytes) == 1, "sha256: OpenSSL digest failed");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    MOE_CHECK(EVP_DigestFinal_ex(ctx_.get(), digest, &len) == 1, "sha256: OpenSSL digest failed");
    static const char* kDigits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += kDigits[digest[i] >> 4];
      out += kDigits[digest[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex();
}

std::string sha256_file_hex(const std::string& path) {
  const ReadableFile file(path);
  Sha256 h;
  std::vector<char> buf(size_t{1} << 20);
  for (uint64_t offset = 0; offset < file.size(); offset += buf.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), file.size() - offset));
    MOE_CHECK(file.read_at(offset, buf.data(), n), "file ", path, " shrank while it was read");
    h.update(buf.data(), n);
  }
  return h.hex();
}

}  // namespace moe
