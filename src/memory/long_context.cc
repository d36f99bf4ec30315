// Long-context techniques as op-cost rewrites (include/spsim/long_context.h has the sources).
#include "spsim/long_context.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <charconv>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/job.h"
#include "spsim/limits.h"

namespace spsim {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t next_power_of_two(int64_t n) {
  int64_t p = 1;
  while (p < n) p *= 2;
  return p;
}

OpCost* find_op(std::vector<OpCost>& ops, const char* name) {
  for (auto& op : ops) {
    if (std::strcmp(op.name, name) == 0) return &op;
  }
  return nullptr;
}

const OpCost* find_op(const std::vector<OpCost>& ops, const char* name) {
  for (const auto& op : ops) {
    if (std::strcmp(op.name, name) == 0) return &op;
  }
  return nullptr;
}

}  // namespace

LossChoice parse_loss(const std::string& text, const std::string& where) {
  LossChoice out;
  if (text == "standard") return out;
  if (text == "fused") {
    out.kind = LossKind::kFused;
    return out;
  }
  const std::string prefix = "chunked";
  if (text.rfind(prefix, 0) == 0) {
    out.kind = LossKind::kChunked;
    out.chunks = kDefaultLossChunks;
    if (text.size() == prefix.size()) return out;
    if (text[prefix.size()] == ':') {
      const char* first = text.data() + prefix.size() + 1;
      const char* last = text.data() + text.size();
      int64_t n = 0;
      const auto [end, ec] = std::from_chars(first, last, n);
      if (ec == std::errc() && end == last && first != last && n >= 1 && n <= kMaxSeqLength) {
        out.chunks = n;
        return out;
      }
    }
  }
  throw InputError(where, fmt::format("must be standard, fused, chunked or chunked:N with N a whole "
                                      "number of chunks >= 1 (got \"{}\")",
                                      text));
}

std::string to_string(const LossChoice& loss) {
  switch (loss.kind) {
    case LossKind::kStandard: return "standard";
    case LossKind::kFused: return "fused";
    case LossKind::kChunked: return fmt::format("chunked:{}", loss.chunks > 0 ? loss.chunks : kDefaultLossChunks);
  }
  return "standard";
}

int64_t loss_chunk_tokens(const LossChoice& loss, int64_t tokens, int64_t vocab_local, int64_t hidden) {
  tokens = std::max<int64_t>(1, tokens);
  switch (loss.kind) {
    case LossKind::kStandard: return tokens;
    case LossKind::kFused: {
      // Liger: inc_factor = cdiv(V, H); chunk_size = next_power_of_2(cdiv(BT, inc_factor)).
      const int64_t inc = ceil_div(std::max<int64_t>(1, vocab_local), std::max<int64_t>(1, hidden));
      return std::min(tokens, next_power_of_two(ceil_div(tokens, inc)));
    }
    case LossKind::kChunked: {
      const int64_t n = loss.chunks > 0 ? loss.chunks : kDefaultLossChunks;
      return ceil_div(tokens, std::min(n, tokens));
    }
  }
  return tokens;
}

void apply_loss(std::vector<OpCost>& head, const LossChoice& loss, double tokens, double vocab_local,
                double hidden, double e, double param_bytes, const ChunkedLossHolds& chunked) {
  if (loss.kind == LossKind::kStandard) return;
  OpCost* lm_head = find_op(head, "lm_head");
  OpCost* ce = find_op(head, "cross_entropy");
  if (lm_head == nullptr || ce == nullptr) throw Error("apply_loss: head ops without lm_head/cross_entropy");
  const double chunk = static_cast<double>(loss_chunk_tokens(
      loss, static_cast<int64_t>(tokens), static_cast<int64_t>(vocab_local), static_cast<int64_t>(hidden)));
  // The backward already ran in the forward: the LM head keeps no input for it.
  lm_head->saved_bytes = 0;
  if (loss.kind == LossKind::kFused) {
    // One bf16 chunk of logits (its gradient written in place), grad_input, grad_weight.
    ce->saved_bytes = e * chunk * vocab_local + e * tokens * hidden + param_bytes * vocab_local * hidden;
  } else {
    // One chunk as the framework's loss keeps its logits (and the chunk's 16-bit logits where the
    // wrapper holds them), and the accumulated input gradient in the wrapper's dtype.
    const double per_logit = chunked.saved_per_logit + (chunked.keeps_logits ? e : 0.0);
    const double grad = chunked.grad_bytes > 0 ? chunked.grad_bytes : e;
    ce->saved_bytes = per_logit * chunk * vocab_local + grad * tokens * hidden;
  }
}

int64_t tiled_mlp_shards(int64_t requested, int64_t tokens, int64_t hidden) {
  if (requested == 0) return 0;
  tokens = std::max<int64_t>(1, tokens);
  if (requested < 0) return std::max<int64_t>(1, ceil_div(tokens, std::max<int64_t>(1, hidden)));
  return std::min(requested, tokens);
}

int64_t parse_tiled_mlp(const std::string& text, const std::string& where) {
  if (text == "off") return 0;
  if (text == "auto") return -1;
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc() && end == text.data() + text.size() && !text.empty() && n >= 1 &&
      n <= kMaxSeqLength) {
    return n;
  }
  throw InputError(where, fmt::format("must be off, auto (ceil(tokens / hidden) tiles, DeepSpeed's rule) or "
                                      "a whole number of tiles >= 1 (got \"{}\")",
                                      text));
}

void set_offload(JobConfig& job, const std::string& text, const std::string& where) {
  // What can be offloaded, in the order offload_name writes them.
  bool flags[3] = {false, false, false};
  static constexpr const char* kItems[3] = {"optimizer", "params", "activations"};
  if (text != "none") {
    size_t start = 0;
    while (true) {
      const size_t comma = text.find(',', start);
      const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const auto* found = std::find(std::begin(kItems), std::end(kItems), item);
      if (found == std::end(kItems) || flags[found - std::begin(kItems)]) {
        throw InputError(where, fmt::format("must be none, or any of optimizer, params and activations separated "
                                            "by commas, each once (got \"{}\")", text));
      }
      flags[found - std::begin(kItems)] = true;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  job.offload_optimizer = flags[0];
  job.offload_params = flags[1];
  job.offload_activations = flags[2];
}

std::string offload_name(const JobConfig& job) {
  std::string out;
  for (const auto& [on, name] : {std::pair{job.offload_optimizer, "optimizer"}, std::pair{job.offload_params, "params"},
                                 std::pair{job.offload_activations, "activations"}}) {
    if (on) out += (out.empty() ? "" : ",") + std::string(name);
  }
  return out.empty() ? "none" : out;
}

std::string tiled_mlp_name(int64_t requested) {
  return requested == 0 ? "off" : requested < 0 ? "auto" : std::to_string(requested);
}

double mlp_intermediate_bytes(const std::vector<OpCost>& ops) {
  const OpCost* act = find_op(ops, "mlp_act");
  const OpCost* down = find_op(ops, "mlp_down");
  return (act ? act->saved_bytes : 0.0) + (down ? down->saved_bytes : 0.0);
}

void add_tiled_mlp_recompute(std::vector<OpCost>& ops) {
  for (const char* name : {"mlp_up", "mlp_act", "mlp_down"}) {
    OpCost* op = find_op(ops, name);
    if (op == nullptr) continue;
    op->bwd_flops += op->fwd_flops;
    op->bwd_bytes += op->fwd_bytes;
  }
}

}  // namespace spsim
