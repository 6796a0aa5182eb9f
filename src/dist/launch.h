// How this process learns the job it belongs to, at start-up (apps/main.cpp).
#pragma once
#include <memory>

#include "dist/communicator.h"

namespace moe {

// MPI's world when this build has MPI (MOE_MPI) and an MPI launcher (mpirun, srun, mpiexec)
// started the process; a single process otherwise. The launcher is recognised by the variables
// it hands its processes (Open MPI's OMPI_COMM_WORLD_SIZE, PMIx's PMIX_RANK, PMI's PMI_RANK)
// because MPI can only tell after MPI_Init, which in a process started without a launcher
// ("singleton") takes about 2 s; the rank and size then come from MPI itself.
std::unique_ptr<Communicator> communicator_for_launch(int* argc, char*** argv);

// Makes world()'s collectives take `device`'s memory where this build can: for Device::CUDA in a
// job an MPI launcher started, with NCCL (MOE_NCCL), world() becomes NCCL's over MPI's world
// (dist/nccl_communicator.h), which picks this process's GPU. Otherwise world() is left as it is
// (its callers then stage device tensors through host memory). Every rank must call it, before
// anything holds world() or allocates on the device.
void use_device_collectives(Device device);

// Whether this build can run on several processes (MOE_MPI).
bool built_with_mpi();

}  // namespace moe
