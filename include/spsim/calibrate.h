// Calibration: read collective and kernel measurements (nccl-tests logs, spsim-microbench JSON),
// fit alpha-beta models and kernel efficiencies, and write a calibrated topology. Plain C++ with no
// CUDA dependency: spsim-microbench (microbench/) uses the same size ladder, busbw factors and JSON
// writer, so the unit tests cover both without a GPU.
#ifndef SPSIM_CALIBRATE_H_
#define SPSIM_CALIBRATE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace spsim {

// ---------------------------------------------------------------------------------------
// nccl-tests conventions (NVIDIA/nccl-tests src/*.cu *GetBw / *GetCollByteCount).

/// The collectives spsim calibrates, as named in topology files.
inline constexpr const char* kCollectiveKinds[] = {"all_to_all", "all_gather", "reduce_scatter",
                                                    "all_reduce", "send_recv"};

/// busbw / algbw for `kind` over `ranks` ranks: all_reduce 2(n-1)/n; all_gather, reduce_scatter,
/// all_to_all (n-1)/n; send_recv 1. Throws InputError for an unknown kind or ranks < 1.
double busbw_factor(const std::string& kind, int64_t ranks);

/// What one nccl-tests step really moves for a requested size: `bytes` is the printed "size (B)"
/// (the total buffer), `count` the printed element count (per rank for all_gather/reduce_scatter,
/// per peer for all_to_all, whole vector otherwise). Per-rank chunks are rounded down to 16 B.
struct MessageSize {
  int64_t bytes = 0;
  int64_t count = 0;
};
MessageSize nccl_tests_message_size(const std::string& kind, int64_t requested_bytes,
                                    int64_t ranks, int64_t element_bytes);

/// Sizes min, min*factor, ... <= max (nccl-tests -b/-e/-f). InputError (naming `where`) when
/// min < 1, max < min or factor < 2.
std::vector<int64_t> size_ladder(int64_t min_bytes, int64_t max_bytes, int64_t factor,
                                 const std::string& where);

/// Spread of repeated timings of one point (0 when the source reports only one number).
struct Spread {
  double min_us = 0;
  double max_us = 0;
  double p10_us = 0;
  double p90_us = 0;
  int64_t iterations = 0;
};

/// Median and spread of per-iteration times (us). Median of an even count is the mean of the two
/// middle values; percentiles by nearest rank. InputError when `samples_us` is empty.
Spread timing_spread(std::vector<double> samples_us, double* median_us);

// ---------------------------------------------------------------------------------------
// Measured collective points.

/// One row half (out-of-place or in-place) of an nccl-tests table, values as printed.
struct CollectivePoint {
  int64_t bytes = 0;       // "size (B)": the total buffer (nccl-tests convention)
  int64_t count = 0;       // "count (elements)"
  std::string type;        // "float", "bf16", ...
  bool in_place = false;
  double time_us = 0;      // as printed
  double algbw_GBps = 0;   // as printed (1 GB = 1e9 B)
  double busbw_GBps = 0;   // as printed
  std::string wrong;       // "#wrong" / "error" column as printed ("0", "N/A", "5e-07")
  Spread spread;           // microbenchmark only
  int line = 0;            // 1-based line in the source file (0 for JSON inputs)
};

/// One collective sweep: one nccl-tests test or one group of a microbenchmark run.
struct CollectiveRun {
  std::string kind;          // one of kCollectiveKinds
  std::string test_name;     // "all_gather_perf_mpi", "spsim-microbench all_gather"
  std::string file;          // display name of the input
  std::string source_note;   // the input's "# SOURCE:" line, if any
  int64_t ranks = 0;         // group size
  std::vector<std::string> hosts;  // distinct hostnames in rank order of first appearance
  int64_t ranks_per_node = 0;      // max ranks on one host; 0: unknown (device lines elided)
  // Device lines the log printed when it printed fewer than `ranks` (elided or cut logs, whose
  // rank count comes from busbw/algbw or --ranks); 0 when it printed them all or none.
  int64_t listed_ranks = 0;
  std::string gpu_name;      // from the rank lines ("NVIDIA H100 80GB HBM3"), if printed
  std::string nccl_version;  // from the header, if printed
  std::vector<CollectivePoint> points;
  /// "intra_node" when every rank is on one host (or one process drove all GPUs), else
  /// "inter_node".
  std::string scope() const;
};

/// Reads nccl-tests output as users have it: the text log (any column order, read from the
/// header; in-place and out-of-place; old "error" and new "#wrong" columns; srun -l and MPI
/// "[1,0]<stdout>:" prefixes; interleaved NCCL INFO lines; several tests in one file) or the
/// JSON written with -J. `kind_hint` (may be empty) names the collective when the log does not.
/// A log whose "# Rank" device lines are elided or cut takes its rank count from busbw/algbw when
/// exactly one count fits every row, or from `ranks` (> 0: spsim calibrate --ranks), and leaves
/// the ranks per host unknown. Throws InputError("<display_name>:<line>", ...) on garbage,
/// truncated or wrong-collective input.
std::vector<CollectiveRun> read_nccl_tests_log(const std::string& text,
                                               const std::string& display_name,
                                               const std::string& kind_hint = "", int64_t ranks = 0);

// ---------------------------------------------------------------------------------------
// spsim-microbench JSON (format "spsim-microbench", version 1; see docs/calibration.md).

/// One GEMM measurement (cuBLASLt, D = A x B with A m x k, B k x n).
struct GemmPoint {
  std::string label;   // "qkv_proj tp=2 tokens=4096"
  std::string dtype;   // "bf16" | "fp16" | "fp8"
  int64_t m = 0, n = 0, k = 0;
  double time_us = 0;  // median
  Spread spread;
  double flops() const { return 2.0 * static_cast<double>(m) * n * k; }
};

/// One attention measurement (cuDNN SDPA or the documented fallback).
struct AttentionPoint {
  std::string impl;       // "cudnn-sdpa" | fallback name
  std::string dtype;
  std::string direction;  // "fwd" | "bwd"
  bool causal = false;
  int64_t batch = 0, heads = 0, kv_heads = 0, head_dim = 0, seq_q = 0, seq_kv = 0;
  double time_us = 0;     // median
  Spread spread;
  /// FlashAttention convention: fwd 4 b s_q s_kv h d (x0.5 causal), bwd 2.5x fwd.
  double flops() const;
};

/// Device-to-device copy bandwidth.
struct MemoryPoint {
  int64_t bytes = 0;   // bytes copied
  double time_us = 0;  // median
  Spread spread;
};

struct MicrobenchResults {
  std::string provenance;  // one line: GPU, driver, CUDA, NCCL, hosts, time
  std::vector<CollectiveRun> collectives;
  std::vector<GemmPoint> gemm;
  std::vector<AttentionPoint> attention;
  std::vector<MemoryPoint> memory;
};

/// Where and with what a microbenchmark ran; written as the "provenance" object.
struct MicrobenchProvenance {
  std::string tool;                  // "spsim-microbench 0.1.0"
  std::string gpu_name;
  std::string driver_version;        // "570.86.15" or the CUDA driver API number
  std::string cuda_runtime_version;  // "13.0"
  std::string nccl_version;          // "2.28.9"
  std::string cublaslt_version;
  std::string cudnn_version;
  std::string start_time_utc;        // ISO 8601
  std::string command_line;
  std::vector<std::string> rank_hosts;  // hostname of each world rank
  std::vector<int64_t> rank_devices;    // CUDA device of each world rank
};

/// The microbenchmark JSON (pretty-printed, keys sorted). `results.provenance` is ignored.
std::string write_microbench_json(const MicrobenchProvenance& provenance,
                                  const MicrobenchResults& results);

/// Reads the JSON spsim-microbench writes. Strict: unknown keys are errors.
MicrobenchResults read_microbench_json(const std::string& text, const std::string& display_name);

// ---------------------------------------------------------------------------------------
// Fits.

/// One (message size, time) sample.
struct SizeTime {
  double bytes = 0;   // nccl-tests size convention
  double time_s = 0;
};

/// t(S) = alpha + S * factor / busbw, with the size range where it holds.
struct AlphaBetaFit {
  double alpha_s = 0;
  double busbw = 0;           // bytes/s, nccl-tests bus-bandwidth convention
  double min_bytes = 0;       // the fit holds (every point within `tolerance`) on [min, max]
  double max_bytes = 0;
  double max_rel_err = 0;     // over the points inside [min_bytes, max_bytes]
  double median_rel_err = 0;
  int points_in_range = 0;
  bool alpha_measured = false;  // false: no latency-bound points; alpha is the intercept
  std::vector<std::string> warnings;  // where the model does not fit
};

struct FitOptions {
  double tolerance = 0.10;           // relative error that bounds the reported size range
  double small_message_bytes = 65536;  // <= this: latency-bound candidates for alpha
  int min_small_points = 3;          // alpha is the median of at least this many small points
  double large_fraction = 1.0 / 16;  // beta is fitted on sizes >= max size x this
};

/// Robust alpha-beta fit. alpha = median time of the latency-bound points (sizes <=
/// small_message_bytes whose time is within 1.5x the smallest time); beta by least squares on
/// the relative error over the large-message region (alpha held fixed when measured, else fitted
/// as a non-negative intercept). Throws InputError when fewer than 2 distinct nonzero sizes.
AlphaBetaFit fit_alpha_beta(const std::vector<SizeTime>& points, double busbw_factor,
                            const FitOptions& options = {});

/// Predicted time of `fit` for `bytes` with busbw factor `factor`.
double predict_time_s(const AlphaBetaFit& fit, double bytes, double busbw_factor);

// ---------------------------------------------------------------------------------------
// Calibrated topology.

struct CalibrationInputs {
  std::vector<CollectiveRun> collectives;  // from read_nccl_tests_log / read_microbench_json
  std::vector<GemmPoint> gemm;
  std::vector<AttentionPoint> attention;
  std::vector<MemoryPoint> memory;
  std::vector<std::string> provenance;     // one line per input file
};

/// What calibrate_topology did, for the CLI to print.
struct CalibrationReport {
  struct Fit {
    std::string kind, scope;
    int64_t ranks = 0, hosts = 0;
    std::string file;
    AlphaBetaFit fit;
  };
  std::vector<Fit> collective_fits;
  std::vector<std::string> lines;     // kernel efficiencies and replaced values, one per line
  std::vector<std::string> warnings;  // fit and replacement warnings
  std::string json;                   // the calibrated topology (pretty-printed, 2 spaces)
};

/// The base topology file's JSON with a top-level "calibration" block:
/// {"provenance", "collective_fits": [{kind, scope, group_size, alpha_us, busbw_GBps, min_bytes,
/// max_bytes, source}], "replaced": {"<dotted.key>": {datasheet, fitted, source}}}, and the
/// fitted efficiencies written over the base values they replace. Deterministic.
CalibrationReport calibrate_topology(const std::string& base_json,
                                     const std::string& base_display_name,
                                     const CalibrationInputs& inputs,
                                     const FitOptions& options = {});

}  // namespace spsim

#endif  // SPSIM_CALIBRATE_H_
