// A measured training step, read from what a real run leaves behind, for `spsim compare
// --measured`: a list of step times, or a PyTorch profiler (Kineto) trace of one rank.
//
//   const MeasuredStep m = read_measured_step("steps.txt", 2);  // skip 2 warm-up steps
//   // m.step_s: the median step; m.has_breakdown (traces): per-step GPU compute and communication
#ifndef SPSIM_MEASURED_STEP_H_
#define SPSIM_MEASURED_STEP_H_

#include <cstdint>
#include <string>
#include <vector>

namespace spsim {

struct MeasuredStep {
  std::string format;          // "step times" | "Megatron-LM log" | "NeMo log" | "Kineto trace"
  std::vector<double> steps_s;  // the steps used (after the skipped ones), in file order
  double step_s = 0;            // their median
  // Kineto traces only: GPU kernel time per step on the traced rank, from the first used step on.
  bool has_breakdown = false;
  double compute_s = 0;        // union of the kernels that are not NCCL's
  double comm_s = 0;           // union of NCCL's kernels
  double exposed_comm_s = 0;   // NCCL kernel time with no other kernel running (not hidden)
  int devices = 0;             // GPUs seen in the trace (their figures are averaged)
};

/// Reads `path`, skipping the first `skip` steps (warm-up). Formats, decided by the content:
/// - a Kineto trace (JSON with "traceEvents"): steps are the "ProfilerStep#N" events, kernels the
///   events of category "kernel"; NCCL kernels are those named nccl*;
/// - a Megatron-LM log ("elapsed time per iteration (ms): X" lines) or a NeMo log
///   ("train_step_timing in s: X"): those lines, the rest ignored;
/// - otherwise one step time in seconds per line ('#' comments and blank lines ignored).
/// InputError naming the file (and line) for anything else, for no step left after `skip`, or
/// for a non-positive or non-finite time.
MeasuredStep read_measured_step(const std::string& path, int64_t skip);

/// The same, from the file's text (`display_name` names it in errors).
MeasuredStep parse_measured_step(const std::string& text, const std::string& display_name, int64_t skip);

}  // namespace spsim

#endif  // SPSIM_MEASURED_STEP_H_
