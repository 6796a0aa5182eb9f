// MOE_HOST_DEVICE marks the small pure functions of core/ that CUDA kernels (backends/cuda) call
// too, so that every device computes the very same bits (random draws, bf16 rounding).
#pragma once

#ifdef __CUDACC__
#define MOE_HOST_DEVICE __host__ __device__
#else
#define MOE_HOST_DEVICE
#endif
