// The four subcommands of spsim-microbench; each returns raw points for the JSON.
#ifndef SPSIM_MICROBENCH_BENCH_H_
#define SPSIM_MICROBENCH_BENCH_H_

#include <vector>

#include "calibrate/microbench_plan.h"
#include "device.h"
#include "spsim/calibrate.h"

namespace spsim::microbench {

std::vector<CollectiveRun> run_collectives(const Layout& layout, const detail::MicrobenchArgs& args);
std::vector<GemmPoint> run_gemm(const Layout& layout, const detail::MicrobenchArgs& args);
std::vector<AttentionPoint> run_attention(const Layout& layout, const detail::MicrobenchArgs& args);
std::vector<MemoryPoint> run_memory(const Layout& layout, const detail::MicrobenchArgs& args);

}  // namespace spsim::microbench

#endif  // SPSIM_MICROBENCH_BENCH_H_
