#include "core/threads.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace moe {

void set_num_threads(int n) {
  if (n <= 0) return;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  openblas_set_num_threads(n);
}

int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int blas_num_threads() {
  return openblas_get_num_threads();
}

}  // namespace moe
