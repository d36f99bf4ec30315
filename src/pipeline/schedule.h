// Pipeline-parallel schedules: Megatron-LM's 1F1B and interleaved 1F1B, simulated op by op, so the
// bubble comes from the schedule rather than a closed form, plus the stage-boundary P2P bytes and
// the activations in flight on each stage. Internal to spsim_core (src/pipeline/pipelined_step.cc
// feeds it the engine's chunk times).
#ifndef SPSIM_PIPELINE_SCHEDULE_H_
#define SPSIM_PIPELINE_SCHEDULE_H_

#include <cstdint>
#include <vector>

namespace spsim {

struct PipelineSpec {
  int64_t stages = 1;          // p
  int64_t micro_batches = 1;   // m
  int64_t virtual_stages = 1;  // v model chunks per stage (1 = plain 1F1B)
  double chunk_fwd_s = 0;      // forward of one chunk (L/(p v) layers) for one micro-batch
  double chunk_bwd_s = 0;      // its backward
  double p2p_s = 0;            // one activation (or gradient) send between adjacent stages
  // Work only some chunks have: the embedding before chunk 0 (first stage) and the final norm,
  // LM head and loss after the last chunk (last stage), forward and backward.
  double first_chunk_extra_fwd_s = 0, first_chunk_extra_bwd_s = 0;
  double last_chunk_extra_fwd_s = 0, last_chunk_extra_bwd_s = 0;
  bool record_ops = false;     // fill PipelineResult::ops (for the timeline)
  // Uneven layouts: forward and backward of each global chunk g (p v entries); empty: every
  // chunk takes chunk_fwd_s / chunk_bwd_s.
  std::vector<double> chunk_fwd_each_s, chunk_bwd_each_s;
};

/// One forward or backward of one chunk for one micro-batch, as scheduled.
struct PipelineOp {
  int64_t stage = 0;
  bool forward = true;
  int64_t micro_batch = 0;
  int64_t chunk = 0;           // global model chunk g = local · p + stage
  double start_s = 0, end_s = 0;
};

struct PipelineResult {
  double step_s = 0;           // last op of any stage
  double ideal_s = 0;          // busy time of the busiest stage (uniform stages: m v (F + B))
  double bubble_s = 0;         // step - ideal: idle time of the busiest stage, P2P waits included
  std::vector<double> stage_busy_s;  // per stage
  std::vector<PipelineOp> ops;       // when record_ops, in start order per stage
  /// Most forward chunks whose backward has not run yet, per stage (activations held):
  /// stage 0 = Megatron's in-flight count (p for 1F1B with m >= p; interleaved p v + p - 1).
  std::vector<int64_t> max_in_flight_chunks;
};

/// Simulates Megatron's schedule (megatron/core/pipeline_parallel/schedules.py): per stage, warm-up
/// forwards ((p - i - 1) for 1F1B; (p - i - 1)·2 + (v - 1)·p interleaved), then one-forward-one-
/// backward, then cool-down backwards; chunk g = c·p + i lives on stage i. Throws InputError when
/// v > 1 and m is not a multiple of p (Megatron's requirement for the interleaved schedule).
PipelineResult simulate_pipeline(const PipelineSpec& spec);

/// Most chunks stage `stage` holds in flight (forwards whose backward has not run), in closed form
/// from Megatron's warm-up counts: warm-up forwards, plus the first steady-state forward if any.
/// Equals simulate_pipeline's max_in_flight_chunks[stage] (tested) without simulating.
int64_t pipeline_in_flight_chunks(int64_t stages, int64_t micro_batches, int64_t virtual_stages,
                                  int64_t stage);

/// Most transformer layers stage `stage` holds activations for at once, walking its op order
/// with chunk g holding layers_per_chunk[g] (g = local · p + stage): in-flight chunks x L/(p v)
/// for an even layout; exact for an uneven one, where the peak may come after the warm-up.
int64_t pipeline_in_flight_layers(int64_t stages, int64_t micro_batches, int64_t virtual_stages,
                                  int64_t stage, const std::vector<int64_t>& layers_per_chunk);

/// Bytes one GPU sends across a stage boundary per micro-batch and direction: the activation it
/// holds at the boundary, e·b·s·h / (u·r) tokens-sharded, and / t more under Megatron-SP.
double pipeline_p2p_bytes(double element_bytes, int64_t micro_batch, int64_t seq, int64_t hidden,
                          int64_t tensor_parallel, int64_t ulysses, int64_t ring,
                          bool sequence_parallel);

}  // namespace spsim

#endif  // SPSIM_PIPELINE_SCHEDULE_H_
