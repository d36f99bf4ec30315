// CUDA-event timing shared by the single-GPU kernels (gemm, memory, attention).
#ifndef SPSIM_MICROBENCH_TIMING_H_
#define SPSIM_MICROBENCH_TIMING_H_

#include <vector>

#include <cuda_runtime_api.h>

#include "device.h"
#include "spsim/calibrate.h"

namespace spsim::microbench {

/// Times `launch` with CUDA events per iteration after `warmup` untimed calls: median, spread.
template <typename Launch>
double time_iterations(cudaStream_t stream, int warmup, int iterations, Launch&& launch, Spread* spread) {
  std::vector<cudaEvent_t> events(2 * static_cast<size_t>(iterations));
  for (auto& e : events) MB_CUDA(cudaEventCreate(&e));
  for (int i = 0; i < warmup; ++i) launch();
  for (int i = 0; i < iterations; ++i) {
    MB_CUDA(cudaEventRecord(events[2 * static_cast<size_t>(i)], stream));
    launch();
    MB_CUDA(cudaEventRecord(events[2 * static_cast<size_t>(i) + 1], stream));
  }
  MB_CUDA(cudaStreamSynchronize(stream));
  std::vector<double> samples;
  for (int i = 0; i < iterations; ++i) {
    float ms = 0;
    MB_CUDA(cudaEventElapsedTime(&ms, events[2 * static_cast<size_t>(i)], events[2 * static_cast<size_t>(i) + 1]));
    samples.push_back(1e3 * ms);
  }
  for (auto& e : events) MB_CUDA(cudaEventDestroy(e));
  double median = 0;
  *spread = timing_spread(samples, &median);
  return median;
}

}  // namespace spsim::microbench

#endif  // SPSIM_MICROBENCH_TIMING_H_
