// Training time and cost from one step's prediction (include/spsim/training_cost.h).
#include "spsim/training_cost.h"

#include <cmath>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim {

namespace {

// 1234567.8 -> "1,234,568": whole units with thousands separators, as the tables print them.
std::string grouped(double value) {
  std::string digits = fmt::format("{:.0f}", value);
  const size_t first = digits[0] == '-' ? 1 : 0;
  for (size_t i = digits.size(); i > first + 3; i -= 3) digits.insert(i - 3, ",");
  return digits;
}

}  // namespace

TrainingCost training_cost(double step_time_s, double tokens_per_step, int64_t gpus, double tokens,
                           double gpu_hour_price) {
  if (!(step_time_s > 0) || !(tokens_per_step > 0) || !(tokens > 0) || gpus < 1) {
    throw Error(fmt::format("training_cost: step {} s, {} tokens per step, {} GPUs, {} tokens", step_time_s,
                            tokens_per_step, gpus, tokens));
  }
  TrainingCost out;
  out.tokens = tokens;
  out.tokens_per_step = tokens_per_step;
  out.steps = static_cast<int64_t>(std::ceil(tokens / tokens_per_step));
  out.seconds = static_cast<double>(out.steps) * step_time_s;
  out.days = out.seconds / 86400.0;
  out.gpu_hours = out.seconds * static_cast<double>(gpus) / 3600.0;
  if (gpu_hour_price >= 0) {
    out.gpu_hour_price = gpu_hour_price;
    out.cost = out.gpu_hours * gpu_hour_price;
  }
  return out;
}

nlohmann::json to_json(const TrainingCost& cost) {
  nlohmann::json out;
  out["tokens"] = cost.tokens;
  out["tokens_per_step"] = cost.tokens_per_step;
  out["steps"] = cost.steps;
  out["wall_clock_s"] = cost.seconds;
  out["days"] = cost.days;
  out["gpu_hours"] = cost.gpu_hours;
  if (cost.gpu_hour_price >= 0) {
    out["gpu_hour_price"] = cost.gpu_hour_price;
    out["cost"] = cost.cost;
  }
  return out;
}

std::string format_tokens(double tokens) {
  struct Suffix {
    double scale;
    const char* name;
  };
  for (const Suffix s : {Suffix{1e12, "T"}, Suffix{1e9, "B"}, Suffix{1e6, "M"}, Suffix{1e3, "K"}}) {
    if (tokens >= s.scale) return fmt::format("{:g}{}", tokens / s.scale, s.name);
  }
  return fmt::format("{:g}", tokens);
}

std::string format_training_cost(const TrainingCost& cost) {
  std::string out = fmt::format("{} tokens: {} steps of {} tokens, {:.1f} days, {} GPU-hours", format_tokens(cost.tokens),
                                grouped(static_cast<double>(cost.steps)), grouped(cost.tokens_per_step), cost.days,
                                grouped(cost.gpu_hours));
  if (cost.gpu_hour_price >= 0) {
    out += fmt::format(", cost {} at {:g} per GPU-hour", grouped(cost.cost), cost.gpu_hour_price);
  }
  return out;
}

}  // namespace spsim
