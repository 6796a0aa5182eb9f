// Host staging: the one path by which tensor data crosses between a model's memory, on any device,
// and the host code that writes and reads checkpoint files or checks them for NaN and infinity
// (model/safetensors, model/checkpoint, train/train_state). A tensor is visited in pieces of at
// most `piece_bytes`, each copied through one host buffer with ops::copy, so a save or load holds
// no second copy of the weights, and the CPU runs exactly the code a device does.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "core/non_finite.h"
#include "core/tensor.h"

namespace moe {

// A host buffer of this size serves saves and loads at memory speed, and its cost is negligible
// next to the weights.
inline constexpr size_t kStagingBytes = size_t{4} << 20;

// Sees piece = a host copy of elements [first, first + piece.numel()) of a tensor viewed flat.
using HostPieceReader = std::function<void(const Tensor& piece, int64_t first)>;
// Fills piece, the host buffer for elements [first, first + piece.numel()) of a tensor viewed flat.
using HostPieceWriter = std::function<void(Tensor piece, int64_t first)>;

// Copies src to the host piece by piece, in order, calling `read` on each piece.
void read_through_host(const Tensor& src, const HostPieceReader& read,
                       size_t piece_bytes = kStagingBytes);

// Fills dst piece by piece, in order: `write` fills a host piece, which is then copied into dst.
void write_through_host(Tensor dst, const HostPieceWriter& write,
                        size_t piece_bytes = kStagingBytes);

// The first NaN or infinity of an F32 tensor on any device (its flat index), read through the host.
std::optional<NonFinite> find_non_finite_staged(const Tensor& t,
                                                size_t piece_bytes = kStagingBytes);

}  // namespace moe
