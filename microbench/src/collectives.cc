// NCCL collectives over a size ladder and group shapes, timed per iteration with CUDA events.
// Sizes follow nccl-tests: "bytes" is the whole buffer (AG output, RS input, A2A send buffer,
// AR vector; send_recv the message), busbw = algbw x busbw_factor (nccl-tests *GetBw).
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nccl.h>

#include "bench.h"
#include "spsim/error.h"

namespace spsim::microbench {

namespace {

void check_nccl(ncclResult_t status, const char* call, const char* file, int line) {
  if (status != ncclSuccess) {
    throw DeviceError(fmt::format("{}:{}: {}: {} ({})", file, line, call, ncclGetErrorString(status),
                                  ncclGetLastError(nullptr)));
  }
}
#define MB_NCCL(call) check_nccl((call), #call, __FILE__, __LINE__)

ncclDataType_t nccl_type(const std::string& dtype) {
  if (dtype == "fp16") return ncclFloat16;
  if (dtype == "fp32") return ncclFloat32;
  return ncclBfloat16;
}

/// One GPU driven by this process: its communicators, stream, buffers and events.
struct LocalRank {
  int device = 0;
  int world_rank = 0;
  ncclComm_t world = nullptr;
  cudaStream_t stream = nullptr;
  void* send = nullptr;
  void* recv = nullptr;
  std::vector<cudaEvent_t> start, stop;
};

/// Issues one collective of `bytes` (nccl-tests size) on `comm` from `r`.
/// Destroys communicators one thread owns: NCCL's docs require finalizing several ranks from one
/// thread inside a group (ncclCommFinalize is collective and would otherwise hang), then destroy.
void destroy_comms(const std::vector<ncclComm_t>& comms) {
  MB_NCCL(ncclGroupStart());
  for (ncclComm_t c : comms) MB_NCCL(ncclCommFinalize(c));
  MB_NCCL(ncclGroupEnd());
  for (ncclComm_t c : comms) MB_NCCL(ncclCommDestroy(c));
}

void issue(const std::string& op, LocalRank& r, ncclComm_t comm, int64_t bytes, int64_t elt,
           ncclDataType_t type) {
  int n = 0, me = 0;
  MB_NCCL(ncclCommCount(comm, &n));
  MB_NCCL(ncclCommUserRank(comm, &me));
  const size_t count = static_cast<size_t>(bytes / elt);
  const size_t per_rank = count / static_cast<size_t>(n);
  if (op == "all_reduce") {
    MB_NCCL(ncclAllReduce(r.send, r.recv, count, type, ncclSum, comm, r.stream));
  } else if (op == "all_gather") {
    MB_NCCL(ncclAllGather(r.send, r.recv, per_rank, type, comm, r.stream));
  } else if (op == "reduce_scatter") {
    MB_NCCL(ncclReduceScatter(r.send, r.recv, per_rank, type, ncclSum, comm, r.stream));
  } else if (op == "all_to_all") {
    // As nccl-tests alltoall.cu: one send and one receive per peer in a group.
    MB_NCCL(ncclGroupStart());
    for (int p = 0; p < n; ++p) {
      const size_t offset = static_cast<size_t>(p) * per_rank * static_cast<size_t>(elt);
      MB_NCCL(ncclSend(static_cast<char*>(r.send) + offset, per_rank, type, p, comm, r.stream));
      MB_NCCL(ncclRecv(static_cast<char*>(r.recv) + offset, per_rank, type, p, comm, r.stream));
    }
    MB_NCCL(ncclGroupEnd());
  } else {  // send_recv: the ring exchange, rank i -> i+1 while receiving from i-1
    MB_NCCL(ncclGroupStart());
    MB_NCCL(ncclSend(r.send, count, type, static_cast<int>(detail::ring_send_peer(me, n)), comm, r.stream));
    MB_NCCL(ncclRecv(r.recv, count, type, static_cast<int>(detail::ring_recv_peer(me, n)), comm, r.stream));
    MB_NCCL(ncclGroupEnd());
  }
}

}  // namespace

std::vector<CollectiveRun> run_collectives(const Layout& layout, const detail::MicrobenchArgs& args) {
  const int64_t elt = detail::dtype_bytes(args.dtype);
  const ncclDataType_t type = nccl_type(args.dtype);
  const auto sizes = size_ladder(args.min_bytes, args.max_bytes, args.step_factor, "-b/-e/-f");
  const auto groups = detail::plan_groups(layout.world_size, layout.per_node, args.scopes);
  const int iterations = args.iterations;
  if (groups.empty()) {
    throw InputError("--scopes", fmt::format("no group of 2 or more ranks to measure with {} GPU(s), {} per "
                                             "node; run on at least 2 GPUs", layout.world_size, layout.per_node));
  }

  // World communicator: unique id from process 0, broadcast over MPI.
  ncclUniqueId id;
  if (layout.process_rank == 0) MB_NCCL(ncclGetUniqueId(&id));
  broadcast(layout, &id, sizeof(id));
  std::vector<LocalRank> locals(layout.devices.size());
  MB_NCCL(ncclGroupStart());
  for (size_t i = 0; i < locals.size(); ++i) {
    LocalRank& r = locals[i];
    r.device = layout.devices[i];
    r.world_rank = layout.world_ranks[i];
    MB_CUDA(cudaSetDevice(r.device));
    MB_NCCL(ncclCommInitRank(&r.world, layout.world_size, id, r.world_rank));
  }
  MB_NCCL(ncclGroupEnd());
  const int64_t max_bytes = sizes.back();
  for (auto& r : locals) {
    MB_CUDA(cudaSetDevice(r.device));
    MB_CUDA(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
    MB_CUDA(cudaMalloc(&r.send, static_cast<size_t>(max_bytes)));
    MB_CUDA(cudaMalloc(&r.recv, static_cast<size_t>(max_bytes)));
    // 0x3c bytes: finite bf16/fp16 values, so reductions do no NaN/denormal special cases.
    MB_CUDA(cudaMemset(r.send, 0x3c, static_cast<size_t>(max_bytes)));
    // The memset runs on the legacy default stream, which a non-blocking stream does not wait for.
    MB_CUDA(cudaDeviceSynchronize());
    r.start.resize(static_cast<size_t>(iterations));
    r.stop.resize(static_cast<size_t>(iterations));
    for (int it = 0; it < iterations; ++it) {
      MB_CUDA(cudaEventCreate(&r.start[static_cast<size_t>(it)]));
      MB_CUDA(cudaEventCreate(&r.stop[static_cast<size_t>(it)]));
    }
  }

  std::vector<CollectiveRun> runs;
  for (const auto& shape : groups) {
    // Split the world into this shape's groups (every rank is in one, all run at once).
    std::vector<ncclComm_t> comms(locals.size());
    MB_NCCL(ncclGroupStart());
    for (size_t i = 0; i < locals.size(); ++i) {
      MB_CUDA(cudaSetDevice(locals[i].device));
      MB_NCCL(ncclCommSplit(locals[i].world, shape.color[static_cast<size_t>(locals[i].world_rank)],
                            locals[i].world_rank, &comms[i], nullptr));
    }
    MB_NCCL(ncclGroupEnd());
    // Group 0's members describe the shape (hosts, ranks per node).
    std::vector<std::string> hosts;
    std::map<std::string, int64_t> per_host;
    for (int w = 0; w < layout.world_size; ++w) {
      if (shape.color[static_cast<size_t>(w)] != shape.color[0]) continue;
      const std::string& h = layout.rank_hosts[static_cast<size_t>(w)];
      if (per_host[h]++ == 0) hosts.push_back(h);
    }
    for (const auto& op : args.ops) {
      CollectiveRun run;
      run.kind = op;
      run.test_name = fmt::format("spsim-microbench {} ({}, {} group(s) at once)", op, shape.scope,
                                  layout.world_size / shape.size);
      run.ranks = shape.size;
      run.hosts = hosts;
      for (const auto& [h, n] : per_host) run.ranks_per_node = std::max(run.ranks_per_node, n);
      const double factor = busbw_factor(op, shape.size);
      for (const int64_t requested : sizes) {
        const MessageSize size = nccl_tests_message_size(op, requested, shape.size, elt);
        if (size.count == 0) continue;  // smaller than one element per rank
        std::vector<double> samples(static_cast<size_t>(iterations), 0.0);
        for (int it = -args.warmup; it < iterations; ++it) {
          for (size_t i = 0; i < locals.size(); ++i) {
            MB_CUDA(cudaSetDevice(locals[i].device));
            if (it >= 0) MB_CUDA(cudaEventRecord(locals[i].start[static_cast<size_t>(it)], locals[i].stream));
          }
          MB_NCCL(ncclGroupStart());
          for (size_t i = 0; i < locals.size(); ++i) {
            MB_CUDA(cudaSetDevice(locals[i].device));
            issue(op, locals[i], comms[i], size.bytes, elt, type);
          }
          MB_NCCL(ncclGroupEnd());
          for (size_t i = 0; i < locals.size(); ++i) {
            MB_CUDA(cudaSetDevice(locals[i].device));
            if (it >= 0) MB_CUDA(cudaEventRecord(locals[i].stop[static_cast<size_t>(it)], locals[i].stream));
          }
        }
        for (auto& r : locals) {
          MB_CUDA(cudaSetDevice(r.device));
          MB_CUDA(cudaStreamSynchronize(r.stream));
          for (int it = 0; it < iterations; ++it) {
            float ms = 0;
            MB_CUDA(cudaEventElapsedTime(&ms, r.start[static_cast<size_t>(it)], r.stop[static_cast<size_t>(it)]));
            samples[static_cast<size_t>(it)] = std::max(samples[static_cast<size_t>(it)], 1e3 * ms);
          }
        }
        // An iteration takes as long as its slowest rank.
        max_over_processes(layout, samples);
        CollectivePoint p;
        p.bytes = size.bytes;
        p.count = size.count;
        p.type = args.dtype;
        p.spread = timing_spread(samples, &p.time_us);
        p.algbw_GBps = static_cast<double>(size.bytes) / (p.time_us * 1e-6) / 1e9;
        p.busbw_GBps = p.algbw_GBps * factor;
        p.wrong = "N/A";
        run.points.push_back(p);
      }
      if (!run.points.empty()) runs.push_back(std::move(run));
    }
    destroy_comms(comms);
  }
  for (auto& r : locals) {
    MB_CUDA(cudaSetDevice(r.device));
    for (auto& e : r.start) MB_CUDA(cudaEventDestroy(e));
    for (auto& e : r.stop) MB_CUDA(cudaEventDestroy(e));
    MB_CUDA(cudaFree(r.send));
    MB_CUDA(cudaFree(r.recv));
    MB_CUDA(cudaStreamDestroy(r.stream));
  }
  std::vector<ncclComm_t> worlds;
  for (auto& r : locals) worlds.push_back(r.world);
  destroy_comms(worlds);
  return runs;
}

}  // namespace spsim::microbench
