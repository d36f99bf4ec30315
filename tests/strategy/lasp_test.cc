// LASP and LASP-2 on linear-attention and hybrid models: the attention type per layer, the
// schemes' rules, and one layer's tasks against hand-computed FLOP and state bytes.
#include <string>

#include "spsim/error.h"
#include "spsim/strategy.h"
#include "test_util.h"

namespace spsim {
namespace {

// tiny model (16 heads, 4 KV heads, d 64, 4 layers), every layer linear unless said otherwise.
ModelSpec linear_model(const std::string& pattern = "linear") {
  ModelSpec m = test::tiny_model();
  set_attention_pattern(m, pattern, "test");
  return m;
}

JobConfig lasp_job(const char* name, int64_t r) {
  JobConfig job;
  job.strategy = name;
  job.num_gpus = r;
  job.ring_degree = r;
  job.seq_length = 64;
  return job;
}

struct LayerSums {
  double send_recv = 0, all_gather = 0, intra = 0, state = 0, inter = 0;
  int sends = 0;
};

LayerSums forward_layer(const LoweredStep& step) {
  LayerSums out;
  for (const auto& seg : step.graph.segments) {
    if (std::string(seg.name) != "layer_fwd") continue;
    for (const auto& task : seg.tasks) {
      const std::string name = task.name;
      if (name == "lasp_kv_send_recv") { out.send_recv += task.bytes; ++out.sends; }
      if (name == "lasp2_state_all_gather") out.all_gather += task.bytes;
      if (name == "lasp_intra") out.intra += task.flops;
      if (name == "lasp_state") out.state += task.flops;
      if (name == "lasp_inter") out.inter += task.flops;
    }
    break;  // the linear layers' segment comes first
  }
  return out;
}

TEST(AttentionPattern, ParsesAndRejects) {
  EXPECT_EQ(linear_model("softmax").linear_attention_layers, 0);
  EXPECT_EQ(linear_model("linear").linear_attention_layers, 4);
  EXPECT_EQ(linear_model("hybrid:4").linear_attention_layers, 3);
  EXPECT_EQ(linear_model("hybrid:2").linear_attention_layers, 2);
  for (const char* bad : {"hybrid:3", "hybrid:1", "hybrid:x", "mamba", "hybrid:"}) {
    EXPECT_THROW(linear_model(bad), InputError) << bad;
  }
}

TEST(Lasp, NeedsLinearAttentionAndSoftmaxSchemesRefuseIt) {
  try {
    make_strategy("lasp")->check(test::tiny_model(), lasp_job("lasp", 4));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(e.full().find("linear attention"), std::string::npos) << e.full();
  }
  JobConfig ring = lasp_job("ring", 4);
  try {
    make_strategy("ring")->check(linear_model(), ring);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(e.full().find("use strategy lasp"), std::string::npos) << e.full();
  }
  EXPECT_FALSE(applicability(strategy_traits("lasp2"), linear_model()).empty() &&
               applicability(strategy_traits("lasp2"), test::tiny_model()).empty());
  EXPECT_TRUE(applicability(strategy_traits("lasp2"), linear_model("hybrid:2")).empty());
  JobConfig tp = lasp_job("lasp", 4);
  tp.num_gpus = 8;
  tp.tensor_parallel = 2;
  EXPECT_THROW(make_strategy("lasp")->check(linear_model(), tp), InputError);
}

// s = 64 over r = 4: c = 16 tokens, 16 heads, 4 KV heads of d = 64, bf16. One state b k d^2 e =
// 4 x 64 x 64 x 2 = 32,768 bytes. Intra-chunk (one block of 16 < 64 tokens): 16 heads x
// (2 x 16 x 16 x 64 + 4 x 16 x 64^2) = 16 x 294,912 = 4,718,592 FLOP; K^T V 2 x 4 x 16 x 64^2 =
// 524,288; Q M 2 x 16 x 16 x 64^2 = 2,097,152.
TEST(Lasp, RingPassesTheStateHopByHop) {
  const LayerSums f = forward_layer(make_strategy("lasp")->lower(linear_model(), lasp_job("lasp", 4)));
  EXPECT_EQ(f.sends, 3);
  EXPECT_DOUBLE_EQ(f.send_recv, 3 * 32768.0);
  EXPECT_DOUBLE_EQ(f.all_gather, 0.0);
  EXPECT_DOUBLE_EQ(f.intra, 4718592.0);
  EXPECT_DOUBLE_EQ(f.state, 524288.0);
  EXPECT_DOUBLE_EQ(f.inter, 2097152.0);
}

TEST(Lasp, Lasp2GathersEveryStateOnce) {
  // All-gather of r states: (r-1)/r of 4 x 32,768 bytes leave each GPU.
  const LayerSums f = forward_layer(make_strategy("lasp2")->lower(linear_model(), lasp_job("lasp2", 4)));
  EXPECT_EQ(f.sends, 0);
  EXPECT_DOUBLE_EQ(f.all_gather, 3 * 32768.0);
  EXPECT_DOUBLE_EQ(f.intra, 4718592.0);
  EXPECT_DOUBLE_EQ(f.inter, 2097152.0);
}

TEST(Lasp, HybridKeepsAllGatherCpForItsSoftmaxLayers) {
  const LoweredStep step = make_strategy("lasp2")->lower(linear_model("hybrid:4"), lasp_job("lasp2", 4));
  int64_t linear = 0, softmax = 0;
  for (const auto& seg : step.graph.segments) {
    if (std::string(seg.name) != "layer_fwd") continue;
    bool gathers_kv = false;
    for (const auto& task : seg.tasks) gathers_kv = gathers_kv || std::string(task.name) == "cp_kv_all_gather";
    (gathers_kv ? softmax : linear) += seg.repeat;
  }
  EXPECT_EQ(linear, 3);
  EXPECT_EQ(softmax, 1);
}

TEST(Lasp, StrategyAllRunsWhatAppliesAndSaysWhatNot) {
  const auto cli = test::run_spsim("run -s lasp,lasp2 -m linear-llama3-1b-hybrid --gpus 8 --seq 256K --json");
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const auto all = test::run_spsim("run -s all -m linear-llama3-1b --gpus 8 --seq 256K");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("lasp2"), std::string::npos) << all.out;
  EXPECT_NE(all.err.find("leaves out ulysses"), std::string::npos) << all.err;
  const auto softmax = test::run_spsim("run -s all --gpus 8 --seq 128K");
  ASSERT_EQ(softmax.exit_code, 0) << softmax.err;
  EXPECT_EQ(softmax.out.find("lasp"), std::string::npos) << softmax.out;
  EXPECT_NE(softmax.err.find("leaves out lasp, lasp2"), std::string::npos) << softmax.err;
  test::expect_one_line_error(test::run_spsim("run -s lasp --gpus 8 --seq 128K"), "linear attention");
  const auto longest = test::run_spsim("max-context --best -m linear-llama3-1b --gpus 8 --zero 3 --recompute full");
  EXPECT_EQ(longest.exit_code, 0) << longest.err;
  EXPECT_NE(longest.out.find("lasp"), std::string::npos) << longest.out;
}

}  // namespace
}  // namespace spsim
