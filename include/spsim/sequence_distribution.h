// Variable-length batches: a training step whose sequences are packed from documents of many
// lengths (Megatron GPTDataset: documents concatenated and cut into seq_length samples; TE/flash
// varlen kernels with a per-document causal mask, Megatron --reset-attention-mask / THD format).
// Attention then costs the sum over documents of each one's causal triangle, not one s x s
// triangle, and how that work lands on the context-parallel ranks depends on how the scheme splits
// the tokens: Ulysses and Megatron TP split heads (every rank sees every token: balanced), a ring
// splits tokens (zigzag balances one document's triangle, not many short ones).
#ifndef SPSIM_SEQUENCE_DISTRIBUTION_H_
#define SPSIM_SEQUENCE_DISTRIBUTION_H_

#include <cstdint>
#include <string>
#include <vector>

namespace spsim {

/// Document lengths in tokens, in the order the data loader reads them.
struct SequenceDistribution {
  std::string source;                 // the file, as given (reports and job JSON name it)
  std::vector<int64_t> doc_lengths;   // each >= 1
  int64_t total_tokens() const;
};

/// Reads a lengths file: one positive integer per line (a document's tokens); blank lines and
/// lines starting with '#' are skipped. InputError naming `flag`, the file and the line otherwise.
SequenceDistribution load_sequence_distribution(const std::string& path, const std::string& flag);
/// The same from text already read (`source` names it in messages).
SequenceDistribution parse_sequence_distribution(const std::string& text, const std::string& source,
                                                 const std::string& flag);

/// Megatron GPTDataset's packing: the documents concatenated in order and cut into samples of
/// `seq_length` tokens (a document crossing a cut is split; the last partial sample is dropped, as
/// Megatron drops it). Each sample is the list of its document pieces' lengths, summing to
/// seq_length. InputError naming `flag` when the documents do not fill one sample.
std::vector<std::vector<int64_t>> pack_documents(const SequenceDistribution& dist, int64_t seq_length,
                                                 const std::string& flag);

/// How a scheme assigns a sample's query tokens to the ranks that split its attention.
enum class TokenSplit {
  kHeads,       // every rank holds every token (Ulysses, Megatron TP/SP): heads are split
  kContiguous,  // rank i holds tokens [i c, (i+1) c), c = s/r (basic ring, ColAI-SP)
  kZigzag,      // 2r chunks, rank i holds chunks i and 2r-1-i (Megatron CP, Llama-3 all-gather CP)
  kStripe,      // round-robin tokens, rank i holds i, i+r, ... (striped attention)
};
const char* to_string(TokenSplit split);

/// Attention work (query-key pairs computed) of each of `ranks` ranks for one sample of document
/// pieces `docs` under a per-document mask: a causal query at position p of its document sees p+1
/// keys, a bidirectional one the whole document. kHeads: every rank's entry is the sample's total.
std::vector<double> rank_attention_work(const std::vector<int64_t>& docs, int64_t ranks,
                                        TokenSplit split, bool causal);

/// A distribution's attention load on the ranks of one split, over its packed samples.
struct VarlenBalance {
  int64_t documents = 0;
  int64_t samples = 0;              // packed samples of seq_length
  double mean_doc_length = 0;
  /// Sum over a sample's documents of their attention pairs / the pairs of one document filling
  /// the sample (causal: ~sum d_i^2 / s^2), averaged over samples.
  double work_fraction = 1;
  /// Busiest rank / mean rank attention work, averaged over samples (1 = balanced).
  double imbalance = 1;
  /// Busiest rank's work / the busiest rank's work for one document filling the sample, averaged
  /// over samples: the factor on the lowered step's attention FLOP (every rank waits for the
  /// busiest in each ring step or collective).
  double work_scale = 1;
};
VarlenBalance varlen_balance(const SequenceDistribution& dist, int64_t seq_length, int64_t ranks,
                             TokenSplit split, bool causal);

}  // namespace spsim

#endif  // SPSIM_SEQUENCE_DISTRIBUTION_H_
