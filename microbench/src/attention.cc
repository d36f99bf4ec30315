// The attention subcommand: cuDNN scaled-dot-product attention (the fused flash-attention
// engines) forward and backward through the cuDNN 9 backend API. The graphs themselves (tensors,
// uids, operations, in cudnn-frontend's lowering) come from src/calibrate/sdpa_graph.h; this file
// only turns them into backend descriptors, picks the first execution plan the heuristics offer
// that finalizes, and times it. A shape no engine supports is skipped with one stderr line naming
// the cuDNN error (no unfused fallback: see docs/calibration.md). Runs on the first GPU of
// process 0; other MPI processes wait.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench.h"
#include "calibrate/sdpa_graph.h"
#include "spsim/model.h"
#include "timing.h"

#ifdef SPSIM_MICROBENCH_CUDNN
#include <cudnn.h>
#endif

namespace spsim::microbench {

#ifndef SPSIM_MICROBENCH_CUDNN

std::vector<AttentionPoint> run_attention(const Layout& layout, const detail::MicrobenchArgs& args) {
  // The shapes are planned (and checked against the model) so that argument errors surface.
  const auto shapes = detail::attention_shapes(load_model(args.model), args.tp, args.seq);
  (void)layout;
  throw DeviceError(fmt::format(
      "attention: this spsim-microbench was built without cuDNN ({} shapes were planned); install cuDNN 9 "
      "and rebuild, or use gemm, memory and collectives", shapes.size()));
}

#else

namespace {

using detail::SdpaGraph;
using detail::SdpaOp;
using detail::SdpaOpKind;
using detail::SdpaPointwise;
using detail::SdpaReduction;
using detail::SdpaTensor;
using detail::SdpaType;

void check_cudnn(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  char last[512] = {0};
  cudnnGetLastErrorString(last, sizeof(last));
  std::string detail = last;
  for (auto& c : detail) {
    if (c == '\n' || c == '\r') c = ' ';  // keep the error on one line
  }
  throw DeviceError(fmt::format("{}:{}: {}: {}{}{}", file, line, call, cudnnGetErrorString(status),
                                detail.empty() ? "" : ": ", detail));
}
#define MB_CUDNN(call) check_cudnn((call), #call, __FILE__, __LINE__)

/// Owns one backend descriptor.
class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) {
    MB_CUDNN(cudnnBackendCreateDescriptor(type, &desc_));
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  ~Desc() {
    if (desc_ != nullptr) cudnnBackendDestroyDescriptor(desc_);
  }
  cudnnBackendDescriptor_t get() const { return desc_; }
  template <typename T>
  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const T* values) {
    MB_CUDNN(cudnnBackendSetAttribute(desc_, name, type, count, values));
  }
  void set_desc(cudnnBackendAttributeName_t name, const Desc& other) {
    cudnnBackendDescriptor_t d = other.get();
    MB_CUDNN(cudnnBackendSetAttribute(desc_, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &d));
  }
  void finalize() { MB_CUDNN(cudnnBackendFinalize(desc_)); }

 private:
  cudnnBackendDescriptor_t desc_ = nullptr;
};

cudnnDataType_t cudnn_type(SdpaType t) {
  switch (t) {
    case SdpaType::kFloat: return CUDNN_DATA_FLOAT;
    case SdpaType::kHalf: return CUDNN_DATA_HALF;
    case SdpaType::kBf16: return CUDNN_DATA_BFLOAT16;
    case SdpaType::kInt32: return CUDNN_DATA_INT32;
    case SdpaType::kBool: return CUDNN_DATA_BOOLEAN;
  }
  return CUDNN_DATA_FLOAT;
}

cudnnPointwiseMode_t cudnn_pointwise(SdpaPointwise m) {
  switch (m) {
    case SdpaPointwise::kMul: return CUDNN_POINTWISE_MUL;
    case SdpaPointwise::kSub: return CUDNN_POINTWISE_SUB;
    case SdpaPointwise::kAdd: return CUDNN_POINTWISE_ADD;
    case SdpaPointwise::kDiv: return CUDNN_POINTWISE_DIV;
    case SdpaPointwise::kExp: return CUDNN_POINTWISE_EXP;
    case SdpaPointwise::kLog: return CUDNN_POINTWISE_LOG;
    case SdpaPointwise::kIdentity: return CUDNN_POINTWISE_IDENTITY;
    case SdpaPointwise::kGenIndex: return CUDNN_POINTWISE_GEN_INDEX;
    case SdpaPointwise::kCmpGe: return CUDNN_POINTWISE_CMP_GE;
    case SdpaPointwise::kBinarySelect: return CUDNN_POINTWISE_BINARY_SELECT;
    case SdpaPointwise::kNone: break;
  }
  throw DeviceError("attention: a pointwise operation of the SDPA graph has no mode (a bug in sdpa_graph.cc)");
}

/// The graph as finalized backend descriptors plus what executing it needs.
struct BuiltGraph {
  std::vector<std::unique_ptr<Desc>> keep;  // tensors, op descriptors (alive while the graph is)
  std::unique_ptr<Desc> op_graph;
};

BuiltGraph build_operation_graph(cudnnHandle_t handle, const SdpaGraph& graph) {
  BuiltGraph built;
  std::vector<const Desc*> tensor_desc(graph.tensors.size() + 1, nullptr);
  for (const SdpaTensor& t : graph.tensors) {
    auto d = std::make_unique<Desc>(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    const cudnnDataType_t type = cudnn_type(t.type);
    const int64_t alignment = 16;
    const bool is_virtual = t.is_virtual, by_value = t.by_value;
    d->set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
    d->set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, t.layout.dims.data());
    d->set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, t.layout.strides.data());
    d->set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &t.uid);
    d->set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
    d->set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
    if (by_value) d->set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value);
    d->finalize();
    tensor_desc.at(static_cast<size_t>(t.uid)) = d.get();
    built.keep.push_back(std::move(d));
  }
  auto td = [&](int64_t uid) -> const Desc& { return *tensor_desc.at(static_cast<size_t>(uid)); };

  std::vector<cudnnBackendDescriptor_t> ops;
  for (const SdpaOp& op : graph.ops) {
    const cudnnDataType_t compute = cudnn_type(op.compute);
    std::unique_ptr<Desc> node;
    if (op.kind == SdpaOpKind::kMatmul) {
      auto mm = std::make_unique<Desc>(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
      mm->set(CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
      mm->finalize();
      node = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
      node->set_desc(CUDNN_ATTR_OPERATION_MATMUL_ADESC, td(op.inputs.at(0)));
      node->set_desc(CUDNN_ATTR_OPERATION_MATMUL_BDESC, td(op.inputs.at(1)));
      node->set_desc(CUDNN_ATTR_OPERATION_MATMUL_CDESC, td(op.output));
      node->set_desc(CUDNN_ATTR_OPERATION_MATMUL_DESC, *mm);
      built.keep.push_back(std::move(mm));
    } else if (op.kind == SdpaOpKind::kPointwise) {
      auto pw = std::make_unique<Desc>(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
      const cudnnPointwiseMode_t mode = cudnn_pointwise(op.pointwise);
      pw->set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
      pw->set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &compute);
      if (op.axis >= 0) pw->set(CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &op.axis);
      pw->finalize();
      node = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
      node->set_desc(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, *pw);
      node->set_desc(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, td(op.inputs.at(0)));
      if (op.inputs.size() > 1) node->set_desc(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, td(op.inputs[1]));
      if (op.inputs.size() > 2) node->set_desc(CUDNN_ATTR_OPERATION_POINTWISE_TDESC, td(op.inputs[2]));
      node->set_desc(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, td(op.output));
      built.keep.push_back(std::move(pw));
    } else if (op.kind == SdpaOpKind::kReduction) {
      auto red = std::make_unique<Desc>(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
      const cudnnReduceTensorOp_t mode =
          op.reduction == SdpaReduction::kMax ? CUDNN_REDUCE_TENSOR_MAX : CUDNN_REDUCE_TENSOR_ADD;
      red->set(CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode);
      red->set(CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
      red->finalize();
      node = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
      node->set_desc(CUDNN_ATTR_OPERATION_REDUCTION_XDESC, td(op.inputs.at(0)));
      node->set_desc(CUDNN_ATTR_OPERATION_REDUCTION_YDESC, td(op.output));
      node->set_desc(CUDNN_ATTR_OPERATION_REDUCTION_DESC, *red);
      built.keep.push_back(std::move(red));
    } else {
      node = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
      node->set_desc(CUDNN_ATTR_OPERATION_RESHAPE_XDESC, td(op.inputs.at(0)));
      node->set_desc(CUDNN_ATTR_OPERATION_RESHAPE_YDESC, td(op.output));
    }
    node->finalize();
    ops.push_back(node->get());
    built.keep.push_back(std::move(node));
  }
  built.op_graph = std::make_unique<Desc>(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  built.op_graph->set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  built.op_graph->set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                      static_cast<int64_t>(ops.size()), ops.data());
  built.op_graph->finalize();
  return built;
}

/// An execution plan and the engine configuration it was built from (kept alive with the plan,
/// as cudnn-frontend keeps its engine config: the backend does not document a deep copy).
struct Plan {
  std::unique_ptr<Desc> config;
  std::unique_ptr<Desc> plan;
};

/// The first engine configuration of heuristics mode A whose execution plan finalizes.
Plan build_plan(cudnnHandle_t handle, const Desc& op_graph) {
  Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heur.set_desc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, op_graph);
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  heur.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  heur.finalize();
  int64_t count = 0;
  MB_CUDNN(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                    &count, nullptr));
  if (count == 0) throw DeviceError("attention: cuDNN heuristics returned no engine configuration for the graph");
  std::vector<std::unique_ptr<Desc>> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i) {
    configs.push_back(std::make_unique<Desc>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw.push_back(configs.back()->get());
  }
  int64_t returned = 0;
  MB_CUDNN(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                                    &returned, raw.data()));
  std::string last_error = "no configuration returned";
  for (int64_t i = 0; i < returned; ++i) {
    try {
      auto plan = std::make_unique<Desc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
      plan->set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
      plan->set_desc(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, *configs[static_cast<size_t>(i)]);
      plan->finalize();
      return Plan{std::move(configs[static_cast<size_t>(i)]), std::move(plan)};
    } catch (const DeviceError& e) {
      last_error = e.what();
    }
  }
  throw DeviceError(fmt::format("attention: none of the {} engine configurations cuDNN offered finalized; last: {}",
                                returned, last_error));
}

/// Device buffers for the graph's non-virtual tensors, filled with small values.
struct Buffers {
  std::vector<int64_t> uids;
  std::vector<void*> pointers;
  std::vector<void*> owned;
  std::vector<float> scalars;  // by-value scalars, stable addresses (reserved up front)
  ~Buffers() {
    for (void* p : owned) cudaFree(p);
  }
};

void fill_buffers(const SdpaGraph& graph, Buffers* b) {
  b->scalars.reserve(graph.tensors.size());
  for (const SdpaTensor& t : graph.tensors) {
    if (t.is_virtual) continue;
    b->uids.push_back(t.uid);
    if (t.by_value) {
      b->scalars.push_back(t.value);
      b->pointers.push_back(&b->scalars.back());
      continue;
    }
    const size_t bytes =
        static_cast<size_t>(detail::layout_elements(t.layout) * detail::sdpa_type_bytes(t.type));
    void* p = nullptr;
    MB_CUDA(cudaMalloc(&p, bytes));
    b->owned.push_back(p);
    // 0x3c in every byte: bf16 0x3c3c = 0.0115, fp16 0x3c3c = 1.06; fp32 workspaces and
    // statistics start at 0 (softmax_sum and dQ_accum are written by the graph itself).
    const bool is_io = t.type == SdpaType::kBf16 || t.type == SdpaType::kHalf;
    MB_CUDA(cudaMemset(p, is_io ? 0x3c : 0, bytes));
    b->pointers.push_back(p);
  }
}

}  // namespace

std::vector<AttentionPoint> run_attention(const Layout& layout, const detail::MicrobenchArgs& args) {
  const auto shapes = detail::attention_shapes(load_model(args.model), args.tp, args.seq);
  std::vector<std::string> skipped_dtypes;
  const auto plan = detail::attention_plan(shapes, args.dtypes, &skipped_dtypes);
  std::vector<AttentionPoint> points;
  if (layout.process_rank != 0) return points;
  for (const auto& dt : skipped_dtypes) {
    fmt::print(stderr, "spsim-microbench: attention {} skipped: only bf16 and fp16 SDPA graphs are built\n", dt);
  }
  MB_CUDA(cudaSetDevice(layout.devices.at(0)));
  cudaDeviceProp prop{};
  MB_CUDA(cudaGetDeviceProperties(&prop, layout.devices.at(0)));
  const int sm = prop.major * 10 + prop.minor;
  cudaStream_t stream;
  MB_CUDA(cudaStreamCreate(&stream));
  cudnnHandle_t handle;
  MB_CUDNN(cudnnCreate(&handle));
  MB_CUDNN(cudnnSetStream(handle, stream));
  const int cudnn_version = static_cast<int>(cudnnGetVersion());
  for (const auto& point : plan) {
    const auto& s = point.shape;
    const std::string what = fmt::format("attention {} {} {} b={} h={} h_kv={} d={} s={}", point.dtype,
                                         point.direction, s.causal ? "causal" : "full", s.batch, s.heads,
                                         s.kv_heads, s.head_dim, s.seq);
    const bool backward = point.direction == "bwd";
    const std::string issue = detail::sdpa_support_issue(s, sm, backward, cudnn_version);
    if (!issue.empty()) {
      fmt::print(stderr, "spsim-microbench: {} skipped: {}\n", what, issue);
      continue;
    }
    const SdpaGraph graph = backward ? detail::sdpa_backward_graph(s, point.dtype, cudnn_version)
                                     : detail::sdpa_forward_graph(s, point.dtype, cudnn_version);
    const int64_t need = detail::sdpa_device_bytes(graph);
    size_t free_bytes = 0, total_bytes = 0;
    MB_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (need > static_cast<int64_t>(free_bytes)) {
      fmt::print(stderr, "spsim-microbench: {} skipped: needs {} bytes of device memory, {} free\n", what, need,
                 free_bytes);
      continue;
    }
    // Building the plan is where an unsupported shape shows; skip it with cuDNN's reason.
    BuiltGraph built;
    Plan chosen;
    try {
      built = build_operation_graph(handle, graph);
      chosen = build_plan(handle, *built.op_graph);
    } catch (const DeviceError& e) {
      fmt::print(stderr, "spsim-microbench: {} skipped: no cuDNN plan: {}\n", what, e.what());
      continue;
    }
    const Desc* exec_plan = chosen.plan.get();
    int64_t workspace_bytes = 0;
    MB_CUDNN(cudnnBackendGetAttribute(exec_plan->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                      1, nullptr, &workspace_bytes));
    if (need + workspace_bytes > static_cast<int64_t>(free_bytes)) {
      fmt::print(stderr, "spsim-microbench: {} skipped: needs {} bytes of device memory and {} of cuDNN "
                 "workspace, {} free\n", what, need, workspace_bytes, free_bytes);
      continue;
    }
    Buffers buffers;
    fill_buffers(graph, &buffers);
    void* workspace = nullptr;
    if (workspace_bytes > 0) {
      MB_CUDA(cudaMalloc(&workspace, static_cast<size_t>(workspace_bytes)));
      buffers.owned.push_back(workspace);
    }
    // The backward reads the forward's statistics: give it the ones Q = K = constant produce.
    // Before cuDNN 9.6.0 the fp32 dQ accumulator must be cleared before every execution (the
    // frontend registers that memset; from 9.6.0 the kernel does it).
    void* dq_accum = nullptr;
    size_t dq_accum_bytes = 0;
    if (backward) {
      const std::vector<float> stats =
          detail::sdpa_uniform_stats(s, detail::sdpa_io_fill_value(point.dtype));
      for (size_t i = 0; i < buffers.uids.size(); ++i) {
        const SdpaTensor* t = nullptr;
        for (const auto& candidate : graph.tensors) {
          if (candidate.uid == buffers.uids[i]) t = &candidate;
        }
        if (t == nullptr) continue;
        if (t->name == "Stats") {
          MB_CUDA(cudaMemcpy(buffers.pointers[i], stats.data(), stats.size() * sizeof(float),
                             cudaMemcpyHostToDevice));
        }
        if (t->name == "dQ_accum" && cudnn_version < 90600) {
          dq_accum = buffers.pointers[i];
          dq_accum_bytes = static_cast<size_t>(detail::layout_elements(t->layout) * detail::sdpa_type_bytes(t->type));
        }
      }
    }
    Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, static_cast<int64_t>(buffers.uids.size()),
             buffers.uids.data());
    pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
             static_cast<int64_t>(buffers.pointers.size()), buffers.pointers.data());
    pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
    pack.finalize();

    AttentionPoint a;
    a.impl = "cudnn-sdpa";
    a.dtype = point.dtype;
    a.direction = point.direction;
    a.causal = s.causal;
    a.batch = s.batch;
    a.heads = s.heads;
    a.kv_heads = s.kv_heads;
    a.head_dim = s.head_dim;
    a.seq_q = s.seq;
    a.seq_kv = s.seq;
    a.time_us = time_iterations(stream, args.warmup, args.iterations, [&] {
      if (dq_accum != nullptr) MB_CUDA(cudaMemsetAsync(dq_accum, 0, dq_accum_bytes, stream));
      MB_CUDNN(cudnnBackendExecute(handle, exec_plan->get(), pack.get()));
    }, &a.spread);
    MB_CUDA(cudaStreamSynchronize(stream));
    points.push_back(a);
  }
  MB_CUDNN(cudnnDestroy(handle));
  MB_CUDA(cudaStreamDestroy(stream));
  return points;
}

#endif  // SPSIM_MICROBENCH_CUDNN

}  // namespace spsim::microbench
