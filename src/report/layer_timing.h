// Per-layer timing block of `run --json`: where inside one representative layer the time goes,
// per op category and per communication kind (exposed vs hidden). Internal to src/report/.
#ifndef SPSIM_REPORT_LAYER_TIMING_H_
#define SPSIM_REPORT_LAYER_TIMING_H_

#include <nlohmann/json.hpp>

#include "spsim/report.h"

namespace spsim {

/// {"method", "forward": {...}, "backward": {...}}; each pass has time_s, compute_s per op
/// category (attention_core, gemm, elementwise_norm) and, per communication category, busy_s,
/// exposed_s and hidden_s. Always scheduled with the analytic engine.
nlohmann::json layer_timing_json(const RunReport& report);

}  // namespace spsim

#endif  // SPSIM_REPORT_LAYER_TIMING_H_
