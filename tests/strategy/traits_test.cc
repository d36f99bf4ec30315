// Strategy traits and check(): what callers read instead of scheme names, and the cheap legality
// test default_degrees relies on (same verdict and resolved job as lower()).
#include <vector>

#include "spsim/strategy.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

TEST(StrategyTraits, NamesMatchTheRegistry) {
  for (const auto& name : list_strategies()) {
    EXPECT_STREQ(strategy_traits(name).name, name.c_str());
    EXPECT_EQ(&strategy_traits(name), &make_strategy(name)->traits());  // static data
  }
  EXPECT_THROW_MSG(strategy_traits("ulyses"), InputError, "did you mean \"ulysses\"");
}

TEST(StrategyTraits, AllIsTheMainSchemesAndPlainDataParallelismInRegistryOrder) {
  // dp is the baseline every sequence-parallel scheme has to beat (issue 16: the plan Ulysses
  // with u = 1 used to be, under Ulysses' name).
  // lasp and lasp2 too: commands leave out what cannot run the model (cli applicable_strategies).
  EXPECT_EQ(expand_strategies({"all"}),
            (std::vector<std::string>{"ulysses", "megatron-sp", "ring", "usp", "lasp", "lasp2", "dp"}));
  EXPECT_EQ(expand_strategies({"colai-sp", "all", "megatron-tp"}),
            (std::vector<std::string>{"colai-sp", "ulysses", "megatron-sp", "ring", "usp", "lasp", "lasp2", "dp",
                                      "megatron-tp"}));
  EXPECT_THROW_MSG(expand_strategies({"all", "rng"}), InputError, "did you mean \"ring\"");
}

TEST(StrategyTraits, DegreesEachSchemeTakes) {
  struct Want {
    const char* name;
    bool t, u, r, splits;
  };
  for (const Want& w : {Want{"ulysses", true, true, false, true}, Want{"megatron-sp", true, false, false, true},
                        Want{"megatron-tp", true, false, false, false}, Want{"ring", true, false, true, true},
                        Want{"usp", true, true, true, true}, Want{"colai-sp", false, false, true, true}}) {
    const StrategyTraits& traits = strategy_traits(w.name);
    EXPECT_EQ(traits.uses_tensor, w.t) << w.name;
    EXPECT_EQ(traits.uses_ulysses, w.u) << w.name;
    EXPECT_EQ(traits.uses_ring, w.r) << w.name;
    EXPECT_EQ(traits.splits_sequence, w.splits) << w.name;
  }
}

TEST(StrategyTraits, SequenceGranularity) {
  JobConfig job;
  job.ulysses_degree = 2;
  job.ring_degree = 4;
  job.ring_variant = "zigzag";
  EXPECT_EQ(sequence_split(job), 8);
  EXPECT_EQ(sequence_granularity(job), 16);  // causal zigzag: 2 r u chunks
  job.causal = false;
  EXPECT_EQ(sequence_granularity(job), 8);
  job.tensor_parallel = 3;                   // Megatron-SP splits over t too ...
  EXPECT_EQ(sequence_granularity(job), 24);
  job.sequence_parallel = false;             // ... plain TP does not
  EXPECT_EQ(sequence_granularity(job), 8);
}

// check() gives the verdict and the resolved job of lower() without building the graph, for
// legal and illegal degrees of every scheme.
TEST(StrategyCheck, SameVerdictAndJobAsLower) {
  const ModelSpec model = test::llama3_8b();
  int legal = 0, illegal = 0;
  for (const auto& name : list_strategies()) {
    for (int64_t t : {1, 2, 3}) {
      for (int64_t u : {1, 2, 16}) {
        for (int64_t r : {1, 4}) {
          for (int64_t p : {1, 2}) {
            JobConfig job = test::long_job(name, 16);
            job.tensor_parallel = t;
            job.ulysses_degree = u;
            job.ring_degree = r;
            job.pipeline_parallel = p;
            job.global_batch_size = p > 1 ? 4 : 0;
            const auto strategy = make_strategy(name);
            std::string checked, lowered;
            try {
              checked = job_to_json(strategy->check(model, job)).dump();
            } catch (const InputError& e) {
              checked = "error " + e.full();
            }
            try {
              lowered = job_to_json(strategy->lower(model, job).job).dump();
            } catch (const InputError& e) {
              lowered = "error " + e.full();
            }
            EXPECT_EQ(checked, lowered) << name << " t" << t << " u" << u << " r" << r << " p" << p;
            (checked.rfind("error", 0) == 0 ? illegal : legal)++;
          }
        }
      }
    }
  }
  EXPECT_GT(legal, 20);
  EXPECT_GT(illegal, 20);
}

}  // namespace
}  // namespace spsim
