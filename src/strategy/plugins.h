// Factories of the strategy plug-ins, for the registry. Internal to src/strategy/.
#ifndef SPSIM_STRATEGY_PLUGINS_H_
#define SPSIM_STRATEGY_PLUGINS_H_

#include <memory>

#include "spsim/strategy.h"

namespace spsim::detail {

std::unique_ptr<Strategy> make_ulysses_strategy();
std::unique_ptr<Strategy> make_data_parallel_strategy();
std::unique_ptr<Strategy> make_megatron_sp_strategy();
std::unique_ptr<Strategy> make_megatron_tp_strategy();
std::unique_ptr<Strategy> make_ring_strategy();
std::unique_ptr<Strategy> make_usp_strategy();
std::unique_ptr<Strategy> make_colai_sp_strategy();
std::unique_ptr<Strategy> make_lasp_strategy();
std::unique_ptr<Strategy> make_lasp2_strategy();

}  // namespace spsim::detail

#endif  // SPSIM_STRATEGY_PLUGINS_H_
