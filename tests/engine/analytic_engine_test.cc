// The analytic engine against hand-computed schedules. The topology is chosen so every number is
// round: 100 TFLOP/s GEMMs, 100 GB/s NVLink with efficiency 1, no latencies, no kernel overhead.
#include "engine/analytic_engine.h"

#include "spsim/collective.h"
#include "spsim/engine.h"
#include "test_util.h"

namespace spsim {
namespace {

Topology round_topology() {
  Topology t;
  t.name = "round";
  t.gpu.name = "round-gpu";
  t.gpu.peak_flops = {{"bf16", 100e12}, {"fp16", 100e12}, {"fp8", 200e12}, {"fp32", 50e12}, {"tf32", 50e12}};
  t.gpu.hbm_bytes = 80e9;
  t.gpu.hbm_bandwidth = 1e12;
  t.gpus_per_node = 8;
  t.intra_node_kind = "nvswitch";
  t.intra_node_bandwidth = 100e9;
  t.intra_node_latency_s = 0;
  t.nics_per_node = 8;
  t.nic_bandwidth = 10e9;
  t.efficiency.kernels = KernelModel::uniform(1.0, 0.5, 1.0, 0);
  for (const char* scope : {"intra_node", "inter_node"}) {
    for (const char* kind : {"all_to_all", "all_gather", "reduce_scatter", "all_reduce", "send_recv"}) {
      t.efficiency.collective[scope][kind] = 1.0;
    }
  }
  return t;
}

Task compute(const char* name, double flops, int dep = -1) {
  Task t;
  t.name = name;
  t.kind = TaskKind::kCompute;
  t.flops = flops;
  if (dep >= 0) t.add_dep(dep);
  return t;
}

Task collective(const char* name, CommKind kind, double bytes, Category category, Stream stream,
                int group, int dep = -1) {
  Task t = Task::collective(name, Phase::kForward, stream, category, kind, group, bytes);
  if (dep >= 0) t.add_dep(dep);
  return t;
}

TaskGraph one_segment(std::vector<Task> tasks, int64_t repeat = 1) {
  TaskGraph g;
  g.num_gpus = 8;
  g.add_group("sp", 8, 1);
  Segment s;
  s.name = "layer_fwd";
  s.repeat = repeat;
  s.tasks = std::move(tasks);
  g.segments.push_back(std::move(s));
  return g;
}

TEST(AnalyticEngine, SingleGemmIsFlopsOverAchievedPeak) {
  // 1e12 FLOP at 100 TFLOP/s x efficiency 1.0 = 10 ms.
  const auto g = one_segment({compute("gemm", 1e12)});
  const auto r = analytic_step(g, round_topology());
  EXPECT_DOUBLE_EQ(r.step_time_s, 0.01);
  EXPECT_DOUBLE_EQ(r.compute_s, 0.01);
}

TEST(AnalyticEngine, ChainOnCriticalPathAddsAndIsExposed) {
  // gemm 10 ms -> all-to-all of 1e9 bytes over 100 GB/s = 10 ms -> gemm 10 ms: 30 ms, and the
  // all-to-all is fully exposed.
  const auto g = one_segment({compute("a", 1e12),
                              collective("a2a", CommKind::kAllToAll, 1e9, Category::kUlyssesA2A,
                                         Stream::kSequenceComm, 0, 0),
                              compute("b", 1e12, 1)});
  const auto r = analytic_step(g, round_topology());
  EXPECT_NEAR(r.step_time_s, 0.03, 1e-12);
  EXPECT_NEAR(r.exposed_s[static_cast<int>(Category::kUlyssesA2A)], 0.01, 1e-12);
  EXPECT_NEAR(r.comm_s[static_cast<int>(Category::kUlyssesA2A)], 0.01, 1e-12);
}

// Compute kernels slow down while a collective of their GPU runs (KernelModel::comm_slowdown):
// a 10 ms send/recv issued before a 20 ms GEMM, slowdown 0.25: the GEMM does 10 / 1.25 = 8 ms of
// its work while the transfer runs and the remaining 12 ms after it: it ends at 22 ms.
TEST(AnalyticEngine, OverlappingCollectiveSlowsCompute) {
  Topology topology = round_topology();
  topology.efficiency.kernels.comm_slowdown = 0.25;
  const auto g = one_segment({collective("kv", CommKind::kSendRecv, 1e9, Category::kRingP2P, Stream::kRingComm, 0),
                              compute("attn", 2e12)});
  const auto r = analytic_step(g, topology);
  EXPECT_NEAR(r.step_time_s, 0.022, 1e-12);
  EXPECT_NEAR(r.compute_s, 0.022, 1e-12);  // the busy time includes the slowdown
  // A collective that does not overlap (it waits for the compute) slows nothing: 10 + 10 + 10.
  const auto chain = one_segment({compute("a", 1e12),
                                  collective("a2a", CommKind::kAllToAll, 1e9, Category::kUlyssesA2A,
                                             Stream::kSequenceComm, 0, 0),
                                  compute("b", 1e12, 1)});
  EXPECT_NEAR(analytic_step(chain, topology).step_time_s, 0.03, 1e-12);
  // A collective longer than the compute slows all of it: 20 ms x 1.25 = 25 ms, under a 40 ms
  // transfer: the step is the transfer's 40 ms.
  const auto longer = one_segment({collective("kv", CommKind::kSendRecv, 4e9, Category::kRingP2P, Stream::kRingComm, 0),
                                   compute("attn", 2e12)});
  const auto l = analytic_step(longer, topology);
  EXPECT_NEAR(l.compute_s, 0.025, 1e-12);
  EXPECT_NEAR(l.step_time_s, 0.04, 1e-12);
}

// Repeated layers with interference reach the same steady state as simulating every instance: a
// per-layer 10 ms gradient send overlapping the next layer's 20 ms GEMM.
TEST(AnalyticEngine, InterferenceSteadyStateMatchesInstanceByInstance) {
  Topology topology = round_topology();
  topology.efficiency.kernels.comm_slowdown = 0.25;
  std::vector<Task> tasks = {compute("bwd", 2e12),
                             collective("grad", CommKind::kSendRecv, 1e9, Category::kDataParallel, Stream::kDataComm, 0, 0)};
  // Layer 1: 20 ms, its send runs 20-30 ms under layer 2's GEMM (20 -> 22 ms of work: ends at 42),
  // and so on: 20 + 22 x 31 = 702 ms, then the last send: 712 ms.
  const auto r = analytic_step(one_segment(tasks, 32), topology);
  EXPECT_NEAR(r.step_time_s, 0.712, 1e-9);
}

// A thousand micro-batches cost what a thousand simulated one by one would. Each issues a 10 ms
// send (no dependency) and a 20 ms GEMM; slowdown 0.25. The first GEMM runs beside the first send
// (22 ms); from then on the sends run ahead of the GEMMs (send k at 10k ms, GEMM k from 2 + 20k ms),
// so no other GEMM is slowed: 22 + 999 x 20 ms. The last micro-batch's all-reduce runs at 0-10 ms.
TEST(AnalyticEngine, ManyMicroBatchesRepeatTheirShift) {
  Topology topology = round_topology();
  topology.efficiency.kernels.comm_slowdown = 0.25;
  TaskGraph g = one_segment({collective("kv", CommKind::kSendRecv, 1e9, Category::kRingP2P, Stream::kRingComm, 0),
                             compute("attn", 2e12)});
  Segment sync;
  sync.name = "grad_sync";
  sync.when = When::kLastMicroBatch;
  sync.tasks = {collective("grad", CommKind::kAllReduce, 1e9, Category::kDataParallel, Stream::kDataComm, 0)};
  g.segments.push_back(sync);
  g.micro_batches = 1000;
  const auto r = analytic_step(g, topology);
  EXPECT_NEAR(r.step_time_s, 0.022 + 999 * 0.02, 1e-9);
  EXPECT_NEAR(r.compute_s, 0.022 + 999 * 0.02, 1e-9);
  EXPECT_NEAR(r.comm_s[static_cast<int>(Category::kRingP2P)], 1000 * 0.01, 1e-9);
  g.micro_batches = 3;
  EXPECT_NEAR(analytic_step(g, topology).step_time_s, 0.022 + 2 * 0.02, 1e-12);
}

// Micro-batches that run every segment are the same segments written out one after another in
// a single micro-batch. The closed form over micro-batches must give what that unrolled batch
// gives, also when a stream lags (sends with no dependency run ahead of the GEMMs, the ZeRO-3
// prefetch pattern) and when a layer waits for the previous layer's gather.
TEST(AnalyticEngine, MicroBatchClosedFormMatchesUnrolledSegments) {
  for (double slowdown : {0.0, 0.25}) {
    for (double bytes : {0.2e9, 1e9, 3e9}) {
      Topology topology = round_topology();
      topology.efficiency.kernels.comm_slowdown = slowdown;
      Segment layer;
      layer.name = "layer";
      layer.repeat = 4;
      layer.tasks = {collective("zero3_gather", CommKind::kAllGather, bytes, Category::kZeroParams, Stream::kDataComm, 0),
                     compute("gemm", 2e12),
                     collective("kv", CommKind::kSendRecv, 0.5e9, Category::kRingP2P, Stream::kRingComm, 0, 1),
                     compute("gemm2", 0.5e12, 2)};
      layer.tasks[1].prev_instance_dep = 0;
      layer.tasks[0].prev_instance_dep = 1;  // at most one layer ahead
      Segment lagging;  // a send nothing waits for, on its own stream
      lagging.name = "side";
      lagging.tasks = {collective("side", CommKind::kSendRecv, 0.1e9, Category::kDataParallel, Stream::kSequenceComm, 0),
                       compute("gemm3", 0.3e12)};
      const int n = 60;
      TaskGraph batched;
      batched.num_gpus = 8;
      batched.add_group("dp", 8, 1);
      batched.micro_batches = n;
      batched.segments = {layer, lagging};
      TaskGraph unrolled = batched;
      unrolled.micro_batches = 1;
      unrolled.segments.clear();
      for (int i = 0; i < n; ++i) {
        unrolled.segments.push_back(layer);
        unrolled.segments.push_back(lagging);
      }
      SCOPED_TRACE(testing::Message() << "slowdown " << slowdown << ", bytes " << bytes);
      const StepResult a = analytic_step(batched, topology);
      const StepResult b = analytic_step(unrolled, topology);
      EXPECT_NEAR(a.step_time_s, b.step_time_s, 1e-9 * b.step_time_s);
      EXPECT_NEAR(a.compute_s, b.compute_s, 1e-9 * b.compute_s);
      for (int c = 0; c < kNumCategories; ++c) {
        EXPECT_NEAR(a.comm_s[c], b.comm_s[c], 1e-9 * std::max(1.0, b.comm_s[c])) << c;
        EXPECT_NEAR(a.exposed_s[c], b.exposed_s[c], 1e-9 * std::max(1.0, b.exposed_s[c])) << c;
      }
    }
  }
}

TEST(AnalyticEngine, IndependentStreamsOverlap) {
  // A 20 ms gemm and a 10 ms send/recv on another stream with no dependency: 20 ms, nothing
  // exposed.
  const auto g = one_segment({compute("attn", 2e12),
                              collective("kv", CommKind::kSendRecv, 1e9, Category::kRingP2P,
                                         Stream::kRingComm, 0)});
  const auto r = analytic_step(g, round_topology());
  EXPECT_NEAR(r.step_time_s, 0.02, 1e-12);
  EXPECT_NEAR(r.exposed_s[static_cast<int>(Category::kRingP2P)], 0.0, 1e-15);
}

TEST(AnalyticEngine, CommunicationTailAfterComputeIsExposed) {
  // A 10 ms gemm then a 30 ms gradient all-reduce depending on it: the step ends at 40 ms and
  // the 30 ms tail is exposed data-parallel time.
  const auto g = one_segment({compute("gemm", 1e12),
                              collective("grad", CommKind::kAllReduce, 3e9, Category::kDataParallel,
                                         Stream::kDataComm, 0, 0)});
  const auto r = analytic_step(g, round_topology());
  EXPECT_NEAR(r.step_time_s, 0.04, 1e-12);
  EXPECT_NEAR(r.exposed_s[static_cast<int>(Category::kDataParallel)], 0.03, 1e-12);
}

TEST(AnalyticEngine, AttentionUsesItsOwnEfficiency) {
  // 1e12 FLOP of attention at 100 TFLOP/s x 0.5 = 20 ms.
  Task t = compute("attention_core", 1e12);
  t.op_class = OpClass::kAttention;
  const auto r = analytic_step(one_segment({t}), round_topology());
  EXPECT_DOUBLE_EQ(r.step_time_s, 0.02);
}

TEST(AnalyticEngine, MemoryBoundOpUsesHbm) {
  // 1e10 bytes at 1 TB/s = 10 ms, far above its 1e6 FLOP.
  Task t = compute("norm", 1e6);
  t.op_class = OpClass::kMemoryBound;
  t.hbm_bytes = 1e10;
  EXPECT_DOUBLE_EQ(analytic_step(one_segment({t}), round_topology()).step_time_s, 0.01);
}

TEST(AnalyticEngine, WorkScaleSlowestRankSetsPace) {
  // Causal ring without balancing: the most loaded rank (scale 1) sets the pace, not the mean.
  Task t = compute("attn_block", 1e12);
  t.work_scale = {0.0, 0.5, 1.0, 1.0};
  EXPECT_DOUBLE_EQ(analytic_step(one_segment({t}), round_topology()).step_time_s, 0.01);
}

// `tasks` repeated `n` times as one segment times the same as n copies written out: step time and
// busy time equal to `relative`, every category's busy and exposed time to 1 ns.
void expect_repeat_equals_unrolled(const std::vector<Task>& tasks, int n, const Topology& topology,
                                   double relative) {
  TaskGraph unrolled = one_segment(tasks, 1);
  for (int i = 1; i < n; ++i) unrolled.segments.push_back(unrolled.segments.front());
  const auto a = analytic_step(one_segment(tasks, n), topology);
  const auto b = analytic_step(unrolled, topology);
  EXPECT_NEAR(a.step_time_s, b.step_time_s, relative * b.step_time_s);
  EXPECT_NEAR(a.compute_s, b.compute_s, relative * b.compute_s);
  for (int c = 0; c < kNumCategories; ++c) {
    EXPECT_NEAR(a.exposed_s[c], b.exposed_s[c], 1e-9) << c;
    EXPECT_NEAR(a.comm_s[c], b.comm_s[c], 1e-9) << c;
  }
}

// A repeated segment must give exactly what the same instances written out one by one give,
// for structures that settle to a steady state and ones that do not (a comm stream that falls
// further behind every layer).
TEST(AnalyticEngine, RepeatExtrapolationMatchesExplicitUnrolling) {
  for (double comm_bytes : {0.5e9, 1e9, 3e9}) {
    std::vector<Task> tasks = {compute("gemm", 1e12),
                               collective("grad", CommKind::kAllReduce, comm_bytes,
                                          Category::kDataParallel, Stream::kDataComm, 0, 0),
                               collective("a2a", CommKind::kAllToAll, 0.3e9, Category::kUlyssesA2A,
                                          Stream::kSequenceComm, 0, 0),
                               compute("gemm2", 0.5e12, 2)};
    SCOPED_TRACE(comm_bytes);
    expect_repeat_equals_unrolled(tasks, 37, round_topology(), 1e-12);
  }
}

// A ZeRO-3 parameter prefetch: an all-gather with no dependency, which the layer's GEMM waits
// for. When it is shorter than the GEMM its stream falls further behind every layer (it lags: the
// instances repeat although the streams do not move as one); when it is longer it binds. Both, with
// and without interference, must equal the layers written out one by one.
TEST(AnalyticEngine, LaggingPrefetchStreamMatchesExplicitUnrolling) {
  for (double slowdown : {0.0, 0.25}) {
    for (double gather_bytes : {0.1e9, 1e9, 3e9}) {
      Topology topology = round_topology();
      topology.efficiency.kernels.comm_slowdown = slowdown;
      std::vector<Task> tasks = {collective("zero3_gather", CommKind::kAllGather, gather_bytes,
                                            Category::kZeroParams, Stream::kDataComm, 0),
                                 compute("gemm", 2e12, 0),
                                 collective("kv", CommKind::kSendRecv, 0.5e9, Category::kRingP2P,
                                            Stream::kRingComm, 0, 1),
                                 compute("gemm2", 0.5e12, 2)};
      SCOPED_TRACE(testing::Message() << "slowdown " << slowdown << ", gather " << gather_bytes);
      expect_repeat_equals_unrolled(tasks, 80, topology, 1e-9);
    }
  }
  // By hand, without interference: 80 gathers of 1 ms run back to back from 0; each layer is a
  // 20 ms GEMM, a 5 ms send it waits for, and a 5 ms GEMM: 80 x 30 ms, the first GEMM 1 ms late.
  std::vector<Task> tasks = {collective("zero3_gather", CommKind::kAllGather, 0.1e9, Category::kZeroParams,
                                        Stream::kDataComm, 0),
                             compute("gemm", 2e12, 0),
                             collective("kv", CommKind::kSendRecv, 0.5e9, Category::kRingP2P, Stream::kRingComm, 0, 1),
                             compute("gemm2", 0.5e12, 2)};
  EXPECT_NEAR(analytic_step(one_segment(tasks, 80), round_topology()).step_time_s, 0.001 + 80 * 0.03, 1e-12);
}

// A layer that waits for a gather the previous layer issued (Task::prev_instance_dep): FSDP's
// backward prefetch. Each instance is [gather of the next layer's parameters (data stream, no
// dependency), a GEMM that waits for the previous instance's gather, the reduce-scatter of its
// gradients (data stream, after the GEMM)]. The first instance waits for no gather.
TEST(AnalyticEngine, PreviousInstanceDependencyByHand) {
  auto layer = [](double gather_bytes, double rs_bytes) {
    std::vector<Task> tasks = {collective("zero3_gather", CommKind::kAllGather, gather_bytes, Category::kZeroParams,
                                          Stream::kDataComm, 0),
                               compute("gemm", 2e12),
                               collective("dp_grad_rs", CommKind::kReduceScatter, rs_bytes, Category::kDataParallel,
                                          Stream::kDataComm, 0, 1)};
    tasks[1].prev_instance_dep = 0;
    return tasks;
  };
  // round_topology: 8 ranks on one node at 100 GB/s, so a collective sending B bytes per GPU
  // takes B / 100 GB/s; the GEMM 20 ms. Compute-bound (gather 10 ms, reduce-scatter 5 ms): the
  // data stream runs gather 0, RS 0, gather 1, ... and every gather ends before the GEMM that
  // needs it can start, so the layers run back to back and only the last RS is exposed.
  for (int n : {1, 3, 10, 50}) {
    const StepResult r = analytic_step(one_segment(layer(1e9, 0.5e9), n), round_topology());
    EXPECT_NEAR(r.step_time_s, 0.020 * n + 0.005, 1e-12) << n;
  }
  // Communication-bound (gather 30 ms, RS 10 ms): instance k >= 1 gathers in [40k, 40k + 30] and
  // its GEMM waits for gather k - 1 (ends 40k - 10), so it runs [40k - 10, 40k + 10] and its RS
  // [40k + 30, 40k + 40]: the step is 40 ms a layer.
  for (int n : {2, 3, 10, 50}) {
    const StepResult r = analytic_step(one_segment(layer(3e9, 1e9), n), round_topology());
    EXPECT_NEAR(r.step_time_s, 0.040 * n, 1e-12) << n;
    // Exposed: GEMM 1 waits 10 ms (GEMM 0 ends at 20), every later one 20 ms (GEMM k - 1 ends
    // at 40k - 30), and the tail after the last GEMM is 30 ms: 20n ms, all of the idle time.
    EXPECT_NEAR(r.exposed_s[static_cast<int>(Category::kZeroParams)] +
                    r.exposed_s[static_cast<int>(Category::kDataParallel)],
                0.020 * n, 1e-12) << n;
    EXPECT_NEAR(r.compute_s, 0.020 * n, 1e-12) << n;
  }
  // Without the dependency the GEMMs never wait: n x 20 ms of compute, then the data stream's
  // n x 40 ms tail.
  std::vector<Task> free_running = layer(3e9, 1e9);
  free_running[1].prev_instance_dep = -1;
  EXPECT_NEAR(analytic_step(one_segment(free_running, 10), round_topology()).step_time_s, 0.400, 1e-12);
}

TEST(AnalyticEngine, MicroBatchFiltersAndBarrier) {
  // Two micro-batches of a 10 ms forward gemm; only the last runs a 10 ms backward gemm and the
  // 30 ms gradient all-reduce that waits for it; then an optimizer segment behind a barrier:
  // 10 + 10 + 10 + 30 (nothing left to hide it) + 10 = 70 ms.
  TaskGraph g;
  g.num_gpus = 8;
  g.micro_batches = 2;
  g.add_group("dp", 8, 1);
  Segment fwd;
  fwd.name = "layer_fwd";
  fwd.tasks = {compute("gemm", 1e12)};
  Segment sync;
  sync.name = "layer_bwd";
  sync.when = When::kLastMicroBatch;
  sync.tasks = {compute("bwd", 1e12),
                collective("grad", CommKind::kAllReduce, 3e9, Category::kDataParallel, Stream::kDataComm, 0, 0)};
  Segment optimizer;
  optimizer.name = "optimizer";
  optimizer.when = When::kLastMicroBatch;
  optimizer.barrier = true;
  optimizer.tasks = {compute("adam", 1e12)};
  g.segments = {fwd, sync, optimizer};
  const auto r = analytic_step(g, round_topology());
  EXPECT_NEAR(r.step_time_s, 0.07, 1e-12);
  EXPECT_NEAR(r.exposed_s[static_cast<int>(Category::kDataParallel)], 0.03, 1e-12);
  EXPECT_NEAR(r.compute_s, 0.04, 1e-12);
}

TEST(AnalyticEngine, TimeNeverBelowComputeLowerBound) {
  std::vector<Task> tasks;
  for (int i = 0; i < 10; ++i) {
    tasks.push_back(compute("g", 1e11 * (i + 1), i > 0 ? i - 1 : -1));
  }
  const auto r = analytic_step(one_segment(tasks, 5), round_topology());
  EXPECT_GE(r.step_time_s, r.compute_s * (1 - 1e-12));
  EXPECT_NEAR(r.compute_s, 5 * 55e11 / 100e12, 1e-12);
}

TEST(Engine, UnknownNameSuggests) {
  EXPECT_THROW_MSG(make_engine("analytc"), InputError, "did you mean \"analytic\"");
}

}  // namespace
}  // namespace spsim
