// Full recompute of part of the layers ("full:N": Megatron-LM's --recompute-method block
// --recompute-num-layers N, the first N layers of every model chunk; torchtitan's per-layer
// selective AC by its count): what the step re-runs, what it keeps, and the text, JSON and launch
// forms, checked against the whole-model extremes (none, full) on Llama-3-8B (32 layers) and
// Llama-3-70B (80 layers, pipelined).
#include <cmath>
#include <fstream>

#include "memory/activation_memory.h"
#include "spsim/engine.h"
#include "spsim/flops.h"
#include "spsim/launch.h"
#include "spsim/pipeline.h"
#include "spsim/report.h"
#include "spsim/topology.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

JobConfig dp_job(const std::string& recompute) {
  JobConfig job = test::long_job("dp", 8);
  job.seq_length = 8192;
  job.framework = "megatron";
  job.zero_stage = 1;
  set_recompute(job, recompute, "--recompute");
  return job;
}

RunReport run(const ModelSpec& model, const JobConfig& job) {
  static const Topology topo = load_topology("dgx-h100");
  return evaluate(model, topo, job, *make_engine("analytic"));
}

TEST(PartialRecompute, TextRoundTripsAndBadCountsAreRefused) {
  JobConfig job;
  set_recompute(job, "full:5", "--recompute");
  EXPECT_EQ(job.recompute, Recompute::kFull);
  EXPECT_EQ(job.recompute_layers, 5);
  EXPECT_EQ(recompute_name(job), "full:5");
  set_recompute(job, "full", "--recompute");
  EXPECT_EQ(job.recompute_layers, 0);
  EXPECT_EQ(recompute_name(job), "full");
  for (const char* bad : {"full:0", "full:", "full:-2", "full:x", "selective:4", "none:1", "full:1234567"}) {
    EXPECT_THROW_MSG(set_recompute(job, bad, "--recompute"), InputError, "full:N");
  }
}

TEST(PartialRecompute, CountsTheBlockMethodPerModelChunk) {
  JobConfig job = dp_job("full:5");
  EXPECT_EQ(recomputed_layers(job, 32), 5);
  EXPECT_EQ(recomputed_layers(job, 3), 3);  // Megatron: layer l < N of a smaller chunk: all of it
  EXPECT_EQ(model_recomputed_layers(test::llama3_8b(), job), 5);
  job.pipeline_parallel = 4;
  job.virtual_pipeline_stages = 2;  // 8 chunks of 4 layers: every one recomputes 4 of 4
  EXPECT_EQ(model_recomputed_layers(test::llama3_8b(), job), 32);
  set_recompute(job, "full:3", "--recompute");
  EXPECT_EQ(model_recomputed_layers(test::llama3_8b(), job), 24);
  set_recompute(job, "none", "--recompute");
  EXPECT_EQ(model_recomputed_layers(test::llama3_8b(), job), 0);
}

TEST(PartialRecompute, BackwardReRunsOnlyTheCheckpointedLayers) {
  // Two layer_bwd segments: the 27 layers that kept their activations (back-propagated first),
  // then the 5 checkpointed ones, whose backward starts with the forward again.
  const LoweredStep step = test::lower(test::llama3_8b(), dp_job("full:5"));
  std::vector<const Segment*> bwd;
  for (const Segment& seg : step.graph.segments) {
    if (std::string(seg.name) == "layer_bwd") bwd.push_back(&seg);
  }
  ASSERT_EQ(bwd.size(), 2u);
  EXPECT_EQ(bwd[0]->repeat, 27);
  EXPECT_EQ(bwd[1]->repeat, 5);
  // The plain layers' backward is the backward of a job without recompute, the checkpointed
  // layers' that of full recompute (the forward's tasks first).
  EXPECT_EQ(bwd[0]->tasks.size(),
            test::segment(test::lower(test::llama3_8b(), dp_job("none")).graph, "layer_bwd").tasks.size());
  EXPECT_EQ(bwd[1]->tasks.size(),
            test::segment(test::lower(test::llama3_8b(), dp_job("full")).graph, "layer_bwd").tasks.size());
  EXPECT_GT(bwd[1]->tasks.size(), bwd[0]->tasks.size());
}

TEST(PartialRecompute, StepTimeAndFlopsInterpolateLayerByLayer) {
  // Without pipeline stages every layer's backward is a separate, equal cost: k of 32 layers
  // re-running their forward cost k/32 of the full-recompute extra, exactly (to rounding).
  const ModelSpec m = test::llama3_8b();
  const double none = run(m, dp_job("none")).result.step_time_s;
  const double full = run(m, dp_job("full")).result.step_time_s;
  const double half = run(m, dp_job("full:16")).result.step_time_s;
  const double five = run(m, dp_job("full:5")).result.step_time_s;
  EXPECT_NEAR(half, none + 0.5 * (full - none), 1e-6 * full);
  EXPECT_NEAR(five, none + 5.0 / 32 * (full - none), 1e-6 * full);
  EXPECT_DOUBLE_EQ(run(m, dp_job("full:32")).result.step_time_s, full);
  EXPECT_THROW_MSG(run(m, dp_job("full:33")), InputError, "more layers than model");

  const StepFlops f_none = step_flops(m, dp_job("none")), f_full = step_flops(m, dp_job("full"));
  const StepFlops f_five = step_flops(m, dp_job("full:5"));
  EXPECT_NEAR(f_five.hardware, f_none.hardware + 5.0 / 32 * (f_full.hardware - f_none.hardware),
              1e-9 * f_full.hardware);
  EXPECT_DOUBLE_EQ(f_five.model, f_none.model);  // model FLOP do not count recompute
}

TEST(PartialRecompute, MemoryKeepsEachLayersOwnActivations) {
  // Per layer a plain layer keeps P, a checkpointed one its input I; the first checkpointed layer
  // runs its forward again (holding R) only after the plain ones have freed theirs, so with k of
  // 32 checkpointed the activations are (32 - k) P + k I + E: linear in k, and full recompute
  // (32 I + E + R) lies R above the line's end, where R = P - I: the layer re-run holds its
  // activations again, but reads its input from the checkpoint. So full:31 (31 I + P + E, the
  // plain layer's backward first) needs exactly what full needs, and never less. An 8,192-token
  // vocabulary keeps the loss phase (6 B a logit under Megatron's loss: 0.54 GB) below every
  // layer's backward (R and the layer's gradients, 1.6 GB), whose arithmetic this checks.
  ModelSpec m = test::llama3_8b();
  m.vocab_size = 8192;
  const double none = run(m, dp_job("none")).lowered.memory.activations;
  const double full = run(m, dp_job("full")).lowered.memory.activations;
  const double five = run(m, dp_job("full:5")).lowered.memory.activations;
  const double ten = run(m, dp_job("full:10")).lowered.memory.activations;
  const double per_layer = (five - none) / 5;  // I - P < 0
  EXPECT_LT(per_layer, 0);
  EXPECT_NEAR(ten - none, 10 * per_layer, 1e-6 * none);
  const double rerun = full - (none + 32 * per_layer);  // R: one layer's forward held again
  EXPECT_NEAR(rerun, -per_layer, 1e-9 * none);         // less the checkpointed input
  EXPECT_NEAR(run(m, dp_job("full:31")).lowered.memory.activations, full, 1e-9 * none);

  // The helper by hand: checkpointed {saved 1, recomputed 10}, plain {saved 10, recomputed 0}.
  const detail::LayerActivations ck{1, 10}, plain{10, 0};
  const detail::LayerActivations mix = detail::partly_recomputed(ck, plain, 32, 5, 27);
  EXPECT_DOUBLE_EQ(mix.saved, (5 * 1 + 27 * 10) / 32.0);
  EXPECT_DOUBLE_EQ(mix.recomputed, 0.0);  // 27 plain layers freed 270 before the 10 re-run
  const detail::LayerActivations all = detail::partly_recomputed(ck, plain, 32, 32, 0);
  EXPECT_DOUBLE_EQ(all.saved, 1.0);
  EXPECT_DOUBLE_EQ(all.recomputed, 10.0);
  EXPECT_DOUBLE_EQ(detail::partly_recomputed(ck, plain, 32, 0, 32).saved, 10.0);
  EXPECT_DOUBLE_EQ(detail::partly_recomputed({1, 25}, plain, 3, 1, 2).recomputed, 5.0);  // 25 - 2 x 10
  // torchtitan's every other block of 32: block 32 re-runs first, before any plain layer freed.
  EXPECT_DOUBLE_EQ(detail::partly_recomputed(ck, plain, 32, 16, 32 % 2).recomputed, 10.0);
}

TEST(PartialRecompute, PipelinedChunksRecomputeTheirFirstLayers) {
  // Llama-3-70B, p 4, v 2: chunks of 10 layers. full:10 is full recompute, full:1 re-runs one
  // layer in ten; the step lies between none and full, ordered by N.
  const ModelSpec m = load_model("llama-3-70b");
  auto job = [](const std::string& recompute) {
    JobConfig j = test::long_job("megatron-sp", 64);
    j.seq_length = 8192;
    j.tensor_parallel = 8;
    j.pipeline_parallel = 4;
    j.virtual_pipeline_stages = 2;
    j.global_batch_size = 64;
    set_recompute(j, recompute, "--recompute");
    return j;
  };
  const RunReport none = run(m, job("none")), full = run(m, job("full"));
  const RunReport one = run(m, job("full:1")), five = run(m, job("full:5")), ten = run(m, job("full:10"));
  EXPECT_DOUBLE_EQ(ten.result.step_time_s, full.result.step_time_s);
  EXPECT_DOUBLE_EQ(ten.lowered.memory.peak(), full.lowered.memory.peak());
  EXPECT_LT(none.result.step_time_s, one.result.step_time_s);
  EXPECT_LT(one.result.step_time_s, five.result.step_time_s);
  EXPECT_LT(five.result.step_time_s, full.result.step_time_s);
  EXPECT_GT(none.lowered.memory.activations, one.lowered.memory.activations);
  EXPECT_GT(one.lowered.memory.activations, five.lowered.memory.activations);
  EXPECT_GT(five.lowered.memory.activations, full.lowered.memory.activations);
  // The DES times the same graph: within 2 % of the analytic step.
  const Topology topo = load_topology("dgx-h100");
  const double des = evaluate(m, topo, job("full:5"), *make_engine("des")).result.step_time_s;
  EXPECT_NEAR(des / five.result.step_time_s, 1.0, 0.02);
}

TEST(PartialRecompute, ZeroThreeGathersWaitAcrossTheTwoBackwardSegments) {
  // FSDP with its gathers after the compute (sync, post): every layer's backward waits for the
  // gather the layer before issued, the first checkpointed one included, so k of 32 re-run
  // layers cost k/32 of the full-recompute extra in both engines, never less than none.
  const ModelSpec m = test::llama3_8b();
  const Topology topo = load_topology("dgx-h100");
  for (const char* mode : {"sync", "post"}) {
    auto job = [&](const std::string& recompute) {
      JobConfig j = test::long_job("dp", 64);
      j.seq_length = 2048;
      j.framework = "fsdp";
      j.zero_stage = 3;
      j.global_batch_size = 64;
      j.backward_prefetch = mode;
      set_recompute(j, recompute, "--recompute");
      return j;
    };
    for (const char* engine : {"analytic", "des"}) {
      const auto e = make_engine(engine);
      const double none = evaluate(m, topo, job("none"), *e).result.step_time_s;
      const double full = evaluate(m, topo, job("full"), *e).result.step_time_s;
      const double one = evaluate(m, topo, job("full:1"), *e).result.step_time_s;
      EXPECT_NEAR(one, none + (full - none) / 32, 1e-6 * full) << mode << " " << engine;
    }
  }
}

TEST(PartialRecompute, FrameworksThatCannotPlaceItRefuse) {
  const ModelSpec m = test::llama3_8b();
  JobConfig ds = dp_job("full:4");
  ds.framework = "deepspeed";
  EXPECT_THROW_MSG(test::lower(m, ds), InputError, "checkpoints every layer or none");
  JobConfig tt = dp_job("full:12");  // floor(32 / k) is 16 (k 2) or 10 (k 3): never 12
  tt.framework = "fsdp";
  tt.zero_stage = 3;
  EXPECT_THROW_MSG(test::lower(m, tt), InputError, "no k gives 12");
  set_recompute(tt, "full:16", "--recompute");
  EXPECT_NO_THROW(test::lower(m, tt));
  tt.pipeline_parallel = 4;
  EXPECT_THROW_MSG(test::lower(m, tt), InputError, "pipeline stages");
}

TEST(PartialRecompute, StrategiesThatRebuildLayerSegmentsRefuse) {
  // LASP rebuilds its layer segments per attention kind and ColAI-SP splices them: neither
  // carries the plain/checkpointed split.
  JobConfig lasp = test::long_job("lasp", 32);
  lasp.ring_degree = 4;
  lasp.seq_length = 32768;
  set_recompute(lasp, "full:3", "--recompute");
  EXPECT_THROW_MSG(test::lower(load_model("linear-llama3-1b"), lasp), InputError, "every layer recomputed or none");
  JobConfig colai = test::long_job("colai-sp", 8);
  colai.ring_degree = 8;
  set_recompute(colai, "full:3", "--recompute");
  EXPECT_THROW_MSG(test::lower(test::llama3_8b(), colai), InputError, "every layer recomputed or none");
}

TEST(PartialRecompute, PerLayerReportsWeighTheTwoKindsOfLayers) {
  // The ring's backward sends per layer: the plain layers' plus 5/32 of the re-run forward's.
  const ModelSpec m = test::llama3_8b();
  auto job = [](const std::string& recompute) {
    JobConfig j = test::long_job("ring", 8);
    j.ring_degree = 8;
    j.zero_stage = 1;
    set_recompute(j, recompute, "--recompute");
    return j;
  };
  auto ring_bwd = [&](const std::string& recompute) {
    return to_json(run(m, job(recompute)))["comm_bytes_per_layer"]["ring_p2p/send_recv"]["backward_bytes"]
        .get<double>();
  };
  EXPECT_NEAR(ring_bwd("full:5"), ring_bwd("none") + 5.0 / 32 * (ring_bwd("full") - ring_bwd("none")), 2.0);
  const nlohmann::json per_layer = to_json(run(m, job("full:5")))["per_layer"];
  EXPECT_TRUE(per_layer.contains("backward_recomputed"));
  EXPECT_LT(per_layer["backward"]["time_s"].get<double>(), per_layer["backward_recomputed"]["time_s"].get<double>());
  EXPECT_FALSE(to_json(run(m, job("full")))["per_layer"].contains("backward_recomputed"));
}

TEST(PartialRecompute, SearchedModesAreWholeModes) {
  // A job file asking for full:5 and max-context --best searching the recompute modes: the
  // searched "full" is every layer (it fits far longer than full:5), not the file's five.
  const std::string dir = test::temp_dir("partial_recompute");
  std::ofstream(dir + "/job.json")
      << R"({"job": {"recompute_granularity": "full", "recompute_method": "block", "recompute_num_layers": 5}})";
  const auto r = test::run_spsim("max-context --best -s megatron-sp -m llama-3-8b --gpus 8 --config " + dir + "/job.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("rc:full "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("full:5"), std::string::npos) << r.out;
  // Given on the command line, the plan keeps it.
  const auto fixed = test::run_spsim("max-context -s megatron-sp -m llama-3-8b --gpus 8 --recompute full:5");
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_NE(fixed.out.find("rc:full:5"), std::string::npos) << fixed.out;
}

TEST(PartialRecompute, JobJsonUsesMegatronsNames) {
  const nlohmann::json in = {{"recompute_granularity", "full"}, {"recompute_method", "block"},
                             {"recompute_num_layers", 5}};
  const JobConfig job = job_from_json(in, "job.json");
  EXPECT_EQ(recompute_name(job), "full:5");
  const nlohmann::json out = job_to_json(job);
  EXPECT_EQ(out.at("recompute_method"), "block");
  EXPECT_EQ(out.at("recompute_num_layers"), 5);
  EXPECT_EQ(recompute_name(job_from_json({{"recompute_granularity", "full"}, {"recompute_method", "uniform"},
                                          {"recompute_num_layers", 1}},
                                         "job.json")),
            "full");
  EXPECT_THROW_MSG(job_from_json({{"recompute_granularity", "full"}, {"recompute_method", "uniform"},
                                  {"recompute_num_layers", 4}},
                                 "job.json"),
                   InputError, "groups of 4 layers");
  EXPECT_THROW_MSG(job_from_json({{"recompute_granularity", "selective"}, {"recompute_num_layers", 4}}, "job.json"),
                   InputError, "recompute_num_layers");
  EXPECT_THROW_MSG(job_from_json({{"recompute_granularity", "full"}, {"recompute_method", "block"}}, "job.json"),
                   InputError, "needs recompute_num_layers");
}

TEST(PartialRecompute, LaunchFilesReadAndWriteTheBlockMethod) {
  const ImportedLaunch megatron = import_launch(
      LaunchFormat::kMegatron,
      "--recompute-granularity full --recompute-method block --recompute-num-layers 5", "args");
  EXPECT_EQ(recompute_name(megatron.job), "full:5");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron,
                                 "--recompute-granularity full --recompute-method uniform --recompute-num-layers 2",
                                 "args"),
                   InputError, "(block, N)");
  EXPECT_THROW_MSG(import_launch(LaunchFormat::kMegatron,
                                 "--recompute-granularity selective --recompute-method block --recompute-num-layers 5",
                                 "args"),
                   InputError, "go with --recompute-granularity full");
  // torchtitan: every k-th block of a known model, floor(L / k) of them; 0 and 1: every block.
  const ImportedLaunch tt = import_launch(LaunchFormat::kTorchtitan,
                                          "[model]\nname = \"llama3\"\nflavor = \"8B\"\n"
                                          "[activation_checkpoint]\nmode = \"selective\"\nselective_ac_option = \"2\"\n",
                                          "job.toml");
  ASSERT_TRUE(tt.model.has_value());
  EXPECT_EQ(recompute_name(tt.job), "full:16");
  for (const char* every : {"0", "1", "01"}) {
    const ImportedLaunch all = import_launch(
        LaunchFormat::kTorchtitan,
        std::string("[model]\nname = \"llama3\"\nflavor = \"8B\"\n[activation_checkpoint]\nmode = \"selective\"\n"
                    "selective_ac_option = \"") + every + "\"\n",
        "job.toml");
    EXPECT_EQ(recompute_name(all.job), "full") << every;
  }

  // Written back: Megatron's block method; torchtitan's every k-th block where some k gives the
  // count (floor(32 / 6) = 5), refused where none does (no k gives 12 of 32).
  const Topology topo = load_topology("dgx-h100");
  auto text = [&](LaunchFormat f, const JobConfig& job) {
    return emit_launch(f, test::llama3_8b(), topo, test::lower(test::llama3_8b(), job).job).text;
  };
  JobConfig mj = dp_job("full:5");
  EXPECT_NE(text(LaunchFormat::kMegatron, mj).find("--recompute-method block"), std::string::npos);
  EXPECT_NE(text(LaunchFormat::kMegatron, mj).find("--recompute-num-layers 5"), std::string::npos);
  JobConfig tj = dp_job("full:5");
  tj.framework = "fsdp";
  tj.zero_stage = 3;
  EXPECT_NE(text(LaunchFormat::kTorchtitan, tj).find("selective_ac_option = \"6\""), std::string::npos)
      << text(LaunchFormat::kTorchtitan, tj);
  set_recompute(tj, "full:12", "--recompute");
  EXPECT_THROW_MSG(text(LaunchFormat::kTorchtitan, tj), InputError, "no k gives 12");
}

}  // namespace
}  // namespace spsim
