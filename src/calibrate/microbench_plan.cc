// spsim-microbench's plan: arguments, group shapes and kernel shapes (no CUDA here).
#include "calibrate/microbench_plan.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "spsim/calibrate.h"
#include "spsim/error.h"

namespace spsim::detail {

namespace {

const std::vector<std::string> kSubcommands = {"collectives", "gemm", "attention", "memory"};
// send_recv is the ring exchange ring attention uses (rank i -> i+1 while receiving from i-1,
// nccl-tests sendrecv_perf semantics); on a group of 2 it is a bidirectional pair exchange.
const std::vector<std::string> kOps = {"all_to_all", "all_gather", "reduce_scatter", "all_reduce",
                                       "send_recv"};
const std::vector<std::string> kScopes = {"intra_node", "rail", "full"};
const std::vector<std::string> kDtypes = {"bf16", "fp16", "fp8", "fp32"};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

void check_choice(const std::string& flag, const std::string& value,
                  const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    throw InputError(flag, fmt::format("unknown value \"{}\"; use {}", value, join(choices)));
  }
}

/// "4096", "64K", "1M", "4G" (binary multiples, as nccl-tests -b/-e).
int64_t parse_size(const std::string& flag, const std::string& text, int64_t min_value) {
  int64_t scale = 1;
  std::string digits = text;
  if (!digits.empty()) {
    const char last = digits.back();
    if (last == 'K' || last == 'k') scale = int64_t{1} << 10;
    if (last == 'M' || last == 'm') scale = int64_t{1} << 20;
    if (last == 'G' || last == 'g') scale = int64_t{1} << 30;
    if (scale > 1) digits.pop_back();
  }
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(digits.c_str(), &end, 10);
  if (digits.empty() || *end != '\0' || errno == ERANGE || value < min_value ||
      value > (int64_t{1} << 50) / scale) {
    throw InputError(flag, fmt::format("expected a whole number >= {} (K/M/G suffixes allowed) "
                                       "(got \"{}\")", min_value, text));
  }
  return value * scale;
}

std::vector<int64_t> parse_size_list(const std::string& flag, const std::string& text) {
  std::vector<int64_t> out;
  for (const auto& item : split_list(text)) out.push_back(parse_size(flag, item, 1));
  return out;
}

}  // namespace

std::string microbench_usage() {
  return
      "usage: spsim-microbench SUBCOMMAND -o FILE.json [options]\n"
      "  collectives  NCCL all_to_all, all_gather, reduce_scatter, all_reduce and send_recv (the\n"
      "               ring exchange: rank i -> i+1) over a size ladder and group shapes\n"
      "               (intra_node 2/4/8, rail = one GPU per node, full); one process per GPU\n"
      "               under mpirun/srun, or one process driving every local GPU without MPI\n"
      "  gemm         cuBLASLt matmuls at a model's layer shapes per TP degree and tokens\n"
      "  attention    cuDNN scaled-dot-product attention (flash), fwd and bwd\n"
      "  memory       device-to-device copy bandwidth\n"
      "options:\n"
      "  -o, --output FILE       JSON to write (required)\n"
      "  --warmup N              untimed iterations per point (default 5)\n"
      "  --iters N               timed iterations per point (default 20)\n"
      "  -b, --min-bytes SIZE    smallest message/copy, K/M/G suffixes (default 1K)\n"
      "  -e, --max-bytes SIZE    largest (default 4G)\n"
      "  -f, --step-factor N     size multiplier (default 2)\n"
      "  --ops LIST              collectives to run (default all)\n"
      "  --scopes LIST           intra_node,rail,full (default all that apply)\n"
      "  --dtype T               collective element type: bf16, fp16, fp32 (default bf16)\n"
      "  --model NAME|FILE       gemm/attention: model to take shapes from (required)\n"
      "  --tp LIST               gemm/attention: tensor-parallel degrees (default 1,2,4,8)\n"
      "  --tokens LIST           gemm: tokens per GPU (default 1024,2048,4096,8192,16384)\n"
      "  --dtypes LIST           gemm/attention: bf16,fp16,fp8 (default bf16)\n"
      "  --seq LIST              attention: sequence lengths (default 1024,2048,4096,8192,16384)\n";
}

MicrobenchArgs parse_microbench_args(const std::vector<std::string>& args) {
  MicrobenchArgs a;
  a.ops = {kOps.begin(), kOps.end()};
  a.scopes = {kScopes.begin(), kScopes.end()};
  if (args.empty()) {
    throw InputError("subcommand", fmt::format("missing; use one of {} (--help for usage)",
                                               join(kSubcommands)));
  }
  size_t i = 0;
  if (args[0] == "-h" || args[0] == "--help") {
    a.help = true;
    return a;
  }
  a.subcommand = args[0];
  check_choice("subcommand", a.subcommand, kSubcommands);
  for (i = 1; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "-h" || flag == "--help") {
      a.help = true;
      return a;
    }
    if (i + 1 >= args.size()) {
      throw InputError(flag, "needs a value (or is not an option); see --help");
    }
    const std::string& value = args[++i];
    if (flag == "-o" || flag == "--output") {
      a.output = value;
    } else if (flag == "--warmup") {
      a.warmup = static_cast<int>(parse_size(flag, value, 0));
    } else if (flag == "--iters" || flag == "-n") {
      a.iterations = static_cast<int>(parse_size(flag, value, 1));
    } else if (flag == "-b" || flag == "--min-bytes") {
      a.min_bytes = parse_size(flag, value, 1);
    } else if (flag == "-e" || flag == "--max-bytes") {
      a.max_bytes = parse_size(flag, value, 1);
    } else if (flag == "-f" || flag == "--step-factor") {
      a.step_factor = parse_size(flag, value, 2);
    } else if (flag == "--ops") {
      a.ops = split_list(value);
      for (const auto& op : a.ops) check_choice(flag, op, kOps);
    } else if (flag == "--scopes") {
      a.scopes = split_list(value);
      for (const auto& s : a.scopes) check_choice(flag, s, kScopes);
    } else if (flag == "--dtype") {
      check_choice(flag, value, {"bf16", "fp16", "fp32"});
      a.dtype = value;
    } else if (flag == "--model") {
      a.model = value;
    } else if (flag == "--tp") {
      a.tp = parse_size_list(flag, value);
    } else if (flag == "--tokens") {
      a.tokens = parse_size_list(flag, value);
    } else if (flag == "--dtypes") {
      a.dtypes = split_list(value);
      for (const auto& d : a.dtypes) check_choice(flag, d, {"bf16", "fp16", "fp8"});
    } else if (flag == "--seq") {
      a.seq = parse_size_list(flag, value);
    } else {
      throw InputError(flag, "unknown option; see spsim-microbench --help");
    }
  }
  if (a.output.empty()) throw InputError("-o", "an output file is required; add -o results.json");
  // Validates the ladder (and names the flags) before any GPU work.
  size_ladder(a.min_bytes, a.max_bytes, a.step_factor, "-b/-e/-f");
  if ((a.subcommand == "gemm" || a.subcommand == "attention") && a.model.empty()) {
    throw InputError("--model", fmt::format("{} takes its shapes from a model; add e.g. --model "
                                            "llama-3-8b", a.subcommand));
  }
  return a;
}

std::vector<GroupShape> plan_groups(int64_t world, int64_t per_node,
                                    const std::vector<std::string>& scopes) {
  if (world < 1 || per_node < 1 || world % per_node != 0) {
    throw InputError("ranks", fmt::format("{} ranks do not fill nodes of {} ranks each; launch the "
                                          "same number of ranks on every node", world, per_node));
  }
  const int64_t nodes = world / per_node;
  std::vector<GroupShape> out;
  for (const auto& scope : scopes) {
    check_choice("--scopes", scope, kScopes);
    if (scope == "intra_node") {
      for (int64_t size = 2; size <= per_node; size *= 2) {
        if (per_node % size != 0) continue;
        GroupShape g{scope, size, 1, std::vector<int>(static_cast<size_t>(world))};
        for (int64_t r = 0; r < world; ++r) g.color[static_cast<size_t>(r)] = static_cast<int>(r / size);
        out.push_back(std::move(g));
      }
    } else if (scope == "rail") {
      if (nodes < 2) continue;
      GroupShape g{scope, nodes, nodes, std::vector<int>(static_cast<size_t>(world))};
      for (int64_t r = 0; r < world; ++r) g.color[static_cast<size_t>(r)] = static_cast<int>(r % per_node);
      out.push_back(std::move(g));
    } else {  // full
      // On one node "full" is the whole node, already measured as intra_node when the node's
      // size is a power of two (intra_node takes 2, 4, 8, ...); a 6-GPU node still needs it.
      const bool whole_node_is_intra = (per_node & (per_node - 1)) == 0;
      if (nodes < 2 && per_node > 1 && whole_node_is_intra &&
          std::find(scopes.begin(), scopes.end(), "intra_node") != scopes.end()) {
        continue;
      }
      if (world < 2) continue;
      out.push_back({scope, world, nodes, std::vector<int>(static_cast<size_t>(world), 0)});
    }
  }
  return out;
}

int64_t ring_send_peer(int64_t rank, int64_t size) { return (rank + 1) % size; }
int64_t ring_recv_peer(int64_t rank, int64_t size) { return (rank - 1 + size) % size; }

int64_t dtype_bytes(const std::string& dtype) {
  if (dtype == "bf16" || dtype == "fp16") return 2;
  if (dtype == "fp8") return 1;
  if (dtype == "fp32") return 4;
  throw InputError("dtype", fmt::format("unknown \"{}\"; use {}", dtype, join(kDtypes)));
}

std::vector<GemmShape> gemm_shapes(const ModelSpec& model, int64_t tp, int64_t tokens) {
  if (tp < 1 || model.num_attention_heads % tp != 0 || model.ffn_hidden_size % tp != 0 ||
      (model.num_key_value_heads % tp != 0 && tp % model.num_key_value_heads != 0)) {
    throw InputError("--tp", fmt::format("{} does not split {} ({} heads, {} KV heads, FFN {}); "
                                         "use a divisor of the head count",
                                         tp, model.name, model.num_attention_heads,
                                         model.num_key_value_heads, model.ffn_hidden_size));
  }
  if (tokens < 1) throw InputError("--tokens", fmt::format("must be >= 1 (got {})", tokens));
  // KV heads are replicated when tp > k (Megatron): each rank keeps max(1, k/tp).
  const int64_t kv_per_rank = std::max<int64_t>(1, model.num_key_value_heads / tp);
  const int64_t h = model.hidden_size;
  const int64_t qkv = (model.num_attention_heads / tp + 2 * kv_per_rank) * model.head_dim;
  const int64_t attn_out = model.q_width() / tp;
  const int64_t ffn = model.ffn_hidden_size / tp;
  const int64_t mlp_in = model.gated_mlp ? 2 * ffn : ffn;
  const int64_t vocab = model.padded_vocab(tp) / tp;
  struct Layer {
    const char* name;
    int64_t n, k;
  };
  const Layer layers[] = {{"qkv", qkv, h}, {"attn_out", h, attn_out}, {"mlp_in", mlp_in, h},
                          {"mlp_out", h, ffn}, {"lm_head", vocab, h}};
  std::vector<GemmShape> out;
  for (const auto& l : layers) {
    const std::string tag = fmt::format("tp={} tokens={}", tp, tokens);
    out.push_back({fmt::format("{} fwd {}", l.name, tag), tokens, l.n, l.k});
    out.push_back({fmt::format("{} dgrad {}", l.name, tag), tokens, l.k, l.n});
    out.push_back({fmt::format("{} wgrad {}", l.name, tag), l.k, l.n, tokens});
  }
  return out;
}

std::vector<AttentionShape> attention_shapes(const ModelSpec& model, const std::vector<int64_t>& tp,
                                             const std::vector<int64_t>& seq) {
  std::vector<AttentionShape> out;
  for (int64_t t : tp) {
    if (t < 1 || model.num_attention_heads % t != 0) {
      throw InputError("--tp", fmt::format("{} does not divide {}'s {} heads", t, model.name,
                                           model.num_attention_heads));
    }
    for (int64_t s : seq) {
      for (bool causal : {true, false}) {
        AttentionShape a;
        a.heads = model.num_attention_heads / t;
        a.kv_heads = std::max<int64_t>(1, model.num_key_value_heads / t);
        a.head_dim = model.head_dim;
        a.seq = s;
        a.causal = causal;
        out.push_back(a);
      }
    }
  }
  return out;
}

}  // namespace spsim::detail
