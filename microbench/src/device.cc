// Process layout, MPI glue, CUDA checks and provenance for spsim-microbench.
#include "device.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>

#include <cublasLt.h>
#include <fmt/format.h>
#include <nccl.h>
#ifdef SPSIM_MICROBENCH_CUDNN
#include <cudnn.h>
#endif
#ifdef SPSIM_MICROBENCH_MPI
#include <mpi.h>
#endif

namespace spsim::microbench {

void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) {
    throw DeviceError(fmt::format("{}:{}: {}: {}", file, line, call, cudaGetErrorString(status)));
  }
}

int cuda_device_count() {
  int count = 0;
  // cudaErrorNoDevice / cudaErrorInsufficientDriver (no driver): treated as no device.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

namespace {

std::string hostname() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

}  // namespace

Layout make_layout(int* argc, char*** argv) {
  Layout layout;
  const int local_gpus = cuda_device_count();
#ifdef SPSIM_MICROBENCH_MPI
  MPI_Init(argc, argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &layout.process_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &layout.process_count);
  if (layout.process_count > 1) {
    layout.mpi = true;
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, layout.process_rank, MPI_INFO_NULL, &node);
    int local_rank = 0, local_size = 1;
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_size(node, &local_size);
    MPI_Comm_free(&node);
    // One visible GPU: the launcher bound this task to it (srun --gpus-per-task, per-rank
    // CUDA_VISIBLE_DEVICES). Several: the node's GPUs are shared, one per local rank.
    const int device = local_gpus == 1 ? 0 : local_rank;
    if (local_gpus > 1 && local_rank >= local_gpus) {
      throw DeviceError(fmt::format("{} processes on {} but only {} GPUs; launch one process per GPU",
                                    local_size, hostname(), local_gpus));
    }
    // The group shapes assume equal nodes filled rank by rank; a different placement would give
    // processes different plans (and NCCL splits that never match), so refuse it here.
    int min_size = local_size, max_size = local_size;
    MPI_Allreduce(&local_size, &min_size, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&local_size, &max_size, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (min_size != max_size) {
      throw DeviceError(fmt::format("nodes run different numbers of processes ({} to {}); launch the same "
                                    "number per node", min_size, max_size));
    }
    layout.world_size = layout.process_count;
    layout.per_node = local_size;
    layout.devices = {device};
    layout.world_ranks = {layout.process_rank};
    // Every rank's host and device, on every process.
    char host[256] = {};
    const std::string mine = hostname();
    std::copy_n(mine.begin(), std::min<size_t>(mine.size(), 255), host);
    std::vector<char> hosts(256 * static_cast<size_t>(layout.world_size));
    MPI_Allgather(host, 256, MPI_CHAR, hosts.data(), 256, MPI_CHAR, MPI_COMM_WORLD);
    std::vector<int> devices(static_cast<size_t>(layout.world_size));
    MPI_Allgather(&device, 1, MPI_INT, devices.data(), 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 0; r < layout.world_size; ++r) {
      layout.rank_hosts.emplace_back(&hosts[256 * static_cast<size_t>(r)]);
      layout.rank_devices.push_back(devices[static_cast<size_t>(r)]);
    }
    for (int r = 0; r < layout.world_size; ++r) {
      const int first = (r / local_size) * local_size;
      if (layout.rank_hosts[static_cast<size_t>(r)] != layout.rank_hosts[static_cast<size_t>(first)]) {
        throw DeviceError(fmt::format("rank {} is on {} but rank {} on {}: ranks must fill nodes in order "
                                      "(mpirun --map-by ppr:{}:node, srun --distribution=block)", r,
                                      layout.rank_hosts[static_cast<size_t>(r)], first,
                                      layout.rank_hosts[static_cast<size_t>(first)], local_size));
      }
    }
    return layout;
  }
#else
  (void)argc;
  (void)argv;
#endif
  layout.world_size = local_gpus;
  layout.per_node = local_gpus;
  for (int d = 0; d < local_gpus; ++d) {
    layout.devices.push_back(d);
    layout.world_ranks.push_back(d);
    layout.rank_hosts.push_back(hostname());
    layout.rank_devices.push_back(d);
  }
  return layout;
}

void abort_layout(const Layout& layout, int code) {
#ifdef SPSIM_MICROBENCH_MPI
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  // Not layout.mpi: make_layout may have thrown after MPI_Init, before filling the layout.
  if (initialized && !finalized) {
    int processes = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &processes);
    if (processes > 1) MPI_Abort(MPI_COMM_WORLD, code);
  }
#else
  (void)code;
#endif
  finalize_layout(layout);
}

void finalize_layout(const Layout& layout) {
#ifdef SPSIM_MICROBENCH_MPI
  (void)layout;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
#else
  (void)layout;
#endif
}

void broadcast(const Layout& layout, void* data, int bytes) {
#ifdef SPSIM_MICROBENCH_MPI
  if (layout.mpi) MPI_Bcast(data, bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
#else
  (void)layout, (void)data, (void)bytes;
#endif
}

void max_over_processes(const Layout& layout, std::vector<double>& values) {
#ifdef SPSIM_MICROBENCH_MPI
  if (layout.mpi) {
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_MAX,
                  MPI_COMM_WORLD);
  }
#else
  (void)layout, (void)values;
#endif
}

MicrobenchProvenance provenance(const Layout& layout, int argc, char** argv) {
  MicrobenchProvenance p;
  p.tool = std::string("spsim-microbench ") + SPSIM_VERSION + " (" + SPSIM_GIT_COMMIT + ")";
  cudaDeviceProp prop{};
  MB_CUDA(cudaGetDeviceProperties(&prop, layout.devices.at(0)));
  p.gpu_name = fmt::format("{} (sm_{}{}, {} SMs)", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  int driver = 0, runtime = 0, nccl = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  ncclGetVersion(&nccl);
  p.driver_version = fmt::format("CUDA driver API {}.{}", driver / 1000, (driver % 1000) / 10);
  p.cuda_runtime_version = fmt::format("{}.{}", runtime / 1000, (runtime % 1000) / 10);
  p.nccl_version = nccl >= 10000 ? fmt::format("{}.{}.{}", nccl / 10000, (nccl % 10000) / 100, nccl % 100)
                                 : fmt::format("{}", nccl);
  p.cublaslt_version = fmt::format("{}", cublasLtGetVersion());
#ifdef SPSIM_MICROBENCH_CUDNN
  p.cudnn_version = fmt::format("{}", cudnnGetVersion());
#else
  p.cudnn_version = "not built";
#endif
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &utc);
  p.start_time_utc = when;
  for (int i = 0; i < argc; ++i) p.command_line += (i ? " " : "") + std::string(argv[i]);
  p.rank_hosts = layout.rank_hosts;
  p.rank_devices = layout.rank_devices;
  return p;
}

}  // namespace spsim::microbench
