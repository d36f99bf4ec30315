// Shared by the best-plan search and the sweep runner: the input columns of a result row.
#ifndef SPSIM_SWEEP_ROW_INPUTS_H_
#define SPSIM_SWEEP_ROW_INPUTS_H_

#include <string>

#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/sweep.h"
#include "spsim/topology.h"

namespace spsim {

/// Fills the inputs of a row (names, degrees, ZeRO, batch, recompute, precision) from a job.
void fill_inputs(SweepRow& row, const ModelSpec& model, const Topology& topology,
                 const JobConfig& job, const std::string& engine);

}  // namespace spsim

#endif  // SPSIM_SWEEP_ROW_INPUTS_H_
