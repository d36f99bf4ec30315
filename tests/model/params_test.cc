// Parameter counts against the published checkpoint sizes (tests/data/hf-configs/README.md) and
// hand-computed breakdowns.
#include <gtest/gtest.h>

#include "spsim/model.h"
#include "test_util.h"

namespace spsim {
namespace {

ModelSpec fixture(const std::string& name) {
  return load_model(test::data_path("hf-configs/" + name + ".json"));
}

TEST(ModelParams, Llama3_8BBreakdownByHand) {
  const ModelSpec m = fixture("Meta-Llama-3-8B");
  // Attention: q 4096x4096 + k,v 2 x 4096x1024 + o 4096x4096 = 16,777,216 x 2 + 8,388,608
  //   = 41,943,040; MLP 3 x 4096 x 14336 = 176,160,768; 2 RMSNorms 8,192 -> 218,112,000.
  EXPECT_EQ(m.params_per_layer(), 218'112'000);
  // Untied: 2 x 128256 x 4096 = 1,050,673,152, + final RMSNorm 4,096.
  EXPECT_EQ(m.embedding_params(), 1'050'677'248);
  // 32 x 218,112,000 + 1,050,677,248.
  EXPECT_EQ(m.total_params(), 8'030'261'248);
}

TEST(ModelParams, HfFixturesMatchPublishedCounts) {
  EXPECT_EQ(fixture("Meta-Llama-3-8B").total_params(), 8'030'261'248);
  EXPECT_EQ(fixture("Meta-Llama-3-70B").total_params(), 70'553'706'496);
  EXPECT_EQ(fixture("Llama-3.1-405B").total_params(), 405'853'388'800);
  EXPECT_EQ(fixture("Qwen2.5-7B").total_params(), 7'615'616'512);
  EXPECT_EQ(fixture("Mistral-7B-v0.1").total_params(), 7'241'732'096);
  EXPECT_EQ(fixture("gpt2-xl").total_params(), 1'557'611'200);
}

TEST(ModelParams, Qwen2QkvBiasIsCounted) {
  ModelSpec m = fixture("Qwen2.5-7B");
  ASSERT_TRUE(m.qkv_bias);
  const int64_t with_bias = m.params_per_layer();
  m.qkv_bias = false;
  // q bias 28 x 128 = 3,584, k and v biases 4 x 128 = 512 each -> 4,608 per layer.
  EXPECT_EQ(with_bias - m.params_per_layer(), 4'608);
}

TEST(ModelParams, Gpt2XlBreakdownByHand) {
  const ModelSpec m = fixture("gpt2-xl");
  // c_attn 1600x4800 + 4800, c_proj 1600x1600 + 1600, c_fc 1600x6400 + 6400,
  // mlp c_proj 6400x1600 + 1600, ln_1 and ln_2 2 x 3200:
  // 7,684,800 + 2,561,600 + 10,246,400 + 10,241,600 + 6,400 = 30,740,800.
  EXPECT_EQ(m.params_per_layer(), 30'740'800);
  // Tied wte 50257x1600 = 80,411,200, wpe 1024x1600 = 1,638,400, ln_f 3,200.
  EXPECT_EQ(m.embedding_params(), 82'052'800);
}

TEST(ModelParams, TinyModelByHand) {
  const ModelSpec m = test::tiny_model();
  // q 1024x1024 = 1,048,576, k+v 2 x 1024x256 = 524,288, o 1,048,576 -> 2,621,440;
  // MLP 3 x 1024 x 4096 = 12,582,912; norms 2 x 1024 -> 15,206,400.
  EXPECT_EQ(m.params_per_layer(), 15'206'400);
  // 2 x 32000 x 1024 = 65,536,000 + 1,024.
  EXPECT_EQ(m.embedding_params(), 65'537'024);
  EXPECT_EQ(m.total_params(), 4 * 15'206'400 + 65'537'024);
}

TEST(ModelParams, LinearBiasesOnGatedMlp) {
  ModelSpec m = test::tiny_model();
  const int64_t plain = m.params_per_layer();
  m.linear_bias = true;
  // o_proj bias 1024, gate and up biases 2 x 4096, down bias 1024 -> 10,240.
  EXPECT_EQ(m.params_per_layer() - plain, 10'240);
}

TEST(ModelParams, PaddedVocabFollowsMegatron) {
  ModelSpec m = test::tiny_model();
  m.vocab_size = 50257;
  m.make_vocab_size_divisible_by = 128;
  EXPECT_EQ(m.padded_vocab(1), 50304);  // ceil(50257/128) = 393; 393 x 128
  EXPECT_EQ(m.padded_vocab(8), 51200);  // ceil(50257/1024) = 50; 50 x 1024
  m.vocab_size = 128256;
  EXPECT_EQ(m.padded_vocab(1), 128256);  // 1002 x 128
  EXPECT_EQ(m.padded_vocab(8), 129024);  // ceil(125.25) = 126; 126 x 1024
  m.make_vocab_size_divisible_by = 1;
  m.vocab_size = 32000;
  EXPECT_EQ(m.padded_vocab(3), 32001);   // ceil(32000/3) = 10667; 10667 x 3
  EXPECT_THROW(m.padded_vocab(0), Error);
}

TEST(ModelParams, PaddingDoesNotChangeParameterCount) {
  // HF convention: parameters are counted on the raw vocabulary.
  ModelSpec m = test::tiny_model();
  const int64_t raw = m.total_params();
  m.make_vocab_size_divisible_by = 128 * 7;
  EXPECT_EQ(m.total_params(), raw);
}

}  // namespace
}  // namespace spsim
