// The closed-form engine: contention-free list scheduling of the SPMD program on one
// representative GPU, with steady-state extrapolation over repeated layers.
#ifndef SPSIM_ENGINE_ANALYTIC_ENGINE_H_
#define SPSIM_ENGINE_ANALYTIC_ENGINE_H_

#include <memory>

#include "spsim/engine.h"

namespace spsim {

std::unique_ptr<Engine> make_analytic_engine();

/// The analytic step without allocation-heavy extras (used by sweeps and `spsim bench`).
StepResult analytic_step(const TaskGraph& graph, const Topology& topology);

}  // namespace spsim

#endif  // SPSIM_ENGINE_ANALYTIC_ENGINE_H_
