#include "model/host_staging.h"

#include <algorithm>
#include <vector>

#include "core/check.h"
#include "ops/elementwise.h"

namespace moe {

namespace {

// Elements per piece: at least one, whatever piece_bytes says.
int64_t piece_elements(const Tensor& t, size_t piece_bytes) {
  return std::max<int64_t>(1, static_cast<int64_t>(piece_bytes / dtype_size(t.dtype)));
}

// A host buffer for one piece of t, aligned for every dtype.
std::vector<double> piece_buffer(const Tensor& t, int64_t elements) {
  const size_t bytes = static_cast<size_t>(std::min(elements, t.numel())) * dtype_size(t.dtype);
  return std::vector<double>((bytes + sizeof(double) - 1) / sizeof(double));
}

}  // namespace

void read_through_host(const Tensor& src, const HostPieceReader& read, size_t piece_bytes) {
  if (src.numel() == 0) return;
  const Tensor flat = src.view(Shape{src.numel()});  // (numel)
  const int64_t each = piece_elements(src, piece_bytes);
  std::vector<double> buffer = piece_buffer(src, each);
  for (int64_t first = 0; first < flat.numel(); first += each) {
    const int64_t count = std::min(each, flat.numel() - first);
    const Tensor piece{buffer.data(), Shape{count}, src.dtype, Device::CPU};  // (count)
    ops::copy(piece, flat.rows(first, first + count));
    read(piece, first);
  }
}

void write_through_host(Tensor dst, const HostPieceWriter& write, size_t piece_bytes) {
  if (dst.numel() == 0) return;
  const Tensor flat = dst.view(Shape{dst.numel()});  // (numel)
  const int64_t each = piece_elements(dst, piece_bytes);
  std::vector<double> buffer = piece_buffer(dst, each);
  for (int64_t first = 0; first < flat.numel(); first += each) {
    const int64_t count = std::min(each, flat.numel() - first);
    const Tensor piece{buffer.data(), Shape{count}, dst.dtype, Device::CPU};  // (count)
    write(piece, first);
    ops::copy(flat.rows(first, first + count), piece);
  }
}

std::optional<NonFinite> find_non_finite_staged(const Tensor& t, size_t piece_bytes) {
  std::optional<NonFinite> found;
  read_through_host(
      t,
      [&](const Tensor& piece, int64_t first) {
        if (found) return;
        if (const auto bad = find_non_finite(piece))
          found = NonFinite{first + bad->index, bad->value};
      },
      piece_bytes);
  return found;
}

}  // namespace moe
