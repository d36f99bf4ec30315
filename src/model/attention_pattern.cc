// Attention type per layer: softmax, linear, or a hybrid of one softmax layer in every N (the
// pattern of the hybrid Linear-Llama3 models LASP-2 trains, arXiv 2502.07563 §4, and of MiniMax-01's
// one softmax layer after every seven lightning-attention layers, arXiv 2501.08313).
#include <charconv>

#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/model.h"

namespace spsim {

void set_attention_pattern(ModelSpec& model, const std::string& pattern, const std::string& where) {
  const std::string fix = "use \"softmax\", \"linear\" or \"hybrid:N\" (one softmax layer in every N)";
  if (pattern == "softmax") {
    model.linear_attention_layers = 0;
    return;
  }
  if (pattern == "linear") {
    model.linear_attention_layers = model.num_layers;
    return;
  }
  const std::string prefix = "hybrid:";
  if (pattern.rfind(prefix, 0) != 0) {
    throw InputError(where, fmt::format("unknown attention pattern \"{}\"; {}", pattern, fix));
  }
  const std::string digits = pattern.substr(prefix.size());
  int64_t n = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || n < 2) {
    throw InputError(where, fmt::format("\"{}\": N must be a whole number of at least 2; {}", pattern, fix));
  }
  if (model.num_layers % n != 0) {
    throw InputError(where, fmt::format("\"{}\": one softmax layer in every {} needs num_hidden_layers a "
                                        "multiple of {} (got {})",
                                        pattern, n, n, model.num_layers));
  }
  model.linear_attention_layers = model.num_layers - model.num_layers / n;
}

}  // namespace spsim
