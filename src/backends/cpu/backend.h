// The CPU backend's kernel table: loops + OpenMP, OpenBLAS for GEMM, in F32 and F64.
#pragma once
#include "backends/backend.h"

namespace moe::cpu {

const Backend& backend();

}  // namespace moe::cpu
