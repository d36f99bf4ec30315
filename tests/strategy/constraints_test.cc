// Every rule a strategy enforces is an InputError that names the field (where()), the rule, the
// value found and a fix (spec §5 lists the sources of each rule).
#include "spsim/strategy.h"

#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

using test::long_job;

// Lowers `job` and expects an InputError at `where` whose message contains every fragment.
void expect_rule(const ModelSpec& model, const JobConfig& job, const std::string& where,
                 std::initializer_list<const char*> fragments) {
  try {
    make_strategy(job.strategy)->lower(model, job);
    ADD_FAILURE() << "expected InputError at " << where;
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), where) << e.full();
    for (const char* fragment : fragments) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "missing \"" << fragment << "\" in: " << e.full();
    }
    // One line, lowercase start, no full stop at the end (style of error.h).
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.back(), '.') << message;
  }
}

ModelSpec odd_heads_model() {
  // a = 12, k = 4: u = 6 divides a but is neither a divisor nor a multiple of k.
  ModelSpec m = test::tiny_model();
  m.name = "odd-heads";
  m.num_attention_heads = 12;
  m.num_key_value_heads = 4;
  m.head_dim = 64;
  m.hidden_size = 768;
  return m;
}

TEST(StrategyRules, UnknownStrategySuggests) {
  EXPECT_THROW_MSG(make_strategy("ulyses"), InputError, "did you mean \"ulysses\"");
  EXPECT_THROW_MSG(make_strategy("zzz"), InputError, "ulysses, megatron-sp, megatron-tp, ring, usp");
}

TEST(StrategyRules, ListsTheNinePlugins) {
  EXPECT_EQ(list_strategies(), (std::vector<std::string>{"ulysses", "megatron-sp", "megatron-tp", "ring", "usp",
                                                         "colai-sp", "lasp", "lasp2", "dp"}));
  for (const auto& name : list_strategies()) {
    const auto strategy = make_strategy(name);
    EXPECT_EQ(name, strategy->name());
    EXPECT_GT(std::string(strategy->description()).size(), 20u);
  }
}

// The kernel and loss choices reach the lowering from flags, experiment files, imports and
// validation rows; a misspelt one must be an error there, not the framework's default in silence.
TEST(StrategyRules, KernelAndLossChoicesAreChecked) {
  const ModelSpec model = test::tiny_model();
  // (field, a misspelt value, the allowed list the message must name)
  struct Choice {
    std::string JobConfig::*field;
    const char* name;
    const char* bad;
    const char* allowed;
  };
  const Choice choices[] = {
      {&JobConfig::cross_entropy, "cross_entropy", "fuzed", "fused, flash, native, unfused"},
      {&JobConfig::grad_reduce_dtype, "grad_reduce_dtype", "fp16", "bf16, fp32"},
      {&JobConfig::attention_impl, "attention_impl", "flash3", "cudnn, flash2, triton"},
      {&JobConfig::fp8_recipe, "fp8_recipe", "mx", "delayed, current"},
      {&JobConfig::elementwise_impl, "elementwise_impl", "compiled", "fused, eager"},
      {&JobConfig::backward_prefetch, "backward_prefetch", "BACKWARD_PRE", "pre, post, sync"},
  };
  for (const char* strategy : {"ring", "ulysses", "dp"}) {
    for (const Choice& c : choices) {
      JobConfig job = long_job(strategy, 4);
      job.*c.field = c.bad;
      expect_rule(model, job, c.name, {c.allowed, c.bad});
    }
  }
}

// --elementwise-impl overrides the framework's flavour for every memory-bound kernel except the
// loss, whose measured traffic is timed at the fused plateau whatever runs it (framework.h).
TEST(StrategyRules, ElementwiseImplReachesEveryKernelButTheLoss) {
  const ModelSpec model = test::tiny_model();
  for (const char* impl : {"", "fused", "eager"}) {
    JobConfig job = long_job("ring", 4);
    job.framework = "fsdp";  // eager by default (torchtitan without torch.compile)
    job.elementwise_impl = impl;
    const LoweredStep step = make_strategy("ring")->lower(model, job);
    const ElementwiseImpl want = std::string(impl) == "fused" ? ElementwiseImpl::kFused : ElementwiseImpl::kEager;
    EXPECT_EQ(step.job.elementwise_impl, std::string(impl).empty() ? "eager" : impl);
    int memory_tasks = 0;
    for (const auto& seg : step.graph.segments) {
      for (const auto& task : seg.tasks) {
        if (task.kind != TaskKind::kCompute || task.op_class != OpClass::kMemoryBound) continue;
        ++memory_tasks;
        const bool loss = std::string(task.name) == "cross_entropy";
        EXPECT_EQ(task.elementwise_impl, loss ? ElementwiseImpl::kFused : want) << task.name << " " << impl;
      }
    }
    EXPECT_GT(memory_tasks, 5);
  }
}

TEST(StrategyRules, UlyssesDegreeMustDivideHeads) {
  // DeepSpeed layer.py: a % u == 0. a = 32, u = 6 (6 GPUs).
  JobConfig job = long_job("ulysses", 6);
  job.ulysses_degree = 6;
  expect_rule(test::llama3_8b(), job, "ulysses_degree",
              {"num_attention_heads 32 must be divisible", "= 6", "valid ulysses_degree: 1, 2, 4, 8, 16, 32"});
}

TEST(StrategyRules, UlyssesDegreeVersusKvHeads) {
  // ALST: k % u == 0 or u % k == 0. a = 12, k = 4, u = 6.
  JobConfig job = long_job("ulysses", 6);
  job.seq_length = 6 * 1024;
  job.ulysses_degree = 6;
  expect_rule(odd_heads_model(), job, "ulysses_degree",
              {"neither a divisor nor a multiple of num_key_value_heads", "valid ulysses_degree"});
}

TEST(StrategyRules, UlyssesWithoutKvReplicationNeedsKvDivisible) {
  // yunchang / DeepSpeed layer.py: k % u == 0; Llama-3-8B k = 8 < u = 16.
  JobConfig job = long_job("ulysses", 16);
  job.ulysses_kv_replication = false;
  expect_rule(test::llama3_8b(), job, "ulysses_degree",
              {"not divisible by ulysses_degree 16", "ulysses_kv_replication"});
  job.ulysses_kv_replication = true;
  EXPECT_NO_THROW(make_strategy("ulysses")->lower(test::llama3_8b(), job));
}

TEST(StrategyRules, GpusMustEqualProductOfDegrees) {
  JobConfig job = long_job("ulysses", 8);
  job.ulysses_degree = 8;
  job.data_parallel = 2;  // 8 x 2 = 16 != 8
  expect_rule(test::llama3_8b(), job, "num_gpus", {"must equal", "= 16 (got 8)"});

  JobConfig uneven = long_job("ulysses", 12);
  uneven.ulysses_degree = 8;  // 12 GPUs not a multiple of 8
  expect_rule(test::llama3_8b(), uneven, "num_gpus", {"12 GPUs not divisible", "= 8"});

  JobConfig usp = long_job("usp", 16);
  usp.ulysses_degree = 4;
  usp.ring_degree = 3;  // 12 does not divide 16
  expect_rule(test::llama3_8b(), usp, "num_gpus", {"not divisible"});
}

TEST(StrategyRules, SequenceMustSplitOverSequenceRanks) {
  // s % (u·r) == 0: 131073 tokens over 8 ranks.
  JobConfig job = long_job("ulysses", 8);
  job.seq_length = 131073;
  expect_rule(test::llama3_8b(), job, "seq_length", {"divisible by ulysses_degree x ring_degree", "(got 131073)"});
  // Megatron-SP also splits the sequence over t.
  JobConfig tp = long_job("megatron-sp", 8);
  tp.seq_length = 131076;
  expect_rule(test::llama3_8b(), tp, "seq_length", {"x tensor_model_parallel_size = 8"});
}

TEST(StrategyRules, ZigzagNeedsTwoRDivisibility) {
  // TE DualChunkSwap / zhuzilin: s % (2r) == 0. 131064 = 8·16383 is divisible by 8, not by 16.
  JobConfig job = long_job("ring", 8);
  job.seq_length = 131064;
  expect_rule(test::llama3_8b(), job, "seq_length",
              {"zigzag needs seq_length divisible by 2 x ring_degree", "= 16 (got 131064)",
               "ring_variant basic"});
  job.ring_variant = "basic";
  EXPECT_NO_THROW(make_strategy("ring")->lower(test::llama3_8b(), job));
  // Non-causal attention needs no balancing, so zigzag's rule does not apply.
  job.ring_variant = "zigzag";
  job.causal = false;
  EXPECT_NO_THROW(make_strategy("ring")->lower(test::llama3_8b(), job));
}

TEST(StrategyRules, UspZigzagNeedsTwoRUDivisibility) {
  // yunchang extract_local: s % (2·r·u) == 0. u = 4, r = 2: 16; 131080 = 8·16385 is not.
  JobConfig job = long_job("usp", 8);
  job.ulysses_degree = 4;
  job.ring_degree = 2;
  job.seq_length = 131080;
  expect_rule(test::llama3_8b(), job, "seq_length", {"2 x ring_degree x ulysses_degree = 16"});
}

TEST(StrategyRules, TensorParallelMustDivideHeads) {
  // Megatron: a % t == 0 and k % t == 0 (max TP = number of query groups, 8 for Llama-3-8B).
  JobConfig job = long_job("megatron-sp", 16);
  job.tensor_parallel = 16;
  expect_rule(test::llama3_8b(), job, "tensor_model_parallel_size",
              {"num_key_value_heads 8 must be divisible", "valid tensor_model_parallel_size: 1, 2, 4, 8"});
  JobConfig three = long_job("megatron-tp", 3);
  three.seq_length = 3 * 4096;
  expect_rule(test::llama3_8b(), three, "tensor_model_parallel_size", {"num_attention_heads 32"});
}

TEST(StrategyRules, TensorParallelMustDivideFfn) {
  // Megatron ColumnParallelLinear divides ffn_hidden_size by t (divide() asserts). a = k = 16,
  // f = 1000 is not a multiple of 16.
  ModelSpec m = test::tiny_model();
  m.num_key_value_heads = 16;
  m.ffn_hidden_size = 1000;
  JobConfig job = long_job("megatron-sp", 16);
  job.seq_length = 16 * 1024;
  expect_rule(m, job, "tensor_model_parallel_size", {"ffn_hidden_size 1000", "divisible"});
}

TEST(StrategyRules, MegatronSpNeedsTensorParallel) {
  JobConfig job = long_job("megatron-sp", 8);
  job.tensor_parallel = 1;
  job.data_parallel = 8;  // no degree left to derive
  expect_rule(test::llama3_8b(), job, "tensor_model_parallel_size",
              {"needs tensor_model_parallel_size > 1", "exists only with tensor parallelism"});
}

TEST(StrategyRules, SchemesRejectForeignDegrees) {
  JobConfig uly = long_job("ulysses", 16);
  uly.ring_degree = 2;
  expect_rule(test::llama3_8b(), uly, "ring_degree", {"use strategy usp"});
  JobConfig ring = long_job("ring", 16);
  ring.ulysses_degree = 2;
  expect_rule(test::llama3_8b(), ring, "ulysses_degree", {"use strategy usp"});
  JobConfig tp = long_job("megatron-sp", 16);
  tp.ulysses_degree = 2;
  expect_rule(test::llama3_8b(), tp, "ulysses_degree", {"has no all-to-all"});
  JobConfig usp = long_job("usp", 8);
  expect_rule(test::llama3_8b(), usp, "ulysses_degree", {"needs ulysses_degree and ring_degree"});
}

TEST(StrategyRules, ZeroStageOutOfRange) {
  for (int stage : {-1, 4}) {
    JobConfig job = long_job("ulysses", 8);
    job.zero_stage = stage;
    expect_rule(test::llama3_8b(), job, "zero_stage", {"must be 0, 1, 2 or 3", "got"});
  }
}

TEST(StrategyRules, RingVariantAndCommAreChecked) {
  JobConfig job = long_job("ring", 8);
  job.ring_variant = "striped";
  expect_rule(test::llama3_8b(), job, "ring_variant", {"basic, zigzag or stripe", "striped"});
  JobConfig comm = long_job("ring", 8);
  comm.ring_comm = "a2a";
  expect_rule(test::llama3_8b(), comm, "ring_comm", {"p2p or allgather", "a2a"});
}

TEST(StrategyRules, GlobalBatchMustSplitIntoMicroBatches) {
  JobConfig job = long_job("ulysses", 8);
  job.ulysses_degree = 4;      // D = 2
  job.micro_batch_size = 2;
  job.global_batch_size = 6;   // not a multiple of 2 x 2
  expect_rule(test::llama3_8b(), job, "global_batch_size", {"divisible by micro_batch_size x data_parallel_size = 2 x 2 = 4", "(got 6)"});
}

TEST(StrategyRules, PipelineDegreeMustDivideLayers) {
  // Megatron's default layout: L / p layers per stage; Llama-3-8B has 32 layers.
  JobConfig job = long_job("ring", 24);
  job.ring_degree = 8;
  job.pipeline_parallel = 3;
  expect_rule(test::llama3_8b(), job, "pipeline_model_parallel_size",
              {"num_layers 32 must be divisible by pipeline_model_parallel_size 3",
               "valid pipeline_model_parallel_size (--pp): 1, 2, 4, 8, 16, 32"});
}

TEST(StrategyRules, InterleavedLayoutNeedsLayersDivisibleByPTimesV) {
  JobConfig job = long_job("ring", 32);
  job.ring_degree = 8;
  job.pipeline_parallel = 4;
  job.virtual_pipeline_stages = 3;  // 32 % 12 != 0
  expect_rule(test::llama3_8b(), job, "virtual_pipeline_model_parallel_size",
              {"= 4 x 3 = 12", "(--vpp) for p 4: 1, 2, 4, 8"});
  job.pipeline_parallel = 1;
  job.num_gpus = 8;
  job.virtual_pipeline_stages = 2;  // chunks without stages
  expect_rule(test::llama3_8b(), job, "virtual_pipeline_model_parallel_size",
              {"needs pipeline_model_parallel_size > 1"});
}

TEST(StrategyRules, InterleavedNeedsMicroBatchesMultipleOfStages) {
  // Megatron schedules.py: the interleaved schedule needs m % p == 0; m = 6 / (1 x 1) = 6, p = 4.
  JobConfig job = long_job("ring", 32);
  job.ring_degree = 8;
  job.pipeline_parallel = 4;
  job.virtual_pipeline_stages = 2;
  job.global_batch_size = 6;
  expect_rule(test::llama3_8b(), job, "global_batch_size",
              {"(global_batch_size / (micro_batch_size x data_parallel_size) = 6)",
               "multiple of pipeline_model_parallel_size 4", "use global_batch_size (--gbs) 8"});
}

TEST(StrategyRules, HugePipelinedBatchIsAnErrorNotAnAllocation) {
  // 2^30 micro-batches x 4 stages would need 2^33 schedule ops (tens of GB): refused up front.
  // The limit is m x p x v <= 2^20.
  JobConfig job = long_job("ring", 32);
  job.ring_degree = 8;
  job.pipeline_parallel = 4;
  job.global_batch_size = int64_t{1} << 30;
  expect_rule(test::llama3_8b(), job, "global_batch_size", {"at most 1048576", "(--gbs)"});
  job.global_batch_size = int64_t{1} << 18;  // 2^18 x 4 = 2^20: allowed
  EXPECT_NO_THROW(make_strategy("ring")->lower(test::llama3_8b(), job));
}

TEST(StrategyRules, PipelineTakesItsShareOfTheGpus) {
  // GPUs = t x u x r x dp x p: 64 = 1 x 1 x 8 x dp x 4 gives dp = 2; 36 GPUs do not divide by 32.
  JobConfig job = long_job("ring", 64);
  job.ring_degree = 8;
  job.pipeline_parallel = 4;
  EXPECT_EQ(make_strategy("ring")->lower(test::llama3_8b(), job).job.data_parallel, 2);
  job.num_gpus = 36;
  expect_rule(test::llama3_8b(), job, "num_gpus",
              {"36 GPUs not divisible", "x pipeline_model_parallel_size = 1 x 1 x 8 x 4 = 32"});
  job.num_gpus = 64;
  job.data_parallel = 4;
  expect_rule(test::llama3_8b(), job, "num_gpus", {"x pipeline_model_parallel_size", "= 128 (got 64)"});
}

TEST(StrategyRules, NonPositiveDegrees) {
  JobConfig job = long_job("usp", 8);
  job.ulysses_degree = 0;
  job.ring_degree = 8;
  EXPECT_THROW(make_strategy("usp")->lower(test::llama3_8b(), job), InputError);
}

TEST(StrategyRules, BadModelIsAnInputError) {
  ModelSpec m = test::llama3_8b();
  m.num_attention_heads = 0;
  expect_rule(m, long_job("ulysses", 8), "model", {"non-positive size"});
}

}  // namespace
}  // namespace spsim
