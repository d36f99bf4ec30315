// --offload optimizer / activations (issue 17, items 2 and 5): what moves to host memory, what the
// copies and the CPU Adam step cost, on the shipped DGX H100's host block (PCIe Gen5 x16 at
// 64 GB/s x 0.8 = 51.2 GB/s per GPU; 563.2 GB/s of DDR5 per node x 0.75 / 8 GPUs = 52.8 GB/s per
// rank), and the refusals.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "spsim/engine.h"
#include "spsim/job.h"
#include "spsim/long_context.h"
#include "spsim/memory.h"
#include "spsim/report.h"
#include "spsim/topology.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

constexpr double kLinkRate = 64e9 * 0.8;             // bytes/s per GPU
constexpr double kHostMemoryRate = 563.2e9 / 8 * 0.75;  // bytes/s per rank

JobConfig alst_job(const std::string& offload) {
  JobConfig job = test::long_job("ulysses", 8);
  job.ulysses_degree = 8;
  job.seq_length = 65536;
  job.framework = "deepspeed";
  job.zero_stage = 3;
  job.recompute = Recompute::kFull;
  set_offload(job, offload, "--offload");
  return job;
}

const Topology& dgx_h100() {
  static const Topology topo = load_topology("dgx-h100");
  return topo;
}

RunReport run(const JobConfig& job, const char* engine = "analytic") {
  return evaluate(test::llama3_8b(), dgx_h100(), job, *make_engine(engine));
}

const Task& task_named(const TaskGraph& graph, const char* segment, const char* name) {
  for (const Segment& seg : graph.segments) {
    if (std::string(seg.name) != segment) continue;
    for (const Task& task : seg.tasks) {
      if (std::string(task.name) == name) return task;
    }
  }
  ADD_FAILURE() << "no task " << name << " in " << segment;
  static const Task none;
  return none;
}

TEST(Offload, TextRoundTripsAndBadListsAreRefused) {
  JobConfig job;
  for (const char* text : {"none", "optimizer", "params", "activations", "optimizer,activations",
                           "optimizer,params", "optimizer,params,activations"}) {
    set_offload(job, text, "--offload");
    EXPECT_EQ(offload_name(job), text);
  }
  set_offload(job, "activations,optimizer", "--offload");
  EXPECT_EQ(offload_name(job), "optimizer,activations");
  set_offload(job, "activations,params,optimizer", "--offload");
  EXPECT_TRUE(job.offload_params);
  EXPECT_EQ(offload_name(job), "optimizer,params,activations");
  for (const char* bad : {"", "cpu", "optimizer,", ",optimizer", "optimizer,optimizer", "none,optimizer", "param",
                          "params,params"}) {
    EXPECT_THROW_MSG(set_offload(job, bad, "--offload"), InputError, "optimizer, params and activations");
  }
  set_offload(job, "optimizer,activations", "--offload");
  EXPECT_EQ(job_to_json(job)["offload"], "optimizer,activations");
  const JobConfig read = job_from_json(nlohmann::json{{"strategy", "ulysses"}, {"offload", "activations"}}, "job.json");
  EXPECT_FALSE(read.offload_optimizer);
  EXPECT_TRUE(read.offload_activations);
  EXPECT_THROW_MSG(job_from_json(nlohmann::json{{"strategy", "ulysses"}, {"offload", "gpu"}}, "job.json"), InputError,
                   "optimizer, params and activations");
  EXPECT_FALSE(job_to_json(JobConfig{}).contains("offload"));  // a plan without offload is written as before
}

TEST(Offload, OptimizerStatesAndTheAdamStepMoveToTheHost) {
  const RunReport none = run(alst_job("none"));
  const RunReport off = run(alst_job("optimizer"));
  const MemoryEstimate& a = none.lowered.memory;
  const MemoryEstimate& b = off.lowered.memory;
  // ZeRO-3 over 8 ranks: the optimizer's 12 bytes per parameter of the shard, and the fp32
  // gradient partition (4 bytes) go to the host; the GPU keeps its 16-bit parameter shard.
  const double shard = a.optimizer / 12;
  EXPECT_DOUBLE_EQ(b.optimizer, 0.0);
  EXPECT_DOUBLE_EQ(b.grads, 0.0);
  EXPECT_DOUBLE_EQ(b.params, a.params);
  EXPECT_DOUBLE_EQ(b.activations, a.activations);
  EXPECT_NEAR(b.host, 16 * shard, 1e-6 * b.host);
  EXPECT_DOUBLE_EQ(a.host, 0.0);

  // The step: 4 bytes of gradient out and 2 of parameters back over the link, 30 bytes of host
  // memory traffic for CPU Adam, instead of the GPU's Adam kernel.
  const TaskGraph& g = off.lowered.graph;
  const Topology& topo = dgx_h100();
  EXPECT_NEAR(compute_time_s(task_named(g, "optimizer", "grads_to_host"), topo, g.precision), 4 * shard / kLinkRate,
              1e-9);
  EXPECT_NEAR(compute_time_s(task_named(g, "optimizer", "cpu_adam"), topo, g.precision),
              30 * shard / kHostMemoryRate, 1e-9);
  EXPECT_NEAR(compute_time_s(task_named(g, "optimizer", "params_to_gpu"), topo, g.precision), 2 * shard / kLinkRate,
              1e-9);
  const double gpu_adam =
      compute_time_s(task_named(none.lowered.graph, "optimizer", "adam_update"), topo, g.precision);
  const double added = 6 * shard / kLinkRate + 30 * shard / kHostMemoryRate - gpu_adam;
  EXPECT_NEAR(off.result.step_time_s - none.result.step_time_s, added, 1e-6 * added);
  EXPECT_GT(added, 0.5);  // about 0.66 s for Llama-3-8B's billion parameters per rank
  // The DES times the same tasks.
  EXPECT_NEAR(run(alst_job("optimizer"), "des").result.step_time_s - run(alst_job("none"), "des").result.step_time_s,
              added, 0.01 * added);
}

TEST(Offload, CheckpointsLeaveTheGpuAndComeBackOneAtATime) {
  const RunReport none = run(alst_job("none"));
  const RunReport off = run(alst_job("activations"));
  // A checkpoint is the layer input of this rank's 65536 / 8 tokens: 2 x 8192 x 4096 bytes.
  const double checkpoint = 2.0 * 8192 * 4096;
  EXPECT_DOUBLE_EQ(off.lowered.memory.host, 32 * checkpoint);
  EXPECT_DOUBLE_EQ(none.lowered.memory.activations - off.lowered.memory.activations, 31 * checkpoint);
  const TaskGraph& g = off.lowered.graph;
  const double copy = compute_time_s(task_named(g, "layer_fwd", "checkpoint_to_host"), dgx_h100(), g.precision);
  EXPECT_NEAR(copy, checkpoint / kLinkRate, 1e-12);
  EXPECT_NEAR(compute_time_s(task_named(g, "layer_bwd", "checkpoint_from_host"), dgx_h100(), g.precision), copy,
              1e-12);
  // Blocking copies on the compute stream (ALST's): 64 of them lengthen the step by at most their
  // time; a little less where they hide a collective the compute stream waited for.
  const double added = off.result.step_time_s - none.result.step_time_s;
  EXPECT_LE(added, 64 * copy * (1 + 1e-9));
  EXPECT_GE(added, 0.5 * 64 * copy);
}

// --offload params (DeepSpeed ZeRO-3 offload_param): each rank's 16-bit partition lives in pinned
// host memory and is copied to the GPU before every gather of it; the updated partition stays
// there after CPU Adam.
TEST(Offload, ParameterPartitionsLiveOnTheHostAndComeInBeforeEachGather) {
  const RunReport opt = run(alst_job("optimizer"));
  const RunReport both = run(alst_job("optimizer,params"));
  const MemoryEstimate& a = opt.lowered.memory;
  const MemoryEstimate& b = both.lowered.memory;
  // ZeRO-3 over 8 ranks: the 2-byte parameter shard leaves the GPU for the host; the gathered
  // layers (ZeRO-3's buffers) stay.
  const double shard = a.optimizer > 0 ? a.optimizer / 12 : a.params / 2;
  EXPECT_DOUBLE_EQ(b.params, 0.0);
  EXPECT_NEAR(b.host - a.host, 2 * shard, 1e-6 * b.host);
  EXPECT_DOUBLE_EQ(b.buffers, a.buffers);
  // A layer's copy: its 218,112,000 parameters / 8 ranks x 2 bytes, before its gather in the
  // forward and in the backward; the optimizer no longer copies parameters back.
  const TaskGraph& g = both.lowered.graph;
  const double copy = compute_time_s(task_named(g, "layer_fwd", "param_from_host"), dgx_h100(), g.precision);
  EXPECT_NEAR(copy, 218112000.0 / 8 * 2 / kLinkRate, 1e-12);
  EXPECT_NEAR(compute_time_s(task_named(g, "layer_bwd", "param_from_host"), dgx_h100(), g.precision), copy, 1e-12);
  for (const Segment& seg : g.segments) {
    for (const Task& task : seg.tasks) EXPECT_NE(std::string(task.name), "params_to_gpu");
  }
  // 64 copies for the layers and one for the embedding on the compute stream, less the step's
  // copy back (2 bytes a parameter of the shard), which is gone; the gathers behind the copies may
  // be exposed more than before, by at most their own time.
  const double embedding_copy = 2.0 * 128256 * 4096 * 2 / 8 / kLinkRate;  // input embedding + LM head shards
  const double added = both.result.step_time_s - opt.result.step_time_s;
  const double copies = 64 * copy + embedding_copy - 2 * shard / kLinkRate;
  EXPECT_GE(added, copies * (1 - 1e-9));
  EXPECT_GT(added, 0.0);
  // One GPU: nothing to gather, but every layer still comes in from the host, whole.
  JobConfig one = alst_job("optimizer,params");
  one.num_gpus = 1;
  one.ulysses_degree = 1;
  one.strategy = "dp";
  one.seq_length = 8192;
  const LoweredStep single = test::lower(test::llama3_8b(), one);
  EXPECT_DOUBLE_EQ(single.memory.params, 0.0);
  // The parameters being fetched are on the GPU as ZeRO-3's gathers would be: DeepSpeed's
  // prefetcher fills up to stage3_max_live_parameters, 1e9 elements of 2 bytes, which hold the
  // LM head (525,340,672) at the loss as well as a layer (218,112,000) in the backward.
  JobConfig kept = one;
  set_offload(kept, "optimizer", "--offload");
  EXPECT_DOUBLE_EQ(single.memory.buffers - test::lower(test::llama3_8b(), kept).memory.buffers, 1e9 * 2);
  EXPECT_NEAR(compute_time_s(task_named(single.graph, "layer_bwd", "param_from_host"), dgx_h100(), g.precision),
              218112000.0 * 2 / kLinkRate, 1e-12);
  // Parameters offload under ZeRO-3 only (DeepSpeed's offload_param), and under DeepSpeed only.
  JobConfig z2 = alst_job("params");
  z2.zero_stage = 2;
  EXPECT_THROW_MSG(test::lower(test::llama3_8b(), z2), InputError, "ZeRO-3 only");
  JobConfig fsdp = alst_job("params");
  fsdp.framework = "fsdp";
  fsdp.strategy = "ring";
  fsdp.ulysses_degree = 1;
  fsdp.ring_degree = 8;
  EXPECT_THROW_MSG(test::lower(test::llama3_8b(), fsdp), InputError, "DeepSpeed's offloads");
}

TEST(Offload, TheHostMustHoldWhatIsOffloaded) {
  MemoryEstimate m;
  m.params = 1e9;
  Topology topo = dgx_h100();
  EXPECT_TRUE(fits(m, topo));
  m.host = topo.host.memory_bytes_per_rank();  // 256 GiB: a DGX H100's 2 TiB over 8 GPUs
  EXPECT_DOUBLE_EQ(m.host, 256.0 * 1024 * 1024 * 1024);
  EXPECT_TRUE(fits(m, topo));
  m.host *= 1.001;
  EXPECT_FALSE(fits(m, topo));
}

TEST(Offload, RefusedWhereNoFrameworkOrTopologyRunsIt) {
  JobConfig job = alst_job("optimizer");
  job.framework = "megatron";
  job.strategy = "ring";
  job.ulysses_degree = 1;
  job.ring_degree = 8;
  EXPECT_THROW_MSG(run(job), InputError, "spsim models DeepSpeed's offloads");
  job = alst_job("optimizer");
  job.zero_stage = 0;
  EXPECT_THROW_MSG(run(job), InputError, "ZeRO stages 1, 2 and 3");
  job = alst_job("activations");
  job.recompute = Recompute::kSelective;
  EXPECT_THROW_MSG(run(job), InputError, "use --recompute full");
  set_recompute(job, "full:4", "--recompute");
  EXPECT_THROW_MSG(run(job), InputError, "use --recompute full");
  // A topology without a host block (hgx-h800 states no host CPUs): refused, never guessed.
  EXPECT_THROW_MSG(evaluate(test::llama3_8b(), load_topology("hgx-h800"), alst_job("optimizer"),
                            *make_engine("analytic")),
                   InputError, "has no \"host\" block");
}

TEST(Offload, TopologyHostBlockIsReadCheckedAndWrittenBack) {
  const Topology& topo = dgx_h100();
  EXPECT_EQ(topo.host.link, "PCIe Gen5 x16");
  EXPECT_DOUBLE_EQ(topo.host.link_bandwidth, 64e9);
  EXPECT_DOUBLE_EQ(topo.host.memory_bandwidth_per_rank(), 563.2e9 / 8);
  EXPECT_EQ(parse_topology(topology_to_json(topo), "again").host, topo.host);
  Topology bad = topo;
  EXPECT_THROW_MSG(apply_override(bad, "host.link_efficiency=1.5"), InputError, "must be in (0, 1]");
  EXPECT_THROW_MSG(apply_override(bad, "host.memory_gib=0"), InputError, "must be greater than 0");
  apply_override(bad, "host.link_bandwidth_GBps=32");
  EXPECT_DOUBLE_EQ(bad.host.link_bandwidth, 32e9);
  EXPECT_FALSE(load_topology("hgx-h800").host.present());
  // A GB200 Grace hosts two GPUs: each has half of its 480 GB.
  EXPECT_EQ(load_topology("gb200-nvl72").host.gpus, 2);
  EXPECT_NEAR(load_topology("gb200-nvl72").host.memory_bytes_per_rank(), 447.03 / 2 * 1024 * 1024 * 1024, 1e3);
  nlohmann::json file = nlohmann::json::parse(topology_to_json(topo));
  file["host"] = nullptr;
  EXPECT_THROW_MSG(parse_topology(file.dump(), "t.json"), InputError, "/host: expected an object");
}

TEST(Offload, SearchesWithTechniquesTryTheOffloads) {
  // max-context --best --techniques: the longest plan with the techniques offloads what ALST does
  // (and ZeRO-3's parameters, which ALST kept on the GPUs of a node), and trains more than 5x the
  // context of the plain search on one DGX H100 (ALST trained 3.7M there).
  const auto r = test::run_spsim("max-context --best --techniques -s ulysses --framework deepspeed --gpus 8 --zero 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["offload"], "none");
  EXPECT_EQ(rows[1]["offload"], "optimizer,params,activations");
  EXPECT_GT(rows[1]["max_seq_length"].get<int64_t>(), 5 * rows[0]["max_seq_length"].get<int64_t>());
  // sweep --best --techniques: at 2M tokens only an offloading plan fits, and the reason says so.
  char dir_template[] = "/tmp/spsim_offload_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  auto sweep_reason = [&](const std::string& extra) {
    const auto s = test::run_spsim("sweep --best --techniques -s ulysses --gpus 8 --seq 2048K -o " + dir + "/s" + extra);
    EXPECT_EQ(s.exit_code, 0) << s.err;
    return nlohmann::json::parse(test::read_text(dir + "/s.json"))["rows"][0]["reason"].get<std::string>();
  };
  // The checkpoints alone: the optimizer's states still fit, and CPU Adam would only cost time.
  const std::string reason = sweep_reason("");
  EXPECT_EQ(reason.rfind("uses loss fused, ", 0), 0u) << reason;
  EXPECT_NE(reason.find(", offload activations under deepspeed;"), std::string::npos) << reason;
  // --offload none fixes it: then no plan fits and none offloads.
  EXPECT_EQ(sweep_reason(" --offload none").find("offload"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// A plan that does not fit is still emitted, but never silently: DeepSpeed's JSON has no comments,
// so a note names the memory it overflows (GPU or, for an offloading plan, host); a format with
// comments also marks its "predicted" line.
TEST(Offload, EmittingAPlanThatDoesNotFitSaysWhichMemory) {
  // Only the host short: 256K fits the GPU (54.2 GiB) but its 23.0 GiB of optimizer state and
  // checkpoints do not fit a 100 GiB host's 12.5 GiB share.
  const auto host = test::run_spsim("run -s ulysses --framework deepspeed --gpus 8 --zero 3 --recompute full "
                                    "--offload optimizer,activations --seq 256K --set host.memory_gib=100 --emit deepspeed");
  ASSERT_EQ(host.exit_code, 0) << host.err;
  EXPECT_EQ(host.err.rfind("spsim: note: the plan does NOT fit: offloads ", 0), 0u) << host.err;
  EXPECT_NE(host.err.find("its share of the host holds 12.5 GiB"), std::string::npos) << host.err;
  // Both memories short (405B: 120 GiB on the GPU, 756 GiB to a 256 GiB host share): both named.
  const auto both = test::run_spsim("run -m llama-3.1-405b -s ulysses -u 8 -n 8 --seq 8K --zero 3 --offload optimizer "
                                    "--recompute full --emit deepspeed");
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(both.err.rfind("spsim: note: the plan does NOT fit: peak memory ", 0), 0u) << both.err;
  EXPECT_NE(both.err.find("; and it offloads "), std::string::npos) << both.err;
  const auto gpu = test::run_spsim("run -s ulysses --framework deepspeed --gpus 8 --zero 3 --seq 1M --emit deepspeed");
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  EXPECT_EQ(gpu.err.rfind("spsim: note: the plan does NOT fit: peak memory ", 0), 0u) << gpu.err;
  const auto megatron = test::run_spsim("run -s ring --gpus 8 --seq 1M --emit megatron");
  ASSERT_EQ(megatron.exit_code, 0) << megatron.err;
  EXPECT_NE(megatron.out.find("of 79.7 GiB (does NOT fit)\n"), std::string::npos) << megatron.out;
  EXPECT_NE(megatron.err.find("does NOT fit"), std::string::npos) << megatron.err;
  const auto fits = test::run_spsim("run -s ring --gpus 8 --seq 64K --zero 1 --recompute full --emit megatron");
  ASSERT_EQ(fits.exit_code, 0) << fits.err;
  EXPECT_EQ(fits.out.find("NOT fit"), std::string::npos);
  EXPECT_EQ(fits.err.find("NOT fit"), std::string::npos);
}

TEST(Offload, DeepSpeedConfigCarriesTheOptimizerOffloadBothWays) {
  // --emit deepspeed writes offload_optimizer; --from-deepspeed reads it back to the same plan and
  // prediction. ALST's checkpoint offload is not a DeepSpeed config setting: a note names it.
  const std::string plan = "-s ulysses -u 8 --gpus 8 --seq 256K --framework deepspeed --zero 3 --recompute full "
                           "--offload optimizer";
  const auto emitted = test::run_spsim("run " + plan + ",activations --emit deepspeed");
  ASSERT_EQ(emitted.exit_code, 0) << emitted.err;
  const auto config = nlohmann::json::parse(emitted.out);
  EXPECT_EQ(config["zero_optimization"]["offload_optimizer"]["device"], "cpu");
  EXPECT_FALSE(config.contains("activation_checkpointing"));
  EXPECT_NE(emitted.err.find("activation_checkpoint_cpu_offload"), std::string::npos) << emitted.err;
  char dir_template[] = "/tmp/spsim_ds_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string path = dir + "/ds.json";
  { std::ofstream(path) << emitted.out; }
  const auto direct = test::run_spsim("run " + plan + " --json");
  const auto read = test::run_spsim("run --from-deepspeed " + path + " --seq 256K --recompute full --json");
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_EQ(nlohmann::json::parse(read.out)["step_time_s"], nlohmann::json::parse(direct.out)["step_time_s"]);
  EXPECT_EQ(nlohmann::json::parse(read.out)["config"]["offload"], "optimizer");
  auto offload_of = [&](const std::string& json) {
    { std::ofstream(path) << json; }
    const auto r = test::run_spsim("run --from-deepspeed " + path + " --gpus 8 --mbs 1 --seq 64K --json");
    EXPECT_EQ(r.exit_code, 0) << json << "\n" << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out)["config"].value("offload", "none") : std::string("error");
  };
  // DeepSpeed's default device is "none"; the deprecated cpu_offload: true is the optimizer on the CPU.
  EXPECT_EQ(offload_of(R"({"zero_optimization": {"stage": 3, "offload_optimizer": {"pin_memory": true}}})"), "none");
  EXPECT_EQ(offload_of(R"({"zero_optimization": {"stage": 2, "cpu_offload": true}})"), "optimizer");
  EXPECT_EQ(offload_of(R"({"zero_optimization": {"stage": 3, "offload_param": {"device": "cpu"}}})"), "params");
  // Below stage 3 DeepSpeed does not read offload_param: neither does spsim (with a note).
  EXPECT_EQ(offload_of(R"({"zero_optimization": {"stage": 2, "offload_param": {"device": "cpu"}}})"), "none");
  // data_types.grad_accum_dtype is not read, and a note says so (it is not without effect).
  { std::ofstream(path) << R"({"zero_optimization": {"stage": 1}, "bf16": {"enabled": true},
                               "data_types": {"grad_accum_dtype": "fp32"}})"; }
  const auto accum = test::run_spsim("run --from-deepspeed " + path + " --gpus 8 --mbs 1 --seq 64K");
  ASSERT_EQ(accum.exit_code, 0) << accum.err;
  EXPECT_NE(accum.err.find("data_types (grad_accum_dtype) is not read"), std::string::npos) << accum.err;
  EXPECT_EQ(accum.err.find("ignored (no effect on the step spsim models): data_types"), std::string::npos) << accum.err;
  // So are the gradient traffic's dtypes, which spsim takes from DeepSpeed's defaults.
  { std::ofstream(path) << R"({"zero_optimization": {"stage": 1}, "bf16": {"enabled": true},
                               "communication_data_type": "fp32", "seq_parallel_communication_data_type": "bf16"})"; }
  const auto comm = test::run_spsim("run --from-deepspeed " + path + " --gpus 8 --mbs 1 --seq 64K");
  ASSERT_EQ(comm.exit_code, 0) << comm.err;
  for (const char* key : {"communication_data_type is not read", "seq_parallel_communication_data_type is not read"}) {
    EXPECT_NE(comm.err.find(key), std::string::npos) << comm.err;
  }
  EXPECT_EQ(comm.err.find("ignored (no effect on the step spsim models)"), std::string::npos) << comm.err;
  // ZeRO settings spsim leaves at DeepSpeed's defaults are named in a note, not dropped silently.
  { std::ofstream(path) << R"({"zero_optimization": {"stage": 2, "reduce_bucket_size": 2e8, "overlap_comm": true}})"; }
  const auto defaults = test::run_spsim("run --from-deepspeed " + path + " --gpus 8 --mbs 1 --seq 64K");
  ASSERT_EQ(defaults.exit_code, 0) << defaults.err;
  EXPECT_NE(defaults.err.find("zero_optimization.overlap_comm, zero_optimization.reduce_bucket_size: not read; "
                              "spsim models DeepSpeed's defaults"),
            std::string::npos)
      << defaults.err;
  // NVMe (ZeRO-Infinity), or a value that is not an object: refused, naming the key.
  for (const char* bad : {R"({"zero_optimization": {"stage": 3, "offload_param": {"device": "nvme"}}})",
                          R"({"zero_optimization": {"stage": 3, "offload_optimizer": {"device": "nvme"}}})",
                          R"({"zero_optimization": {"stage": 3, "offload_optimizer": "cpu"}})"}) {
    { std::ofstream(path) << bad; }
    const auto r = test::run_spsim("run --from-deepspeed " + path + " --gpus 8 --seq 64K");
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("/zero_optimization/offload_"), std::string::npos) << r.err;
  }
  std::filesystem::remove_all(dir);
}

TEST(Offload, GradientAccumulationCopiesEveryMicroBatch) {
  // With m micro-batches ZeRO-3 moves the fp32 gradient partition out and back in on every
  // micro-batch but the last (8 bytes per parameter each), ZeRO-1/2 the 16-bit one (4 bytes).
  auto step = [](int zero, int64_t gbs, const std::string& offload) {
    JobConfig job = alst_job(offload);
    job.zero_stage = zero;
    job.global_batch_size = gbs;
    return run(job);
  };
  for (const int zero : {1, 3}) {
    SCOPED_TRACE(zero);
    const RunReport one = step(zero, 1, "optimizer"), four = step(zero, 4, "optimizer");
    const RunReport plain_one = step(zero, 1, "none"), plain_four = step(zero, 4, "none");
    const double shard = plain_one.lowered.memory.optimizer / 12;
    const double copies = 3 * (zero == 3 ? 8.0 : 4.0) * shard / kLinkRate;  // 3 micro-batches but the last
    const double extra_one = one.result.step_time_s - plain_one.result.step_time_s;
    const double extra_four = four.result.step_time_s - plain_four.result.step_time_s;
    // Blocking copies: all of their time, less what they hide of the exposed collectives beside
    // them (the next micro-batch's ZeRO-3 gathers, the fp32 gradient reduction of a Ulysses job).
    EXPECT_LE(extra_four - extra_one, copies * (1 + 1e-9));
    EXPECT_GE(extra_four - extra_one, 0.85 * copies);
  }
  // ZeRO-1 keeps its 16-bit gradients on the GPU until they are reduced, ZeRO-2 does not; both
  // stage the largest weight (Llama-3-8B's 128256 x 4096 embedding) through a 16-bit GPU buffer.
  const MemoryEstimate z1 = step(1, 1, "optimizer").lowered.memory, z2 = step(2, 1, "optimizer").lowered.memory;
  const MemoryEstimate z1_plain = step(1, 1, "none").lowered.memory;
  EXPECT_DOUBLE_EQ(z1.grads_made_in_backward, z1_plain.grads_made_in_backward);
  EXPECT_GT(z1.grads_made_in_backward, 0.0);
  EXPECT_DOUBLE_EQ(z2.grads, 0.0);
  // (Compared among the buffers of every moment: the two peaks are at different moments.)
  EXPECT_DOUBLE_EQ((z1.buffers - z1.buffers_of_the_peak) - (z1_plain.buffers - z1_plain.buffers_of_the_peak),
                   2.0 * 128256 * 4096);
}

TEST(Offload, HostBoundPlansSaySo) {
  // Llama-3-70B on a DGX A100 40GB: the GPU holds its share, but the 1 TiB host does not hold
  // eight ranks' optimizer states and checkpoints. The table says which memory is short.
  const std::string plan = "-m llama-3-70b --topology dgx-a100-40gb -s ulysses -u 8 --gpus 8 --seq 8K --framework "
                           "deepspeed --zero 3 --recompute full --offload optimizer,activations";
  const auto r = test::run_spsim("run " + plan);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("to host memory, its share of the host holds 128.0 GiB"), std::string::npos) << r.out;
  std::string search = plan;
  search.erase(search.find(" --seq 8K"), 9);
  const auto m = test::run_spsim("max-context " + search);
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_NE(m.out.find(" host "), std::string::npos) << m.out;
  // A job on one GPU has its host to itself: 8 x the share.
  Topology topo = topology_for_job(load_topology("dgx-a100-40gb"), 1);
  EXPECT_DOUBLE_EQ(topo.host.memory_bytes_per_rank(), 1024.0 * 1024 * 1024 * 1024);
  // max-context on a topology without a host block refuses, as run does.
  const auto h800 = test::run_spsim("max-context --topology hgx-h800 -s ulysses -u 8 --gpus 8 --framework deepspeed "
                                    "--zero 2 --offload optimizer");
  EXPECT_EQ(h800.exit_code, 2);
  EXPECT_NE(h800.err.find("has no \"host\" block"), std::string::npos) << h800.err;
}

}  // namespace
}  // namespace spsim
