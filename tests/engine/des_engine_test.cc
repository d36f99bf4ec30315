// The discrete-event engine against the analytic engine (where nothing is contended), against
// hand-computed contended times, and against its own invariants. Every DES run happens in a
// forked process (one SimGrid engine per process), so these tests can run many simulations.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "des_test_util.h"
#include "engine/analytic_engine.h"
#include "engine/des_internal.h"
#include "spsim/job.h"
#include "spsim/strategy.h"
#include "test_util.h"

namespace spsim {
namespace {

using nlohmann::json;

std::string temp_path(const std::string& name) {
  char dir_template[] = "/tmp/spsim_des_XXXXXX";
  return std::string(mkdtemp(dir_template)) + "/" + name;
}

JobConfig job_for(const std::string& strategy, int64_t gpus, int64_t seq, int64_t t, int64_t u,
                  int64_t r) {
  JobConfig job;
  job.strategy = strategy;
  job.num_gpus = gpus;
  job.seq_length = seq;
  job.tensor_parallel = t;
  job.ulysses_degree = u;
  job.ring_degree = r;
  // USP's Ulysses part may replicate KV heads past the tiny model's 4 only under DeepSpeed; the
  // Megatron-family schemes run NeMo's bf16 gradient reduction, whose buckets leave the shared
  // node links uncontended on des_topology (the premise of the agreement tests).
  if (strategy == "usp") job.framework = "deepspeed";
  if (strategy == "ring" || strategy == "megatron-sp" || strategy == "megatron-tp") job.framework = "nemo";
  return job;
}

// ---- Uncontended: DES == analytic within 2 % -------------------------------------------------

struct GridPoint {
  const char* model;
  const char* strategy;
  int64_t gpus, seq, t, u, r;
  int zero = 0;
};

// One node, or several nodes of a non-blocking rail-optimized fabric with one job, so no link
// is shared by two flows of one collective's class: the two engines must agree.
TEST(DesEngine, MatchesAnalyticWithoutContention) {
  const std::vector<GridPoint> grid = {
      {"tiny", "ulysses", 8, 32768, 1, 8, 1},       {"tiny", "ulysses", 4, 65536, 1, 4, 1},
      {"tiny", "megatron-sp", 4, 32768, 4, 1, 1},   {"tiny", "ring", 8, 32768, 1, 1, 8},
      {"tiny", "usp", 8, 32768, 1, 4, 2},           {"tiny", "ulysses", 16, 65536, 1, 16, 1},
      {"tiny", "ring", 16, 65536, 1, 1, 16},        {"tiny", "usp", 32, 131072, 1, 8, 4},
      {"llama", "ulysses", 8, 131072, 1, 8, 1},     {"llama", "megatron-sp", 8, 131072, 8, 1, 1},
      {"llama", "ring", 8, 131072, 1, 1, 8},        {"llama", "usp", 8, 131072, 1, 2, 4},
      {"llama", "ulysses", 16, 262144, 1, 16, 1},   {"llama", "ring", 32, 262144, 1, 1, 32},
      {"llama", "megatron-sp", 16, 65536, 8, 1, 1}, {"llama", "ulysses", 8, 131072, 1, 8, 1, 3},
  };
  Topology topology = test::des_topology();
  topology.max_nodes = 0;
  for (const GridPoint& p : grid) {
    const ModelSpec model = std::string(p.model) == "tiny" ? test::tiny_model() : test::llama3_8b();
    JobConfig job = job_for(p.strategy, p.gpus, p.seq, p.t, p.u, p.r);
    job.zero_stage = p.zero;
    const LoweredStep lowered = make_strategy(p.strategy)->lower(model, job);
    const double analytic = analytic_step(lowered.graph, topology).step_time_s;
    const StepResult des = test::run_des(lowered.graph, topology);
    SCOPED_TRACE(std::string(p.model) + " " + p.strategy + " gpus " + std::to_string(p.gpus) +
                 " seq " + std::to_string(p.seq));
    EXPECT_NEAR(des.step_time_s, analytic, 0.02 * analytic);
    EXPECT_EQ(des.engine, "des");
  }
}

// ZeRO-3 gathers in each of JobConfig::backward_prefetch's modes: the layer waits for a gather the
// previous layer issued (Task::prev_instance_dep), in the DES as in the analytic engine. One
// node, data parallelism alone: the gathers and reduce-scatters share one stream and nothing else
// uses the links, so nothing is contended (beside a ring's K,V traffic the DES is slower).
TEST(DesEngine, Zero3GatherModesMatchAnalytic) {
  Topology topology = test::des_topology();
  topology.max_nodes = 0;
  for (const char* mode : {"pre", "post", "sync"}) {
    for (int64_t seq : {4096, 32768}) {
      JobConfig job = job_for("dp", 8, seq, 1, 1, 1);
      job.framework = "fsdp";
      job.zero_stage = 3;
      job.backward_prefetch = mode;
      const LoweredStep lowered = make_strategy("dp")->lower(test::llama3_8b(), job);
      const double analytic = analytic_step(lowered.graph, topology).step_time_s;
      const StepResult des = test::run_des(lowered.graph, topology);
      SCOPED_TRACE(std::string(mode) + " seq " + std::to_string(seq));
      EXPECT_NEAR(des.step_time_s, analytic, 0.02 * analytic);
    }
  }
}

// Calibrated kernel-efficiency curves go through the same roofline in both engines, including
// the ring's per-rank causal work (basic causal: rank i computes i of r blocks, each kernel read
// at its own size). One DGX H100 node: its NVSwitch is fast enough that the gradient all-reduce
// does not slow the overlapped all-to-all / ring traffic (on des_topology's 100 GB/s it does,
// which is contention the analytic engine does not model).
TEST(DesEngine, MatchesAnalyticWithCalibratedEfficiencyCurves) {
  const Topology topology = load_topology("dgx-h100");
  EfficiencyCurve rising;
  rising.points = {{0.1, 0.2}, {10, 0.6}, {1000, 0.85}};
  rising.dtype = "bf16";
  rising.source = "test";
  Topology curved = topology;
  curved.efficiency.gemm_curve = rising;
  curved.efficiency.attention_curve = rising;
  const std::vector<GridPoint> grid = {
      {"llama", "ulysses", 8, 32768, 1, 8, 1},
      {"llama", "megatron-sp", 8, 32768, 8, 1, 1},
      {"llama", "ring", 8, 32768, 1, 1, 8},
  };
  for (const GridPoint& p : grid) {
    SCOPED_TRACE(p.strategy);
    JobConfig job = job_for(p.strategy, p.gpus, p.seq, p.t, p.u, p.r);
    if (std::string(p.strategy) == "ring") job.ring_variant = "basic";
    const LoweredStep lowered = make_strategy(p.strategy)->lower(test::llama3_8b(), job);
    const double analytic = analytic_step(lowered.graph, curved).step_time_s;
    const StepResult des = test::run_des(lowered.graph, curved);
    EXPECT_NEAR(des.step_time_s, analytic, 0.02 * analytic);
    // The curve is what changed the time: the scalar-only topology gives another one.
    EXPECT_GT(std::fabs(analytic - analytic_step(lowered.graph, topology).step_time_s), 0.01 * analytic);
  }
}

// Compute slowed by overlapping collectives (KernelModel::comm_slowdown) is the same rule in both
// engines: the DES re-times the running kernel when a collective of its GPU starts or ends.
TEST(DesEngine, CommSlowdownMatchesAnalytic) {
  Topology topology = test::des_topology();
  topology.max_nodes = 0;
  topology.efficiency.kernels.comm_slowdown = 0.189;
  const std::vector<GridPoint> grid = {
      {"llama", "ring", 8, 131072, 1, 1, 8},     {"llama", "ulysses", 8, 131072, 1, 8, 1, 3},
      {"llama", "megatron-sp", 8, 65536, 8, 1, 1}, {"llama", "usp", 8, 131072, 1, 2, 4},
  };
  for (const GridPoint& p : grid) {
    SCOPED_TRACE(p.strategy);
    JobConfig job = job_for(p.strategy, p.gpus, p.seq, p.t, p.u, p.r);
    job.zero_stage = p.zero;
    const LoweredStep lowered = make_strategy(p.strategy)->lower(test::llama3_8b(), job);
    const double analytic = analytic_step(lowered.graph, topology).step_time_s;
    const StepResult des = test::run_des(lowered.graph, topology);
    EXPECT_NEAR(des.step_time_s, analytic, 0.02 * analytic);
  }
  // An all-reduce issued with a 20 ms GEMM (1e13 FLOP at 1e15 x 0.5) runs under part of it: both
  // engines stretch the GEMM by the same amount.
  topology.efficiency.kernels.comm_slowdown = 0.25;
  topology.intra_node_latency_s = 0;
  TaskGraph g;
  g.strategy = "test";
  g.num_gpus = 8;
  g.add_group("dp", 8, 1);
  Segment layer;
  layer.name = "layer_bwd";
  layer.tasks = {test::comm_task("grad", CommKind::kAllReduce, 0, 0.8e9, Stream::kDataComm, Category::kDataParallel),
                 test::compute_task("gemm", 1e13)};
  g.segments = {layer};
  const StepResult analytic = analytic_step(g, topology);
  const StepResult des = test::run_des(g, topology);
  EXPECT_NEAR(des.step_time_s, analytic.step_time_s, 1e-6 * analytic.step_time_s);
  EXPECT_NEAR(des.compute_s, analytic.compute_s, 1e-6 * analytic.compute_s);
  EXPECT_GT(analytic.compute_s, 0.02 * 1.05);
  EXPECT_LT(analytic.compute_s, 0.02 * 1.25);
}

// The optimizer's barrier: it starts only after the last gradient all-reduce (both engines).
// Two micro-batches of a 2 ms forward; the last runs a 2 ms backward and an 8-rank all-reduce
// of 3 GB per GPU (3e9 / (100 GB/s x 0.8) = 37.5 ms + latency) that waits for it; then a 2 ms
// optimizer step: 2 + 2 + 2 + 37.5 + 2 = 45.5 ms with the barrier, 43.5 ms if the optimizer
// could overlap the all-reduce.
TEST(DesEngine, BarrierWaitsForTheGradientReductionAsAnalytic) {
  TaskGraph g;
  g.strategy = "test";
  g.num_gpus = 8;
  g.micro_batches = 2;
  g.add_group("dp", 8, 1);
  Segment fwd;
  fwd.name = "layer_fwd";
  fwd.tasks = {test::compute_task("gemm", 1e12)};
  Segment sync;
  sync.name = "layer_bwd";
  sync.when = When::kLastMicroBatch;
  Task grad = test::comm_task("grad", CommKind::kAllReduce, 0, 3e9, Stream::kDataComm, Category::kDataParallel);
  grad.add_dep(0);
  sync.tasks = {test::compute_task("bwd", 1e12), grad};
  Segment optimizer;
  optimizer.name = "optimizer";
  optimizer.when = When::kLastMicroBatch;
  optimizer.barrier = true;
  optimizer.tasks = {test::compute_task("adam", 1e12)};
  g.segments = {fwd, sync, optimizer};
  const Topology topology = test::des_topology();
  const StepResult analytic = analytic_step(g, topology);
  const StepResult des = test::run_des(g, topology);
  EXPECT_NEAR(analytic.step_time_s, 0.0455, 0.0002);
  EXPECT_NEAR(des.step_time_s, analytic.step_time_s, 1e-6 * analytic.step_time_s);
  // The wait before the optimizer is the all-reduce's exposed time, in both.
  const int dp = static_cast<int>(Category::kDataParallel);
  EXPECT_NEAR(des.exposed_s[dp], analytic.exposed_s[dp], 1e-6);
  EXPECT_GT(des.exposed_s[dp], 0.0375);
  // Without the barrier the optimizer overlaps the all-reduce: 2 ms shorter.
  g.segments[2].barrier = false;
  EXPECT_NEAR(test::run_des(g, topology).step_time_s, des.step_time_s - 0.002, 1e-6);
}

// ---- Contended: two Ulysses groups on one 2:1 oversubscribed uplink --------------------------

// One GPU per node, one 50 GB/s NIC per node, 2 nodes per leaf, uplink = 2 x 50 / 2 = 50 GB/s.
// Groups {0, 2} and {1, 3} (size 2, stride 2): every all-to-all flow crosses from leaf 0 to
// leaf 1 or back, so both groups' flows share each leaf's uplink.
Topology two_leaf_topology(double oversubscription) {
  Topology t = test::des_topology();
  t.gpus_per_node = 1;
  t.nics_per_node = 1;
  t.nodes_per_leaf = 2;
  t.oversubscription = oversubscription;
  t.max_nodes = 4;
  return t;
}

TaskGraph two_group_a2a(double bytes) {
  TaskGraph graph = test::one_segment_graph(
      4, {test::comm_task("a2a", CommKind::kAllToAll, 0, bytes, Stream::kSequenceComm,
                          Category::kUlyssesA2A)});
  graph.add_group("ulysses", 2, 2);
  return graph;
}

TEST(DesEngine, OversubscribedUplinkSharedByTwoGroupsMatchesHand) {
  // Each rank sends B = 1 GB to its one peer. Hand computation:
  //   alpha = NIC 2 us + 2 switch hops x 0.5 us = 3 us (one all-to-all step)
  //   leaf-0 uplink (50 GB/s, inter-node efficiency 0.5 -> 25 GB/s achieved) carries 0->2 and
  //   1->3: 2 GB / 25 GB/s = 80 ms; every NIC carries 1 GB: 40 ms. The uplink decides:
  //   T = 3 us + 80 ms = 0.080003 s.
  //   Analytic (no contention): 3 us + 1 GB / 25 GB/s = 0.040003 s.
  const TaskGraph graph = two_group_a2a(1e9);
  const Topology topology = two_leaf_topology(2.0);
  const StepResult des = test::run_des(graph, topology);
  const double analytic = analytic_step(graph, topology).step_time_s;
  EXPECT_NEAR(analytic, 0.040003, 1e-9);
  EXPECT_NEAR(des.step_time_s, 0.080003, 0.02 * 0.080003);
  EXPECT_GT(des.step_time_s, 1.5 * analytic);
  // The exposed time is all Ulysses all-to-all (nothing else runs).
  EXPECT_NEAR(des.extra["exposed_comm_s"]["ulysses_a2a"].get<double>(), des.step_time_s, 1e-9);
  // The most loaded link is an uplink at ~100 % (2 GB over 50 GB/s for 80 ms).
  const json& top = des.extra["top_links"].at(0);
  EXPECT_EQ(top["link"].get<std::string>().rfind("up", 0), 0u) << top.dump();
  EXPECT_NEAR(top["utilization"].get<double>(), 2e9 / (50e9 * 0.080003), 1e-6);
}

TEST(DesEngine, NonBlockingUplinkRemovesTheContention) {
  // Same job at 1:1: the uplinks are 100 GB/s, the NICs (40 ms) decide, as the analytic engine
  // says: 3 us + 40 ms.
  const TaskGraph graph = two_group_a2a(1e9);
  const StepResult des = test::run_des(graph, two_leaf_topology(1.0));
  EXPECT_NEAR(des.step_time_s, 0.040003, 1e-9);
}

TEST(DesEngine, BytesSentEqualBytesReceived) {
  // 4 ranks x 1 GB each, counted once leaving a GPU port and once entering one.
  const StepResult des = test::run_des(two_group_a2a(1e9), two_leaf_topology(2.0));
  EXPECT_DOUBLE_EQ(des.extra["bytes_sent"].get<double>(), 4e9);
  EXPECT_DOUBLE_EQ(des.extra["bytes_received"].get<double>(), 4e9);
}

// ---- Invariants on a real step -----------------------------------------------------------------

TEST(DesEngine, NoGpuFinishesBeforeItsComputeLowerBound) {
  const LoweredStep lowered =
      make_strategy("ring")->lower(test::tiny_model(), job_for("ring", 8, 65536, 1, 1, 8));
  const StepResult des = test::run_des(lowered.graph, test::des_topology());
  ASSERT_EQ(des.extra["per_gpu"].size(), 8u);
  for (const json& gpu : des.extra["per_gpu"]) {
    EXPECT_GE(gpu["finish_s"].get<double>(), gpu["compute_busy_s"].get<double>()) << gpu.dump();
    EXPECT_NEAR(gpu["compute_busy_s"].get<double>() + gpu["compute_idle_s"].get<double>(),
                des.step_time_s, 1e-12);
  }
  EXPECT_GE(des.step_time_s, des.extra["compute_lower_bound_s"].get<double>());
}

TEST(DesEngine, ComputeOnlyStepIsTheRoofline) {
  // Two GEMMs of 1e12 FLOP at 1 PFLOP/s x 0.5 = 2 ms each, back to back: 4 ms.
  TaskGraph graph = test::one_segment_graph(
      8, {test::compute_task("a", 1e12), test::compute_task("b", 1e12)}, /*repeat=*/1);
  const StepResult des = test::run_des(graph, test::des_topology());
  EXPECT_NEAR(des.step_time_s, 4e-3, 1e-12);
  EXPECT_NEAR(des.compute_s, 4e-3, 1e-12);
}

// ---- Trace ----------------------------------------------------------------------------------

TEST(DesEngine, TraceSlicesNestPerTrackAndSumToBusyTime) {
  const LoweredStep lowered =
      make_strategy("usp")->lower(test::tiny_model(), job_for("usp", 8, 32768, 1, 4, 2));
  EngineOptions options;
  options.trace_path = temp_path("trace.json");
  options.trace_all_gpus = true;
  const StepResult des = test::run_des(lowered.graph, test::des_topology(), options);
  const json trace = json::parse(test::read_text(options.trace_path));
  std::map<std::pair<int64_t, int64_t>, std::vector<std::pair<double, double>>> tracks;
  int flows_out = 0, flows_in = 0;
  for (const json& event : trace["traceEvents"]) {
    const std::string ph = event["ph"];
    if (ph == "X") {
      tracks[{event["pid"].get<int64_t>(), event["tid"].get<int64_t>()}].emplace_back(
          event["ts"].get<double>(), event["dur"].get<double>());
    }
    flows_out += ph == "s";
    flows_in += ph == "f";
  }
  ASSERT_FALSE(tracks.empty());
  for (auto& [key, slices] : tracks) {
    // Written sorted by start; a stream runs one task at a time, so slices never overlap.
    for (size_t i = 1; i < slices.size(); ++i) {
      EXPECT_GE(slices[i].first, slices[i - 1].first + slices[i - 1].second - 1e-6)
          << "rank " << key.first << " track " << key.second << " slice " << i;
    }
  }
  for (const json& gpu : des.extra["per_gpu"]) {
    const int64_t rank = gpu["rank"];
    for (int s = 0; s < kNumStreams; ++s) {
      double sum_us = 0;
      for (const auto& slice : tracks[{rank, s}]) sum_us += slice.second;
      const double busy_us = gpu["stream_busy_s"][to_string(static_cast<Stream>(s))].get<double>() * 1e6;
      EXPECT_NEAR(sum_us, busy_us, 1e-6 * std::max(1.0, busy_us)) << "rank " << rank << " stream " << s;
    }
  }
  // Ring P2P steps between traced ranks are drawn as arrows, each with both ends.
  EXPECT_GT(flows_out, 0);
  EXPECT_EQ(flows_out, flows_in);
}

TEST(DesEngine, DeterministicJsonAndTrace) {
  const LoweredStep lowered =
      make_strategy("usp")->lower(test::tiny_model(), job_for("usp", 16, 65536, 1, 4, 4));
  std::string outputs[2], traces[2];
  for (int i = 0; i < 2; ++i) {
    EngineOptions options;
    options.trace_path = temp_path("trace.json");
    const StepResult r = test::run_des(lowered.graph, test::des_topology(), options);
    outputs[i] = json{{"step", r.step_time_s}, {"compute", r.compute_s}, {"comm", r.comm_s},
                      {"exposed", r.exposed_s}, {"extra", r.extra}}
                     .dump();
    traces[i] = test::read_text(options.trace_path);
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_EQ(traces[0], traces[1]);
  EXPECT_GT(traces[0].size(), 1000u);
}

// ---- Symmetry ---------------------------------------------------------------------------------

// 8 nodes in 4 leaf groups of 2, a 2:1 oversubscribed spine: Ulysses inside a node, a ring of 2
// across nodes and a global ZeRO/DP ring (rotated by the symmetry) share the uplinks.
TEST(DesEngine, SymmetryAgreesWithEveryGpuSimulated) {
  Topology topology = test::des_topology();
  topology.max_nodes = 8;
  topology.oversubscription = 2.0;
  JobConfig job = job_for("usp", 64, 65536, 1, 8, 2);
  job.zero_stage = 2;
  const LoweredStep lowered = make_strategy("usp")->lower(test::tiny_model(), job);
  const des::Symmetry symmetry = des::choose_symmetry(lowered.graph, topology, false);
  // The global ring forces two whole leaf groups: 2 x 2 nodes x 8 GPUs = 32 of 64.
  EXPECT_EQ(symmetry.simulated, 32);
  EngineOptions all;
  all.simulate_all_gpus = true;
  const StepResult reduced = test::run_des(lowered.graph, topology);
  const StepResult full = test::run_des(lowered.graph, topology, all);
  EXPECT_EQ(reduced.extra["simulated_gpus"].get<int64_t>(), 32);
  EXPECT_EQ(full.extra["simulated_gpus"].get<int64_t>(), 64);
  EXPECT_NEAR(reduced.step_time_s, full.step_time_s, 1e-9 * full.step_time_s);
  EXPECT_NEAR(reduced.compute_s, full.compute_s, 1e-9 * full.compute_s);
  for (int c = 0; c < kNumCategories; ++c) {
    EXPECT_NEAR(reduced.exposed_s[c], full.exposed_s[c], 1e-9 + 1e-9 * full.step_time_s) << c;
  }
}

TEST(DesSymmetry, ChoosesTheSmallestExactBlock) {
  Topology topology = test::des_topology();  // 8 GPUs per node, 2 nodes per leaf group
  topology.max_nodes = 0;
  // Ulysses of 8 inside nodes, nothing global: one node stands for all (one leaf group: the
  // 2 nodes share its uplinks, so the block gets its fair share).
  TaskGraph graph = test::one_segment_graph(
      16, {test::comm_task("a2a", CommKind::kAllToAll, 0, 1e6, Stream::kSequenceComm,
                           Category::kUlyssesA2A)});
  graph.add_group("ulysses", 8, 1);
  EXPECT_EQ(des::choose_symmetry(graph, topology, false).simulated, 8);
  EXPECT_EQ(des::choose_symmetry(graph, topology, true).simulated, 16);
  // 64 GPUs = 4 leaf groups: whole leaf groups only -> 16.
  graph.num_gpus = 64;
  EXPECT_EQ(des::choose_symmetry(graph, topology, false).simulated, 16);
  // A global all-to-all cannot be rotated: no reduction.
  graph.groups[0] = CommGroup{"ulysses", 64, 1};
  EXPECT_EQ(des::choose_symmetry(graph, topology, false).simulated, 64);
  // The bench case: Ulysses 32 with a global ZeRO ring at 16,384 GPUs on 32-node leaf groups:
  // two leaf groups, 2 x 32 x 8 = 512 GPUs.
  Topology big = topology;
  big.nodes_per_leaf = 32;
  const LoweredStep lowered =
      make_strategy("ulysses")->lower(test::llama3_8b(), job_for("ulysses", 16384, 131072, 1, 32, 1));
  EXPECT_EQ(des::choose_symmetry(lowered.graph, big, false).simulated, 512);
}

// ---- Bad input --------------------------------------------------------------------------------

TEST(DesEngine, MoreGpusThanThePlatformIsAnInputErrorAndNoTrace) {
  // des_topology describes at most 4 nodes x 8 GPUs = 32.
  TaskGraph graph = test::one_segment_graph(40, {test::compute_task("a", 1e9)});
  EngineOptions options;
  options.trace_path = temp_path("trace.json");
  EXPECT_THROW_MSG(test::run_des(graph, test::des_topology(), options), InputError,
                   "cannot host the job");
  EXPECT_FALSE(std::ifstream(options.trace_path).good());
}

TEST(DesEngine, GroupThatDoesNotTileTheRanksIsAnInputError) {
  TaskGraph graph = test::one_segment_graph(
      8, {test::comm_task("ag", CommKind::kAllGather, 0, 1e6, Stream::kSequenceComm,
                          Category::kTensorParallel)});
  graph.add_group("tp", 3, 1);
  EXPECT_THROW_MSG(test::run_des(graph, test::des_topology()), InputError, "size x stride must divide");
}

TEST(DesEngine, MissingCollectiveEfficiencyIsAnInputError) {
  Topology topology = test::des_topology();
  topology.efficiency.collective["inter_node"].erase("all_to_all");
  TaskGraph graph = test::one_segment_graph(
      16, {test::comm_task("a2a", CommKind::kAllToAll, 0, 1e6, Stream::kSequenceComm,
                           Category::kUlyssesA2A)});
  graph.add_group("ulysses", 16, 1);
  EXPECT_THROW_MSG(test::run_des(graph, topology), InputError, "missing collective efficiency");
}

}  // namespace
}  // namespace spsim
