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
  // only when some row has pipeline stages.
  bool pipelined = false;
  for (const auto& r : reports) pipelined = pipelined || r.lowered.job.pipeline_parallel > 1;
  std::string out = fmt::format("{:<12} {:<9} {:>5} {:>6} {:<20} {:>10} {:>11} {:>8} {:>6} {:>10} {:>9} {:>5}",
                                "strategy", "framework", "gpus", "seq", "degrees", "step_ms", "tokens/s",
                                "TFLOP/s", "MFU%", "exposed_ms", "mem_GiB", "fits");
  out += pipelined ? fmt::format(" {:>10}\n", "bubble_ms") : "\n";
  for (const auto& r : reports) {
    const auto& job = r.lowered.job;
    double exposed = 0;
    for (int c = 1; c < kNumCategories; ++c) exposed += r.result.exposed_s[c];
    const double step = r.result.step_time_s;
    const double gpus = static_cast<double>(job.num_gpus);
    const double tflops = step > 0 ? r.flops.model / step / gpus / 1e12 : 0;
    const double peak = r.topology.gpu.peak(job.precision);
    const double mfu = step > 0 && peak > 0 ? 100.0 * r.flops.model / step / gpus / peak : 0;
    out += fmt::format("{:<12} {:<9} {:>5} {:>6} {:<20} {:>10.1f} {:>11.0f} {:>8.1f} {:>6.1f} {:>10.1f} {:>9.1f} {:>5}\n",
                       job.strategy, job.framework, job.num_gpus, format_count(job.seq_length), degrees(job),
                       step * 1e3, r.tokens_per_s, tflops, mfu, exposed * 1e3,
                       r.lowered.memory.peak() / kGiB, r.fits_in_memory ? "yes" : "NO");
    if (pipelined) {
      out.pop_back();
      out += fmt::format(" {:>10.1f}\n", r.result.bubble_s * 1e3);
    }
  }
  return out;
}

}  // namespace spsim
