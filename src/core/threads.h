// Thread count for OpenMP kernels and BLAS.
#pragma once

namespace moe {

// Caps both OpenMP's and OpenBLAS's thread counts at n (every command's --threads goes through
// here); n <= 0 keeps the defaults (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS or all cores).
void set_num_threads(int n);
int num_threads();       // OpenMP's
int blas_num_threads();  // OpenBLAS's

}  // namespace moe
