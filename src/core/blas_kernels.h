// Which OpenBLAS kernels run the GEMMs.
#pragma once

#include <string>

namespace moe {

// The OpenBLAS kernel family in use ("SkylakeX", "Haswell", ...), chosen by OpenBLAS when it
// loads (or by OPENBLAS_CORETYPE); logged in a run's start record and by the benchmarks, since
// the same machine runs sgemm at very different rates with different families.
std::string blas_kernels();

}  // namespace moe
