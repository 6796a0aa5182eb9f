#include "core/blas_kernels.h"

#include <cblas.h>

namespace moe {

std::string blas_kernels() {
  return openblas_get_corename();
}

}  // namespace moe
