// spsim-microbench's pure logic (no GPU): arguments, group shapes, GEMM and attention shapes.
#include <gtest/gtest.h>

#include "calibrate/microbench_plan.h"
#include "spsim/calibrate.h"
#include "test_util.h"

namespace spsim::detail {
namespace {

std::string where_of(const std::vector<std::string>& args) {
  try {
    parse_microbench_args(args);
  } catch (const InputError& e) {
    return e.full();
  }
  return "no error";
}

TEST(MicrobenchArgs, DefaultsAreIssueSixsLadder) {
  const MicrobenchArgs a = parse_microbench_args({"collectives", "-o", "out.json"});
  EXPECT_EQ(a.subcommand, "collectives");
  EXPECT_EQ(a.output, "out.json");
  // 1 KiB .. 4 GiB, x2: 23 sizes.
  EXPECT_EQ(size_ladder(a.min_bytes, a.max_bytes, a.step_factor, "x").size(), 23u);
  EXPECT_EQ(a.ops, (std::vector<std::string>{"all_to_all", "all_gather", "reduce_scatter", "all_reduce", "send_recv"}));
  EXPECT_EQ(a.scopes, (std::vector<std::string>{"intra_node", "rail", "full"}));
  EXPECT_EQ(a.warmup, 5);
  EXPECT_EQ(a.iterations, 20);
  // GEMM tokens and attention lengths a factor 2 apart from 1K to 16K: one point per size bin of
  // the efficiency curves calibrate fits (small shards of large TP/SP degrees included).
  const std::vector<int64_t> ladder = {1024, 2048, 4096, 8192, 16384};
  EXPECT_EQ(a.tokens, ladder);
  EXPECT_EQ(a.seq, ladder);
}

TEST(MicrobenchArgs, SuffixesListsAndHelp) {
  const MicrobenchArgs a = parse_microbench_args(
      {"collectives", "-b", "64K", "-e", "1G", "-f", "4", "--ops", "all_gather,send_recv", "-o", "x.json",
       "--iters", "50", "--warmup", "0", "--scopes", "rail"});
  EXPECT_EQ(a.min_bytes, 65536);
  EXPECT_EQ(a.max_bytes, int64_t{1} << 30);
  EXPECT_EQ(a.step_factor, 4);
  EXPECT_EQ(a.ops, (std::vector<std::string>{"all_gather", "send_recv"}));
  EXPECT_EQ(a.iterations, 50);
  EXPECT_EQ(a.warmup, 0);
  EXPECT_TRUE(parse_microbench_args({"--help"}).help);
  EXPECT_TRUE(parse_microbench_args({"gemm", "--help"}).help);
  const MicrobenchArgs g = parse_microbench_args({"gemm", "--model", "llama-3-8b", "--tp", "1,2", "--dtypes", "bf16,fp8", "-o", "g.json"});
  EXPECT_EQ(g.tp, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(g.dtypes, (std::vector<std::string>{"bf16", "fp8"}));
}

TEST(MicrobenchArgs, ErrorsNameTheFlag) {
  EXPECT_EQ(where_of({}).rfind("subcommand: missing", 0), 0u);
  EXPECT_EQ(where_of({"bench", "-o", "x"}).rfind("subcommand: unknown value \"bench\"", 0), 0u);
  EXPECT_EQ(where_of({"collectives"}).rfind("-o: an output file is required", 0), 0u);
  EXPECT_EQ(where_of({"collectives", "-o", "x", "--ops", "broadcast"}).rfind("--ops: unknown value \"broadcast\"", 0), 0u);
  EXPECT_EQ(where_of({"collectives", "-o", "x", "-b", "12Q"}).rfind("-b: expected a whole number", 0), 0u);
  EXPECT_EQ(where_of({"collectives", "-o", "x", "-f", "1"}).rfind("-f: expected a whole number >= 2", 0), 0u);
  EXPECT_EQ(where_of({"collectives", "-o", "x", "-b", "1G", "-e", "1M"}).rfind("-b/-e/-f: maximum size", 0), 0u);
  EXPECT_EQ(where_of({"collectives", "-o", "x", "--frobnicate", "1"}).rfind("--frobnicate: unknown option", 0), 0u);
  EXPECT_EQ(where_of({"collectives", "-o"}).rfind("-o: needs a value", 0), 0u);
  EXPECT_EQ(where_of({"gemm", "-o", "x"}).rfind("--model: gemm takes its shapes from a model", 0), 0u);
  EXPECT_EQ(where_of({"gemm", "-o", "x", "--model", "m", "--dtypes", "int8"}).rfind("--dtypes: unknown value", 0), 0u);
}

TEST(MicrobenchGroups, TwoNodesOfEightGpus) {
  // 16 ranks, 8 per node: intra_node 2, 4, 8; rail: 8 groups of 2 (rank r with r+8); full: 16.
  const auto groups = plan_groups(16, 8, {"intra_node", "rail", "full"});
  ASSERT_EQ(groups.size(), 5u);
  EXPECT_EQ(groups[0].size, 2);
  EXPECT_EQ(groups[0].color[5], 2);  // ranks 4,5 -> group 2
  EXPECT_EQ(groups[2].size, 8);
  EXPECT_EQ(groups[2].color[9], 1);  // node 1
  EXPECT_EQ(groups[3].scope, "rail");
  EXPECT_EQ(groups[3].size, 2);
  EXPECT_EQ(groups[3].nodes, 2);
  EXPECT_EQ(groups[3].color[3], groups[3].color[11]);  // GPU 3 of node 0 and node 1
  EXPECT_NE(groups[3].color[3], groups[3].color[4]);
  EXPECT_EQ(groups[4].scope, "full");
  EXPECT_EQ(groups[4].size, 16);
}

TEST(MicrobenchGroups, OneNodeHasNoRailAndFullIsTheLargestIntraGroup) {
  const auto groups = plan_groups(8, 8, {"intra_node", "rail", "full"});
  ASSERT_EQ(groups.size(), 3u);  // 2, 4, 8
  EXPECT_EQ(groups.back().size, 8);
  EXPECT_EQ(plan_groups(8, 8, {"full"}).at(0).size, 8);
  // A 6-GPU node: intra_node takes only 2 (6 is not a power of two), so "full" adds the 6.
  const auto six = plan_groups(6, 6, {"intra_node", "rail", "full"});
  ASSERT_EQ(six.size(), 2u);
  EXPECT_EQ(six[0].size, 2);
  EXPECT_EQ(six[1].scope, "full");
  EXPECT_EQ(six[1].size, 6);
  EXPECT_THROW_MSG(plan_groups(12, 8, {"full"}), InputError, "do not fill nodes of 8");
  EXPECT_EQ(ring_send_peer(7, 8), 0);
  EXPECT_EQ(ring_recv_peer(0, 8), 7);
}

TEST(MicrobenchGemmShapes, Llama3_8bAtTp2) {
  // h 4096, 32 heads, 8 KV heads, d 128, f 14336 (gated), V 128256 padded to 128256 (128 x 2 | V).
  const ModelSpec m = load_model("llama-3-8b");
  const auto shapes = gemm_shapes(m, 2, 4096);
  ASSERT_EQ(shapes.size(), 15u);
  // QKV fwd: n = (32/2 + 2*8/2) * 128 = 3072, k = 4096.
  EXPECT_EQ(shapes[0].label, "qkv fwd tp=2 tokens=4096");
  EXPECT_EQ(shapes[0].m, 4096);
  EXPECT_EQ(shapes[0].n, 3072);
  EXPECT_EQ(shapes[0].k, 4096);
  // QKV dgrad: m x k x n permuted; wgrad: k x n x tokens.
  EXPECT_EQ(shapes[1].n, 4096);
  EXPECT_EQ(shapes[1].k, 3072);
  EXPECT_EQ(shapes[2].m, 4096);
  EXPECT_EQ(shapes[2].k, 4096);
  // MLP in: 2 x 14336 / 2 = 14336; MLP out k = 7168; LM head n = 128256 / 2 = 64128.
  EXPECT_EQ(shapes[6].n, 14336);
  EXPECT_EQ(shapes[9].k, 7168);
  EXPECT_EQ(shapes[12].n, 64128);
  EXPECT_THROW_MSG(gemm_shapes(m, 3, 4096), InputError, "does not split");
}

TEST(MicrobenchAttentionShapes, HeadsSplitByTp) {
  const ModelSpec m = load_model("llama-3-8b");
  const auto shapes = attention_shapes(m, {1, 8}, {4096});
  ASSERT_EQ(shapes.size(), 4u);  // 2 tp x 1 seq x causal/non-causal
  EXPECT_EQ(shapes[0].heads, 32);
  EXPECT_EQ(shapes[0].kv_heads, 8);
  EXPECT_TRUE(shapes[0].causal);
  EXPECT_FALSE(shapes[1].causal);
  EXPECT_EQ(shapes[2].heads, 4);
  EXPECT_EQ(shapes[2].kv_heads, 1);
}

TEST(MicrobenchBusbw, ArithmeticAsNcclTests) {
  // 1 GiB all_reduce over 8 ranks in 6 ms: algbw = 1073741824 / 6e-3 / 1e9 = 178.957 GB/s,
  // busbw = x 2*7/8 = 313.175 GB/s.
  const double algbw = 1073741824.0 / 6e-3 / 1e9;
  EXPECT_NEAR(algbw, 178.957, 1e-3);
  EXPECT_NEAR(algbw * busbw_factor("all_reduce", 8), 313.175, 1e-3);
  EXPECT_EQ(dtype_bytes("bf16"), 2);
  EXPECT_EQ(dtype_bytes("fp8"), 1);
  EXPECT_THROW_MSG(dtype_bytes("int4"), InputError, "unknown \"int4\"");
}

}  // namespace
}  // namespace spsim::detail
