#include "model/hf_keys.h"

#include <fmt/format.h>

namespace spsim::detail {

namespace {

bool set(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return false;
  const auto& value = config.at(key);
  if (value.is_null()) return false;
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number()) return value.get<double>() > 0;
  return true;
}

}  // namespace

std::vector<std::string> hf_unmodelled_keys(const nlohmann::json& config, const std::string& where,
                                            bool softcapping_read) {
  std::vector<std::string> out;
  for (const char* key : {"attn_logit_softcapping", "final_logit_softcapping"}) {
    if (set(config, key) && !softcapping_read) {
      out.push_back(fmt::format("{}: {} {} is not modelled: the tanh soft-capping adds elementwise "
                                "work (and, on attention logits, rules out FlashAttention-2 kernels "
                                "without soft-capping support) that spsim leaves out",
                                where, key, config.at(key).dump()));
    }
  }
  return out;
}

}  // namespace spsim::detail
