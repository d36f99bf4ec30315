// Attention-only runs: FLOPs against the FlashAttention convention by hand, per-GPU bytes against
// the spec's §2.3 vectors, the carving of the layer segment, and the error paths.
#include "attention/attention_only.h"

#include <nlohmann/json.hpp>

#include "spsim/engine.h"
#include "test_util.h"

namespace spsim {
namespace {

// Llama-3-8B attention (a 32, k 8, d_h 128), b 1, s 128K.
AttentionShape llama_shape() {
  AttentionShape shape;
  shape.heads = 32;
  shape.kv_heads = 8;
  shape.head_dim = 128;
  shape.batch = 1;
  shape.seq = 131072;
  return shape;
}

TEST(AttentionOnly, FlashConventionFlopsByHand) {
  // 4 b s^2 heads d = 4 x 1 x 2^34 x 32 x 128 = 2^48 = 281,474,976,710,656; causal halves it.
  EXPECT_DOUBLE_EQ(flash_attention_fwd_flops(1, 131072, 32, 128, false), 281474976710656.0);
  EXPECT_DOUBLE_EQ(flash_attention_fwd_flops(1, 131072, 32, 128, true), 140737488355328.0);
  // b 2, s 4096, 16 heads, d 64, full: 4 x 2 x 4096^2 x 16 x 64 = 137,438,953,472.
  EXPECT_DOUBLE_EQ(flash_attention_fwd_flops(2, 4096, 16, 64, false), 137438953472.0);
}

TEST(AttentionOnly, RunReportsConventionFlopsAndBackwardIsTwoAndAHalf) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  AttentionPlan plan;
  plan.strategy = "ulysses";
  plan.ulysses_degree = 8;
  const AttentionRun run = run_attention_only(llama_shape(), plan, topo, *engine);
  EXPECT_EQ(run.num_gpus, 8);
  EXPECT_DOUBLE_EQ(run.fwd_flops, 140737488355328.0);         // 2^47, causal
  EXPECT_DOUBLE_EQ(run.bwd_flops, 2.5 * 140737488355328.0);  // 351,843,720,888,320
  EXPECT_DOUBLE_EQ(run.projection_fwd_flops, 0.0);
  // Ulysses u=8: Q,K,V,O all-to-alls forward = 293,601,280 bytes per GPU (spec §2.3); the
  // backward mirrors them (dO, dQ, dK, dV).
  EXPECT_DOUBLE_EQ(run.comm_fwd_bytes, 293601280.0);
  EXPECT_DOUBLE_EQ(run.comm_bwd_bytes, 293601280.0);
  EXPECT_GT(run.forward.step_time_s, 0.0);
  EXPECT_GT(run.forward_backward.step_time_s, run.forward.step_time_s);
}

TEST(AttentionOnly, RingBytesMatchSpecVector) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  AttentionPlan plan;
  plan.strategy = "ring";
  plan.ring_degree = 8;
  const AttentionRun run = run_attention_only(llama_shape(), plan, topo, *engine);
  // Ring r=8 (TE p2p): forward 2·2·131072·1024·7/8 = 469,762,048; fwd+bwd 1,409,286,144.
  EXPECT_DOUBLE_EQ(run.comm_fwd_bytes, 469762048.0);
  EXPECT_DOUBLE_EQ(run.comm_fwd_bytes + run.comm_bwd_bytes, 1409286144.0);
}

TEST(AttentionOnly, ProjectionsAddGemmFlopsAndTime) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  AttentionPlan plan;
  plan.strategy = "ulysses";
  plan.ulysses_degree = 8;
  AttentionShape shape = llama_shape();
  const AttentionRun core = run_attention_only(shape, plan, topo, *engine);
  shape.projections = true;
  const AttentionRun with = run_attention_only(shape, plan, topo, *engine);
  // h = 4096, QKV out = (32 + 16) x 128 = 6144, O: 4096 -> 4096.
  // 2 x 131072 x 4096 x 6144 + 2 x 131072 x 4096 x 4096 = 6,597,069,766,656 + 4,398,046,511,104.
  EXPECT_DOUBLE_EQ(with.projection_fwd_flops, 10995116277760.0);
  EXPECT_GT(with.forward.step_time_s, core.forward.step_time_s);
  EXPECT_GT(with.forward_backward.step_time_s, core.forward_backward.step_time_s);
  // The projections add no Ulysses traffic (t = 1).
  EXPECT_DOUBLE_EQ(with.comm_fwd_bytes, core.comm_fwd_bytes);
}

TEST(AttentionOnly, CarveKeepsRangeAndRewiresDependencies) {
  Segment s;
  s.name = "layer_fwd";
  const char* names[] = {"input_norm", "qkv_proj", "rope", "a2a_q", "attention_core", "out_proj"};
  for (const char* n : names) {
    Task t;
    t.name = n;
    s.tasks.push_back(t);
  }
  s.tasks[1].add_dep(0);
  s.tasks[3].add_dep(2);  // a2a_q <- rope (dropped, and rope depends on nothing)
  s.tasks[4].add_dep(3);
  s.tasks[4].add_dep(1);  // attention <- qkv_proj (dropped) <- input_norm (dropped)
  s.tasks[5].add_dep(4);
  const Segment carved = carve_segment(s, "rope", "out_proj");
  ASSERT_EQ(carved.tasks.size(), 2u);
  EXPECT_STREQ(carved.tasks[0].name, "a2a_q");
  EXPECT_EQ(carved.tasks[0].deps[0], -1);
  EXPECT_EQ(carved.tasks[1].deps[0], 0);   // a2a_q, now index 0
  EXPECT_EQ(carved.tasks[1].deps[1], -1);  // nothing survives of qkv_proj's chain
}

TEST(AttentionOnly, HeadsNotDivisibleByDegreeNamesTheFlag) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  AttentionShape shape = llama_shape();
  shape.heads = 30;
  shape.kv_heads = 30;
  AttentionPlan plan;
  plan.ulysses_degree = 8;
  try {
    run_attention_only(shape, plan, topo, *engine);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "--heads");
    EXPECT_NE(std::string(e.what()).find("divisible by tensor x ulysses degree = 1 x 8 = 8"),
              std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(got 30)"), std::string::npos) << e.what();
  }
}

TEST(AttentionOnly, KvHeadsMustDivideHeads) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  AttentionShape shape = llama_shape();
  shape.kv_heads = 5;
  EXPECT_THROW_MSG(run_attention_only(shape, AttentionPlan{}, topo, *engine), InputError,
                   "must divide --heads 32");
}

TEST(AttentionCli, HeadsNotDivisibleIsOneLineExitTwo) {
  const auto r = test::run_spsim("attention -s ulysses -u 8 --heads 30 --seq 64K");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("spsim: error: --heads: must be divisible by tensor x ulysses degree", 0), 0u)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(AttentionCli, JsonTflopsAreConventionFlopsOverTime) {
  const auto r = test::run_spsim("attention -s ring -n 8 --heads 32 --kv-heads 8 --seq 128K --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["plan"]["ring_degree"].get<int>(), 8);
  const auto& f = j["forward"];
  EXPECT_DOUBLE_EQ(f["attention_flops"].get<double>(), 140737488355328.0);
  EXPECT_DOUBLE_EQ(j["forward_backward"]["attention_flops"].get<double>(), 3.5 * 140737488355328.0);
  // TFLOP/s = FLOP / time / 1e12 (both rounded to 9 digits); per GPU = total / 8.
  const double t = f["time_s"].get<double>();
  EXPECT_NEAR(f["attention_tflops"].get<double>(), 140737488355328.0 / t / 1e12,
              1e-6 * f["attention_tflops"].get<double>());
  EXPECT_NEAR(f["attention_tflops_per_gpu"].get<double>() * 8, f["attention_tflops"].get<double>(),
              1e-6 * f["attention_tflops"].get<double>());
  EXPECT_NEAR(f["iterations_per_s"].get<double>() * t, 1.0, 1e-6);
}

// The kernel, not the scheme, sets most of an attention time, so the run names the one it timed:
// each scheme's usual framework and that framework's kernel (DeepSpeed Ulysses: flash-attn 2;
// Megatron's ring: TE's cuDNN on Hopper), and --attention-impl / --framework replace them. With the
// same kernel, Ulysses and ring forward times on one node are within 10 % (no 2x from the kernel).
TEST(AttentionCli, SaysWhichKernelItTimedAndTakesAnother) {
  const auto u = test::run_spsim("attention -s ulysses -n 8 --heads 32 --kv-heads 8 --seq 128K --json");
  const auto r = test::run_spsim("attention -s ring -n 8 --heads 32 --kv-heads 8 --seq 128K --json");
  const auto uc = test::run_spsim(
      "attention -s ulysses -n 8 --heads 32 --kv-heads 8 --seq 128K --attention-impl cudnn --json");
  ASSERT_EQ(u.exit_code, 0) << u.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(uc.exit_code, 0) << uc.err;
  const auto ju = nlohmann::json::parse(u.out), jr = nlohmann::json::parse(r.out), juc = nlohmann::json::parse(uc.out);
  EXPECT_EQ(ju["plan"]["framework"], "deepspeed");
  EXPECT_EQ(ju["plan"]["attention_impl"], "flash2");
  EXPECT_EQ(jr["plan"]["framework"], "megatron");
  EXPECT_EQ(jr["plan"]["attention_impl"], "cudnn");
  EXPECT_EQ(juc["plan"]["attention_impl"], "cudnn");
  const double tu = ju["forward"]["time_s"].get<double>(), tuc = juc["forward"]["time_s"].get<double>();
  const double tr = jr["forward"]["time_s"].get<double>();
  EXPECT_LT(tuc, 0.7 * tu);  // cuDNN's fit runs ~1.9x flash-attn 2's on H100
  EXPECT_NEAR(tuc / tr, 1.0, 0.1);
  const auto text = test::run_spsim("attention -s ring -n 8 --seq 64K --framework deepspeed");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("framework deepspeed, attention kernel flash2 (the framework's"), std::string::npos)
      << text.out;
  const auto bad = test::run_spsim("attention -s ring -n 8 --attention-impl fa3");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err.rfind("spsim: error: --attention-impl: must be cudnn, flash2 or triton", 0), 0u) << bad.err;
  EXPECT_TRUE(bad.out.empty());
  // ColAI-SP runs the unfused kernel: it says so, and no --attention-impl changes it.
  const auto colai = test::run_spsim("attention -s colai-sp -n 4 --seq 16K --json");
  ASSERT_EQ(colai.exit_code, 0) << colai.err;
  EXPECT_EQ(nlohmann::json::parse(colai.out)["plan"]["attention_impl"], "standard");
  const auto colai_impl = test::run_spsim("attention -s colai-sp -n 4 --seq 16K --attention-impl cudnn");
  EXPECT_EQ(colai_impl.exit_code, 2);
  EXPECT_EQ(colai_impl.err.rfind("spsim: error: --attention-impl: strategy colai-sp runs the unfused", 0), 0u)
      << colai_impl.err;
  EXPECT_TRUE(colai_impl.out.empty());
  const auto bad_fw = test::run_spsim("attention -s ring -n 8 --framework megatorn");
  EXPECT_EQ(bad_fw.exit_code, 2);
  EXPECT_NE(bad_fw.err.find("--framework"), std::string::npos) << bad_fw.err;
}

TEST(AttentionOnly, SlidingWindowCountsTheWindowsPairs) {
  // w = 4096 of s = 131072: w·s - w²/2 = 528,482,304 pairs of s²/2 = 8,589,934,592, 0.0615...
  // of the causal FLOP; the kernel runs that share, so the time falls with it.
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  AttentionPlan plan;
  plan.strategy = "ulysses";
  plan.ulysses_degree = 8;
  AttentionShape windowed = llama_shape();
  windowed.sliding_window = 4096;
  const AttentionRun full = run_attention_only(llama_shape(), plan, topo, *engine);
  const AttentionRun run = run_attention_only(windowed, plan, topo, *engine);
  const double share = (4096.0 * 131072 - 4096.0 * 4096 / 2) / (131072.0 * 131072 / 2);
  EXPECT_DOUBLE_EQ(run.fwd_flops, 140737488355328.0 * share);
  EXPECT_DOUBLE_EQ(run.bwd_flops, 2.5 * run.fwd_flops);
  EXPECT_LT(run.forward.step_time_s, 0.25 * full.forward.step_time_s);
  EXPECT_EQ(run.comm_fwd_bytes, full.comm_fwd_bytes);  // the all-to-alls move the same heads
  // A window as long as the sequence changes nothing.
  windowed.sliding_window = 131072;
  EXPECT_DOUBLE_EQ(run_attention_only(windowed, plan, topo, *engine).forward.step_time_s,
                   full.forward.step_time_s);
}

TEST(AttentionCli, SlidingWindowFromTheModelOrRefusedWhereNoFrameworkRunsIt) {
  // Mistral windows every layer: -m takes its window. Gemma-2 mixes: a note says which is timed.
  const auto mistral = test::run_spsim("attention -m mistral-7b -s ulysses -n 8 --seq 32K --json");
  ASSERT_EQ(mistral.exit_code, 0) << mistral.err;
  EXPECT_EQ(nlohmann::json::parse(mistral.out)["shape"]["sliding_window"].get<int64_t>(), 4096);
  const auto gemma = test::run_spsim("attention -m gemma-2-9b -s ulysses -n 8 --seq 32K --json");
  ASSERT_EQ(gemma.exit_code, 0) << gemma.err;
  EXPECT_EQ(nlohmann::json::parse(gemma.out)["shape"]["sliding_window"].get<int64_t>(), 0);
  EXPECT_NE(gemma.err.find("note: gemma-2-9b windows 21 of its 42 layers"), std::string::npos) << gemma.err;
  const auto suffixed = test::run_spsim("attention -s ulysses -n 8 --seq 32K --sliding-window 4K --json");
  ASSERT_EQ(suffixed.exit_code, 0) << suffixed.err;
  EXPECT_EQ(nlohmann::json::parse(suffixed.out)["shape"]["sliding_window"].get<int64_t>(), 4096);
  const auto ring = test::run_spsim("attention -s ring -n 8 --seq 32K --sliding-window 4096");
  EXPECT_EQ(ring.exit_code, 2);
  EXPECT_NE(ring.err.find("--cp-comm-type allgather"), std::string::npos) << ring.err;
  EXPECT_TRUE(ring.out.empty());
}

TEST(AttentionCli, GpusMustMatchDegrees) {
  const auto r = test::run_spsim("attention -s usp -u 4 -r 2 -n 16 --seq 64K");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--gpus: must equal t x u x r"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace spsim
