// spsim-microbench's process layout: which GPUs this process drives, its world ranks, MPI (when
// built with it), CUDA error checks, timing and provenance. Host C++ on CUDA runtime APIs.
#ifndef SPSIM_MICROBENCH_DEVICE_H_
#define SPSIM_MICROBENCH_DEVICE_H_

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "spsim/calibrate.h"

namespace spsim::microbench {

/// A CUDA/NCCL/cuBLASLt/cuDNN failure: "file:line: call: message".
struct DeviceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check_cuda(cudaError_t status, const char* call, const char* file, int line);
#define MB_CUDA(call) ::spsim::microbench::check_cuda((call), #call, __FILE__, __LINE__)

/// Number of usable CUDA devices; 0 when there is none or no driver.
int cuda_device_count();

/// The GPUs this process drives and where it sits in the job.
struct Layout {
  int world_size = 1;           // ranks in the job (= GPUs)
  int per_node = 1;             // ranks on each node
  int process_rank = 0;         // MPI rank (0 without MPI)
  int process_count = 1;
  std::vector<int> devices;     // CUDA devices driven here
  std::vector<int> world_ranks; // world rank of each, same order
  std::vector<std::string> rank_hosts;  // hostname of every world rank (on every process)
  std::vector<int64_t> rank_devices;    // CUDA device of every world rank
  bool mpi = false;
};

/// MPI init (when built with MPI and launched with more than one process, one GPU per process,
/// local rank = rank on the node) or one process driving every local GPU.
Layout make_layout(int* argc, char*** argv);
void finalize_layout(const Layout& layout);
/// After an error on this process: under MPI with several processes, MPI_Abort every rank with
/// `code` (the others would wait in NCCL or MPI calls forever); otherwise finalize_layout.
void abort_layout(const Layout& layout, int code);

/// Broadcasts `bytes` from process 0 (MPI) or does nothing.
void broadcast(const Layout& layout, void* data, int bytes);
/// Element-wise max over processes (MPI) or nothing.
void max_over_processes(const Layout& layout, std::vector<double>& values);

/// Provenance of this run (GPU, driver, CUDA, NCCL, cuBLASLt, cuDNN, hosts, time, command).
MicrobenchProvenance provenance(const Layout& layout, int argc, char** argv);

}  // namespace spsim::microbench

#endif  // SPSIM_MICROBENCH_DEVICE_H_
