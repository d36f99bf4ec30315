// Pipeline parallelism wired through strategies and engines: boundary bytes and stage parameters
// by hand, first-stage activations against Megatron's in-flight count (Korthikanti et al. 2022
// eq. 5), the engine-timed bubble against the closed forms of Narayanan et al. 2021, DES against
// analytic, and the schedule trace.
#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "spsim/collective.h"
#include "spsim/engine.h"
#include "spsim/report.h"
#include "spsim/strategy.h"
#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

JobConfig pipelined_job(const std::string& strategy, int64_t gpus, int64_t p) {
  JobConfig job;
  job.strategy = strategy;
  job.num_gpus = gpus;
  job.seq_length = 65536;
  job.micro_batch_size = 1;
  job.pipeline_parallel = p;
  job.framework_reserve_bytes = 0;
  return job;
}

bool has_task(const TaskGraph& graph, std::string_view name) {
  for (const auto& segment : graph.segments) {
    for (const auto& task : segment.tasks) {
      if (name == task.name) return true;
    }
  }
  return false;
}

// A small model whose embedding and LM head cost next to nothing (vocabulary 64), so that the
// stages are uniform and the closed forms hold up to that small extra work.
ModelSpec uniform_stage_model() {
  ModelSpec m = test::tiny_model();
  m.name = "tiny-vocab";
  m.num_layers = 8;
  m.vocab_size = 64;
  return m;
}

TEST(PipelinedStep, BoundaryBytesByHand) {
  // One boundary activation per GPU: e b s h / (u r), / t more under Megatron-SP.
  const ModelSpec model = test::llama3_8b();
  JobConfig ring = pipelined_job("ring", 32, 4);
  ring.ring_degree = 8;
  const LoweredStep step = make_strategy("ring")->lower(model, ring);
  // 2 x 1 x 65536 x 4096 / 8 = 67,108,864.
  EXPECT_DOUBLE_EQ(step.pipeline.p2p_bytes, 67108864.0);
  ASSERT_EQ(step.pipeline.p2p.segments.size(), 1u);
  const Task& send = step.pipeline.p2p.segments[0].tasks.at(0);
  EXPECT_EQ(send.comm, CommKind::kSendRecv);
  EXPECT_EQ(send.category, Category::kPipelineP2P);
  EXPECT_DOUBLE_EQ(send.bytes, 67108864.0);
  // The pp group is outermost: p ranks, t u r dp = 8 apart.
  const CommGroup& group = step.pipeline.p2p.groups.at(static_cast<size_t>(send.group));
  EXPECT_EQ(std::string(group.name), "pp");
  EXPECT_EQ(group.size, 4);
  EXPECT_EQ(group.stride, 8);

  JobConfig sp = pipelined_job("megatron-sp", 32, 4);
  sp.tensor_parallel = 8;
  EXPECT_DOUBLE_EQ(make_strategy("megatron-sp")->lower(model, sp).pipeline.p2p_bytes,
                   67108864.0);  // 2 x 65536 x 4096 / 8 (sequence-sharded by t)
  JobConfig tp = pipelined_job("megatron-tp", 32, 4);
  tp.tensor_parallel = 8;
  EXPECT_DOUBLE_EQ(make_strategy("megatron-tp")->lower(model, tp).pipeline.p2p_bytes,
                   536870912.0);  // 2 x 65536 x 4096: plain TP holds the whole sequence
}

TEST(PipelinedStep, EmbeddingOnFirstStageHeadOnLast) {
  const ModelSpec model = test::llama3_8b();
  JobConfig job = pipelined_job("ring", 32, 4);
  job.ring_degree = 8;
  const LoweredStep step = make_strategy("ring")->lower(model, job);
  const PipelinePlan& plan = step.pipeline;
  EXPECT_TRUE(has_task(plan.embedding_fwd, "embedding"));
  EXPECT_TRUE(has_task(plan.head_fwd, "lm_head"));
  EXPECT_TRUE(has_task(plan.head_bwd, "lm_head"));
  EXPECT_FALSE(has_task(plan.chunk_fwd, "lm_head"));
  EXPECT_FALSE(has_task(plan.chunk_fwd, "embedding"));
  EXPECT_FALSE(has_task(step.graph, "lm_head"));  // the first stage's own program
  EXPECT_EQ(plan.chunk_layers, 8);
  EXPECT_EQ(plan.chunk_fwd.segments.at(0).repeat, 8);
  // One micro-batch: every stage holds one chunk in flight, so the last stage (+ LM head and its
  // fp32 logits) has the larger peak: 8 layers x 218,112,000 + LM head 128,256 x 4,096 + final
  // norm 4,096 = 2,270,236,672 parameters, 2 bytes each (bf16), 12 of optimizer state (ZeRO-0).
  ASSERT_EQ(plan.memory_stage, 3);
  EXPECT_DOUBLE_EQ(step.memory.params, 2.0 * 2270236672.0);
  EXPECT_DOUBLE_EQ(step.memory.optimizer, 12.0 * 2270236672.0);
  // Eight micro-batches: the first stage holds 4 in flight and becomes the larger: 8 layers +
  // input embedding = 2,270,232,576 parameters.
  JobConfig many = job;
  many.global_batch_size = 8;
  const LoweredStep first = make_strategy("ring")->lower(model, many);
  ASSERT_EQ(first.pipeline.memory_stage, 0);
  EXPECT_DOUBLE_EQ(first.memory.params, 2.0 * 2270232576.0);
  // Receive buffers for one activation and one gradient at the boundary.
  JobConfig flat = pipelined_job("ring", 8, 1);
  flat.ring_degree = 8;
  const LoweredStep unpipelined = make_strategy("ring")->lower(model, flat);
  EXPECT_DOUBLE_EQ(step.memory.buffers - unpipelined.memory.buffers, 2.0 * 67108864.0);
}

TEST(PipelinedStep, FirstStageActivationsFollowMegatronInFlightCount) {
  // Same per-GPU shard (r = 8, s = 64K) with and without p = 4. Unpipelined: 32 layers and the
  // loss phase, which is its peak: final norm 2·8192·4096 = 67,108,864, LM head input 67,108,864,
  // and Megatron's loss at 6 B a logit (fp32 copy beside the bf16 logits) 6·8192·128,256 =
  // 6,304,038,912; 6,438,256,640 in all. The first stage has no head: its peak is a layer's
  // backward, the held output gradient 2·8192·4096 = 67,108,864 and the SwiGLU backward's dAct
  // and dUp 2·8192·3·14336 less the freed activation output 2·8192·14336: 469,762,048.
  const ModelSpec model = test::llama3_8b();
  const double head = 6438256640.0, layer_backward = 67108864.0 + 469762048.0;
  JobConfig flat = pipelined_job("ring", 8, 1);
  flat.ring_degree = 8;
  const double layers32 = make_strategy("ring")->lower(model, flat).memory.activations - head;

  JobConfig job = pipelined_job("ring", 32, 4);
  job.ring_degree = 8;
  job.global_batch_size = 8;  // m = 8 >= p
  const LoweredStep one_f_one_b = make_strategy("ring")->lower(model, job);
  ASSERT_EQ(one_f_one_b.pipeline.memory_stage, 0);
  // 1F1B: p = 4 micro-batches of L/p = 8 layers in flight = L layers' worth (eq. 5).
  EXPECT_EQ(one_f_one_b.pipeline.first_stage_in_flight, 4);
  EXPECT_EQ(one_f_one_b.pipeline.last_stage_in_flight, 1);
  EXPECT_NEAR(one_f_one_b.memory.activations, layers32 + layer_backward, 1e-6 * layers32);

  job.virtual_pipeline_stages = 2;  // interleaved: L (1 + (p - 1)/(p v)) = 32 x 11/8 layers
  const LoweredStep interleaved = make_strategy("ring")->lower(model, job);
  EXPECT_EQ(interleaved.pipeline.first_stage_in_flight, 11);
  EXPECT_NEAR(interleaved.memory.activations, layers32 * 11.0 / 8.0 + layer_backward, 1e-6 * layers32);

  job.virtual_pipeline_stages = 1;
  job.global_batch_size = 2;  // m = 2 < p: only 2 micro-batches ever in flight
  const LoweredStep few = make_strategy("ring")->lower(model, job);
  EXPECT_NEAR(few.memory.activations, layers32 / 2.0 + layer_backward, 1e-6 * layers32);
}

TEST(PipelinedStep, TiedEmbeddingGradientsAreSummedAcrossFirstAndLastStage) {
  // GPT-7B (tied, vocabulary 50257, h 4096) on 16 GPUs: t = 8 in each of p = 2 stages (one node
  // each). After the backward the first stage's embedding gradient and the last stage's LM head
  // gradient are summed: 50257 x 4096 / 8 x 4 B (fp32 main grads) = 102,926,336 B each way over the pp group, before
  // the optimizer (the parameter count uses the unpadded vocabulary, as the rest of the stage's
  // parameters do). The untied variant has no such transfer; nothing else in the tail differs.
  const ModelSpec tied = load_model("gpt-7b");
  ASSERT_TRUE(tied.tied_embeddings);
  ModelSpec untied = tied;
  untied.tied_embeddings = false;
  JobConfig job = pipelined_job("megatron-sp", 16, 2);
  job.tensor_parallel = 8;
  job.seq_length = 8192;
  job.global_batch_size = 4;
  const Topology topology = load_topology("dgx-h100");
  auto tail_of = [&](const ModelSpec& model, const char* engine) {
    return evaluate(model, topology, job, *make_engine(engine)).result.extra.at("pipeline").at("tail_s").get<double>();
  };
  const LoweredStep step = make_strategy("megatron-sp")->lower(tied, job);
  double bytes = 0;
  for (const auto& segment : step.pipeline.tail_with_dp.segments) {
    for (const auto& task : segment.tasks) {
      if (std::string_view(task.name) == "tied_embedding_all_reduce") {
        bytes = task.bytes;
        EXPECT_EQ(std::string(step.graph.groups[static_cast<size_t>(task.group)].name), "pp");
      }
    }
  }
  // Megatron-LM sums the fp32 main grads of the tied weight: 12,865,792 parameters x 4 bytes.
  EXPECT_DOUBLE_EQ(bytes, 102926336.0);
  EXPECT_TRUE(has_task(step.graph, "tied_embedding_all_reduce"));
  EXPECT_FALSE(has_task(make_strategy("megatron-sp")->lower(untied, job).pipeline.tail_with_dp,
                        "tied_embedding_all_reduce"));
  // Unpipelined, the one copy needs no sum.
  JobConfig flat = job;
  flat.pipeline_parallel = 1;
  flat.num_gpus = 8;
  EXPECT_FALSE(has_task(make_strategy("megatron-sp")->lower(tied, flat).graph, "tied_embedding_all_reduce"));
  // The tail grows by exactly that transfer: one send/recv step across the two nodes.
  GroupPlacement across;
  across.size = 2;
  across.ranks_per_node = 1;
  across.nodes = 2;
  const double hand = collective_time_s(CommKind::kSendRecv, 102926336.0, across, topology);
  EXPECT_NEAR(tail_of(tied, "analytic") - tail_of(untied, "analytic"), hand, 1e-9);
  // The DES waits for it the same way (its barrier, the same uncontended transfer).
  EXPECT_NEAR(tail_of(tied, "des") - tail_of(untied, "des"), hand, 0.02 * hand);
}

TEST(PipelinedStep, EngineTimedBubbleMatchesClosedForms) {
  // 8 GPUs: r = 2 inside each of p = 4 stages, m = 8 micro-batches, 64K tokens (long enough for
  // the embedding and head kernels to be < 1 % of a chunk). Bubble of 1F1B (p - 1)(F + B)
  // in stage times; interleaved with v = 2 (chunks half a stage): (p - 1)(F_c + B_c), half of it.
  const ModelSpec model = uniform_stage_model();
  const Topology topology = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  JobConfig job = pipelined_job("ring", 8, 4);
  job.ring_degree = 2;
  job.seq_length = 65536;
  job.global_batch_size = 8;
  const RunReport plain = evaluate(model, topology, job, *engine);
  const auto& x = plain.result.extra.at("pipeline");
  const double f = x.at("chunk_fwd_s").get<double>(), b = x.at("chunk_bwd_s").get<double>();
  const double extras = x.at("embedding_fwd_s").get<double>() + x.at("embedding_bwd_s").get<double>() +
                        x.at("head_fwd_s").get<double>() + x.at("head_bwd_s").get<double>();
  ASSERT_LT(extras, 0.01 * (f + b));  // the closed forms assume uniform stages
  EXPECT_NEAR(plain.result.bubble_s, 3.0 * (f + b), 4.0 * extras);
  EXPECT_NEAR(x.at("bubble_fraction").get<double>(), 3.0 / 8.0, 0.01);
  // P2P: the first forward and the last backward each cross p - 1 boundaries.
  const double hop = x.at("p2p_s").get<double>();
  EXPECT_GT(hop, 0.0);
  EXPECT_GE(plain.result.exposed_s[static_cast<int>(Category::kPipelineP2P)], 2.0 * 3.0 * hop - 1e-12);
  // Lower bound: the step holds every chunk a stage runs.
  EXPECT_GE(plain.result.step_time_s, 8.0 * (f + b));

  job.virtual_pipeline_stages = 2;
  const RunReport inter = evaluate(model, topology, job, *engine);
  const auto& y = inter.result.extra.at("pipeline");
  const double fc = y.at("chunk_fwd_s").get<double>(), bc = y.at("chunk_bwd_s").get<double>();
  EXPECT_NEAR(inter.result.bubble_s, 3.0 * (fc + bc), 4.0 * extras);
  EXPECT_NEAR(inter.result.bubble_s / plain.result.bubble_s, 0.5, 0.02);
  EXPECT_LT(inter.result.step_time_s, plain.result.step_time_s);
}

TEST(PipelinedStep, MoreMicroBatchesShrinkTheBubbleFraction) {
  // (p - 1)/m: the fraction falls as m grows, the absolute bubble stays (p - 1)(F + B).
  const ModelSpec model = uniform_stage_model();
  const Topology topology = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  double previous = 1e9;
  for (int64_t m : {4, 8, 16, 32}) {
    JobConfig job = pipelined_job("ring", 8, 4);
    job.ring_degree = 2;
    job.seq_length = 65536;
    job.global_batch_size = m;
    const RunReport report = evaluate(model, topology, job, *engine);
    const double fraction = report.result.extra.at("pipeline").at("bubble_fraction").get<double>();
    EXPECT_NEAR(fraction, 3.0 / static_cast<double>(m), 0.01 * 3.0 / static_cast<double>(m)) << m;
    EXPECT_LT(fraction, previous);
    previous = fraction;
  }
}

TEST(PipelinedStep, DesAgreesWithAnalyticWithoutContention) {
  const ModelSpec model = uniform_stage_model();
  const Topology topology = load_topology("dgx-h100");
  JobConfig job = pipelined_job("ulysses", 16, 2);
  job.ulysses_degree = 8;
  job.seq_length = 16384;
  job.global_batch_size = 4;
  const RunReport analytic = evaluate(model, topology, job, *make_engine("analytic"));
  const RunReport des = evaluate(model, topology, job, *make_engine("des"));
  EXPECT_EQ(des.result.engine, "des");
  EXPECT_NEAR(des.result.step_time_s, analytic.result.step_time_s,
              0.02 * analytic.result.step_time_s);
  EXPECT_NEAR(des.result.bubble_s, analytic.result.bubble_s, 0.02 * analytic.result.bubble_s);
}

TEST(PipelinedStep, ScheduleTraceHasEveryChunkOnItsStage) {
  const ModelSpec model = uniform_stage_model();
  const Topology topology = load_topology("dgx-h100");
  JobConfig job = pipelined_job("ring", 8, 4);
  job.ring_degree = 2;
  job.seq_length = 16384;
  job.global_batch_size = 8;
  job.virtual_pipeline_stages = 2;
  char dir_template[] = "/tmp/spsim_pp_XXXXXX";
  const std::string path = std::string(mkdtemp(dir_template)) + "/trace.json";
  EngineOptions options;
  options.trace_path = path;
  const RunReport report = evaluate(model, topology, job, *make_engine("analytic"), options);
  const auto trace = nlohmann::json::parse(test::read_text(path));
  std::map<int64_t, std::vector<std::pair<double, double>>> slices;  // stage -> (start, end) us
  for (const auto& event : trace.at("traceEvents")) {
    if (event.at("ph") != "X") continue;
    const double start = event.at("ts").get<double>();
    slices[event.at("pid").get<int64_t>()].push_back({start, start + event.at("dur").get<double>()});
  }
  ASSERT_EQ(slices.size(), 4u);
  const double flush_us = report.result.extra.at("pipeline").at("flush_s").get<double>() * 1e6;
  for (auto& [stage, list] : slices) {
    EXPECT_EQ(list.size(), 2u * 8u * 2u) << stage;  // m v forwards and as many backwards
    std::sort(list.begin(), list.end());
    for (size_t i = 1; i < list.size(); ++i) {
      EXPECT_LE(list[i - 1].second, list[i].first + 1e-3) << "stage " << stage << " overlaps";
    }
    EXPECT_LE(list.back().second, flush_us + 1e-3);
  }
  std::remove(path.c_str());
}

TEST(PipelinedStep, CliRunsPipelineAndRejectsBadDegrees) {
  const auto ok = test::run_spsim("run -s ring --gpus 32 -r 8 --pp 4 --vpp 2 --gbs 8 --seq 64K --json");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const auto json = nlohmann::json::parse(ok.out);
  EXPECT_EQ(json.at("config").at("pipeline_model_parallel_size"), 4);
  EXPECT_EQ(json.at("config").at("virtual_pipeline_model_parallel_size"), 2);
  EXPECT_EQ(json.at("engine_details").at("pipeline").at("schedule"), "interleaved_1f1b");
  EXPECT_GT(json.at("breakdown").at("bubble_s").get<double>(), 0.0);

  const auto bad = test::run_spsim("run -s ring --gpus 24 -r 8 --pp 3 --seq 64K");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  EXPECT_NE(bad.err.find("pipeline_model_parallel_size"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("(--pp)"), std::string::npos) << bad.err;
  EXPECT_TRUE(bad.out.empty());
}

}  // namespace
}  // namespace spsim
