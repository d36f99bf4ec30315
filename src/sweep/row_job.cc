// A sweep row's plan as a job again: what `sweep --best --emit` launches and tests re-run.
#include "spsim/sweep.h"

#include "spsim/job.h"
#include "spsim/model.h"

namespace spsim {

JobConfig job_of_row(const SweepRow& row, JobConfig base) {
  base.tensor_parallel = row.tensor_parallel;
  base.ulysses_degree = row.ulysses_degree;
  base.ring_degree = row.ring_degree;
  base.data_parallel = row.data_parallel;
  base.pipeline_parallel = row.pipeline_parallel;
  base.virtual_pipeline_stages = row.virtual_pipeline_stages;
  base.zero_stage = static_cast<int>(row.zero_stage);
  base.micro_batch_size = row.micro_batch_size;
  base.global_batch_size = row.global_batch_size;
  set_recompute(base, row.recompute, "recompute_granularity");
  if (!row.ring_variant.empty()) base.ring_variant = row.ring_variant;
  return base;
}

}  // namespace spsim
