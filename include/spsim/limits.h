// Limits: the largest input spsim accepts, stated once. Each is far past any real cluster, model
// or training run, and small enough that every product spsim forms stays exact in int64 and
// finite in double, and that one evaluation takes seconds and a few hundred MB at most. An input
// past a limit is an InputError that names the limit and the flag (README "Limits and errors").
#ifndef SPSIM_LIMITS_H_
#define SPSIM_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>

namespace spsim {

// --- Job: flags and experiment files ------------------------------------------------------------
inline constexpr int64_t kMaxGpus = int64_t{1} << 20;            // --gpus, num_gpus (1,048,576)
/// Each of -t, -u, -r, --cp: past any published TP, Ulysses or ring group; a ring is lowered step
/// by step and --best / max-context search every divisor, so their time grows with it.
inline constexpr int64_t kMaxDegree = int64_t{1} << 12;
inline constexpr int64_t kMaxPipelineStages = int64_t{1} << 12;  // --pp and --vpp (each)
inline constexpr int64_t kMaxSeqLength = int64_t{1} << 40;       // --seq, seq_length (1024G tokens)
inline constexpr int64_t kMaxMicroBatchSize = int64_t{1} << 20;  // --mbs
inline constexpr int64_t kMaxGlobalBatchSize = int64_t{1} << 30;  // --gbs
/// Micro-batches per step (global batch / (micro-batch x DP)): both engines time each one.
inline constexpr int64_t kMaxMicroBatches = int64_t{1} << 20;
/// Tokens per step (global batch x sequence length).
inline constexpr int64_t kMaxTokensPerStep = int64_t{1} << 50;
/// Pipeline ops simulated by the schedule: micro-batches x stages x chunks.
inline constexpr int64_t kMaxPipelineOps = int64_t{1} << 20;
/// --framework-reserve-gib, framework_reserve_gib.
inline constexpr double kMaxReserveGib = 1024;

// --- Model shapes (model files, HuggingFace configs, spsim attention flags) ---------------------
// The largest published dense models have h = 25,600 and V ~ 256k; these bounds keep every
// parameter count below 2^62, so int64 arithmetic in params.cc cannot overflow.
inline constexpr int64_t kMaxHidden = int64_t{1} << 20;
inline constexpr int64_t kMaxLayers = int64_t{1} << 14;
inline constexpr int64_t kMaxHeads = int64_t{1} << 16;
inline constexpr int64_t kMaxHeadDim = int64_t{1} << 14;
inline constexpr int64_t kMaxQWidth = int64_t{1} << 22;  // heads x head_dim
inline constexpr int64_t kMaxFfn = int64_t{1} << 22;
inline constexpr int64_t kMaxExperts = int64_t{1} << 16;  // routed experts per MoE layer
inline constexpr int64_t kMaxVocab = int64_t{1} << 24;
inline constexpr int64_t kMaxVocabMultiple = int64_t{1} << 16;
inline constexpr int64_t kMaxPositions = int64_t{1} << 34;

// --- Topology numbers, in SI: physical ranges. A value outside is a typo or a unit mix-up, and
// would turn into an infinite step time, a NaN MFU or a byte count past int64. --------------------
inline constexpr double kMinPeakFlops = 1e9, kMaxPeakFlops = 1e18;  // per GPU: 1 GFLOP/s..1 EFLOP/s
inline constexpr double kMaxHbmBytes = 1125899906842624.0;         // 1 PiB per GPU
inline constexpr double kMaxHostMemoryBytes = 1152921504606846976.0;  // 1 EiB of host memory per node
inline constexpr double kMinBandwidth = 1e6, kMaxBandwidth = 1e16;  // bytes/s: 1 MB/s..10 PB/s
inline constexpr double kMaxLatency = 1.0;                          // seconds (latencies, overheads)
inline constexpr double kMinEfficiency = 1e-4;                      // achieved / peak, up to 1
inline constexpr double kMaxOversubscription = 1e6;
inline constexpr double kMaxKernelFlops = 1e21;                     // efficiency-curve points
inline constexpr double kMaxMessageBytes = 4611686018427387904.0;   // 2^62, collective fit ranges

// --- Sweeps and engines ---------------------------------------------------------------------------
/// Values one range ("8K:1M:+8K") may expand to.
inline constexpr size_t kMaxRangePoints = 10000;
/// Points of one sweep grid: the product of every dimension, checked before any is built.
inline constexpr size_t kMaxSweepPoints = size_t{1} << 18;
/// Work of one discrete-event simulation (src/engine/des_engine.cc des_work: tasks and flows x
/// layers x micro-batches x simulated GPUs, after the symmetry reduction): about 8 s and 200 MB.
inline constexpr int64_t kMaxDesWork = int64_t{1} << 23;
/// Ring degree of colai-sp, which is lowered block by block (about 10 tasks per ring step).
inline constexpr int64_t kMaxColaiSpRingDegree = 2048;
/// Worker processes of one sweep (--jobs).
inline constexpr int64_t kMaxJobs = 1024;

// --- Input files ---------------------------------------------------------------------------------
/// Nesting of arrays and objects in any JSON input.
inline constexpr int kMaxJsonDepth = 64;
/// Size of any input file (model, topology, experiment, nccl-tests log, microbenchmark JSON).
inline constexpr int64_t kMaxInputFileBytes = int64_t{64} << 20;
/// A measured PyTorch profiler (Kineto) trace for `spsim compare --measured`: read keeping only the
/// fields of kernel and step events, so memory stays near the file's size.
inline constexpr int64_t kMaxTraceFileBytes = int64_t{512} << 20;

/// The product of `factors` when it is at most `limit`; std::nullopt when it is larger (or would
/// overflow int64 on the way). Factors must be non-negative.
inline std::optional<int64_t> product_within(std::initializer_list<int64_t> factors,
                                             int64_t limit) {
  int64_t product = 1;
  for (int64_t factor : factors) {
    if (__builtin_mul_overflow(product, factor, &product) || product > limit) return std::nullopt;
  }
  return product;
}

}  // namespace spsim

#endif  // SPSIM_LIMITS_H_
