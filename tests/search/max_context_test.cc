// Longest-context search: the answer fits and one more granule does not, it respects the scheme's
// divisibility, and it is monotone in GPUs and HBM.
#include "search/max_context.h"

#include "spsim/engine.h"
#include "spsim/report.h"
#include "spsim/strategy.h"
#include "spsim/units.h"
#include "test_util.h"

namespace spsim {
namespace {

JobConfig plan(const char* strategy, int64_t gpus, int zero) {
  JobConfig job;
  job.strategy = strategy;
  job.num_gpus = gpus;
  job.zero_stage = zero;
  if (std::string(strategy) == "ring") job.ring_degree = gpus;
  if (std::string(strategy) == "ulysses") job.ulysses_degree = gpus;
  return job;
}

TEST(MaxContext, AnswerFitsAndOneMoreGranuleDoesNot) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const ModelSpec model = test::llama3_8b();
  for (const char* s : {"ring", "ulysses"}) {
    const auto r = max_context(model, topo, plan(s, 16, 3), *engine, 1024);
    ASSERT_GT(r.max_seq, 0) << s;
    EXPECT_FALSE(r.capped);
    EXPECT_EQ(r.max_seq % r.granularity, 0) << s;
    EXPECT_LE(r.memory.peak(), topo.gpu.hbm_bytes) << s;
    EXPECT_GT(r.memory_next.peak(), topo.gpu.hbm_bytes) << s;
    // Re-lowering at the answer gives the same memory (the search used the real plug-in).
    JobConfig at = plan(s, 16, 3);
    at.seq_length = r.max_seq;
    EXPECT_DOUBLE_EQ(make_strategy(s)->lower(model, at).memory.peak(), r.memory.peak());
    EXPECT_EQ(r.binding_term, "activations") << s;  // model states are constant in s
    EXPECT_GT(r.step_time_s, 0.0);
  }
}

TEST(MaxContext, GranularityIsLcmOfBaseAndSchemeRule) {
  JobConfig job = plan("ring", 8, 0);
  // Causal zigzag ring r = 8: s % 16 == 0; lcm(1000, 16) = 2000.
  EXPECT_EQ(sequence_granularity(job, 1000), 2000);
  job.ring_variant = "stripe";  // only s % 8: lcm(1000, 8) = 1000
  EXPECT_EQ(sequence_granularity(job, 1000), 1000);
  JobConfig mega;
  mega.tensor_parallel = 8;  // Megatron-SP splits tokens t ways too: lcm(1000, 8) = 1000
  mega.ulysses_degree = 3;   // x u = 24: lcm(1000, 24) = 3000
  EXPECT_EQ(sequence_granularity(mega, 1000), 3000);
}

TEST(MaxContext, PipelineStagesLengthenTheContextOfOneMicroBatch) {
  // One micro-batch: each stage holds one chunk of L/p layers, so p = 2 on 16 GPUs (r = 8 per
  // stage) holds half the layers' activations of r = 8 on 8 GPUs, and half the model states:
  // strictly longer. The answer still fits and one more granule does not.
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const ModelSpec model = test::llama3_8b();
  const auto flat = max_context(model, topo, plan("ring", 8, 3), *engine, 1024);
  JobConfig staged = plan("ring", 16, 3);
  staged.ring_degree = 8;
  staged.pipeline_parallel = 2;
  const auto piped = max_context(model, topo, staged, *engine, 1024);
  EXPECT_EQ(piped.job.pipeline_parallel, 2);
  EXPECT_GT(piped.max_seq, flat.max_seq);
  EXPECT_LE(piped.memory.peak(), topo.gpu.hbm_bytes);
  EXPECT_GT(piped.memory_next.peak(), topo.gpu.hbm_bytes);
  // --best searches p too: never shorter than the best without pipeline stages.
  JobConfig base;
  base.zero_stage = 3;
  base.num_gpus = 16;
  const auto best = max_context_best(model, topo, base, {"ring"}, *engine, 1024);
  ASSERT_EQ(best.size(), 1u);
  EXPECT_GE(best[0].max_seq, piped.max_seq);
}

TEST(MaxContext, MoreGpusNeverShorten) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const ModelSpec model = test::llama3_8b();
  int64_t previous = 0;
  for (int64_t gpus : {8, 16, 32, 64}) {
    const auto r = max_context(model, topo, plan("ring", gpus, 3), *engine, 1024);
    EXPECT_GE(r.max_seq, previous) << gpus;
    previous = r.max_seq;
  }
  EXPECT_GT(previous, 0);
  // --best over degrees: per strategy, more GPUs never shorten the longest context.
  const std::vector<std::string> all{"ulysses", "megatron-sp", "ring", "usp"};
  JobConfig base;
  base.zero_stage = 3;
  base.num_gpus = 16;
  const auto small = max_context_best(model, topo, base, all, *engine, 1024);
  base.num_gpus = 32;
  const auto large = max_context_best(model, topo, base, all, *engine, 1024);
  ASSERT_EQ(small.size(), 4u);
  ASSERT_EQ(large.size(), 4u);
  for (size_t i = 0; i < small.size(); ++i) {
    EXPECT_EQ(small[i].job.strategy, large[i].job.strategy);
    EXPECT_GE(large[i].max_seq, small[i].max_seq) << small[i].job.strategy;
  }
}

TEST(MaxContext, MoreHbmNeverShortens) {
  Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const ModelSpec model = test::llama3_8b();
  const auto r80 = max_context(model, topo, plan("ulysses", 8, 3), *engine, 1024);
  topo.gpu.hbm_bytes *= 141.0 / 80.0;
  const auto r141 = max_context(model, topo, plan("ulysses", 8, 3), *engine, 1024);
  EXPECT_GT(r80.max_seq, 0);
  EXPECT_GE(r141.max_seq, r80.max_seq);
}

TEST(MaxContext, NothingFitsReportsZeroAndTheLargestTerm) {
  // Llama-3-8B on 8 GPUs without ZeRO: 8.03e9 params x 16 bytes = 128 GB of model states per GPU.
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const auto r = max_context(test::llama3_8b(), topo, plan("ring", 8, 0), *engine, 1024);
  EXPECT_EQ(r.max_seq, 0);
  EXPECT_EQ(r.binding_term, "optimizer");
  EXPECT_EQ(r.job.data_parallel, 1);
}

TEST(MaxContext, IllegalPlanThrows) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  // 32 heads: ulysses 64 is illegal whatever the length.
  EXPECT_THROW(max_context(test::llama3_8b(), topo, plan("ulysses", 64, 3), *engine, 1024),
               InputError);
}

TEST(MaxContextCli, SeqIsRejectedAndJsonHasTheAnswer) {
  const auto bad = test::run_spsim("max-context -s ring --gpus 8 --seq 128K");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err.rfind("spsim: error: --seq: max-context searches", 0), 0u) << bad.err;
  const auto r = test::run_spsim("max-context -s ring --gpus 16 --zero 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["ring_degree"].get<int>(), 16);
  EXPECT_LE(j[0]["memory_at_max"]["peak"].get<double>(), j[0]["hbm_capacity"].get<double>());
  EXPECT_GT(j[0]["memory_at_max_plus_granularity"]["peak"].get<double>(),
            j[0]["hbm_capacity"].get<double>());
}

TEST(MaxContext, BestSearchesZeroAndRecomputeItWasNotGiven) {
  // Issue 16 (study S8): --best kept the job's ZeRO 0 and no recompute, where Adam states fill
  // most of the HBM (Llama-3.1-405B on 1,024 GPUs: "none" for every scheme). Searching the memory
  // knobs finds the longer context ZeRO-3 and full recompute allow.
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const ModelSpec model = test::llama3_8b();
  JobConfig base;
  base.num_gpus = 8;
  const auto fixed = max_context_best(model, topo, base, {"ring"}, *engine, 1024);
  ASSERT_EQ(fixed.size(), 1u);
  MemoryKnobs knobs;
  knobs.zero_stages = {0, 1, 2, 3};
  knobs.recomputes = {Recompute::kNone, Recompute::kSelective, Recompute::kFull};
  const auto searched = max_context_best(model, topo, base, {"ring"}, *engine, 1024, knobs);
  ASSERT_EQ(searched.size(), 1u);
  EXPECT_GT(searched[0].max_seq, 4 * fixed[0].max_seq);
  EXPECT_EQ(searched[0].job.zero_stage, 3);
  EXPECT_EQ(searched[0].job.recompute, Recompute::kFull);
  // Never shorter than the plan the user could have fixed by hand.
  base.zero_stage = 3;
  base.recompute = Recompute::kFull;
  const auto by_hand = max_context_best(model, topo, base, {"ring"}, *engine, 1024);
  EXPECT_GE(searched[0].max_seq, by_hand[0].max_seq);
}

// Issue 16, item 5: a context that fits but trains at a few hundred tokens/s is no answer.
// Limits besides the HBM: the answer meets them and one more granule misses the one that binds.
double step_at(const ModelSpec& model, const Topology& topo, JobConfig job, int64_t seq,
               const Engine& engine, double* tokens_per_s) {
  job.seq_length = seq;
  const RunReport r = evaluate(model, topo, job, engine);
  *tokens_per_s = r.tokens_per_s;
  return r.result.step_time_s;
}

TEST(MaxContextLimits, HeadroomLeavesThatMuchFree) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const ModelSpec model = test::llama3_8b();
  const auto full = max_context(model, topo, plan("ring", 16, 3), *engine, 1024);
  MaxContextLimits limits;
  limits.memory_bytes = topo.gpu.hbm_bytes - 8 * kGiB;
  const auto r = max_context(model, topo, plan("ring", 16, 3), *engine, 1024, limits);
  EXPECT_LT(r.max_seq, full.max_seq);
  EXPECT_LE(r.memory.peak(), limits.memory_bytes);
  EXPECT_GT(r.memory_next.peak(), limits.memory_bytes);
  EXPECT_EQ(r.binding_term, "activations");
}

TEST(MaxContextLimits, ThroughputFloorEndsTheSearchBelowTheMemoryAnswer) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const ModelSpec model = test::llama3_8b();
  JobConfig job = plan("ring", 16, 3);
  const auto memory_only = max_context(model, topo, job, *engine, 1024);
  // The floor: what 128K achieves, above the memory answer's tokens/s (attention grows with s).
  MaxContextLimits limits;
  step_at(model, topo, job, 128 * 1024, *engine, &limits.min_tokens_per_s);
  ASSERT_GT(limits.min_tokens_per_s, memory_only.tokens_per_s);
  const auto r = max_context(model, topo, job, *engine, 1024, limits);
  EXPECT_GE(r.max_seq, 128 * 1024);
  EXPECT_LT(r.max_seq, memory_only.max_seq);
  EXPECT_EQ(r.binding_term, "min tokens/s");
  EXPECT_GE(r.tokens_per_s, limits.min_tokens_per_s);
  double next_tokens = 0;
  step_at(model, topo, job, r.max_seq + r.granularity, *engine, &next_tokens);
  EXPECT_LT(next_tokens, limits.min_tokens_per_s);
}

TEST(MaxContextLimits, StepTimeCapEndsTheSearchBelowTheMemoryAnswer) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  const ModelSpec model = test::llama3_8b();
  JobConfig job = plan("ulysses", 8, 3);
  job.global_batch_size = 8;  // 8 micro-batches of one sequence
  const auto memory_only = max_context(model, topo, job, *engine, 1024);
  MaxContextLimits limits;
  limits.max_step_time_s = memory_only.step_time_s / 4;
  const auto r = max_context(model, topo, job, *engine, 1024, limits);
  ASSERT_GT(r.max_seq, 0);
  EXPECT_EQ(r.binding_term, "max step time");
  EXPECT_LE(r.step_time_s, limits.max_step_time_s);
  double tokens = 0;
  EXPECT_GT(step_at(model, topo, job, r.max_seq + r.granularity, *engine, &tokens), limits.max_step_time_s);
  EXPECT_EQ(r.job.global_batch_size, 8);
}

TEST(MaxContextLimits, UnreachableFloorAnswersNothingAndSaysWhy) {
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  MaxContextLimits limits;
  limits.min_tokens_per_s = 1e12;
  const auto r = max_context(test::llama3_8b(), topo, plan("ring", 8, 3), *engine, 1024, limits);
  EXPECT_EQ(r.max_seq, 0);
  EXPECT_EQ(r.binding_term, "min tokens/s");
}

}  // namespace
}  // namespace spsim

namespace spsim {
namespace {

// A ring that passes K,V step by step cannot run past a model's sliding window (rules.cc): the
// answer stops at the window and says which rule binds, instead of a shorter memory answer from
// the plans the rule left (or an error).
TEST(MaxContext, ARuleThatRefusesLongerSequencesBinds) {
  ModelSpec model = test::llama3_8b();
  model.sliding_window = 4096;
  model.sliding_window_layers = 32;
  const Topology topo = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  JobConfig job = plan("ring", 8, 3);
  job.ring_degree = 2;
  const auto r = max_context(model, topo, job, *engine, 1024);
  EXPECT_EQ(r.max_seq, 4096);
  EXPECT_EQ(r.binding_term, "rule: ring_comm");
}

}  // namespace
}  // namespace spsim
