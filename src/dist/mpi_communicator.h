// The MPI transport (compiled with MOE_MPI): MPI_COMM_WORLD of a job started by mpirun, srun or
// another MPI launcher.
#pragma once
#include <memory>

#include "dist/communicator.h"

namespace moe {

// Initialises MPI (MPI_Init) and returns its world; MPI is finalised when the communicator is
// destroyed.
std::unique_ptr<Communicator> make_mpi_communicator(int* argc, char*** argv);

}  // namespace moe
