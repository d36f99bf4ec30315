// The cuDNN SDPA graphs spsim-microbench builds, checked without a GPU: layouts, uids, the ops
// cudnn-frontend's lowering produces (causal mask, softmax with stats, GQA reductions), device
// memory, support checks, the measurement plan and the FLOP convention.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "calibrate/sdpa_graph.h"
#include "spsim/calibrate.h"
#include "test_util.h"

namespace spsim::detail {
namespace {

// Llama-3-8B attention at TP 1: 32 query heads, 8 K/V heads, head_dim 128; a 4096 shard.
AttentionShape llama_shape(bool causal, int64_t kv_heads = 8) {
  AttentionShape s;
  s.batch = 1;
  s.heads = 32;
  s.kv_heads = kv_heads;
  s.head_dim = 128;
  s.seq = 4096;
  s.causal = causal;
  return s;
}

int count_pointwise(const SdpaGraph& g, SdpaPointwise mode) {
  return static_cast<int>(std::count_if(g.ops.begin(), g.ops.end(), [&](const SdpaOp& op) {
    return op.kind == SdpaOpKind::kPointwise && op.pointwise == mode;
  }));
}

const SdpaOp& op_named(const SdpaGraph& g, const std::string& name) {
  for (const auto& op : g.ops) {
    if (op.name == name) return op;
  }
  throw std::out_of_range("no op " + name);
}

const SdpaTensor& by_uid(const SdpaGraph& g, int64_t uid) { return g.tensors.at(static_cast<size_t>(uid - 1)); }

TEST(SdpaLayout, BhsdStridesAreHandComputed) {
  // b=1 h=32 s=4096 d=128: strides (32*4096*128, 4096*128, 128, 1) = (16777216, 524288, 128, 1).
  const Layout4 q = bhsd_layout(1, 32, 4096, 128);
  EXPECT_EQ(q.dims, (std::array<int64_t, 4>{1, 32, 4096, 128}));
  EXPECT_EQ(q.strides, (std::array<int64_t, 4>{16777216, 524288, 128, 1}));
  EXPECT_EQ(layout_elements(q), 16777216);  // packed: the product of the dims
  // b=2 h=4 s=8 d=16: (512, 128, 16, 1); elements 2*4*8*16 = 1024.
  const Layout4 small = bhsd_layout(2, 4, 8, 16);
  EXPECT_EQ(small.strides, (std::array<int64_t, 4>{512, 128, 16, 1}));
  EXPECT_EQ(layout_elements(small), 1024);
}

TEST(SdpaLayout, KTransposeViewSwapsDimsAndStridesNotMemory) {
  // GQA K of Llama-3-8B: b=1 h_kv=8 s=4096 d=128 BHSD strides (4194304, 524288, 128, 1); as K^T
  // the backend sees dims (1, 8, 128, 4096) with strides (4194304, 524288, 1, 128).
  const Layout4 kt = swap_last_two(bhsd_layout(1, 8, 4096, 128));
  EXPECT_EQ(kt.dims, (std::array<int64_t, 4>{1, 8, 128, 4096}));
  EXPECT_EQ(kt.strides, (std::array<int64_t, 4>{4194304, 524288, 1, 128}));
  // Same span: 1 + 7*524288 + 127*1 + 4095*128 = 4194304 = 8*4096*128.
  EXPECT_EQ(layout_elements(kt), 4194304);
  EXPECT_EQ(swap_last_two(kt), bhsd_layout(1, 8, 4096, 128));
}

TEST(SdpaForwardGraph, IoTensorsStatsAndScale) {
  const SdpaGraph g = sdpa_forward_graph(llama_shape(true), "bf16");
  EXPECT_EQ(g.tensor("Q").layout, bhsd_layout(1, 32, 4096, 128));
  EXPECT_EQ(g.tensor("K").layout.dims, (std::array<int64_t, 4>{1, 8, 128, 4096}));  // K^T, 8 heads
  EXPECT_EQ(g.tensor("V").layout, bhsd_layout(1, 8, 4096, 128));
  EXPECT_EQ(g.tensor("O").layout, bhsd_layout(1, 32, 4096, 128));
  for (const char* io : {"Q", "K", "V", "O"}) {
    EXPECT_EQ(g.tensor(io).type, SdpaType::kBf16) << io;
    EXPECT_FALSE(g.tensor(io).is_virtual) << io;
  }
  // Stats: fp32 b h s 1 with strides (h s, s, 1, 1) = (131072, 4096, 1, 1).
  const SdpaTensor& stats = g.tensor("Stats");
  EXPECT_EQ(stats.type, SdpaType::kFloat);
  EXPECT_EQ(stats.layout.dims, (std::array<int64_t, 4>{1, 32, 4096, 1}));
  EXPECT_EQ(stats.layout.strides, (std::array<int64_t, 4>{131072, 4096, 1, 1}));
  EXPECT_FALSE(stats.is_virtual);
  // Scale 1/sqrt(128) = 0.08838834764..., passed by value.
  EXPECT_TRUE(g.tensor("attn_scale").by_value);
  EXPECT_NEAR(g.tensor("attn_scale").value, 0.0883883476, 1e-7);
  // The causal mask's fill is the lowest float, by value.
  EXPECT_EQ(g.tensor("negative_inf_causal").value, std::numeric_limits<float>::lowest());
  // fp16 gives fp16 IO tensors.
  EXPECT_EQ(sdpa_forward_graph(llama_shape(true), "fp16").tensor("Q").type, SdpaType::kHalf);
}

TEST(SdpaForwardGraph, OpsFollowTheFrontendLowering) {
  const SdpaGraph full = sdpa_forward_graph(llama_shape(false), "bf16");
  // bmm1, attn_scale, Max, sub, exp, sum, log, add (stats), div, bmm2.
  std::vector<std::string> names;
  for (const auto& op : full.ops) names.push_back(op.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bmm1", "attn_scale", "Max", "sub", "exp", "sum", "log", "add", "div",
                                             "bmm2"}));
  EXPECT_EQ(count_pointwise(full, SdpaPointwise::kGenIndex), 0);
  // The causal graph adds GEN_INDEX x2 (INT32, axes 2 and 3), CMP_GE (BOOLEAN), BINARY_SELECT.
  const SdpaGraph causal = sdpa_forward_graph(llama_shape(true), "bf16");
  EXPECT_EQ(causal.ops.size(), full.ops.size() + 4);
  const SdpaOp& row = op_named(causal, "gen_row_idx_causal");
  const SdpaOp& col = op_named(causal, "gen_col_idx_causal");
  EXPECT_EQ(row.axis, 2);
  EXPECT_EQ(col.axis, 3);
  EXPECT_EQ(row.compute, SdpaType::kInt32);
  EXPECT_EQ(by_uid(causal, row.output).type, SdpaType::kInt32);
  const SdpaOp& ge = op_named(causal, "row_greater_than_col");
  EXPECT_EQ(ge.pointwise, SdpaPointwise::kCmpGe);
  EXPECT_EQ(ge.inputs, (std::vector<int64_t>{row.output, col.output}));  // row >= col keeps
  EXPECT_EQ(by_uid(causal, ge.output).type, SdpaType::kBool);
  const SdpaOp& select = op_named(causal, "binary_select");
  ASSERT_EQ(select.inputs.size(), 3u);
  EXPECT_EQ(select.inputs[1], causal.tensor("negative_inf_causal").uid);
  EXPECT_EQ(select.inputs[2], ge.output);
  // The mask sits between the scale and the softmax's max.
  EXPECT_EQ(op_named(causal, "Max").inputs[0], select.output);
  // bmm2's A (the softmax output) is narrowed to the IO type.
  EXPECT_EQ(by_uid(causal, op_named(causal, "bmm2").inputs[0]).type, SdpaType::kBf16);
  EXPECT_EQ(op_named(causal, "add").output, causal.tensor("Stats").uid);
}

/// Every op reads tensors that exist and were produced earlier (or are graph inputs), each
/// virtual tensor is written exactly once, and the non-virtual outputs are the expected ones.
std::set<std::string> check_dataflow(const SdpaGraph& g) {
  std::set<int64_t> written;
  std::set<std::string> outputs;
  for (size_t i = 0; i < g.tensors.size(); ++i) EXPECT_EQ(g.tensors[i].uid, static_cast<int64_t>(i) + 1);
  for (const auto& op : g.ops) {
    for (int64_t in : op.inputs) {
      const SdpaTensor& t = by_uid(g, in);
      if (t.is_virtual) {
        EXPECT_TRUE(written.count(in)) << op.name << " reads " << t.name << " before it is written";
      }
    }
    EXPECT_FALSE(written.count(op.output)) << by_uid(g, op.output).name << " written twice";
    written.insert(op.output);
    if (!by_uid(g, op.output).is_virtual) outputs.insert(by_uid(g, op.output).name);
  }
  for (const auto& t : g.tensors) {
    if (t.is_virtual) {
      EXPECT_TRUE(written.count(t.uid)) << t.name << " is never written";
    }
  }
  return outputs;
}

TEST(SdpaGraphs, DataflowIsWellFormed) {
  for (bool causal : {false, true}) {
    for (int64_t kv : {8, 32}) {
      EXPECT_EQ(check_dataflow(sdpa_forward_graph(llama_shape(causal, kv), "bf16")),
                (std::set<std::string>{"O", "Stats"}));
      EXPECT_EQ(check_dataflow(sdpa_backward_graph(llama_shape(causal, kv), "bf16")),
                (std::set<std::string>{"softmax_sum", "dV", "dK", "dQ_accum", "dQ"}));
    }
  }
}

TEST(SdpaBackwardGraph, GqaReducesPerQueryHeadGradientsOntoKvHeads) {
  const SdpaGraph gqa = sdpa_backward_graph(llama_shape(true, 8), "bf16");
  EXPECT_EQ(gqa.tensor("dK").layout, bhsd_layout(1, 8, 4096, 128));
  EXPECT_EQ(gqa.tensor("dV").layout, bhsd_layout(1, 8, 4096, 128));
  EXPECT_EQ(gqa.tensor("V").layout.dims, (std::array<int64_t, 4>{1, 8, 128, 4096}));  // V^T for dO V^T
  const SdpaTensor& dv_full = gqa.tensor("dV_fullhead");
  EXPECT_TRUE(dv_full.is_virtual);
  EXPECT_EQ(dv_full.layout, bhsd_layout(1, 32, 4096, 128));
  EXPECT_EQ(op_named(gqa, "red_dV_head").output, gqa.tensor("dV").uid);
  EXPECT_EQ(op_named(gqa, "red_dK_head").output, gqa.tensor("dK").uid);
  // MHA writes dK and dV straight from the matmuls: no head reductions.
  const SdpaGraph mha = sdpa_backward_graph(llama_shape(true, 32), "bf16");
  EXPECT_EQ(op_named(mha, "matmul_pT_dO").output, mha.tensor("dV").uid);
  EXPECT_THROW(op_named(mha, "red_dV_head"), std::out_of_range);
  EXPECT_THROW(mha.tensor("dK_fullhead"), std::out_of_range);
}

TEST(SdpaBackwardGraph, WorkspacesTransposesAndMaskOrder) {
  const SdpaGraph g = sdpa_backward_graph(llama_shape(true), "bf16");
  const SdpaTensor& sum = g.tensor("softmax_sum");
  EXPECT_FALSE(sum.is_virtual);
  EXPECT_EQ(sum.type, SdpaType::kFloat);
  EXPECT_EQ(sum.layout.strides, (std::array<int64_t, 4>{131072, 4096, 1, 1}));
  const SdpaTensor& acc = g.tensor("dQ_accum");
  EXPECT_FALSE(acc.is_virtual);
  EXPECT_EQ(acc.type, SdpaType::kFloat);
  EXPECT_EQ(op_named(g, "identity_dQ").inputs, (std::vector<int64_t>{acc.uid}));
  // P^T: (b, h, s_kv, s_q) over P's b h s_q s_kv memory: strides (h s s, s s, 1, s).
  const SdpaTensor& pt = g.tensor("reshape_p_output");
  EXPECT_EQ(pt.layout.strides, (std::array<int64_t, 4>{int64_t{32} * 4096 * 4096, 4096 * 4096, 1, 4096}));
  EXPECT_EQ(pt.type, SdpaType::kBf16);
  // K seen back as BHSD for dQ = dS K.
  EXPECT_EQ(g.tensor("reshape_k_output").layout, bhsd_layout(1, 8, 4096, 128));
  // ... in float, the frontend's intermediate type (it sets no type on that reshape), while P^T
  // and dS^T are narrowed to the IO type.
  EXPECT_EQ(g.tensor("reshape_k_output").type, SdpaType::kFloat);
  EXPECT_EQ(g.tensor("reshape_dS_output").type, SdpaType::kBf16);
  // Backward masks after subtracting the stats, and exp reads the mask's output.
  EXPECT_EQ(op_named(g, "gen_row_idx_causal").inputs[0], g.tensor("sub_s_m_output").uid);
  EXPECT_EQ(op_named(g, "exp_s").inputs[0], op_named(g, "binary_select").output);
}

TEST(SdpaGraphs, DeviceBytesAreHandComputed) {
  // Forward, Llama-3-8B TP1 s=4096 bf16: Q and O 32*4096*128*2 = 33554432 each, K and V
  // 8*4096*128*2 = 8388608 each, Stats 32*4096*4 = 524288: 84410368.
  EXPECT_EQ(sdpa_device_bytes(sdpa_forward_graph(llama_shape(false), "bf16")), 84410368);
  // Backward adds dO, dQ (33554432 each), dK, dV (8388608 each), softmax_sum (524288) and
  // dQ_accum fp32 32*4096*128*4 = 67108864: 4*33554432 + 4*8388608 + 2*524288 + 67108864 = 235929600.
  EXPECT_EQ(sdpa_device_bytes(sdpa_backward_graph(llama_shape(true), "bf16")), 235929600);
}

TEST(SdpaGraphs, BadDtypeAndShapeAreInputErrors) {
  EXPECT_THROW_MSG(sdpa_forward_graph(llama_shape(true), "fp8"), InputError, "bf16 or fp16");
  AttentionShape s = llama_shape(true);
  s.kv_heads = 5;
  EXPECT_THROW_MSG(sdpa_backward_graph(s, "bf16"), InputError, "multiple of K/V heads");
}

TEST(SdpaGraphs, BuildingIsDeterministic) {
  const SdpaGraph a = sdpa_backward_graph(llama_shape(true), "bf16");
  const SdpaGraph b = sdpa_backward_graph(llama_shape(true), "bf16");
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    EXPECT_EQ(a.tensors[i].layout, b.tensors[i].layout);
  }
  ASSERT_EQ(a.ops.size(), b.ops.size());
  for (size_t i = 0; i < a.ops.size(); ++i) EXPECT_EQ(a.ops[i].inputs, b.ops[i].inputs);
}

TEST(SdpaSupport, HeadDimAndArchitectureLimits) {
  EXPECT_EQ(sdpa_support_issue(llama_shape(true), 90), "");
  EXPECT_EQ(sdpa_support_issue(llama_shape(true), 80), "");
  AttentionShape s = llama_shape(true);
  s.head_dim = 256;
  EXPECT_EQ(sdpa_support_issue(s, 90), "");                          // Hopper takes up to 256
  EXPECT_NE(sdpa_support_issue(s, 80).find("at most 128"), std::string::npos);
  s.head_dim = 100;  // 100 % 8 = 4
  EXPECT_NE(sdpa_support_issue(s, 90).find("multiple of 8"), std::string::npos);
  EXPECT_NE(sdpa_support_issue(llama_shape(true), 75).find("sm_80"), std::string::npos);
  s = llama_shape(true);
  s.kv_heads = 5;
  EXPECT_NE(sdpa_support_issue(s, 90).find("multiple of K/V heads"), std::string::npos);
}

TEST(SdpaSupport, CudnnVersionLimits) {
  AttentionShape s = llama_shape(true);
  // 9.10.0 and 9.10.1 are refused outright (known bugs), forward and backward.
  EXPECT_NE(sdpa_support_issue(s, 90, false, 91000).find("known SDPA bugs"), std::string::npos);
  EXPECT_NE(sdpa_support_issue(s, 90, true, 91001).find("known SDPA bugs"), std::string::npos);
  EXPECT_EQ(sdpa_support_issue(s, 90, true, 91002), "");
  // s % 128 != 0: the backward needs the frontend's padding workaround up to 9.15.0.
  s.seq = 4000;
  EXPECT_EQ(sdpa_support_issue(s, 90, false, 90600), "");
  EXPECT_NE(sdpa_support_issue(s, 90, true, 91500).find("multiple of 128"), std::string::npos);
  EXPECT_EQ(sdpa_support_issue(s, 90, true, 91501), "");
  s.seq = 1;
  EXPECT_NE(sdpa_support_issue(s, 90, true, 92000).find("sequence of 1"), std::string::npos);
}

TEST(SdpaGraphs, MaskFillFollowsTheCudnnVersion) {
  // cudnn-frontend get_negative_inf_value: lowest float before 9.10.0, -inf from it.
  EXPECT_EQ(sdpa_mask_fill(90900), std::numeric_limits<float>::lowest());
  EXPECT_EQ(sdpa_mask_fill(91000), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(sdpa_forward_graph(llama_shape(true), "bf16", 91300).tensor("negative_inf_causal").value,
            -std::numeric_limits<float>::infinity());
  EXPECT_EQ(sdpa_backward_graph(llama_shape(true), "bf16", 90600).tensor("negative_inf_causal").value,
            std::numeric_limits<float>::lowest());
}

TEST(SdpaGraphs, UniformInputsGiveHandComputedStatistics) {
  // 0x3c3c: bf16 = 2^-7 x 1.46875, fp16 = 1.05859375.
  EXPECT_EQ(sdpa_io_fill_value("bf16"), 0.011474609375f);
  EXPECT_EQ(sdpa_io_fill_value("fp16"), 1.05859375f);
  EXPECT_THROW_MSG(sdpa_io_fill_value("fp8"), InputError, "bf16 or fp16");
  // Q = K = 1.05859375, d = 128: every score = 128 x 1.05859375^2 / sqrt(128) = 12.6773...;
  // causal row i sees i + 1 keys, so its statistic is 12.6773 + log(i + 1); full: + log(s).
  AttentionShape s = llama_shape(true);
  s.heads = 2;
  s.kv_heads = 2;
  s.seq = 8;
  const double score = 128.0 * 1.05859375 * 1.05859375 / std::sqrt(128.0);
  const std::vector<float> causal = sdpa_uniform_stats(s, 1.05859375f);
  ASSERT_EQ(causal.size(), 16u);  // b h s
  EXPECT_NEAR(causal[0], score, 1e-5);
  EXPECT_NEAR(causal[3], score + std::log(4.0), 1e-5);
  EXPECT_NEAR(causal[8 + 7], score + std::log(8.0), 1e-5);  // second head, last row
  s.causal = false;
  const std::vector<float> full = sdpa_uniform_stats(s, 1.05859375f);
  EXPECT_NEAR(full[0], score + std::log(8.0), 1e-5);
  EXPECT_EQ(full[0], full[15]);
}

TEST(AttentionPlan, ShapesDtypesDirections) {
  const std::vector<AttentionShape> shapes = {llama_shape(true), llama_shape(false)};
  std::vector<std::string> skipped;
  const auto plan = attention_plan(shapes, {"bf16", "fp8", "fp16", "bf16"}, &skipped);
  // 2 shapes x {bf16, fp16} x {fwd, bwd} = 8; fp8 named once, the repeated bf16 counted once.
  ASSERT_EQ(plan.size(), 8u);
  EXPECT_EQ(skipped, (std::vector<std::string>{"fp8"}));
  EXPECT_TRUE(plan[0].shape.causal);
  EXPECT_EQ(plan[0].dtype, "bf16");
  EXPECT_EQ(plan[0].direction, "fwd");
  EXPECT_EQ(plan[1].direction, "bwd");
  EXPECT_EQ(plan[2].dtype, "fp16");
  EXPECT_FALSE(plan[4].shape.causal);
}

TEST(AttentionPlan, ModelShapesGiveGqaHeadsPerTp) {
  // Llama-3-8B (32 heads, 8 KV heads, d 128) at TP 4: 8 query heads, 2 KV heads; TP 8 -> 4 and 1.
  const auto shapes = attention_shapes(test::llama3_8b(), {4, 8}, {8192});
  ASSERT_EQ(shapes.size(), 4u);  // 2 TP x 1 seq x {causal, full}
  EXPECT_EQ(shapes[0].heads, 8);
  EXPECT_EQ(shapes[0].kv_heads, 2);
  EXPECT_EQ(shapes[2].heads, 4);
  EXPECT_EQ(shapes[2].kv_heads, 1);
  const SdpaGraph g = sdpa_forward_graph(shapes[2], "bf16");
  EXPECT_EQ(g.tensor("V").layout, bhsd_layout(1, 1, 8192, 128));  // MQA at TP 8
}

TEST(AttentionPointFlops, FlashAttentionConvention) {
  AttentionPoint p;
  p.batch = 1;
  p.heads = 32;
  p.head_dim = 128;
  p.seq_q = p.seq_kv = 4096;
  p.direction = "fwd";
  // 4 * 1 * 4096 * 4096 * 32 * 128 = 2^2 * 2^24 * 2^5 * 2^7 = 2^38 = 274877906944.
  EXPECT_DOUBLE_EQ(p.flops(), 274877906944.0);
  p.causal = true;  // halved: 2^37
  EXPECT_DOUBLE_EQ(p.flops(), 137438953472.0);
  p.direction = "bwd";  // 2.5 x 2^37 = 343597383680
  EXPECT_DOUBLE_EQ(p.flops(), 343597383680.0);
  p.kv_heads = 8;  // GQA does not change the convention (query heads count)
  EXPECT_DOUBLE_EQ(p.flops(), 343597383680.0);
}

}  // namespace
}  // namespace spsim::detail
