// Validation: spsim's predictions against published, measured training results.
//
// The validation set (validation/sources/*.json, one file per source) holds each published row
// as the source states it plus an "spsim" block that says how spsim expresses it (model and
// topology files, framework, FLOP convention, assumed defaults, or why it cannot). `spsim
// validate` runs every expressible row, compares the prediction with the measurement in the
// source's own metric and convention, and summarises the error by source, metric and scheme,
// with ranking checks (pairs of rows of one source that differ only in the plan) and memory
// checks (fits/OOM agreement, peak error, runs that happened must fit).
#ifndef SPSIM_VALIDATE_H_
#define SPSIM_VALIDATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spsim/job.h"
#include "spsim/topology.h"

namespace spsim {

/// What a metric measures, for grouping errors.
enum class MetricKind {
  kThroughput,   // tokens/s (per GPU or total), TFLOP/s per GPU, MFU, step time
  kMemory,       // peak memory per GPU
  kReservedMemory,  // the caching allocator's peak reservation: an upper bound of the live peak
  kFits,         // 1 = ran, 0 = out of memory
  kMaxContext,   // longest sequence trained
  kAttention,    // attention kernel TFLOP/s (one GPU)
};
/// The kind of a metric name ("tokens_per_s_per_gpu", ...); InputError for an unknown one.
MetricKind metric_kind(const std::string& metric, const std::string& where);
const char* to_string(MetricKind kind);

struct ValidationSource {
  std::string key, title, where, url_or_repo, checked;
  std::string file;  // validation/sources/<key>.json
};

/// One published row and how spsim runs it.
struct ValidationRow {
  std::string id, source, file;  // source key and the file it came from
  std::string metric;            // the source's metric name
  MetricKind kind = MetricKind::kThroughput;
  double measured = 0;
  std::string model_ref, topology_ref;  // shipped names, or paths resolved against validation/
  std::string framework;         // "megatron" | "deepspeed" | "fsdp"
  std::string flop_convention;   // tflops/mfu/attention rows: a key of published_flops()
  std::string mfu_peak = "bf16"; // mfu rows: the peak the source divides by
  std::string unsupported, incomplete;  // why spsim cannot run it ("" = it can)
  std::string assumed;           // configuration spsim filled in where the source is silent
  nlohmann::json published;      // the row as the source states it
  JobConfig job;                 // resolved plan (training rows)
  // Attention-kernel rows: the attention problem on one GPU.
  int64_t attn_heads = 0, attn_kv_heads = 0, attn_head_dim = 0, attn_batch = 0;
  std::string attn_kernel;  // the kernel an attention row timed: cudnn | flash2 | triton
  bool expressible() const { return unsupported.empty() && incomplete.empty(); }
};

struct ValidationSet {
  std::string dir;  // the folder holding sources/
  std::vector<ValidationSource> sources;
  std::vector<ValidationRow> rows;  // in file order, files sorted by name
};

/// Reads every validation/sources/*.json under `dir` (strict: unknown keys, duplicate ids,
/// unknown metrics and unresolvable model/topology references are InputErrors naming the file and
/// row). Rows marked unsupported/incomplete are kept with their reason.
ValidationSet load_validation_set(const std::string& dir);

/// The shipped set: <data dir>/validation.
std::string default_validation_dir();

struct ValidateOptions {
  std::string engine = "analytic";
  std::vector<std::string> overrides;   // --set key=value on every topology
  /// -T NAME=PATH: rows using topology NAME run on PATH instead; -T PATH: every row whose GPU has
  /// the same name as PATH's runs on PATH (a calibrated file replaces its datasheet base).
  std::vector<std::string> topology_swaps;
  std::vector<std::string> sources;     // empty: all
};

/// The outcome of one row.
struct RowResult {
  const ValidationRow* row = nullptr;
  std::string status;     // "ok" | "unsupported" | "incomplete" | "invalid" (spsim refuses the plan)
  std::string reason;     // why not ok
  std::string scheme;     // "dp", "megatron-sp", "ring-p2p", "ring-allgather", "ulysses", ... (+ "+pp")
  std::string plan;       // degrees and knobs, e.g. "t4 p8 v5 r2 d2 z1 mbs1 rc:none fp8"
  std::string topology;   // the topology actually used
  double predicted = 0;
  double error = 0;       // predicted / measured - 1, in the metric's own terms
  /// Throughput rows: the error as a speed (step time inverted), + = spsim is too fast.
  double speed_error = 0;
  double step_time_s = 0, tokens_per_s = 0;
  double peak_gib = 0, hbm_gib = 0;  // predicted per-GPU peak and capacity (training rows)
  bool fits = false;
};

/// Runs every row of `set` (filtered by options.sources). Deterministic; rows in set order.
std::vector<RowResult> run_validation(const ValidationSet& set, const ValidateOptions& options);

/// Median / max |error| and signed mean over a group of rows.
struct ErrorStats {
  int64_t n = 0;
  double median_abs = 0, max_abs = 0, mean_signed = 0;
  std::string worst;      // id of the row with the largest |error|
};

/// One pair of rows of one source that differ only in the plan (same model, GPUs, sequence,
/// precision, metric): does spsim order them as measured, and by what margin?
struct RankingCheck {
  std::string source, faster, slower;   // ids, ordered by the measurement
  double measured_margin = 0;           // faster / slower - 1 (throughput sense)
  double predicted_margin = 0;          // same pair, predicted (negative: order reversed)
  bool agree = false;
};

struct ValidationSummary {
  std::string engine;
  int64_t rows = 0, ok = 0, invalid = 0;
  std::map<std::string, int64_t> unsupported, incomplete;  // reason -> rows
  std::map<std::string, int64_t> invalid_reasons;          // spsim's refusal -> rows
  ErrorStats throughput;                                    // speed_error of throughput rows
  std::map<std::string, ErrorStats> by_source, by_scheme;   // throughput rows
  std::map<std::string, ErrorStats> by_metric;              // every kind, error in its own terms
  std::vector<RankingCheck> rankings;
  int64_t ranking_ties = 0;            // pairs within 1 % measured: reported, not scored
  int64_t rankings_agree = 0;
  int64_t fits_checks = 0, fits_agree = 0;  // fits rows + throughput rows that ran
  std::vector<std::string> fits_disagree;   // ids
  ErrorStats memory;                   // peak-memory rows
  // Reserved-memory rows: the predicted live peak must not exceed the published reservation.
  int64_t reserved_checks = 0, reserved_within = 0;
  std::vector<std::string> reserved_exceeded;  // ids
};

ValidationSummary summarize(const std::vector<RowResult>& results, const std::string& engine);

/// The regression guard: the summary numbers a change must not make worse.
nlohmann::json baseline_of(const ValidationSummary& summary);
/// Every way `summary` is worse than `baseline` by more than `tolerance` (fractions: 0.01 = one
/// percentage point of error or agreement; rows that stopped running count too). Empty: no
/// regression.
std::vector<std::string> compare_to_baseline(const ValidationSummary& summary,
                                             const nlohmann::json& baseline,
                                             double tolerance = 0.01);

/// The other direction: every number of `summary` better than `baseline` by more than
/// `tolerance` (the baseline is stale and should be rewritten in the same commit).
std::vector<std::string> compare_to_baseline_improvements(const ValidationSummary& summary,
                                                          const nlohmann::json& baseline,
                                                          double tolerance = 0.01);

/// Renderings: the per-row table and the summary (text), CSV and JSON.
std::string format_validation_table(const std::vector<RowResult>& results);
std::string format_validation_summary(const ValidationSummary& summary);
std::string validation_csv(const std::vector<RowResult>& results);
nlohmann::json validation_json(const std::vector<RowResult>& results,
                               const ValidationSummary& summary);

}  // namespace spsim

#endif  // SPSIM_VALIDATE_H_
