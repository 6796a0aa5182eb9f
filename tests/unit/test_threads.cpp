#include <cblas.h>
#include <gtest/gtest.h>

#include "core/threads.h"

namespace {

// --threads must cap OpenBLAS too: OpenBLAS keeps its own count, which OpenMP's does not set (in
// its pthreads build at all; in its OpenMP build only when a large enough call rechecks it).
TEST(Threads, SetNumThreadsCapsOpenMPAndOpenBLAS) {
  const int before = moe::num_threads();
  moe::set_num_threads(2);
  EXPECT_EQ(moe::num_threads(), 2);
  EXPECT_EQ(openblas_get_num_threads(), 2);
  moe::set_num_threads(1);
  EXPECT_EQ(moe::num_threads(), 1);
  EXPECT_EQ(openblas_get_num_threads(), 1);
  EXPECT_EQ(moe::blas_num_threads(), 1);
  // n <= 0 changes nothing.
  moe::set_num_threads(0);
  EXPECT_EQ(moe::num_threads(), 1);
  EXPECT_EQ(openblas_get_num_threads(), 1);
  moe::set_num_threads(before);
}

}  // namespace
