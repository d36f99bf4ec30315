// HuggingFace config keys that change what a training step costs but that spsim does not model.
#ifndef SPSIM_MODEL_HF_KEYS_H_
#define SPSIM_MODEL_HF_KEYS_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace spsim::detail {

/// One warning per such key that is set in `config` (a HF config.json object; `where` names it):
/// attention and final logit soft-capping (unless `softcapping_read`: the Gemma readers cost it).
/// Each says what spsim assumes instead.
std::vector<std::string> hf_unmodelled_keys(const nlohmann::json& config, const std::string& where,
                                            bool softcapping_read = false);

}  // namespace spsim::detail

#endif  // SPSIM_MODEL_HF_KEYS_H_
