// Fuzzes the safetensors parser (model/safetensors.h): the input is a whole model.safetensors
// file. Accepted files must describe tensors that tile the data section exactly.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  moe::fuzz::parse_or_reject([&] {
    const moe::SafeTensorsFile file =
        moe::SafeTensorsFile::parse(moe::fuzz::as_text(data, size), "fuzz.safetensors");
    size_t end = size;
    for (auto it = file.entries().rbegin(); it != file.entries().rend(); ++it) {
      FUZZ_REQUIRE(it->offset + it->bytes == end, "tensors tile the data section");
      FUZZ_REQUIRE(
          it->bytes == static_cast<size_t>(it->shape.numel()) * moe::stored_dtype_size(it->stored),
          "a tensor's byte count matches its shape");
      FUZZ_REQUIRE(file.has(it->name) && &file.entry(it->name) == &*it, "every tensor is indexed");
      end = it->offset;
    }
  });
  return 0;
}
