// The cuDNN scaled-dot-product-attention (flash) graphs spsim-microbench measures, as plain data:
// tensors (uid, dims, strides, type, virtual / by-value) and operations (matmul, pointwise,
// reduction, reshape) in the order cudnn-frontend's SDPA nodes lower them to the cuDNN backend
// (include/cudnn_frontend/node/scaled_dot_product_flash_attention.h, softmax.h and the
// attention score modifiers of NVIDIA/cudnn-frontend; see docs/calibration.md). No CUDA here:
// microbench/src/attention.cc turns a graph into backend descriptors one to one, and
// tests/calibrate/sdpa_graph_test.cc checks the graphs without a GPU.
#ifndef SPSIM_CALIBRATE_SDPA_GRAPH_H_
#define SPSIM_CALIBRATE_SDPA_GRAPH_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "calibrate/microbench_plan.h"

namespace spsim::detail {

/// Element types the graphs use (mapped to cudnnDataType_t by the microbenchmark).
enum class SdpaType { kFloat, kHalf, kBf16, kInt32, kBool };

/// Dims and strides of a rank-4 tensor, outermost first (cuDNN order).
struct Layout4 {
  std::array<int64_t, 4> dims{};
  std::array<int64_t, 4> strides{};
  friend bool operator==(const Layout4&, const Layout4&) = default;
};

/// Packed (b, h, s, d) layout: strides (h s d, s d, d, 1).
Layout4 bhsd_layout(int64_t b, int64_t h, int64_t s, int64_t d);
/// The same memory seen with the last two dimensions swapped (K as K^T for Q K^T).
Layout4 swap_last_two(const Layout4& layout);
/// Elements a layout spans: 1 + sum (dim - 1) stride (= product of dims when packed).
int64_t layout_elements(const Layout4& layout);

struct SdpaTensor {
  int64_t uid = 0;
  std::string name;
  Layout4 layout;
  SdpaType type = SdpaType::kFloat;
  bool is_virtual = false;
  bool by_value = false;  // a host scalar passed in the variant pack (scale, -inf, 1)
  float value = 0;        // the scalar's value when by_value
};

enum class SdpaOpKind { kMatmul, kPointwise, kReduction, kReshape };
enum class SdpaPointwise { kNone, kMul, kSub, kAdd, kDiv, kExp, kLog, kIdentity, kGenIndex, kCmpGe,
                           kBinarySelect };
enum class SdpaReduction { kNone, kMax, kAdd };

/// One backend operation. Matmul: inputs {A, B}, C = A x B over the last two dims, batched over
/// the first two (K/V heads broadcast over query heads for GQA). Pointwise: inputs {x, b, t}
/// as used (BINARY_SELECT: y = t ? x : b). Reduction: y has 1 where x is reduced.
struct SdpaOp {
  SdpaOpKind kind = SdpaOpKind::kPointwise;
  std::string name;
  SdpaPointwise pointwise = SdpaPointwise::kNone;
  SdpaReduction reduction = SdpaReduction::kNone;
  int64_t axis = -1;                   // GEN_INDEX axis
  SdpaType compute = SdpaType::kFloat;  // math precision / compute type
  std::vector<int64_t> inputs;         // uids
  int64_t output = 0;                  // uid
};

struct SdpaGraph {
  std::vector<SdpaTensor> tensors;  // uid order = creation order (uids 1, 2, ...)
  std::vector<SdpaOp> ops;          // topological order
  /// The tensor called `name`; throws std::out_of_range if there is none.
  const SdpaTensor& tensor(const std::string& name) const;
};

/// A cuDNN version as cudnnGetVersion() reports it: major x 10000 + minor x 100 + patch
/// (9.6.0 = 90600). Some lowering details and support limits depend on it; the graph builders
/// default to the oldest cuDNN 9.
inline constexpr int kOldestCudnn9 = 90000;

/// The value masked scores are set to: the lowest float before cuDNN 9.10.0, -infinity from it
/// (cudnn-frontend utils/attn_score_modifiers.h, get_negative_inf_value).
float sdpa_mask_fill(int cudnn_version);

/// Training forward: O = softmax(scale Q K^T [causal mask]) V with the softmax statistics
/// (max + log sum exp, fp32, b h s 1) written for the backward. IO tensors Q, K, V, O are packed
/// BHSD in `dtype` ("bf16" | "fp16"); K and V have shape.kv_heads heads (GQA when fewer than
/// shape.heads). Scale is 1/sqrt(head_dim). Throws InputError for an unsupported dtype.
SdpaGraph sdpa_forward_graph(const AttentionShape& shape, const std::string& dtype,
                             int cudnn_version = kOldestCudnn9);

/// Backward: dQ, dK, dV from Q, K, V, O, dO and the forward's statistics, with cudnn-frontend's
/// fp32 workspaces (softmax_sum b h s 1, dQ_accum b h s d) as non-virtual tensors and, for GQA,
/// per-query-head dK/dV reduced onto the K/V heads. dQ = dS K reads K through a float reshape
/// (the frontend leaves that virtual tensor's type to the float intermediate type).
SdpaGraph sdpa_backward_graph(const AttentionShape& shape, const std::string& dtype,
                              int cudnn_version = kOldestCudnn9);

/// Bytes of device memory the graph's non-virtual, non-by-value tensors need (packed).
int64_t sdpa_device_bytes(const SdpaGraph& graph);

/// Bytes per element of an SdpaType.
int64_t sdpa_type_bytes(SdpaType type);

/// Why cuDNN's fused flash-attention engines cannot run `shape` (forward, or `backward`) on a GPU
/// of compute capability `sm` (e.g. 90) with `cudnn_version`, per cudnn-frontend's SDPA support
/// checks (sdpa_support_surface.h / scaled_dot_product_flash_attention.h): head_dim a multiple of
/// 8 and at most 128 (256 on sm_90), query heads a multiple of K/V heads, not cuDNN 9.10.0/9.10.1
/// (known SDPA bugs), backward not with s = 1, and backward with s % 128 != 0 only from cuDNN
/// 9.15.1 (before it the frontend adds a padding-mask workaround these graphs do not build).
/// Empty when supported.
std::string sdpa_support_issue(const AttentionShape& shape, int sm, bool backward = false,
                               int cudnn_version = kOldestCudnn9);

/// The value every element of an IO buffer holds when each byte is 0x3c (how the benchmark fills
/// them): bf16 0x3c3c = 0.011474609375, fp16 0x3c3c = 1.05859375.
float sdpa_io_fill_value(const std::string& dtype);

/// The forward's softmax statistics (max + log sum exp, b h s 1) for Q and K filled with one value
/// `x`: every score is scale x head_dim x x^2, so row i's statistic is that plus log of the
/// number of keys it sees (i + 1 causal, s full). The backward reads them; zeros would make
/// exp(score - 0) overflow fp16 and turn dS into NaN.
std::vector<float> sdpa_uniform_stats(const AttentionShape& shape, float x);

/// One attention measurement to take: a shape, a direction and a dtype.
struct AttentionPlanPoint {
  AttentionShape shape;
  std::string direction;  // "fwd" | "bwd"
  std::string dtype;      // "bf16" | "fp16"
};

/// Every (shape, dtype, direction) in that nesting order, fwd before bwd. Dtypes other than
/// bf16 and fp16 are left out and named in `skipped` (fp8 attention needs a different graph).
std::vector<AttentionPlanPoint> attention_plan(const std::vector<AttentionShape>& shapes,
                                               const std::vector<std::string>& dtypes,
                                               std::vector<std::string>* skipped);

}  // namespace spsim::detail

#endif  // SPSIM_CALIBRATE_SDPA_GRAPH_H_
