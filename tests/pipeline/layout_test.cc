// Pipeline layouts: which layers each model chunk holds, as Megatron-LM and torchtitan place them,
// by hand from their source (src/pipeline/layout.cc), and the activation peak of an uneven stage.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/schedule.h"
#include "spsim/pipeline.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

using Layers = std::vector<int64_t>;

ModelSpec llama31_405b_layers() {  // only the layer count matters to a layout
  ModelSpec m = test::llama3_8b();
  m.name = "Llama-3.1-405B";
  m.num_layers = 126;
  return m;
}

// The CLI's line for the layout's error ("field: message"), or "" when there is none.
std::string layout_error(const ModelSpec& model, const JobConfig& job) {
  try {
    pipeline_chunk_layers(model, job);
  } catch (const InputError& e) {
    return e.full();
  }
  return "";
}

JobConfig pipelined(const std::string& framework, int64_t p, int64_t v = 1) {
  JobConfig job;
  job.strategy = "ring";
  job.framework = framework;
  job.pipeline_parallel = p;
  job.virtual_pipeline_stages = v;
  return job;
}

TEST(PipelineLayout, MegatronSplitsEvenlyByDefault) {
  EXPECT_EQ(pipeline_chunk_layers(test::llama3_8b(), pipelined("megatron", 4)), (Layers{8, 8, 8, 8}));
  EXPECT_EQ(pipeline_chunk_layers(test::llama3_8b(), pipelined("megatron", 4, 2)), Layers(8, 4));
  EXPECT_EQ(pipeline_chunk_layers(test::llama3_8b(), pipelined("deepspeed", 1)), (Layers{32}));
  // 126 layers on 8 stages: Megatron refuses and names both ways out.
  EXPECT_THROW_MSG(pipeline_chunk_layers(llama31_405b_layers(), pipelined("megatron", 8)), InputError,
                   "valid pipeline_model_parallel_size (--pp): 1, 2, 3, 6, 7, 9, 14, 18, 21, 42, 63, 126");
  EXPECT_THROW_MSG(pipeline_chunk_layers(llama31_405b_layers(), pipelined("megatron", 8)), InputError,
                   "--account-for-embedding-in-pipeline-split");
  // DeepSpeed's PipelineModule (partition_method "parameters") is not modelled unevenly: p | L.
  const std::string no_hint = layout_error(llama31_405b_layers(), pipelined("deepspeed", 8));
  EXPECT_NE(no_hint.find("must be divisible"), std::string::npos);
  EXPECT_EQ(no_hint.find("--account-for"), std::string::npos);
}

TEST(PipelineLayout, MegatronAccountsEmbeddingAndLossAsLayers) {
  // NeMo's Llama-3.1-405B recipe: 126 + 2 = 128 units over p 8 x v 8 = 64 chunks of 2; chunk 0
  // (stage 0) gives one unit to the embedding, chunk 63 (stage 7) one to the loss.
  JobConfig job = pipelined("nemo", 8, 8);
  job.embedding_in_pipeline_split = true;
  job.loss_in_pipeline_split = true;
  const Layers chunks = pipeline_chunk_layers(llama31_405b_layers(), job);
  ASSERT_EQ(chunks.size(), 64u);
  Layers expected(64, 2);
  expected.front() = 1;
  expected.back() = 1;
  EXPECT_EQ(chunks, expected);
  EXPECT_EQ(stage_layers(chunks, 8, 0), 15);
  EXPECT_EQ(stage_layers(chunks, 8, 3), 16);
  EXPECT_EQ(stage_layers(chunks, 8, 7), 15);
  // Only the embedding: 127 units do not split into 64 chunks.
  job.loss_in_pipeline_split = false;
  EXPECT_THROW_MSG(pipeline_chunk_layers(llama31_405b_layers(), job), InputError, "= 127 must be divisible");
}

TEST(PipelineLayout, MegatronFirstAndLastStageCounts) {
  // 32 layers, p 4: first 5, last 3, the two middle stages 24 / 2 = 12 each.
  JobConfig job = pipelined("megatron", 4);
  job.first_stage_layers = 5;
  job.last_stage_layers = 3;
  EXPECT_EQ(pipeline_chunk_layers(test::llama3_8b(), job), (Layers{5, 12, 12, 3}));
  // With v 2 each stage's count splits into its two chunks: 5 does not.
  job.virtual_pipeline_stages = 2;
  EXPECT_NE(layout_error(test::llama3_8b(), job)
                .find("decoder_first_pipeline_num_layers: 5 layers must be divisible by virtual"),
            std::string::npos);
  job.first_stage_layers = 6;
  job.last_stage_layers = 2;
  EXPECT_EQ(pipeline_chunk_layers(test::llama3_8b(), job), (Layers{3, 6, 6, 1, 3, 6, 6, 1}));
  // The middle stages must share the rest equally: 32 - 6 - 3 = 23 over 2 does not.
  job.virtual_pipeline_stages = 1;
  job.last_stage_layers = 3;
  EXPECT_THROW_MSG(pipeline_chunk_layers(test::llama3_8b(), job), InputError, "must split equally");
  // Megatron-LM rejects combining the counts with the accounting.
  job.last_stage_layers = 0;
  job.loss_in_pipeline_split = true;
  EXPECT_THROW_MSG(pipeline_chunk_layers(test::llama3_8b(), job), InputError, "cannot be combined");
}

TEST(PipelineLayout, TorchtitanCountsEmbeddingAndOutputAsOneLayerEach) {
  // _generate_llm_fqn_per_model_part: 126 + 2 = 128 effective layers over 8 stages, 16 each;
  // the first and last give one to the embedding and the norm + output.
  Layers p8(8, 16);
  p8.front() = 15;
  p8.back() = 15;
  EXPECT_EQ(pipeline_chunk_layers(llama31_405b_layers(), pipelined("fsdp", 8)), p8);
  Layers v2(16, 8);
  v2.front() = 7;
  v2.back() = 7;
  EXPECT_EQ(pipeline_chunk_layers(llama31_405b_layers(), pipelined("fsdp", 8, 2)), v2);
  // 32 + 2 = 34 over 4: base 8, the first 34 % 4 = 2 stages one more: 9 - 1, 9, 8, 8 - 1.
  EXPECT_EQ(pipeline_chunk_layers(test::llama3_8b(), pipelined("fsdp", 4)), (Layers{8, 9, 8, 7}));
  EXPECT_THROW_MSG(pipeline_chunk_layers(test::llama3_8b(), pipelined("fsdp", 8, 8)), InputError,
                   "64 pipeline stages (p x v = 8 x 8) exceed model Llama-3-8B's 32 layers");
}

TEST(PipelineLayout, MegatronLayoutFieldsAreRefusedWhereTheyDoNothing) {
  JobConfig torchtitan = pipelined("fsdp", 4);
  torchtitan.first_stage_layers = 5;
  EXPECT_NE(layout_error(test::llama3_8b(), torchtitan)
                .find("decoder_first_pipeline_num_layers: is a Megatron-LM pipeline layout; framework fsdp"),
            std::string::npos);
  JobConfig deepspeed = pipelined("deepspeed", 4);
  deepspeed.loss_in_pipeline_split = true;
  EXPECT_NE(layout_error(test::llama3_8b(), deepspeed)
                .find("account_for_loss_in_pipeline_split: is a Megatron-LM pipeline layout"),
            std::string::npos);
  JobConfig no_pipeline = pipelined("megatron", 1);
  no_pipeline.last_stage_layers = 4;
  EXPECT_THROW_MSG(pipeline_chunk_layers(test::llama3_8b(), no_pipeline), InputError, "needs pipeline_model_parallel_size");
  JobConfig negative = pipelined("megatron", 4);
  negative.first_stage_layers = -1;
  EXPECT_NE(layout_error(test::llama3_8b(), negative)
                .find("decoder_first_pipeline_num_layers: must be between 1 and model Llama-3-8B's 32 layers (got -1)"),
            std::string::npos);
}

TEST(PipelineLayout, InFlightLayersOfAnEvenLayoutAreInFlightChunksTimesChunkLayers) {
  for (int64_t v : {1, 2, 4}) {
    for (int64_t stage = 0; stage < 4; ++stage) {
      EXPECT_EQ(pipeline_in_flight_layers(4, 8, v, stage, Layers(static_cast<size_t>(4 * v), 8 / v)),
                pipeline_in_flight_chunks(4, 8, v, stage) * (8 / v))
          << "v " << v << " stage " << stage;
    }
  }
  // 1F1B, p 4, m 8, uneven {5, 12, 12, 3}: stage 0 holds 4 micro-batches of its 5 layers; stage 3
  // one micro-batch of its 3.
  const Layers uneven{5, 12, 12, 3};
  EXPECT_EQ(pipeline_in_flight_layers(4, 8, 1, 0, uneven), 4 * 5);
  EXPECT_EQ(pipeline_in_flight_layers(4, 8, 1, 1, uneven), 3 * 12);
  EXPECT_EQ(pipeline_in_flight_layers(4, 8, 1, 3, uneven), 1 * 3);
}

TEST(PipelineLayout, AnUnevenPlanLowersAndNamesItsLayout) {
  // NeMo, 405B's layer count on the 8B's shape, p 8 v 8 with embedding and loss accounted: the
  // lowering times the 1-layer chunks apart from the 2-layer ones.
  JobConfig job = test::long_job("ring", 64);
  job.seq_length = 8192;
  job.framework = "nemo";
  job.tensor_parallel = 8;
  job.pipeline_parallel = 8;
  job.virtual_pipeline_stages = 8;
  job.global_batch_size = 16;
  job.embedding_in_pipeline_split = true;
  job.loss_in_pipeline_split = true;
  const LoweredStep step = test::lower(llama31_405b_layers(), job);
  ASSERT_TRUE(step.pipeline.uneven());
  EXPECT_EQ(step.pipeline.chunk_layers, 2);
  ASSERT_EQ(step.pipeline.other_chunks.size(), 1u);
  EXPECT_EQ(step.pipeline.other_chunks[0].layers, 1);
  EXPECT_EQ(step.pipeline.layers_per_chunk.front(), 1);
  EXPECT_EQ(step.pipeline.layers_per_chunk.back(), 1);
}

}  // namespace
}  // namespace spsim
