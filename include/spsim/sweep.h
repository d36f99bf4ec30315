// Sweep: many configurations in one run. Ranges of GPUs and sequence lengths (nccl-tests
// syntax), products over strategies, degrees, ZeRO stages, micro-batches and recompute, and the
// best-plan search. One tidy row per point, written as CSV and JSON (with a `meta` block).
#ifndef SPSIM_SWEEP_H_
#define SPSIM_SWEEP_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spsim/job.h"
#include "spsim/limits.h"
#include "spsim/model.h"
#include "spsim/strategy.h"
#include "spsim/topology.h"

namespace spsim {

/// Parses range syntax (conventions: nccl-tests binary suffixes, K = 1024):
///   LIST := ITEM (',' ITEM)* ; ITEM := VALUE | VALUE ':' VALUE [':' STEP]
///   STEP := 'x' INTEGER (geometric, factor >= 2) | ['+'] VALUE (arithmetic)
/// e.g. "8K:1M:x2", "8,16,64:512:x2", "8K:64K:+8K". The end is inclusive when hit exactly; a
/// range without a step doubles. Returns a sorted, de-duplicated list. Throws InputError naming
/// `where` on an empty range, zero/negative values, a bad factor or more than `max_points`.
std::vector<int64_t> parse_range(const std::string& text, const std::string& where,
                                 size_t max_points = kMaxRangePoints);

/// Which degrees, ZeRO stages, micro-batches and recompute modes a point uses (explicit lists)
/// or searches (--best). An empty list: chosen by the strategy's defaults, or the whole legal
/// range under --best.
struct SearchSpace {
  std::vector<int64_t> tensor_parallel, ulysses_degree, ring_degree, data_parallel;
  std::vector<int64_t> zero_stage, micro_batch_size;
  std::vector<Recompute> recompute;
  std::vector<std::string> ring_variant;  // empty: the base job's
  std::vector<int64_t> pipeline_parallel;  // empty: every p dividing the layers and the GPUs
  // Long-context techniques (spsim/long_context.h) to try; empty: the base job's.
  std::vector<std::string> loss;
  std::vector<int64_t> tiled_mlp;  // 0 off, -1 auto, N tiles
  std::vector<std::string> offload;  // --offload texts: "none", "optimizer", "optimizer,activations"
  // Frameworks to try for plans that use a technique ("" = the base job's); plans without one
  // keep the base job's framework.
  std::vector<std::string> technique_frameworks;
};

/// A sweep ready to run: the models and topologies it uses and one entry per output row.
struct SweepPlan {
  struct Point {
    size_t model = 0, topology = 0;  // indices into models / topologies
    JobConfig job;                   // strategy, gpus, seq; the degrees too unless `best`
  };
  std::vector<ModelSpec> models;
  std::vector<Topology> topologies;
  std::vector<Point> points;
  bool best = false;
  SearchSpace space;                 // under `best`
  std::string engine = "analytic";
  /// The JSON `meta` block (version, commit, inputs, engine). Its text is also the resume
  /// fingerprint, so it must not hold anything that changes between runs (time, --jobs).
  nlohmann::json meta;
};

struct SweepRunOptions {
  std::string output_prefix;  // writes PREFIX.csv and PREFIX.json; the journal is PREFIX.partial
  int jobs = 1;               // worker processes (fork); the bytes do not depend on it
  bool resume = false;
  /// Called in the parent (rank 0 under MPI) after each row is journaled (for a progress line).
  /// Never prints itself. With ranks > 1 it must not throw (the other ranks would wait).
  std::function<void(size_t done, size_t total)> on_row;
  /// Under mpirun (set by the command line's MPI layer; the library never includes mpi.h): this
  /// process's rank, the number of ranks, and an all-gather that returns every rank's string in
  /// rank order on every rank. With ranks > 1 the points are dealt out in rounds (rank k takes
  /// points k, k + ranks, ...), rank 0 alone journals and writes the files and the other ranks
  /// return no rows; --jobs must be 1.
  int rank = 0, ranks = 1;
  std::function<std::vector<std::string>(const std::string& mine)> all_gather;
};

/// One output row: inputs, status and every number, in SI units. Numeric fields of an invalid
/// row are absent (empty in CSV, null in JSON).
struct SweepRow {
  std::string model, topology, engine, strategy;
  int64_t gpus = 0, seq_length = 0;
  int64_t tensor_parallel = 0, ulysses_degree = 0, ring_degree = 0, data_parallel = 0;
  int64_t pipeline_parallel = 1, virtual_pipeline_stages = 1;
  int64_t zero_stage = 0, micro_batch_size = 0, global_batch_size = 0;
  std::string recompute, precision, ring_variant;
  std::string status;   // "ok" | "oom" | "invalid"
  std::string reason;   // why not ok; under --best also what the search rejected
  bool has_numbers = false;
  double step_time_s = 0, tokens_per_s = 0;
  double tflops_model = 0, tflops_megatron_deepspeed = 0, tflops_nemo = 0, tflops_causal_halved = 0;
  double mfu = 0;
  double mem_params = 0, mem_grads = 0, mem_optimizer = 0, mem_activations = 0, mem_buffers = 0;
  double mem_reserve = 0, mem_peak = 0, hbm_capacity = 0;
  // --offload: bytes kept in host memory and the rank's share of it (not written to CSV/JSON).
  double mem_host = 0, host_capacity = 0;
  /// Bytes past the HBM or past the host share, whichever is more (<= 0: fits).
  double over_bytes() const { return std::max(mem_peak - hbm_capacity, mem_host > 0 ? mem_host - host_capacity : -1.0); }
  bool fits_in_memory = false;
  double compute_s = 0;
  std::vector<double> exposed_s;  // one per communication Category (1..kNumCategories-1)
  double bubble_s = 0;
  int64_t plans_searched = 0, plans_fit = 0;  // --best only
  bool best_at_point = false;  // fastest fitting row among rows of the same model/topology/gpus/seq
  // On the best row of a point: the fastest fitting row of another scheme ("" when none), its
  // tokens/s and the best row's margin over it (tokens/s ratio minus 1).
  std::string runner_up;
  double runner_up_tokens_per_s = 0, margin = 0;
};

/// `base` (the point's job: strategy, GPUs, sequence, framework, precision) with the plan of
/// `row` written over it: degrees, pipeline, ZeRO, micro-batch, batch, recompute, ring variant.
JobConfig job_of_row(const SweepRow& row, JobConfig base);

/// Evaluates one point into its row (search_best_plan under plan.best, else evaluate_row).
SweepRow run_point(const SweepPlan& plan, size_t index);

/// Runs every point not already journaled (spread over `jobs` forked processes, rows handed to
/// the parent through pipes, or over MPI ranks), appends each row to the journal, then writes
/// PREFIX.csv and PREFIX.json atomically and removes the journal. Returns all rows in point
/// order, with best_at_point marked (on MPI ranks other than 0: no rows).
std::vector<SweepRow> run_sweep(const SweepPlan& plan, const SweepRunOptions& options);

/// Evaluates one configuration into a row: status "invalid" (with the strategy's message) when a
/// rule is broken, "oom" (with how many GiB over) when it does not fit, else "ok". `engine` is
/// "analytic" (lowering + analytic_step, no copies) or any make_engine() name.
SweepRow evaluate_row(const ModelSpec& model, const Topology& topology, const Strategy& strategy,
                      const JobConfig& job, const std::string& engine);

/// The fastest plan (highest tokens/s) of `strategy` that obeys every rule and fits in memory,
/// over every combination in `space` (empty lists: every legal degree with t within a node,
/// ZeRO 0-3, micro-batch 1/2/4, recompute none/selective/full). Candidates are visited in a
/// fixed order and ties keep the first, so the answer is deterministic. When no plan fits, the
/// row is the plan that misses by the least memory ("oom") or, if none is legal, "invalid"; the
/// reason counts and names what was rejected.
SweepRow search_best_plan(const ModelSpec& model, const Topology& topology,
                          const Strategy& strategy, const JobConfig& base,
                          const SearchSpace& space, const std::string& engine);

/// The CSV/JSON column names, in order (units in the names).
const std::vector<std::string>& sweep_columns();

/// Marks `best_at_point` on the fastest "ok" row of each (model, topology, gpus, seq_length) and
/// gives it the fastest "ok" row of another strategy as runner-up, with the margin.
void mark_best_at_point(std::vector<SweepRow>& rows);

/// The model's stated throughput error: the median |predicted / published - 1| of the throughput
/// rows `spsim validate` measured (validation/baseline.json, "throughput": {"median_abs", "n"}).
/// Two plans whose margin is below it are a tie as far as the model can tell.
struct ModelError {
  bool known = false;
  double median_abs = 0;
  int64_t rows = 0;
  std::string source;  // the file read
};
/// Reads it from the text of a baseline file; InputError naming `where` when the keys are missing.
ModelError parse_model_error(const std::string& text, const std::string& where);
/// validation/baseline.json of the data folder; known = false when the file is absent.
ModelError load_model_error();

/// For a point where no plan fits or none is legal: the nearest GPU count at which one does, and
/// the fastest plan there. Tries counts in steps of the topology's allocation unit (a node, or a
/// GB200 tray) below and above `points`' count, nearest first and the smaller first at equal
/// distance, at most `max_tries` counts; `points` are the plan's points of one (model, topology,
/// gpus, seq), one per strategy. gpus = 0 when none of the tries fits.
struct GpuSuggestion {
  int64_t gpus = 0;
  SweepRow row;
};
GpuSuggestion nearest_fitting_gpus(const SweepPlan& plan, const std::vector<size_t>& points,
                                   int max_tries = 6);

/// A row as a JSON object with the column names as keys; and back (for the resume journal).
nlohmann::json row_to_json(const SweepRow& row);
SweepRow row_from_json(const nlohmann::json& json);

/// Whole files: a header line and one line per row (%.9g numbers, RFC 4180 quoting); and
/// {"meta": meta, "columns": [...], "rows": [...]}.
std::string sweep_csv(const std::vector<SweepRow>& rows);
std::string sweep_json(const std::vector<SweepRow>& rows, const nlohmann::json& meta);

/// An append-only journal of finished rows ("<output>.partial"), so an interrupted sweep resumes
/// without losing or duplicating a row. Line 1 is a header with a fingerprint of the inputs;
/// each other line is {"i": point index, "row": {...}}, written with one write() and fsync'd.
/// While it is open, "<output>.lock" holds an flock and the writer's PID, so a second sweep on
/// the same prefix is refused with that PID instead of both writing the journal.
class SweepJournal {
 public:
  /// Locks, then opens `path`. With `resume`, keeps the rows of an existing journal whose
  /// fingerprint matches (a half-written last line is dropped); without, an existing journal is
  /// an error telling the user to add --resume or delete it. Rows must have an index below
  /// `points` and parse as rows; otherwise InputError naming the line.
  SweepJournal(std::string path, const std::string& fingerprint, bool resume, size_t points);
  ~SweepJournal();
  SweepJournal(const SweepJournal&) = delete;
  SweepJournal& operator=(const SweepJournal&) = delete;

  /// Rows already done (from a resumed journal), by point index.
  const std::map<size_t, SweepRow>& done() const { return done_; }
  /// Appends one finished row (one line, fsync'd).
  void append(size_t index, const SweepRow& row);
  /// Appends a line produced by journal_line() (e.g. by a worker process).
  void append_line(const std::string& line);
  /// Removes the journal (after the final files are written).
  void remove();
  const std::string& path() const { return path_; }

 private:
  void open_journal(const std::string& fingerprint, bool resume, size_t points);
  void release_lock();

  std::string path_;
  std::string lock_path_;
  int fd_ = -1;
  int lock_fd_ = -1;
  std::map<size_t, SweepRow> done_;
};

/// The journal line of one row, newline included.
std::string journal_line(size_t index, const SweepRow& row);

}  // namespace spsim

#endif  // SPSIM_SWEEP_H_
