// The CUDA backend's kernel table: kernels on the default stream, cuBLAS for the dense GEMMs, in
// F32. Compiled in wherever the build finds nvcc; on a machine without a GPU, missing_device
// says why and the registry hands out no table.
#pragma once
#include "backends/backend.h"

namespace moe::cuda {

const Backend& backend();

}  // namespace moe::cuda
