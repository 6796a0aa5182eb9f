// The NCCL transport (compiled with MOE_NCCL, i.e. MOE_CUDA and MOE_MPI): collectives of GPU
// tensors between processes that each drive one GPU, bootstrapped over a host communicator (MPI's
// world). Host tensors go to that host communicator, so every caller works unchanged; GPU tensors
// go to NCCL (ncclAllReduce, ncclBroadcast, ncclAllGather, ncclReduceScatter, and grouped
// ncclSend/ncclRecv for all_to_all_v) without passing through host memory.
//
// Order of sums: NCCL adds in the order of the algorithm it picks (ring, tree, NVLS) by message
// size, rank count and topology, not in rank order. Every rank gets the same bits (a sum is made
// once and copied to every rank: NVIDIA/nccl#855, #1497), and ring and tree repeat their bits from
// run to run on the same machines and ranks; NVLS (NVLink SHARP on NVSwitch systems) may not
// (NVIDIA/nccl#1497; NCCL_NVLS_ENABLE=0 turns it off). Unlike the host transports, a sum over N
// GPUs is therefore not the bits of one process adding the same values: an N-process CUDA run
// matches the single-process run to fp32 rounding, not bit for bit. With one process every
// collective is a copy and the bits are one process's.
//
// Ordering with the CUDA backend: its kernels run on the legacy default stream, and NCCL runs on
// a blocking stream of its own, which the legacy stream synchronises with both ways; each
// collective returns once its stream is done, as the host transports do.
#pragma once
#include <memory>

#include "dist/communicator.h"

namespace moe {

// Makes this process's GPU the current CUDA device: its rank among the job's processes on its
// host (host names all-gathered over `host`), one process per GPU. Every rank must call it; when
// some rank has no GPU of its own, every rank throws (none is left waiting for it).
void use_local_gpu(Communicator& host);

// NCCL's communicator of `host`'s ranks (MPI's world) on the current CUDA device, from rank 0's
// ncclUniqueId broadcast over `host`, which it wraps. Every rank must call it.
std::unique_ptr<Communicator> make_nccl_communicator(std::unique_ptr<Communicator> host);

}  // namespace moe
