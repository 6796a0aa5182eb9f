#include "dist/launch.h"

#include <cstdlib>
#include <string>

#include "core/check.h"

#ifdef MOE_MPI
#include "dist/mpi_communicator.h"
#endif
#ifdef MOE_NCCL
#include "dist/nccl_communicator.h"
#endif

namespace moe {

namespace {

// The job size a launcher announced, or 0 when no launcher started this process (PMIx states
// only the rank; 1 then stands for "some job").
long launcher_job_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(name)) return std::strtol(v, nullptr, 10);
  return std::getenv("PMIX_RANK") ? 1 : 0;
}

}  // namespace

std::unique_ptr<Communicator> communicator_for_launch(int* argc, char*** argv) {
  const long job_size = launcher_job_size();
#ifdef MOE_MPI
  if (job_size > 0) return make_mpi_communicator(argc, argv);
#else
  (void)argc;
  (void)argv;
  // N copies of a single-process run would write the same files.
  MOE_CHECK(job_size <= 1, "started as one of ", job_size,
            " processes, but this build has no MPI: install Open MPI (libopenmpi-dev) and "
            "configure with -DMOE_MPI=ON");
#endif
  return make_single_process();
}

void use_device_collectives(Device device) {
#ifdef MOE_NCCL
  if (device != Device::CUDA || launcher_job_size() == 0 || world().takes(device)) return;
  use_local_gpu(world());  // on failure world() is still MPI's, which ends the whole job
  set_world(make_nccl_communicator(take_world()));
#else
  (void)device;
#endif
}

bool built_with_mpi() {
#ifdef MOE_MPI
  return true;
#else
  return false;
#endif
}

}  // namespace moe
