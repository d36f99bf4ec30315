// Engine: turns a TaskGraph on a Topology into a StepResult. "analytic" is the closed-form,
// contention-free model (fast sweeps); "des" simulates every flow on SimGrid.
#ifndef SPSIM_ENGINE_H_
#define SPSIM_ENGINE_H_

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "spsim/result.h"
#include "spsim/task_graph.h"
#include "spsim/topology.h"

namespace spsim {

struct EngineOptions {
  bool simulate_all_gpus = false;  // DES: no symmetry reduction
  std::string trace_path;          // DES: Chrome trace output ("" = none)
  bool trace_all_gpus = false;
  // DES trace memory counter (bytes), filled by evaluate() from the memory model: what stays
  // resident through the step, the saved activations of one micro-batch at their peak, and the
  // gradients a backward makes (spread over its layers).
  double trace_resident_bytes = 0;
  double trace_activation_bytes = 0;
  double trace_backward_grad_bytes = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual StepResult run(const TaskGraph& graph, const Topology& topology,
                         const EngineOptions& options) const = 0;
};

/// "analytic" or "des"; InputError with a "did you mean" otherwise.
std::unique_ptr<Engine> make_engine(std::string_view name);

/// Kernel times for one (topology, precision), looked up once so engines can time many tasks
/// cheaply. time_s() applies the GPU's kernel model (KernelTiming per GEMM dtype, attention
/// implementation and call, elementwise implementation), or a calibrated curve where one exists.
class Roofline {
 public:
  Roofline(const Topology& topology, Precision precision);
  double time_s(const Task& task, double work_scale = 1.0) const;

 private:
  KernelTiming gemm_, gemm16_;                    // the job's dtype; 16-bit in fp8 jobs
  std::array<AttentionTimings, 3> attention_{};   // by AttentionImpl
  std::array<KernelTiming, 2> elementwise_{};     // by ElementwiseImpl (index 0: fused)
  // Calibrated size-dependent efficiencies (null: the kernel model applies); they point into the
  // topology, which outlives the roofline.
  const EfficiencyCurve* gemm_curve_ = nullptr;
  const EfficiencyCurve* attention_curve_ = nullptr;
  double gemm_peak_ = 0, gemm16_peak_ = 0, attention_peak_ = 0;  // FLOP/s
  double hbm_bandwidth_ = 0;                      // bytes/s
  // Achieved bytes/s of this GPU's share of its node's host memory and of its host link; 0 when
  // the topology has no host block (an offloading plan is refused before it is timed).
  double host_memory_rate_ = 0, host_link_rate_ = 0;
  std::string topology_name_;
  std::string gpu_name_;
  bool has_triton_ = false;                       // the GPU file has attention.triton timings
};

/// Time of a compute task on one GPU by the kernel model (Roofline::time_s). Shared by both engines.
double compute_time_s(const Task& task, const Topology& topology, Precision precision);

}  // namespace spsim

#endif  // SPSIM_ENGINE_H_
