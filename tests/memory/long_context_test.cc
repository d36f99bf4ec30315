// Long-context techniques (include/spsim/long_context.h) by hand: the loss holds one chunk of
// logits, the tiled MLP one tile of intermediates, and each costs the time it really costs.
// Llama-3-8B (h 4096, f 14336, SwiGLU, 32 layers), ring r8 at 128K: 16384 tokens per GPU.
#include "search/max_context.h"
#include "spsim/engine.h"
#include "spsim/job.h"
#include "spsim/long_context.h"
#include "spsim/strategy.h"
#include "spsim/sweep.h"
#include "spsim/topology.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

constexpr double kTokens = 16384, kH = 4096, kF = 14336;

// Ring r8 at 128K with ZeRO-3 (the example) under DeepSpeed, whose training code (ALST)
// offers every technique, read as a job file would be.
JobConfig ring8(Recompute recompute = Recompute::kNone) {
  JobConfig job = job_from_json({{"strategy", "ring"}, {"framework", "deepspeed"}, {"num_gpus", 8},
                                 {"ring_degree", 8}, {"seq_length", 131072}, {"zero_stage", 3}},
                                "ring8");
  job.recompute = recompute;
  return job;
}

double layer_bwd_flops(const TaskGraph& graph) {
  double total = 0;
  for (const auto& seg : graph.segments) {
    if (std::string(seg.name) != "layer_bwd") continue;
    for (const auto& task : seg.tasks) {
      if (task.kind == TaskKind::kCompute) total += task.flops * static_cast<double>(seg.repeat);
    }
  }
  return total;
}

TEST(LongContext, ParsesLossChoices) {
  EXPECT_EQ(to_string(parse_loss("standard", "--loss")), "standard");
  EXPECT_EQ(to_string(parse_loss("fused", "--loss")), "fused");
  EXPECT_EQ(to_string(parse_loss("chunked", "--loss")), "chunked:8");  // torchtitan's default
  EXPECT_EQ(to_string(parse_loss("chunked:16", "--loss")), "chunked:16");
  for (const char* bad : {"chunked:0", "chunked:", "chunked:x", "chunked:4x", "liger", ""}) {
    EXPECT_THROW(parse_loss(bad, "--loss"), InputError) << bad;
  }
  EXPECT_EQ(parse_tiled_mlp("off", "--tiled-mlp"), 0);
  EXPECT_EQ(parse_tiled_mlp("auto", "--tiled-mlp"), -1);
  EXPECT_EQ(parse_tiled_mlp("4", "--tiled-mlp"), 4);
  EXPECT_THROW(parse_tiled_mlp("0", "--tiled-mlp"), InputError);
  EXPECT_THROW(parse_tiled_mlp("-2", "--tiled-mlp"), InputError);
}

TEST(LongContext, ChunkSizesFollowTheirSources) {
  // torchtitan: T / num_chunks.
  EXPECT_EQ(loss_chunk_tokens(parse_loss("chunked", "x"), 16384, 128256, 4096), 2048);
  // Liger: inc = cdiv(128256, 4096) = 32; next_pow2(cdiv(16384, 32)) = 512.
  EXPECT_EQ(loss_chunk_tokens(parse_loss("fused", "x"), 16384, 128256, 4096), 512);
  // Liger rounds up to a power of two: cdiv(10000, 32) = 313 -> 512.
  EXPECT_EQ(loss_chunk_tokens(parse_loss("fused", "x"), 10000, 128256, 4096), 512);
  EXPECT_EQ(loss_chunk_tokens(parse_loss("standard", "x"), 16384, 128256, 4096), 16384);
  // DeepSpeed TiledMLP: ceil(seqlen / hidden).
  EXPECT_EQ(tiled_mlp_shards(-1, 16384, 4096), 4);
  EXPECT_EQ(tiled_mlp_shards(-1, 16385, 4096), 5);
  EXPECT_EQ(tiled_mlp_shards(0, 16384, 4096), 0);
  EXPECT_EQ(tiled_mlp_shards(3, 16384, 4096), 3);
}

TEST(LongContext, ChunkedLossHoldsOneChunkOfLogits) {
  const ModelSpec model = test::llama3_8b();
  const double v = static_cast<double>(model.padded_vocab(1));
  const JobConfig standard = ring8();
  JobConfig chunked = standard;
  chunked.loss = "chunked:8";
  const double a = test::lower(model, standard).memory.activations;
  const double b = test::lower(model, chunked).memory.activations;
  // Both peak at the loss. Standard holds the lm_head input (2 T h) and torch's cross entropy over
  // all T tokens (4 B kept and 8 B more at its backward a logit); chunked the same 12 B a logit of
  // one chunk (T/8) and the accumulated input gradient (2 T h).
  EXPECT_DOUBLE_EQ(a - b, 12.0 * v * (kTokens - kTokens / 8));
  // One chunk is the whole sequence: the logits term equals the standard loss's.
  chunked.loss = "chunked:1";
  EXPECT_DOUBLE_EQ(test::lower(model, chunked).memory.activations, a);
}

// One chunk is the whole sequence: DeepSpeed's TiledFusedLogitsLoss then holds what the standard
// loss holds (its x_grad in bf16 stands where the LM head's input was). torchtitan's
// ChunkedLossWrapper holds more: the chunk's bf16 logits through its backward (2 B a logit) and an
// fp32 gradient accumulator (4·T·h instead of the LM head's 2·T·h input). The loss the chunk runs is
// the framework's or the job's: flash-attn's keeps 2 B a logit, not 4.
TEST(LongContext, OneChunkHoldsTheFrameworksLossAndTheWrappersOwn) {
  const ModelSpec model = test::llama3_8b();
  const double v = static_cast<double>(model.padded_vocab(1));
  JobConfig job = ring8(Recompute::kFull);
  const double standard = test::lower(model, job).memory.activations;
  job.loss = "chunked:1";
  EXPECT_DOUBLE_EQ(test::lower(model, job).memory.activations, standard);
  JobConfig fsdp = job_from_json({{"strategy", "dp"}, {"framework", "fsdp"}, {"num_gpus", 8},
                                  {"seq_length", 16384}, {"zero_stage", 3}, {"recompute_granularity", "full"}},
                                 "fsdp");
  const double fsdp_standard = test::lower(model, fsdp).memory.activations;
  fsdp.loss = "chunked:1";
  EXPECT_DOUBLE_EQ(test::lower(model, fsdp).memory.activations - fsdp_standard,
                   2.0 * kTokens * v + 2.0 * kTokens * kH);
  fsdp.cross_entropy = "flash";  // 2 B kept and 2 B more a logit instead of 4 and 8
  EXPECT_DOUBLE_EQ(fsdp_standard - test::lower(model, fsdp).memory.activations,
                   8.0 * kTokens * v - 2.0 * kTokens * v - 2.0 * kTokens * kH);
}

TEST(LongContext, FusedLossHoldsOneBf16ChunkAndItsGradients) {
  const ModelSpec model = test::llama3_8b();
  const double v = static_cast<double>(model.padded_vocab(1));
  JobConfig fused = ring8();
  fused.loss = "fused";
  const double a = test::lower(model, ring8()).memory.activations;
  const double b = test::lower(model, fused).memory.activations;
  // Liger: a 512-token bf16 chunk, grad_input (2 T h, as the standard lm_head input) and a bf16
  // grad_weight of the LM head (2 V h), against torch's 12 B a logit; both above a layer's backward.
  EXPECT_DOUBLE_EQ(a - b, 12.0 * v * kTokens - (2.0 * 512 * v + 2.0 * v * kH));
}

TEST(LongContext, ChunkedLossCostsNoExtraGemm) {
  // All three implementations run the chunk's backward inside the forward: same FLOPs.
  const ModelSpec model = test::llama3_8b();
  JobConfig chunked = ring8();
  chunked.loss = "chunked:8";
  const Topology topo = load_topology("dgx-h100");
  for (const char* engine : {"analytic", "des"}) {
    const auto e = make_engine(engine);
    EXPECT_DOUBLE_EQ(e->run(test::lower(model, ring8()).graph, topo, {}).step_time_s,
                     e->run(test::lower(model, chunked).graph, topo, {}).step_time_s)
        << engine;
  }
}

TEST(LongContext, TiledMlpKeepsOneTileOfIntermediates) {
  // A one-token loss chunk keeps the loss phase below a layer's backward, which this checks; so
  // does a vocabulary whose LM head, which ZeRO-3 gathers whole for the loss, is smaller than a
  // layer (32,000 x 4096 < 218,112,000 parameters). The vocabulary enters nothing else compared.
  ModelSpec model = test::llama3_8b();
  model.vocab_size = 32000;
  auto small_loss = [](JobConfig job) {
    job.loss = "chunked:16384";
    return job;
  };
  // A layer's backward peaks in its MLP's: untiled, the SwiGLU backward's dAct and dUp less the
  // freed activation output (4·T·f); tiled (4 tiles), TiledMLP's whole x_grad (2·T·h) and one
  // tile's of those (4·T·f/4), above flash-attn 2's workspace less what the freed MLP held
  // (874,512,384 - 620,756,992, activation_memory_test.cc).
  const double untiled_mlp_gradients = 4.0 * kTokens * kF;
  const double tiled_mlp_gradients = 2.0 * kTokens * kH + kTokens * kF;
  // SwiGLU keeps gate and up (2 x 2 T f) and mlp_down its input (2 T f): 6 T f bytes a layer.
  const double intermediates = 6.0 * kTokens * kF;
  for (Recompute rc : {Recompute::kNone, Recompute::kSelective}) {
    JobConfig tiled = small_loss(ring8(rc));
    tiled.tiled_mlp = -1;  // auto: ceil(16384 / 4096) = 4 tiles
    const double a = test::lower(model, small_loss(ring8(rc))).memory.activations;
    const double b = test::lower(model, tiled).memory.activations;
    EXPECT_DOUBLE_EQ(a - b, 32.0 * intermediates - intermediates / 4 + untiled_mlp_gradients - tiled_mlp_gradients)
        << to_string(rc);
  }
  // Full recompute saves only layer inputs; the re-run layer holds one tile instead of all.
  JobConfig tiled = small_loss(ring8(Recompute::kFull));
  tiled.tiled_mlp = -1;
  EXPECT_DOUBLE_EQ(test::lower(model, small_loss(ring8(Recompute::kFull))).memory.activations -
                       test::lower(model, tiled).memory.activations,
                   intermediates - intermediates / 4 + untiled_mlp_gradients - tiled_mlp_gradients);
}

TEST(LongContext, TiledMlpRecomputesTheMlpForward) {
  const ModelSpec model = test::llama3_8b();
  for (Recompute rc : {Recompute::kNone, Recompute::kFull}) {
    JobConfig tiled = ring8(rc);
    tiled.tiled_mlp = 4;
    const LoweredStep plain = test::lower(model, ring8(rc));
    const LoweredStep tiles = test::lower(model, tiled);
    // One more forward of mlp_up (2 T h 2f), SwiGLU (6 T f) and mlp_down (2 T f h) per layer.
    const double mlp_fwd = 2.0 * kTokens * kH * 2 * kF + 6.0 * kTokens * kF + 2.0 * kTokens * kF * kH;
    EXPECT_NEAR(layer_bwd_flops(tiles.graph) - layer_bwd_flops(plain.graph), 32.0 * mlp_fwd,
                1e-9 * 32.0 * mlp_fwd)
        << to_string(rc);
    const Topology topo = load_topology("dgx-h100");
    for (const char* engine : {"analytic", "des"}) {
      const auto e = make_engine(engine);
      EXPECT_GT(e->run(tiles.graph, topo, {}).step_time_s, e->run(plain.graph, topo, {}).step_time_s) << engine;
    }
  }
}

TEST(LongContext, DefaultsLeaveTheConfigurationAsItWas) {
  const nlohmann::json plain = job_to_json(ring8());
  EXPECT_FALSE(plain.contains("loss"));
  EXPECT_FALSE(plain.contains("tiled_mlp"));
  JobConfig on = ring8();
  on.loss = "chunked:4";
  on.tiled_mlp = -1;
  nlohmann::json j = job_to_json(on);
  j.erase("micro_batches");  // derived, printed only
  EXPECT_EQ(j.at("loss"), "chunked:4");
  EXPECT_EQ(j.at("tiled_mlp"), "auto");
  const JobConfig back = job_from_json(j, "job.json");
  EXPECT_EQ(back.loss, "chunked:4");
  EXPECT_EQ(back.tiled_mlp, -1);
}

TEST(LongContext, OnlyFrameworksWhoseCodeHasThemRunThem) {
  // Megatron-LM / NeMo: neither; torchtitan: the chunked loss only; DeepSpeed (ALST): all.
  JobConfig job = ring8();
  job.framework = "megatron";
  job.loss = "chunked:8";
  EXPECT_THROW(test::lower(test::llama3_8b(), job), InputError);
  job.framework = "fsdp";
  EXPECT_NO_THROW(test::lower(test::llama3_8b(), job));
  job.loss = "fused";
  EXPECT_THROW(test::lower(test::llama3_8b(), job), InputError);
  job.loss = "standard";
  job.tiled_mlp = -1;
  EXPECT_THROW(test::lower(test::llama3_8b(), job), InputError);
  test::expect_one_line_error(test::run_spsim("run -s ring --gpus 8 --seq 32K --loss fused"), "--loss standard");
  test::expect_one_line_error(test::run_spsim("run -s ring --gpus 8 --seq 32K --tiled-mlp auto"),
                              "--framework deepspeed");
}

TEST(LongContext, BadFlagsAreOneLineErrors) {
  test::expect_one_line_error(test::run_spsim("run -s ring --gpus 8 --seq 32K --loss chunked:0"), "--loss");
  test::expect_one_line_error(test::run_spsim("run -s ring --gpus 8 --seq 32K --tiled-mlp many"), "--tiled-mlp");
  test::expect_one_line_error(test::run_spsim("run -s ulysses --gpus 8 --seq 32K --loss chunked --emit deepspeed"),
                              "--tiled-mlp are set in the training code");
}

TEST(LongContext, MaxContextSearchFindsLongerPlansWithTheTechniques) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const ModelSpec model = test::llama3_8b();
  JobConfig job = ring8(Recompute::kFull);
  job.ring_degree = 1;
  MemoryKnobs knobs;
  const auto without = max_context_best(model, topo, job, {"ring"}, *engine, 1024, knobs);
  knobs.losses = {"standard", "chunked:8", "fused"};
  knobs.tiled_mlps = {0, -1};
  const auto with = max_context_best(model, topo, job, {"ring"}, *engine, 1024, knobs);
  ASSERT_EQ(without.size(), 1u);
  ASSERT_EQ(with.size(), 1u);
  EXPECT_EQ(without[0].job.loss, "standard");
  EXPECT_EQ(without[0].job.tiled_mlp, 0);
  // Both techniques shrink memory per token: the longest plan uses them and is longer.
  EXPECT_GT(with[0].max_seq, 2 * without[0].max_seq);
  EXPECT_NE(with[0].job.loss, "standard");
  EXPECT_EQ(with[0].job.tiled_mlp, -1);
  EXPECT_LE(with[0].memory.peak(), topo.gpu.hbm_bytes);
  EXPECT_GT(with[0].memory_next.peak(), topo.gpu.hbm_bytes);
}

TEST(LongContext, BestPlanSearchNamesTheTechniquesItUses) {
  const Topology topo = load_topology("dgx-h100");
  const ModelSpec model = test::llama3_8b();
  JobConfig base = ring8();
  base.seq_length = 1 << 20;  // 1M: past what fits on 8 GPUs without the techniques (~513K)
  base.global_batch_size = 1;
  SearchSpace space;
  space.zero_stage = {3};
  space.micro_batch_size = {1};
  space.recompute = {Recompute::kFull};
  const auto ring = make_strategy("ring");
  const SweepRow plain = search_best_plan(model, topo, *ring, base, space, "analytic");
  EXPECT_EQ(plain.status, "oom") << plain.reason;
  space.loss = {"standard", "chunked:8", "fused"};
  space.tiled_mlp = {0, -1};
  const SweepRow with = search_best_plan(model, topo, *ring, base, space, "analytic");
  EXPECT_EQ(with.status, "ok") << with.reason;
  EXPECT_EQ(with.reason.rfind("uses loss ", 0), 0u) << with.reason;
  // The fused loss alone misses 1M here (by 0.24 GiB, with DeepSpeed's 1e9 live ZeRO-3
  // parameters), so the plan that fits also tiles the MLP, and says so.
  EXPECT_EQ(with.reason.rfind("uses loss fused, tiled-mlp auto under deepspeed;", 0), 0u) << with.reason;
  space.tiled_mlp = {0};
  EXPECT_EQ(search_best_plan(model, topo, *ring, base, space, "analytic").status, "oom");
}

TEST(LongContext, TechniquesFlagsThroughTheCommands) {
  const auto r =
      test::run_spsim("max-context --best --techniques -s ring --framework deepspeed --gpus 8 --zero 3 --recompute full");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("steps/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tiled-mlp:auto"), std::string::npos) << r.out;
  // Without --framework the search also tries DeepSpeed, whose code has the techniques: ring's
  // "with" row runs there.
  const auto any = test::run_spsim("max-context --best --techniques -s ring --gpus 8 --zero 3 --recompute full");
  ASSERT_EQ(any.exit_code, 0) << any.err;
  EXPECT_NE(any.out.find("deepspeed loss:"), std::string::npos) << any.out;
  test::expect_one_line_error(test::run_spsim("max-context --techniques -s ring --gpus 8"), "--techniques");
  test::expect_one_line_error(test::run_spsim("sweep --techniques -s ring --gpus 8 --seq 32K -o x"), "--techniques");
}

}  // namespace
}  // namespace spsim
