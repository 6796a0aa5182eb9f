// cuBLAS for the CUDA backend: one handle per process, on the default stream, fp32 in the
// default math mode (no TF32), so its products are ordered with every other kernel and keep
// fp32's precision.
#pragma once
#include <cublas_v2.h>

namespace moe::cuda {

// Created on first use (which needs the device).
cublasHandle_t cublas_handle();

}  // namespace moe::cuda
