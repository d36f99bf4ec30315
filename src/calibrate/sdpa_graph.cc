// cuDNN SDPA graphs as data, lowered the way cudnn-frontend lowers its SDPA nodes (no CUDA here).
//
// Followed (NVIDIA/cudnn-frontend, include/cudnn_frontend/node/):
//   forward  scaled_dot_product_flash_attention.h: K is handed to the backend as K^T (its BHSD
//            dims/strides with the last two swapped), bmm1 = Q x K^T into a virtual fp32 b h s_q
//            s_kv tensor, attn_scale as a pass-by-value fp32 1x1x1x1 MUL, the causal mask,
//            softmax with stats, then bmm2 = P x V with P narrowed to the IO type ("requirement by
//            cudnn backend to take in bmm2 aType as i/o type").
//   causal   attention score modifier causal_mask: GEN_INDEX axis 2 and axis 3 (compute and
//            output INT32), CMP_GE (compute and output BOOLEAN), BINARY_SELECT(score,
//            lowest float passed by value, mask).
//   softmax  softmax.h CompositeSoftmaxNode (cuDNN before 9.21): reduction MAX to b h s 1, SUB,
//            EXP, reduction ADD, LOG, stats = ADD(max, log), P = DIV(exp, sum).
//   backward the SDPA backward node for cuDNN 9 without dropout and without the deterministic
//            dP workspace: softmax_sum = (reduce_add(dO * O)) * 1 kept as a non-virtual fp32
//            workspace, S = Q K^T * scale - stats, causal mask, exp; dV = reshape(P)^T dO; dP = dO
//            V^T; dS = (dP - softmax_sum) * P * scale; dK = reshape(dS)^T Q; dQ_accum (fp32,
//            non-virtual) = dS reshape(K^T); dQ = IDENTITY(dQ_accum). With GQA dK and dV are first
//            computed per query head (virtual dK_fullhead, dV_fullhead) and reduced (ADD) onto the
//            K/V heads.
#include "calibrate/sdpa_graph.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim::detail {

Layout4 bhsd_layout(int64_t b, int64_t h, int64_t s, int64_t d) {
  return Layout4{{b, h, s, d}, {h * s * d, s * d, d, 1}};
}

Layout4 swap_last_two(const Layout4& layout) {
  Layout4 out = layout;
  std::swap(out.dims[2], out.dims[3]);
  std::swap(out.strides[2], out.strides[3]);
  return out;
}

int64_t layout_elements(const Layout4& layout) {
  int64_t span = 1;
  for (size_t i = 0; i < 4; ++i) {
    if (layout.dims[i] == 0) return 0;
    span += (layout.dims[i] - 1) * layout.strides[i];
  }
  return span;
}

int64_t sdpa_type_bytes(SdpaType type) {
  switch (type) {
    case SdpaType::kFloat: return 4;
    case SdpaType::kHalf: return 2;
    case SdpaType::kBf16: return 2;
    case SdpaType::kInt32: return 4;
    case SdpaType::kBool: return 1;
  }
  return 4;
}

const SdpaTensor& SdpaGraph::tensor(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return t;
  }
  throw std::out_of_range("sdpa graph has no tensor " + name);
}

namespace {

SdpaType io_type(const std::string& dtype) {
  if (dtype == "bf16") return SdpaType::kBf16;
  if (dtype == "fp16") return SdpaType::kHalf;
  throw InputError("--dtypes", fmt::format("attention runs in bf16 or fp16 (got {}); drop it from --dtypes", dtype));
}

/// Row statistics layout b h s 1 (strides h s, s, 1, 1), as the frontend sets for stats.
Layout4 row_stats_layout(int64_t b, int64_t h, int64_t s) { return Layout4{{b, h, s, 1}, {h * s, s, 1, 1}}; }

/// Builds a graph tensor by tensor, op by op; uids count from 1 in creation order.
class Builder {
 public:
  int64_t tensor(const std::string& name, const Layout4& layout, SdpaType type, bool is_virtual) {
    SdpaTensor t;
    t.uid = static_cast<int64_t>(graph_.tensors.size()) + 1;
    t.name = name;
    t.layout = layout;
    t.type = type;
    t.is_virtual = is_virtual;
    graph_.tensors.push_back(t);
    return t.uid;
  }
  /// A pass-by-value fp32 scalar, 1x1x1x1 (cudnn-frontend's Tensor_attributes(float)).
  int64_t scalar(const std::string& name, float value) {
    const int64_t uid = tensor(name, Layout4{{1, 1, 1, 1}, {1, 1, 1, 1}}, SdpaType::kFloat, false);
    graph_.tensors.back().by_value = true;
    graph_.tensors.back().value = value;
    return uid;
  }
  int64_t virt(const std::string& name, const Layout4& layout, SdpaType type = SdpaType::kFloat) {
    return tensor(name, layout, type, true);
  }
  void matmul(const std::string& name, int64_t a, int64_t b, int64_t c) {
    SdpaOp op;
    op.kind = SdpaOpKind::kMatmul;
    op.name = name;
    op.inputs = {a, b};
    op.output = c;
    graph_.ops.push_back(op);
  }
  void pointwise(const std::string& name, SdpaPointwise mode, std::vector<int64_t> inputs, int64_t y,
                 SdpaType compute = SdpaType::kFloat, int64_t axis = -1) {
    SdpaOp op;
    op.kind = SdpaOpKind::kPointwise;
    op.name = name;
    op.pointwise = mode;
    op.compute = compute;
    op.axis = axis;
    op.inputs = std::move(inputs);
    op.output = y;
    graph_.ops.push_back(op);
  }
  void reduction(const std::string& name, SdpaReduction mode, int64_t x, int64_t y) {
    SdpaOp op;
    op.kind = SdpaOpKind::kReduction;
    op.name = name;
    op.reduction = mode;
    op.inputs = {x};
    op.output = y;
    graph_.ops.push_back(op);
  }
  void reshape(const std::string& name, int64_t x, int64_t y) {
    SdpaOp op;
    op.kind = SdpaOpKind::kReshape;
    op.name = name;
    op.inputs = {x};
    op.output = y;
    graph_.ops.push_back(op);
  }
  SdpaGraph take() { return std::move(graph_); }

 private:
  SdpaGraph graph_;
};

/// score -> BINARY_SELECT(score, lowest, row >= col): the causal (top-left) mask.
int64_t causal_mask(Builder& g, int64_t score, const Layout4& scores, int64_t neg_inf) {
  const int64_t row = g.virt("causal_row_index", scores, SdpaType::kInt32);
  g.pointwise("gen_row_idx_causal", SdpaPointwise::kGenIndex, {score}, row, SdpaType::kInt32, 2);
  const int64_t col = g.virt("causal_col_index", scores, SdpaType::kInt32);
  g.pointwise("gen_col_idx_causal", SdpaPointwise::kGenIndex, {score}, col, SdpaType::kInt32, 3);
  const int64_t keep = g.virt("causal_keep", scores, SdpaType::kBool);
  g.pointwise("row_greater_than_col", SdpaPointwise::kCmpGe, {row, col}, keep, SdpaType::kBool);
  const int64_t out = g.virt("causal_masked", scores);
  g.pointwise("binary_select", SdpaPointwise::kBinarySelect, {score, neg_inf, keep}, out);
  return out;
}

/// A K or V gradient: the matmul straight into it (MHA), or, with GQA (`full_layout` set: one
/// slice per query head), into a virtual per-query-head tensor reduced (ADD) onto the K/V heads,
/// as cudnn-frontend writes dK_fullhead / dV_fullhead.
void kv_head_grad(Builder& g, const std::string& matmul, int64_t a, int64_t b, int64_t out,
                  const std::string& what, const Layout4* full_layout, SdpaType io) {
  if (full_layout == nullptr) {
    g.matmul(matmul, a, b, out);
    return;
  }
  const int64_t full = g.virt(what + "_fullhead", *full_layout, io);
  g.matmul(matmul, a, b, full);
  g.reduction("red_" + what + "_head", SdpaReduction::kAdd, full, out);
}

void check_shape(const AttentionShape& s) {
  if (s.batch < 1 || s.heads < 1 || s.kv_heads < 1 || s.head_dim < 1 || s.seq < 1) {
    throw InputError("attention shape", fmt::format("batch, heads, kv_heads, head_dim and seq must be >= 1 "
                                                    "(got {}, {}, {}, {}, {})",
                                                    s.batch, s.heads, s.kv_heads, s.head_dim, s.seq));
  }
  if (s.heads % s.kv_heads != 0) {
    throw InputError("attention shape", fmt::format("query heads must be a multiple of K/V heads (got {} and {})",
                                                    s.heads, s.kv_heads));
  }
}

}  // namespace

float sdpa_mask_fill(int cudnn_version) {
  return cudnn_version >= 91000 ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::lowest();
}

SdpaGraph sdpa_forward_graph(const AttentionShape& shape, const std::string& dtype, int cudnn_version) {
  check_shape(shape);
  const SdpaType io = io_type(dtype);
  const int64_t b = shape.batch, h = shape.heads, hk = shape.kv_heads, s = shape.seq, d = shape.head_dim;
  const Layout4 scores = bhsd_layout(b, h, s, s);
  const Layout4 rows = row_stats_layout(b, h, s);
  Builder g;
  const int64_t q = g.tensor("Q", bhsd_layout(b, h, s, d), io, false);
  const int64_t k = g.tensor("K", swap_last_two(bhsd_layout(b, hk, s, d)), io, false);
  const int64_t v = g.tensor("V", bhsd_layout(b, hk, s, d), io, false);
  const int64_t o = g.tensor("O", bhsd_layout(b, h, s, d), io, false);
  const int64_t stats = g.tensor("Stats", rows, SdpaType::kFloat, false);
  const int64_t scale = g.scalar("attn_scale", static_cast<float>(1.0 / std::sqrt(static_cast<double>(d))));

  const int64_t s_raw = g.virt("bmm1_output", scores);
  g.matmul("bmm1", q, k, s_raw);
  int64_t last = g.virt("attn_scale_output", scores);
  g.pointwise("attn_scale", SdpaPointwise::kMul, {s_raw, scale}, last);
  if (shape.causal) last = causal_mask(g, last, scores, g.scalar("negative_inf_causal", sdpa_mask_fill(cudnn_version)));

  // Composite softmax with stats.
  const int64_t max = g.virt("softmax_max", rows);
  g.reduction("Max", SdpaReduction::kMax, last, max);
  const int64_t sub = g.virt("sub_M", scores);
  g.pointwise("sub", SdpaPointwise::kSub, {last, max}, sub);
  const int64_t exp = g.virt("exp_sub_M", scores);
  g.pointwise("exp", SdpaPointwise::kExp, {sub}, exp);
  const int64_t sum = g.virt("SumExp", rows);
  g.reduction("sum", SdpaReduction::kAdd, exp, sum);
  const int64_t log = g.virt("log_SumExp", rows);
  g.pointwise("log", SdpaPointwise::kLog, {sum}, log);
  g.pointwise("add", SdpaPointwise::kAdd, {max, log}, stats);
  const int64_t p = g.virt("softmax_output", scores, io);
  g.pointwise("div", SdpaPointwise::kDiv, {exp, sum}, p);

  g.matmul("bmm2", p, v, o);
  return g.take();
}

SdpaGraph sdpa_backward_graph(const AttentionShape& shape, const std::string& dtype, int cudnn_version) {
  check_shape(shape);
  const SdpaType io = io_type(dtype);
  const int64_t b = shape.batch, h = shape.heads, hk = shape.kv_heads, s = shape.seq, d = shape.head_dim;
  const Layout4 scores = bhsd_layout(b, h, s, s);
  const Layout4 scores_t{{b, h, s, s}, {h * s * s, s * s, 1, s}};  // (b, h, s_kv, s_q) view of b h s_q s_kv
  const Layout4 rows = row_stats_layout(b, h, s);
  const Layout4 q_layout = bhsd_layout(b, h, s, d);
  const Layout4 kv_layout = bhsd_layout(b, hk, s, d);
  Builder g;
  const int64_t q = g.tensor("Q", q_layout, io, false);
  const int64_t k = g.tensor("K", swap_last_two(kv_layout), io, false);  // as K^T
  const int64_t v = g.tensor("V", swap_last_two(kv_layout), io, false);  // as V^T
  const int64_t o = g.tensor("O", q_layout, io, false);
  const int64_t d_o = g.tensor("dO", q_layout, io, false);
  const int64_t stats = g.tensor("Stats", rows, SdpaType::kFloat, false);
  const int64_t dq = g.tensor("dQ", q_layout, io, false);
  const int64_t dk = g.tensor("dK", kv_layout, io, false);
  const int64_t dv = g.tensor("dV", kv_layout, io, false);
  const int64_t scale = g.scalar("attn_scale", static_cast<float>(1.0 / std::sqrt(static_cast<double>(d))));
  const int64_t one = g.scalar("one", 1.0f);

  // softmax_sum = rowsum(dO * O) * 1 (the 1 stands where dropout's inverse scale would).
  const int64_t do_o = g.virt("mul_dO_O_output", q_layout);
  g.pointwise("mul_dO_O", SdpaPointwise::kMul, {d_o, o}, do_o);
  const int64_t rowsum = g.virt("reduce_dO_o_output", rows);
  g.reduction("reduce_dO_o", SdpaReduction::kAdd, do_o, rowsum);
  const int64_t softmax_sum = g.tensor("softmax_sum", rows, SdpaType::kFloat, false);
  g.pointwise("scale_dropout_inv", SdpaPointwise::kMul, {rowsum, one}, softmax_sum);

  // P = exp(scale Q K^T - stats), causally masked.
  const int64_t s_raw = g.virt("matmul_Q_KT_output", scores);
  g.matmul("matmul_Q_KT", q, k, s_raw);
  const int64_t s_scaled = g.virt("mul_s_attn_scale_output", scores);
  g.pointwise("mul_s_attn_scale", SdpaPointwise::kMul, {s_raw, scale}, s_scaled);
  int64_t last = g.virt("sub_s_m_output", scores);
  g.pointwise("sub_s_m", SdpaPointwise::kSub, {s_scaled, stats}, last);
  if (shape.causal) last = causal_mask(g, last, scores, g.scalar("negative_inf_causal", sdpa_mask_fill(cudnn_version)));
  const int64_t exp_s = g.virt("exp_s_output", scores);
  g.pointwise("exp_s", SdpaPointwise::kExp, {last}, exp_s);

  // dV = P^T dO (per query head, then reduced onto the K/V heads for GQA).
  const int64_t p_t = g.virt("reshape_p_output", scores_t, io);
  g.reshape("reshape_p", exp_s, p_t);
  kv_head_grad(g, "matmul_pT_dO", p_t, d_o, dv, "dV", h != hk ? &q_layout : nullptr, io);

  // dS = (dO V^T - softmax_sum) * P * scale.
  const int64_t dp = g.virt("matmul_dO_VT_output", scores);
  g.matmul("matmul_dO_VT", d_o, v, dp);
  const int64_t dp_sub = g.virt("sub_dP_softmax_sum_output", scores);
  g.pointwise("sub_dP_softmax_sum", SdpaPointwise::kSub, {dp, softmax_sum}, dp_sub);
  const int64_t dp_exp = g.virt("mul_dP_exp_s_output", scores);
  g.pointwise("mul_dP_exp_s", SdpaPointwise::kMul, {dp_sub, exp_s}, dp_exp);
  const int64_t ds = g.virt("mul_dS_attn_scale_output", scores);
  g.pointwise("mul_dS_attn_scale", SdpaPointwise::kMul, {dp_exp, scale}, ds);

  // dK = dS^T Q.
  const int64_t ds_t = g.virt("reshape_dS_output", scores_t, io);
  g.reshape("reshape_dS", ds, ds_t);
  kv_head_grad(g, "matmul_dST_Q", ds_t, q, dk, "dK", h != hk ? &q_layout : nullptr, io);

  // dQ = dS K, accumulated in fp32.
  const int64_t k_view = g.virt("reshape_k_output", kv_layout);
  g.reshape("reshape_k", k, k_view);
  const int64_t dq_accum = g.tensor("dQ_accum", q_layout, SdpaType::kFloat, false);
  g.matmul("matmul_dS_K", ds, k_view, dq_accum);
  g.pointwise("identity_dQ", SdpaPointwise::kIdentity, {dq_accum}, dq);
  return g.take();
}

int64_t sdpa_device_bytes(const SdpaGraph& graph) {
  int64_t bytes = 0;
  for (const auto& t : graph.tensors) {
    if (t.is_virtual || t.by_value) continue;
    bytes += layout_elements(t.layout) * sdpa_type_bytes(t.type);
  }
  return bytes;
}

std::string sdpa_support_issue(const AttentionShape& shape, int sm, bool backward, int cudnn_version) {
  if (sm < 80) return fmt::format("cuDNN's fused flash attention needs sm_80 or newer (this GPU is sm_{})", sm);
  if (cudnn_version == 91000 || cudnn_version == 91001) {
    return fmt::format("cuDNN {} has known SDPA bugs (cudnn-frontend sdpa_support_surface.h refuses 9.10.0 "
                       "and 9.10.1); use another cuDNN", cudnn_version);
  }
  if (backward && shape.seq == 1) return "the SDPA backward does not support a sequence of 1";
  if (backward && shape.seq % 128 != 0 && cudnn_version <= 91500) {
    return fmt::format("backward with s = {} (not a multiple of 128) needs the padding-mask workaround "
                       "cudnn-frontend adds up to cuDNN 9.15.0 (this is {}), which these graphs do not "
                       "build; use a --seq multiple of 128", shape.seq, cudnn_version);
  }
  if (shape.kv_heads < 1 || shape.heads % shape.kv_heads != 0) {
    return fmt::format("query heads ({}) are not a multiple of K/V heads ({})", shape.heads, shape.kv_heads);
  }
  const int64_t max_dim = sm / 10 == 9 ? 256 : 128;
  if (shape.head_dim % 8 != 0 || shape.head_dim > max_dim) {
    return fmt::format("head_dim {} is unsupported: it must be a multiple of 8 and at most {} on sm_{}",
                       shape.head_dim, max_dim, sm);
  }
  return "";
}

float sdpa_io_fill_value(const std::string& dtype) {
  if (dtype == "bf16") return 0.011474609375f;  // 0x3c3c: 2^-7 x (1 + 60/128)
  if (dtype == "fp16") return 1.05859375f;      // 0x3c3c: 2^0 x (1 + 60/1024)
  throw InputError("attention dtype", fmt::format("\"{}\" has no SDPA graph; use bf16 or fp16", dtype));
}

std::vector<float> sdpa_uniform_stats(const AttentionShape& shape, float x) {
  check_shape(shape);
  const double scale = 1.0 / std::sqrt(static_cast<double>(shape.head_dim));
  const double score = scale * static_cast<double>(shape.head_dim) * static_cast<double>(x) * x;
  std::vector<float> stats;
  stats.reserve(static_cast<size_t>(shape.batch * shape.heads * shape.seq));
  for (int64_t bh = 0; bh < shape.batch * shape.heads; ++bh) {
    for (int64_t i = 0; i < shape.seq; ++i) {
      const double keys = shape.causal ? static_cast<double>(i + 1) : static_cast<double>(shape.seq);
      stats.push_back(static_cast<float>(score + std::log(keys)));
    }
  }
  return stats;
}

std::vector<AttentionPlanPoint> attention_plan(const std::vector<AttentionShape>& shapes,
                                               const std::vector<std::string>& dtypes,
                                               std::vector<std::string>* skipped) {
  std::vector<std::string> kept;
  for (const auto& dt : dtypes) {
    if (dt == "bf16" || dt == "fp16") {
      if (std::find(kept.begin(), kept.end(), dt) == kept.end()) kept.push_back(dt);
    } else if (skipped != nullptr && std::find(skipped->begin(), skipped->end(), dt) == skipped->end()) {
      skipped->push_back(dt);
    }
  }
  std::vector<AttentionPlanPoint> out;
  for (const auto& shape : shapes) {
    for (const auto& dt : kept) {
      for (const char* dir : {"fwd", "bwd"}) out.push_back(AttentionPlanPoint{shape, dir, dt});
    }
  }
  return out;
}

}  // namespace spsim::detail
