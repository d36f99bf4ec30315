// What spsim-microbench measures, decided without a GPU: argument parsing, size ladders, group
// shapes, GEMM and attention shapes from a model file. Plain C++ in spsim_core so that
// tests/calibrate/ covers it on machines without CUDA; microbench/ only runs the plan.
#ifndef SPSIM_CALIBRATE_MICROBENCH_PLAN_H_
#define SPSIM_CALIBRATE_MICROBENCH_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "spsim/model.h"

namespace spsim::detail {

/// Parsed command line of spsim-microbench. Sizes in bytes.
struct MicrobenchArgs {
  std::string subcommand;   // "collectives" | "gemm" | "attention" | "memory"
  std::string output;       // -o FILE (required)
  bool help = false;
  int warmup = 5;           // untimed iterations per point
  int iterations = 20;      // timed iterations per point
  // collectives / memory
  int64_t min_bytes = 1024;
  int64_t max_bytes = int64_t{4} << 30;
  int64_t step_factor = 2;
  std::vector<std::string> ops;     // all_to_all all_gather reduce_scatter all_reduce send_recv
  std::vector<std::string> scopes;  // intra_node rail full
  std::string dtype = "bf16";
  // gemm / attention
  std::string model;                // model name or file (gemm, attention)
  std::vector<int64_t> tp = {1, 2, 4, 8};
  // Tokens per GPU (sequence shard x micro-batch) and attention sequence lengths per shard: from
  // the small shards of large TP/SP degrees up, a factor 2 apart, so `spsim calibrate` gets one
  // point per size bin of its efficiency curves.
  std::vector<int64_t> tokens = {1024, 2048, 4096, 8192, 16384};
  std::vector<std::string> dtypes = {"bf16"};
  std::vector<int64_t> seq = {1024, 2048, 4096, 8192, 16384};
};

/// Usage text (one screen).
std::string microbench_usage();

/// Parses argv[1..] (without the program name). Throws InputError naming the flag: unknown flag,
/// missing value, bad number, unknown subcommand/op/scope/dtype, missing -o.
MicrobenchArgs parse_microbench_args(const std::vector<std::string>& args);

/// One communicator to measure: the world ranks in it (every rank is in exactly one group of a
/// scope, so all groups of a scope run at once, like NCCL_TESTS_SPLIT).
struct GroupShape {
  std::string scope;   // "intra_node" | "rail" | "full"
  int64_t size = 0;    // ranks per group
  int64_t nodes = 0;   // nodes a group spans
  /// color of each world rank for ncclCommSplit (rank r is in group color[r]).
  std::vector<int> color;
};

/// Groups for `world` ranks with `per_node` ranks on each node (ranks fill nodes in order):
/// intra_node 2, 4, 8.. up to per_node (powers of two); rail: one rank per node across all nodes
/// (per_node groups); full: every rank. Scopes that need more than one node are skipped on one
/// node; a scope list entry not in {intra_node, rail, full} throws.
std::vector<GroupShape> plan_groups(int64_t world, int64_t per_node,
                                    const std::vector<std::string>& scopes);

/// The ring-attention exchange: rank i of a group sends to i+1 and receives from i-1.
int64_t ring_send_peer(int64_t rank, int64_t size);
int64_t ring_recv_peer(int64_t rank, int64_t size);

/// Bytes per element of a microbenchmark dtype ("bf16" 2, "fp16" 2, "fp8" 1, "fp32" 4).
int64_t dtype_bytes(const std::string& dtype);

/// A GEMM of one layer: D (m x n) = A (m x k) x B (k x n), forward. The backward pass runs the
/// same three sizes permuted (dgrad m x k x n, wgrad k x n x m), which are listed too.
struct GemmShape {
  std::string label;  // "qkv fwd tp=2 tokens=4096"
  int64_t m = 0, n = 0, k = 0;
};

/// The linear layers' GEMMs of `model` at tensor-parallel degree `tp` for `tokens` tokens per GPU
/// (Megatron column/row split): QKV (n = (a + 2k) d_h / tp), attention output (k = a d_h / tp),
/// MLP in (n = f / tp, x2 when gated), MLP out (k = f / tp), LM head (n = V_padded / tp); each
/// fwd, dgrad and wgrad. InputError when tp does not divide the heads / KV heads / f.
std::vector<GemmShape> gemm_shapes(const ModelSpec& model, int64_t tp, int64_t tokens);

/// One attention problem (cuDNN SDPA) per head-sharding degree: heads a/tp, KV heads max(1,k/tp).
struct AttentionShape {
  int64_t batch = 1, heads = 0, kv_heads = 0, head_dim = 0, seq = 0;
  bool causal = true;
};
std::vector<AttentionShape> attention_shapes(const ModelSpec& model, const std::vector<int64_t>& tp,
                                             const std::vector<int64_t>& seq);

}  // namespace spsim::detail

#endif  // SPSIM_CALIBRATE_MICROBENCH_PLAN_H_
