// Single-GPU kernels: cuBLASLt GEMMs at a model's layer shapes and device-to-device copies (the
// attention subcommand is in attention.cc). They run on the first GPU of process 0; other MPI
// processes wait.
#include <algorithm>
#include <string>
#include <vector>

#include <cublasLt.h>
#include <fmt/format.h>

#include "bench.h"
#include "timing.h"
#include "spsim/model.h"

namespace spsim::microbench {

namespace {

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw DeviceError(fmt::format("{}:{}: {}: cuBLASLt status {}", file, line, call, static_cast<int>(status)));
  }
}
#define MB_CUBLAS(call) check_cublas((call), #call, __FILE__, __LINE__)

cudaDataType_t cuda_type(const std::string& dtype) {
  if (dtype == "fp16") return CUDA_R_16F;
  if (dtype == "fp8") return CUDA_R_8F_E4M3;
  return CUDA_R_16BF;
}

}  // namespace

std::vector<GemmPoint> run_gemm(const Layout& layout, const detail::MicrobenchArgs& args) {
  std::vector<GemmPoint> points;
  if (layout.process_rank != 0) return points;
  const ModelSpec model = load_model(args.model);
  std::vector<detail::GemmShape> shapes;
  for (int64_t tp : args.tp) {
    for (int64_t tokens : args.tokens) {
      for (auto& s : detail::gemm_shapes(model, tp, tokens)) shapes.push_back(s);
    }
  }
  int64_t max_elems_a = 0, max_elems_b = 0, max_elems_d = 0;
  for (const auto& s : shapes) {
    max_elems_a = std::max(max_elems_a, s.m * s.k);
    max_elems_b = std::max(max_elems_b, s.k * s.n);
    max_elems_d = std::max(max_elems_d, s.m * s.n);
  }
  MB_CUDA(cudaSetDevice(layout.devices.at(0)));
  cudaDeviceProp prop{};
  MB_CUDA(cudaGetDeviceProperties(&prop, layout.devices.at(0)));
  cudaStream_t stream;
  MB_CUDA(cudaStreamCreate(&stream));
  cublasLtHandle_t handle;
  MB_CUBLAS(cublasLtCreate(&handle));
  const size_t workspace_bytes = size_t{32} << 20;
  void *a = nullptr, *b = nullptr, *d = nullptr, *workspace = nullptr;
  MB_CUDA(cudaMalloc(&a, static_cast<size_t>(max_elems_a) * 2));
  MB_CUDA(cudaMalloc(&b, static_cast<size_t>(max_elems_b) * 2));
  MB_CUDA(cudaMalloc(&d, static_cast<size_t>(max_elems_d) * 2));
  MB_CUDA(cudaMalloc(&workspace, workspace_bytes));
  MB_CUDA(cudaMemset(a, 0x3c, static_cast<size_t>(max_elems_a) * 2));
  MB_CUDA(cudaMemset(b, 0x3c, static_cast<size_t>(max_elems_b) * 2));
  float alpha = 1.0f, beta = 0.0f;
  for (const auto& dtype : args.dtypes) {
    if (dtype == "fp8" && prop.major * 10 + prop.minor < 89) {
      fmt::print(stderr, "spsim-microbench: gemm fp8 skipped: needs sm_89 or newer (this GPU is sm_{}{})\n",
                 prop.major, prop.minor);
      continue;
    }
    const cudaDataType_t in_type = cuda_type(dtype);
    // fp8 inputs write bf16 (as Transformer Engine does); others write their own type.
    const cudaDataType_t out_type = dtype == "fp8" ? CUDA_R_16BF : in_type;
    for (const auto& s : shapes) {
      // Row-major D (m x n) = A (m x k) B (k x n) as column-major D^T = B^T A^T, with the
      // weight operand transposed ("TN", the layout cuBLASLt requires for fp8).
      cublasLtMatmulDesc_t op;
      MB_CUBLAS(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
      const cublasOperation_t trans = CUBLAS_OP_T, no_trans = CUBLAS_OP_N;
      MB_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof(trans)));
      MB_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &no_trans, sizeof(no_trans)));
      cublasLtMatrixLayout_t la, lb, ld;
      MB_CUBLAS(cublasLtMatrixLayoutCreate(&la, in_type, static_cast<uint64_t>(s.k), static_cast<uint64_t>(s.n), s.k));
      MB_CUBLAS(cublasLtMatrixLayoutCreate(&lb, in_type, static_cast<uint64_t>(s.k), static_cast<uint64_t>(s.m), s.k));
      MB_CUBLAS(cublasLtMatrixLayoutCreate(&ld, out_type, static_cast<uint64_t>(s.n), static_cast<uint64_t>(s.m), s.n));
      cublasLtMatmulPreference_t pref;
      MB_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
      MB_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                     &workspace_bytes, sizeof(workspace_bytes)));
      cublasLtMatmulHeuristicResult_t heuristic{};
      int found = 0;
      const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle, op, la, lb, ld, ld, pref, 1, &heuristic, &found);
      if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
        GemmPoint g;
        g.label = s.label;
        g.dtype = dtype;
        g.m = s.m, g.n = s.n, g.k = s.k;
        g.time_us = time_iterations(stream, args.warmup, args.iterations, [&] {
          // cuBLASLt's A is the k x n weight (buffer b, sized for k n), its B the k x m
          // activations (buffer a, sized for m k).
          MB_CUBLAS(cublasLtMatmul(handle, op, &alpha, b, la, a, lb, &beta, d, ld, d, ld, &heuristic.algo,
                                   workspace, workspace_bytes, stream));
        }, &g.spread);
        points.push_back(g);
      } else {
        fmt::print(stderr, "spsim-microbench: gemm {} {}x{}x{} skipped: cuBLASLt has no algorithm for it\n",
                   dtype, s.m, s.n, s.k);
      }
      cublasLtMatmulPreferenceDestroy(pref);
      cublasLtMatrixLayoutDestroy(la);
      cublasLtMatrixLayoutDestroy(lb);
      cublasLtMatrixLayoutDestroy(ld);
      cublasLtMatmulDescDestroy(op);
    }
  }
  cublasLtDestroy(handle);
  MB_CUDA(cudaFree(a));
  MB_CUDA(cudaFree(b));
  MB_CUDA(cudaFree(d));
  MB_CUDA(cudaFree(workspace));
  MB_CUDA(cudaStreamDestroy(stream));
  return points;
}

std::vector<MemoryPoint> run_memory(const Layout& layout, const detail::MicrobenchArgs& args) {
  std::vector<MemoryPoint> points;
  if (layout.process_rank != 0) return points;
  const auto sizes = size_ladder(args.min_bytes, args.max_bytes, args.step_factor, "-b/-e/-f");
  MB_CUDA(cudaSetDevice(layout.devices.at(0)));
  cudaStream_t stream;
  MB_CUDA(cudaStreamCreate(&stream));
  void *src = nullptr, *dst = nullptr;
  MB_CUDA(cudaMalloc(&src, static_cast<size_t>(sizes.back())));
  MB_CUDA(cudaMalloc(&dst, static_cast<size_t>(sizes.back())));
  MB_CUDA(cudaMemset(src, 1, static_cast<size_t>(sizes.back())));
  for (const int64_t bytes : sizes) {
    MemoryPoint m;
    m.bytes = bytes;
    m.time_us = time_iterations(stream, args.warmup, args.iterations, [&] {
      MB_CUDA(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice, stream));
    }, &m.spread);
    points.push_back(m);
  }
  MB_CUDA(cudaFree(src));
  MB_CUDA(cudaFree(dst));
  MB_CUDA(cudaStreamDestroy(stream));
  return points;
}

}  // namespace spsim::microbench
