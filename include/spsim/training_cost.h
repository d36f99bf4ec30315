// Training time and cost: a step's prediction scaled to a whole run of `tokens` tokens. Steady
// state only (no warm-up, evaluation, checkpoints or failures): a lower bound on the wall clock.
//
//   const TrainingCost c = training_cost(report.result.step_time_s,
//                                        report.lowered.graph.tokens_per_step, job.num_gpus, 1e12, 2.5);
//   // c.days, c.gpu_hours, c.cost ($ at 2.5 per GPU-hour)
#ifndef SPSIM_TRAINING_COST_H_
#define SPSIM_TRAINING_COST_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace spsim {

struct TrainingCost {
  double tokens = 0;           // to train on
  double tokens_per_step = 0;  // global batch x sequence length
  int64_t steps = 0;           // ceil(tokens / tokens_per_step): the last step is a whole one
  double seconds = 0;          // steps x step time
  double days = 0;
  double gpu_hours = 0;        // seconds x GPUs / 3600
  double gpu_hour_price = -1;  // per GPU-hour, in the user's currency; < 0: none given
  double cost = -1;            // gpu_hours x price; < 0 without a price
};

/// The run of `tokens` tokens at one step of `step_time_s` per `tokens_per_step` on `gpus` GPUs;
/// `gpu_hour_price` < 0 leaves the cost out. Error (a bug) on non-positive step time or tokens.
TrainingCost training_cost(double step_time_s, double tokens_per_step, int64_t gpus, double tokens,
                           double gpu_hour_price);

/// {"tokens", "tokens_per_step", "steps", "wall_clock_s", "days", "gpu_hours", "gpu_hour_price",
/// "cost"}; the last two only with a price.
nlohmann::json to_json(const TrainingCost& cost);

/// "1T tokens: 238,419 steps, 13.5 days, 2,587 GPU-hours, cost 6,468 at 2.5 per GPU-hour".
std::string format_training_cost(const TrainingCost& cost);

/// Token counts as people write them: 1000000, 1e12, 300B, 1T (decimal suffixes K, M, B or G, T).
std::string format_tokens(double tokens);

}  // namespace spsim

#endif  // SPSIM_TRAINING_COST_H_
