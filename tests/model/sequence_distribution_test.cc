// Variable-length batches: the lengths file, Megatron's packing and the per-rank attention work
// of each token split, against hand-counted query-key pairs (causal: position p sees p+1 keys).
#include <fstream>
#include <vector>

#include "spsim/error.h"
#include "spsim/sequence_distribution.h"
#include "test_util.h"

namespace spsim {
namespace {

SequenceDistribution dist(std::vector<int64_t> lengths) {
  SequenceDistribution d;
  d.source = "test";
  d.doc_lengths = std::move(lengths);
  return d;
}

TEST(SequenceDistribution, ParsesLengthsSkippingCommentsAndBlanks) {
  const auto d = parse_sequence_distribution("# docs\n4\n\n 12 \r\n3", "f.txt", "--seq-dist");
  EXPECT_EQ(d.doc_lengths, (std::vector<int64_t>{4, 12, 3}));
  EXPECT_EQ(d.total_tokens(), 19);
}

TEST(SequenceDistribution, BadLinesNameFileAndLine) {
  for (const char* text : {"4\nabc\n", "4\n0\n", "4\n-3\n", "4\n2.5\n"}) {
    try {
      parse_sequence_distribution(text, "f.txt", "--seq-dist");
      FAIL() << text;
    } catch (const InputError& e) {
      EXPECT_NE(e.full().find("f.txt:2:"), std::string::npos) << e.full();
      EXPECT_NE(e.full().find("--seq-dist"), std::string::npos) << e.full();
    }
  }
  EXPECT_THROW(parse_sequence_distribution("# nothing\n\n", "f.txt", "--seq-dist"), InputError);
}

TEST(SequenceDistribution, PacksLikeMegatronConcatenateAndCut) {
  // 3 + 7 + 2 + 9 = 21 tokens into samples of 8: [3 5] [2 2 4] and 5 tokens left over (dropped).
  const auto samples = pack_documents(dist({3, 7, 2, 9}), 8, "--seq-dist");
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0], (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(samples[1], (std::vector<int64_t>{2, 2, 4}));
  EXPECT_THROW(pack_documents(dist({3, 4}), 8, "--seq-dist"), InputError);  // not one sample
}

TEST(SequenceDistribution, ZigzagByHand) {
  // s = 8, r = 2: chunks of 2, rank 0 holds positions 0,1,6,7 and rank 1 positions 2..5.
  // One document: rank 0 = 1+2+7+8 = 18, rank 1 = 3+4+5+6 = 18 (balanced).
  EXPECT_EQ(rank_attention_work({8}, 2, TokenSplit::kZigzag, true), (std::vector<double>{18, 18}));
  // Documents [4, 4]: rank 0 = (1+2) + (3+4) = 10, rank 1 = (3+4) + (1+2) = 10.
  EXPECT_EQ(rank_attention_work({4, 4}, 2, TokenSplit::kZigzag, true), (std::vector<double>{10, 10}));
  // Documents [2, 6]: rank 0 = (1+2) + (5+6) = 14, rank 1 = 1+2+3+4 = 10: zigzag does not balance them.
  EXPECT_EQ(rank_attention_work({2, 6}, 2, TokenSplit::kZigzag, true), (std::vector<double>{14, 10}));
}

TEST(SequenceDistribution, ContiguousStripeHeadsByHand) {
  // Basic ring, one document of 8 over 2: 1+2+3+4 = 10 and 5+6+7+8 = 26; documents [4, 4]: 10 and 10.
  EXPECT_EQ(rank_attention_work({8}, 2, TokenSplit::kContiguous, true), (std::vector<double>{10, 26}));
  EXPECT_EQ(rank_attention_work({4, 4}, 2, TokenSplit::kContiguous, true), (std::vector<double>{10, 10}));
  // Stripe: rank 0 positions 0,2,4,6 = 1+3+5+7 = 16, rank 1 = 2+4+6+8 = 20. Documents [3, 5]:
  // rank 0 holds doc A p 0,2 (1+3) and doc B p 1,3 (2+4) = 10; rank 1 A p 1 (2), B p 0,2,4 (1+3+5) = 11.
  EXPECT_EQ(rank_attention_work({8}, 2, TokenSplit::kStripe, true), (std::vector<double>{16, 20}));
  EXPECT_EQ(rank_attention_work({3, 5}, 2, TokenSplit::kStripe, true), (std::vector<double>{10, 11}));
  // Heads split: every rank does the sample's whole work, 6 + 15 = 21 for [3, 5].
  EXPECT_EQ(rank_attention_work({3, 5}, 4, TokenSplit::kHeads, true), (std::vector<double>(4, 21.0)));
  // Bidirectional per-document mask: each query sees its whole document: 3*3 + 5*5 = 34.
  EXPECT_EQ(rank_attention_work({3, 5}, 1, TokenSplit::kHeads, false), (std::vector<double>{34}));
  // ... and split zigzag over 2 (chunks of 2): rank 0 = A p0,1 (2x3) + B p3,4 (2x5) = 16; rank 1 = 18.
  EXPECT_EQ(rank_attention_work({3, 5}, 2, TokenSplit::kZigzag, false), (std::vector<double>{16, 18}));
}

TEST(SequenceDistribution, BalanceAveragesOverSamples) {
  // Samples of 8 from [2, 6, 4, 4]: [2 6] and [4 4]. Zigzag over 2, one document's busiest = 18.
  const auto v = varlen_balance(dist({2, 6, 4, 4}), 8, 2, TokenSplit::kZigzag, true);
  EXPECT_EQ(v.samples, 2);
  EXPECT_EQ(v.documents, 4);
  EXPECT_DOUBLE_EQ(v.mean_doc_length, 4.0);
  // Pairs: [2 6] 3 + 21 = 24, [4 4] 20, of 36: mean (24/36 + 20/36) / 2.
  EXPECT_DOUBLE_EQ(v.work_fraction, (24.0 / 36 + 20.0 / 36) / 2);
  // Busiest / mean: 14/12 and 10/10.
  EXPECT_DOUBLE_EQ(v.imbalance, (14.0 / 12 + 1.0) / 2);
  // Busiest / 18: 14/18 and 10/18.
  EXPECT_DOUBLE_EQ(v.work_scale, (14.0 / 18 + 10.0 / 18) / 2);
  // One document per sample: every factor is 1, whatever the split.
  for (TokenSplit split : {TokenSplit::kHeads, TokenSplit::kContiguous, TokenSplit::kZigzag, TokenSplit::kStripe}) {
    const auto one = varlen_balance(dist({16, 16}), 16, 4, split, true);
    EXPECT_DOUBLE_EQ(one.work_fraction, 1.0) << to_string(split);
    EXPECT_DOUBLE_EQ(one.work_scale, 1.0) << to_string(split);
  }
}

TEST(SequenceDistribution, LoadsAFile) {
  const std::string dir = test::temp_dir("seqdist");
  const std::string path = dir + "/lengths.txt";
  std::ofstream(path) << "100\n200\n";
  EXPECT_EQ(load_sequence_distribution(path, "--seq-dist").doc_lengths, (std::vector<int64_t>{100, 200}));
  EXPECT_THROW(load_sequence_distribution(dir + "/missing.txt", "--seq-dist"), InputError);
}

}  // namespace
}  // namespace spsim
