// Thread count for OpenMP kernels and BLAS.
#pragma once

namespace moe {

// n <= 0 keeps the default (OMP_NUM_THREADS or all cores).
void set_num_threads(int n);
int num_threads();

}  // namespace moe
