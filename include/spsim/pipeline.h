// Pipeline parallelism: a step with p > 1 stages is lowered to the pieces one stage runs (a model
// chunk's forward and backward for one micro-batch, the embedding of the first stage, the LM head
// of the last, one boundary send/recv, the gradient-reduction tail), each an ordinary TaskGraph
// timed by whichever engine is chosen; Megatron's schedule composes them (src/pipeline/).
// Strategies fill this; engines never see it.
#ifndef SPSIM_PIPELINE_H_
#define SPSIM_PIPELINE_H_

#include <cstdint>
#include <vector>

#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/task_graph.h"

namespace spsim {

struct PipelinePlan {
  int64_t stages = 1;           // p (1: no pipeline; every other field unused)
  int64_t virtual_stages = 1;   // v model chunks per stage (interleaved 1F1B when > 1)
  int64_t micro_batches = 1;    // m per optimizer step
  int64_t chunk_layers = 0;     // layers of the chunks chunk_fwd/chunk_bwd time (L / (p v) when even)
  // Layers of every model chunk g = local · p + stage (p v entries): all chunk_layers unless the
  // layout is uneven (pipeline_chunk_layers); chunks of another count are timed by other_chunks.
  std::vector<int64_t> layers_per_chunk;
  double p2p_bytes = 0;         // boundary activation one GPU sends per micro-batch and direction
  // In-flight chunks held at the activation peak, per the schedule (stage 0 and stage p - 1).
  int64_t first_stage_in_flight = 0, last_stage_in_flight = 0;
  int64_t memory_stage = 0;     // the stage whose memory `LoweredStep::memory` is (the larger)
  TaskGraph chunk_fwd;          // one micro-batch through chunk_layers layers
  TaskGraph chunk_bwd;          // its backward, no gradient reduction
  struct OtherChunk {           // an uneven layout's chunks of another (non-zero) layer count
    int64_t layers = 0;
    TaskGraph fwd, bwd;
  };
  std::vector<OtherChunk> other_chunks;
  bool uneven() const {
    for (int64_t n : layers_per_chunk) {
      if (n != chunk_layers) return true;
    }
    return false;
  }
  TaskGraph embedding_fwd, embedding_bwd;  // first stage, before chunk 0 / after its backward
  TaskGraph head_fwd, head_bwd;            // last stage: final norm, LM head, loss
  TaskGraph p2p;                // one boundary send/recv (every stage at once)
  // The first stage's last backward with and without the data-parallel gradient reduction and
  // the optimizer: their difference is the part of the step after the pipeline flush.
  TaskGraph tail_with_dp, tail_without_dp;
};

/// Transformer layers of every model chunk g = local · p + stage (p v entries; {L} when p = 1) as
/// the job's framework places them (FrameworkProfile::pipeline_split): Megatron-LM's even split or
/// the job's first/last stage counts or embedding/loss accounting; torchtitan's effective-layer
/// split. InputError naming the field when the framework cannot place them.
std::vector<int64_t> pipeline_chunk_layers(const ModelSpec& model, const JobConfig& job);

/// Layers of the whole model that re-run their forward in the backward: recomputed_layers (job.h)
/// of every model chunk (all L under full recompute, none without it).
int64_t model_recomputed_layers(const ModelSpec& model, const JobConfig& job);

/// Layers stage `stage` holds: the sum over its chunks stage, stage + p, ...
int64_t stage_layers(const std::vector<int64_t>& chunk_layers, int64_t stages, int64_t stage);

}  // namespace spsim

#endif  // SPSIM_PIPELINE_H_
