// Sliding-window attention: the work a windowed model's attention does, by hand; the strict
// format's keys; the lowering's attention tasks; and the plans refused because no framework runs
// a window on them.
#include <nlohmann/json.hpp>

#include "spsim/flops.h"
#include "spsim/model.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

ModelSpec windowed(int64_t window, int64_t layers_windowed) {
  ModelSpec m = test::llama3_8b();
  m.sliding_window = window;
  m.sliding_window_layers = layers_windowed;
  return m;
}

TEST(SlidingWindow, AttentionScaleByHand) {
  // Llama-3-8B shape (32 layers) with a 1024-key window on 16 layers at s = 4096: a windowed
  // layer computes w·s - w²/2 = 4,194,304 - 524,288 = 3,670,016 scores against s²/2 =
  // 8,388,608, 0.4375 of a causal layer; half the layers do: (16 x 0.4375 + 16) / 32 = 0.71875.
  EXPECT_DOUBLE_EQ(sliding_window_attention_scale(windowed(1024, 16), 4096), 0.71875);
  // Every layer windowed: 0.4375; a window that covers the sequence changes nothing.
  EXPECT_DOUBLE_EQ(sliding_window_attention_scale(windowed(1024, 32), 4096), 0.4375);
  EXPECT_DOUBLE_EQ(sliding_window_attention_scale(windowed(4096, 32), 4096), 1.0);
  EXPECT_DOUBLE_EQ(sliding_window_attention_scale(windowed(1024, 0), 4096), 1.0);
  EXPECT_DOUBLE_EQ(sliding_window_attention_scale(test::llama3_8b(), 4096), 1.0);
  // Long sequences: the band grows linearly, w·s: at 1M tokens and w = 4096 about 2w/s = 1/128.
  EXPECT_NEAR(sliding_window_attention_scale(windowed(4096, 32), 1 << 20), 2.0 * 4096 / (1 << 20), 1e-4);
}

TEST(SlidingWindow, StrictFormatKeys) {
  nlohmann::json j = {{"name", "w"},           {"source", "test"},          {"hidden_size", 4096},
                      {"num_hidden_layers", 32}, {"num_attention_heads", 32}, {"num_key_value_heads", 8},
                      {"intermediate_size", 14336}, {"vocab_size", 32000},  {"mlp", "swiglu"},
                      {"norm", "rmsnorm"}};
  j["sliding_window"] = 4096;
  const ModelSpec all = parse_model(j.dump(), "w.json");
  EXPECT_EQ(all.sliding_window, 4096);
  EXPECT_EQ(all.sliding_window_layers, 32);  // default: every layer
  j["sliding_window_layers"] = 16;
  EXPECT_EQ(parse_model(j.dump(), "w.json").sliding_window_layers, 16);
  j["sliding_window_layers"] = 33;
  EXPECT_THROW_MSG(parse_model(j.dump(), "w.json"), InputError, "sliding_window_layers");
  j.erase("sliding_window");
  j["sliding_window_layers"] = 16;
  EXPECT_THROW_MSG(parse_model(j.dump(), "w.json"), InputError, "needs sliding_window");
  j.erase("sliding_window_layers");
  j["sliding_window"] = 4096;
  j["attention_pattern"] = "hybrid:4";
  EXPECT_THROW_MSG(parse_model(j.dump(), "w.json"), InputError, "linear-attention layers");
}

double attention_flops(const LoweredStep& step) {
  double total = 0;
  for (const auto& task : test::segment(step.graph, "layer_fwd").tasks) {
    if (task.kind == TaskKind::kCompute && task.op_class == OpClass::kAttention) total += task.flops;
  }
  return total;
}

TEST(SlidingWindow, TheLoweringScalesEachLayersAttention) {
  // Ulysses u = 8 at 128K with a 4096-key window on every layer: each layer's attention task is
  // the causal one times (w·s - w²/2) / (s²/2) = 2w/s - (w/s)² = 1/16 - 1/1024.
  JobConfig job = test::long_job("ulysses", 8);
  const double full = attention_flops(test::lower(test::llama3_8b(), job));
  const double band = attention_flops(test::lower(windowed(4096, 32), job));
  EXPECT_DOUBLE_EQ(band / full, 1.0 / 16 - 1.0 / 1024);
  // The hardware FLOP count follows; the published conventions (torchtitan's 12 L H Q T) do not.
  job.global_batch_size = 1;
  const StepFlops a = step_flops(test::llama3_8b(), job), b = step_flops(windowed(4096, 32), job);
  EXPECT_LT(b.hardware, a.hardware);
  EXPECT_LT(b.model, a.model);
  EXPECT_DOUBLE_EQ(b.torchtitan, a.torchtitan);
  // Megatron's all-gather CP trims K,V to the window (TE get_kv_seq_info_after_all_gather).
  JobConfig ag = test::long_job("ring", 8);
  ag.ring_degree = 8;
  ag.ring_comm = "allgather";
  EXPECT_DOUBLE_EQ(attention_flops(test::lower(windowed(4096, 32), ag)) /
                       attention_flops(test::lower(test::llama3_8b(), ag)),
                   1.0 / 16 - 1.0 / 1024);
}

TEST(SlidingWindow, RingsThatPassKvStepByStepAreRefused) {
  JobConfig ring = test::long_job("ring", 8);
  ring.ring_degree = 8;
  EXPECT_THROW_MSG(test::lower(windowed(4096, 32), ring), InputError,
                   "has sliding-window attention (4096 keys on 32 of 32 layers): a ring that passes K,V");
  // A window as long as the sequence is no window: nothing to refuse.
  EXPECT_NO_THROW(test::lower(windowed(131072, 32), ring));
  // PyTorch's context_parallel runs SDPA per chunk, without a window, whatever the rotation.
  JobConfig torch_cp = ring;
  torch_cp.framework = "fsdp";
  torch_cp.ring_comm = "allgather";
  EXPECT_THROW_MSG(test::lower(windowed(4096, 32), torch_cp), InputError, "a ring that passes K,V");
  // USP's Ulysses x ring (TE's a2a+p2p) passes K,V around its ring too, whatever --cp-comm-type.
  JobConfig usp = test::long_job("usp", 8);
  usp.ulysses_degree = 2;
  usp.ring_degree = 4;
  usp.ring_comm = "allgather";
  EXPECT_THROW_MSG(test::lower(windowed(4096, 32), usp), InputError, "a Ulysses x ring plan");
  // Megatron's own (standard) attention has no window: TE's fused kernels only.
  JobConfig standard = test::long_job("megatron-sp", 8);
  standard.tensor_parallel = 8;
  standard.attention_kernel = AttentionKernel::kStandard;
  EXPECT_THROW_MSG(test::lower(windowed(4096, 32), standard), InputError, "drop --attention-kernel standard");
  JobConfig bidirectional = test::long_job("ulysses", 8);
  bidirectional.causal = false;
  EXPECT_THROW_MSG(test::lower(windowed(4096, 32), bidirectional), InputError, "drop --no-causal");
}

}  // namespace
}  // namespace spsim
