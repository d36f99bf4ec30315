// nccl-tests conventions shared by the importer, the fit and spsim-microbench.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "spsim/calibrate.h"
#include "spsim/error.h"

namespace spsim {

namespace {

bool is_known_kind(const std::string& kind) {
  return std::find_if(std::begin(kCollectiveKinds), std::end(kCollectiveKinds),
                      [&](const char* k) { return kind == k; }) != std::end(kCollectiveKinds);
}

[[noreturn]] void unknown_kind(const std::string& kind) {
  throw InputError("collective", fmt::format("unknown collective \"{}\"; use one of all_to_all, "
                                             "all_gather, reduce_scatter, all_reduce, send_recv",
                                             kind));
}

}  // namespace

double busbw_factor(const std::string& kind, int64_t ranks) {
  if (ranks < 1) {
    throw InputError("ranks", fmt::format("must be >= 1 (got {})", ranks));
  }
  const double n = static_cast<double>(ranks);
  // nccl-tests src/all_reduce.cu AllReduceGetBw: 2(n-1)/n; all_gather.cu, reduce_scatter.cu,
  // alltoall.cu: (n-1)/n; sendrecv.cu: 1.
  if (kind == "all_reduce") return 2.0 * (n - 1.0) / n;
  if (kind == "all_gather" || kind == "reduce_scatter" || kind == "all_to_all") {
    return (n - 1.0) / n;
  }
  if (kind == "send_recv") return 1.0;
  unknown_kind(kind);
}

MessageSize nccl_tests_message_size(const std::string& kind, int64_t requested_bytes,
                                    int64_t ranks, int64_t element_bytes) {
  if (!is_known_kind(kind)) unknown_kind(kind);
  if (ranks < 1 || element_bytes < 1 || requested_bytes < 0) {
    throw InputError("message size", fmt::format("ranks, element size must be >= 1 and size >= 0 "
                                                 "(got {}, {}, {})", ranks, element_bytes,
                                                 requested_bytes));
  }
  const int64_t elements = requested_bytes / element_bytes;
  MessageSize size;
  if (kind == "all_reduce" || kind == "send_recv") {
    size.count = elements;
    size.bytes = elements * element_bytes;
    return size;
  }
  // AllGatherGetCollByteCount & co.: per-rank (per-peer for alltoall) count rounded down to a
  // multiple of 16 bytes: (count / nranks) & -(16 / eltSize).
  const int64_t align = std::max<int64_t>(1, 16 / element_bytes);
  size.count = (elements / ranks) / align * align;
  size.bytes = size.count * element_bytes * ranks;
  return size;
}

std::vector<int64_t> size_ladder(int64_t min_bytes, int64_t max_bytes, int64_t factor,
                                 const std::string& where) {
  if (min_bytes < 1) {
    throw InputError(where, fmt::format("minimum size must be >= 1 byte (got {})", min_bytes));
  }
  if (max_bytes < min_bytes) {
    throw InputError(where, fmt::format("maximum size {} is below the minimum {}; swap them",
                                        max_bytes, min_bytes));
  }
  if (factor < 2) {
    throw InputError(where, fmt::format("step factor must be >= 2 (got {})", factor));
  }
  std::vector<int64_t> sizes;
  for (int64_t s = min_bytes; s <= max_bytes; s *= factor) {
    sizes.push_back(s);
    if (s > max_bytes / factor) break;  // next step would pass max (or overflow)
  }
  return sizes;
}

Spread timing_spread(std::vector<double> samples_us, double* median_us) {
  if (samples_us.empty()) throw InputError("timing", "no samples to summarise");
  std::sort(samples_us.begin(), samples_us.end());
  const size_t n = samples_us.size();
  if (median_us != nullptr) {
    *median_us = n % 2 == 1 ? samples_us[n / 2] : 0.5 * (samples_us[n / 2 - 1] + samples_us[n / 2]);
  }
  // Nearest rank: the ceil(p n)-th smallest value.
  auto rank = [&](double p) {
    const auto r = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
    return samples_us[std::clamp<size_t>(r, 1, n) - 1];
  };
  Spread spread;
  spread.min_us = samples_us.front();
  spread.max_us = samples_us.back();
  spread.p10_us = rank(0.10);
  spread.p90_us = rank(0.90);
  spread.iterations = static_cast<int64_t>(n);
  return spread;
}

std::string CollectiveRun::scope() const {
  return hosts.size() <= 1 ? "intra_node" : "inter_node";
}

double AttentionPoint::flops() const {
  // FlashAttention benchmark convention (flash-attention benchmarks/benchmark_flash_attention.py).
  double fwd = 4.0 * static_cast<double>(batch) * static_cast<double>(seq_q) *
               static_cast<double>(seq_kv) * static_cast<double>(heads) *
               static_cast<double>(head_dim);
  if (causal) fwd *= 0.5;
  return direction == "bwd" ? 2.5 * fwd : fwd;
}

}  // namespace spsim
