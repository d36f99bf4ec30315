#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "spsim/report.h"
#include "spsim/units.h"

namespace spsim {

namespace {

std::string degrees(const JobConfig& job) {
  std::string out = fmt::format("t{} u{} r{} dp{}", job.tensor_parallel, job.ulysses_degree,
                                job.ring_degree, job.data_parallel);
  if (job.pipeline_parallel > 1) out += fmt::format(" pp{}", job.pipeline_parallel);
  if (job.virtual_pipeline_stages > 1) out += fmt::format(" v{}", job.virtual_pipeline_stages);
  return out;
}

}  // namespace

std::string format_table(const std::vector<RunReport>& reports) {
  // Human units in the table (ms, GiB); JSON keeps SI units. The pipeline bubble gets a column
  // only when some row has pipeline stages. First line: what ran (the table has no model or
  // topology column); last lines: notes on rows that cannot be compared as they stand.
  bool pipelined = false;
  for (const auto& r : reports) pipelined = pipelined || r.lowered.job.pipeline_parallel > 1;
  std::string out;
  std::vector<std::string> seen;
  for (const auto& r : reports) {
    const std::string what = fmt::format("{} on {}, {} engine", r.model.name, r.topology.name, r.result.engine);
    if (std::find(seen.begin(), seen.end(), what) == seen.end()) seen.push_back(what);
  }
  for (const auto& what : seen) out += what + "\n";
  out += fmt::format("{:<12} {:<9} {:>5} {:>6} {:<20} {:>5} {:>4} {:>10} {:>11} {:>8} {:>6} {:>10} {:>9} {:>5}",
                     "strategy", "framework", "gpus", "seq", "degrees", "gbs", "mb", "step_ms", "tokens/s",
                     "TFLOP/s", "MFU%", "exposed_ms", "mem_GiB", "fits");
  out += pipelined ? fmt::format(" {:>10}\n", "bubble_ms") : "\n";
  std::vector<std::string> notes;
  int64_t min_gbs = 0, max_gbs = 0;
  for (const auto& r : reports) {
    const auto& job = r.lowered.job;
    double exposed = 0;
    for (int c = 1; c < kNumCategories; ++c) exposed += r.result.exposed_s[c];
    const double step = r.result.step_time_s;
    const double gpus = static_cast<double>(job.num_gpus);
    const double tflops = step > 0 ? r.flops.model / step / gpus / 1e12 : 0;
    const double peak = r.topology.gpu.peak(job.precision);
    const double mfu = step > 0 && peak > 0 ? 100.0 * r.flops.model / step / gpus / peak : 0;
    out += fmt::format("{:<12} {:<9} {:>5} {:>6} {:<20} {:>5} {:>4} {:>10.1f} {:>11.0f} {:>8.1f} {:>6.1f} {:>10.1f} {:>9.1f} {:>5}\n",
                       job.strategy, job.framework, job.num_gpus, format_count(job.seq_length), degrees(job),
                       job.global_batch_size, job.micro_batches(), step * 1e3, r.tokens_per_s, tflops, mfu,
                       exposed * 1e3, r.lowered.memory.peak() / kGiB, r.fits_in_memory ? "yes" : "NO");
    if (pipelined) {
      out.pop_back();
      out += fmt::format(" {:>10.1f}\n", r.result.bubble_s * 1e3);
    }
    if (const std::string host = host_overflow_text(r.lowered.memory, r.topology); !host.empty()) {
      const bool gpu_short = r.lowered.memory.peak() > r.topology.gpu.hbm_bytes;
      notes.push_back(fmt::format("note: {} {} {}: it does not fit there {}", job.strategy, degrees(job), host,
                                  gpu_short ? "either" : "(the GPU's mem_GiB would fit)"));
    }
    if (job.seq_dist) {
      // Variable-length batch: what the distribution does to each plan's attention.
      const VarlenBalance v = job_varlen_balance(job);
      int64_t ranks = 1;
      const TokenSplit split = token_split(job, &ranks);
      notes.push_back(fmt::format(
          "varlen: {} {}: {} documents (mean {:.0f} tokens) in {} samples of {}: attention {:.1f}% of "
          "one {}-token document's; busiest rank {:.3f}x the mean ({}); attention FLOP x{:.3f}{}",
          job.strategy, degrees(job), v.documents, v.mean_doc_length, v.samples, format_count(job.seq_length),
          100.0 * v.work_fraction, format_count(job.seq_length), v.imbalance,
          split == TokenSplit::kHeads ? std::string("heads split, every rank sees every token")
                                      : fmt::format("{} split over {} ranks", to_string(split), ranks),
          job.attention_kernel == AttentionKernel::kFlash ? v.work_scale : 1.0,
          job.attention_kernel == AttentionKernel::kFlash ? "" : " (standard kernel: no saving)"));
    }
    min_gbs = min_gbs == 0 ? job.global_batch_size : std::min(min_gbs, job.global_batch_size);
    max_gbs = std::max(max_gbs, job.global_batch_size);
    const StrategyTraits& traits = strategy_traits(job.strategy);
    if (!is_own_plan(traits, job)) {
      const std::string other = scheme_of_plan(job);
      const std::string note =
          fmt::format("note: {} {} is the {} plan under another name{}", job.strategy, degrees(job),
                      other.empty() ? "same" : other,
                      traits.uses_ulysses && traits.uses_ring ? " (a hybrid needs u > 1 and r > 1)" : "");
      if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
    }
  }
  if (min_gbs != max_gbs) {
    notes.push_back(fmt::format("note: the rows run global batches of {} to {} sequences (gbs), so step_ms "
                                "differs with the batch; compare tokens/s, or give --gbs to run one batch",
                                min_gbs, max_gbs));
  }
  for (const auto& note : notes) out += note + "\n";
  return out;
}

}  // namespace spsim
