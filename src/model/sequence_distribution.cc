// Document-length distributions, Megatron's packing and the per-rank attention work of a packed
// sample under a per-document mask (see include/spsim/sequence_distribution.h).
#include "spsim/sequence_distribution.h"

#include <algorithm>
#include <charconv>
#include <numeric>

#include <fmt/format.h>

#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/limits.h"

namespace spsim {

int64_t SequenceDistribution::total_tokens() const {
  return std::accumulate(doc_lengths.begin(), doc_lengths.end(), int64_t{0});
}

SequenceDistribution parse_sequence_distribution(const std::string& text, const std::string& source,
                                                 const std::string& flag) {
  SequenceDistribution dist;
  dist.source = source;
  size_t begin = 0;
  int64_t line_number = 0;
  int64_t total = 0;
  while (begin <= text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') {
      if (end == text.size()) break;
      continue;
    }
    const auto last = line.find_last_not_of(" \t\r");
    const std::string word = line.substr(first, last - first + 1);
    int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (ec != std::errc() || ptr != word.data() + word.size() || value < 1 || value > kMaxSeqLength) {
      throw InputError(flag, fmt::format("{}:{}: \"{}\" is not a document length; each line must be one "
                                         "whole number of tokens from 1 to {} (or a # comment)",
                                         source, line_number, word, kMaxSeqLength));
    }
    total += value;
    if (total > kMaxSeqLength * int64_t{1024}) {
      throw InputError(flag, fmt::format("{}: the documents total more than {} tokens; give a sample of "
                                         "the distribution (a few thousand lengths is plenty)",
                                         source, kMaxSeqLength * int64_t{1024}));
    }
    dist.doc_lengths.push_back(value);
    if (end == text.size()) break;
  }
  if (dist.doc_lengths.empty()) {
    throw InputError(flag, fmt::format("{}: no document lengths; give one whole number of tokens per line",
                                       source));
  }
  return dist;
}

SequenceDistribution load_sequence_distribution(const std::string& path, const std::string& flag) {
  if (path.empty()) throw InputError(flag, "an empty path; give a file of document lengths, one per line");
  return parse_sequence_distribution(detail::read_file(path), path, flag);
}

std::vector<std::vector<int64_t>> pack_documents(const SequenceDistribution& dist, int64_t seq_length,
                                                 const std::string& flag) {
  if (seq_length < 1) throw InputError(flag, "the sequence length must be at least 1");
  if (dist.total_tokens() < seq_length) {
    throw InputError(flag, fmt::format("{}: the documents total {} tokens, less than one sequence of {}; "
                                       "give a shorter --seq or more lengths",
                                       dist.source, dist.total_tokens(), seq_length));
  }
  // Bounded work: the samples are each walked once per plan.
  constexpr int64_t kMaxSamples = int64_t{1} << 20;
  if (dist.total_tokens() / seq_length > kMaxSamples) {
    throw InputError(flag, fmt::format("{}: the documents fill more than {} samples of {} tokens; give "
                                       "fewer lengths (a sample of the distribution)",
                                       dist.source, kMaxSamples, seq_length));
  }
  std::vector<std::vector<int64_t>> samples;
  std::vector<int64_t> current;
  int64_t room = seq_length;
  for (int64_t length : dist.doc_lengths) {
    int64_t left = length;
    while (left > 0) {
      const int64_t piece = std::min(left, room);
      current.push_back(piece);
      left -= piece;
      room -= piece;
      if (room == 0) {
        samples.push_back(std::move(current));
        current.clear();
        room = seq_length;
      }
    }
  }
  return samples;  // a partial last sample is dropped
}

const char* to_string(TokenSplit split) {
  switch (split) {
    case TokenSplit::kHeads: return "heads";
    case TokenSplit::kContiguous: return "contiguous";
    case TokenSplit::kZigzag: return "zigzag";
    case TokenSplit::kStripe: return "stripe";
  }
  return "?";
}

namespace {

// Pairs of the queries at positions [a, b) of a document of `length` tokens.
double pairs(int64_t a, int64_t b, int64_t length, bool causal) {
  const double x = static_cast<double>(a), y = static_cast<double>(b);
  if (!causal) return (y - x) * static_cast<double>(length);
  return (y * (y + 1) - x * (x + 1)) / 2;  // sum of p + 1 for p in [a, b)
}

}  // namespace

std::vector<double> rank_attention_work(const std::vector<int64_t>& docs, int64_t ranks, TokenSplit split,
                                        bool causal) {
  const int64_t r = std::max<int64_t>(1, ranks);
  std::vector<double> work(static_cast<size_t>(r), 0.0);
  const int64_t s = std::accumulate(docs.begin(), docs.end(), int64_t{0});
  if (split == TokenSplit::kHeads || r == 1) {
    double total = 0;
    for (int64_t d : docs) total += pairs(0, d, d, causal);
    std::fill(work.begin(), work.end(), total);
    return work;
  }
  if (split == TokenSplit::kStripe) {
    // Rank i holds the positions o + p = i (mod r) of a document at offset o.
    int64_t offset = 0;
    for (int64_t d : docs) {
      for (int64_t i = 0; i < r; ++i) {
        const int64_t p0 = ((i - offset) % r + r) % r;
        if (p0 >= d) continue;
        const double n = static_cast<double>((d - 1 - p0) / r + 1);
        work[static_cast<size_t>(i)] +=
            causal ? n * static_cast<double>(p0 + 1) + static_cast<double>(r) * n * (n - 1) / 2
                   : n * static_cast<double>(d);
      }
      offset += d;
    }
    return work;
  }
  // Contiguous (r chunks) or zigzag (2r chunks, chunk k on rank k or 2r-1-k): chunk boundaries
  // k s / chunks, intersected with the documents in one pass.
  const int64_t chunks = split == TokenSplit::kZigzag ? 2 * r : r;
  auto owner = [&](int64_t k) { return split == TokenSplit::kZigzag && k >= r ? 2 * r - 1 - k : k; };
  size_t doc = 0;
  int64_t doc_start = 0;
  for (int64_t k = 0; k < chunks && doc < docs.size(); ++k) {
    const int64_t chunk_begin = k * s / chunks, chunk_end = (k + 1) * s / chunks;
    int64_t pos = chunk_begin;
    while (pos < chunk_end && doc < docs.size()) {
      const int64_t doc_end = doc_start + docs[doc];
      const int64_t stop = std::min(chunk_end, doc_end);
      work[static_cast<size_t>(owner(k))] += pairs(pos - doc_start, stop - doc_start, docs[doc], causal);
      pos = stop;
      if (pos == doc_end) {
        doc_start = doc_end;
        ++doc;
      }
    }
  }
  return work;
}

VarlenBalance varlen_balance(const SequenceDistribution& dist, int64_t seq_length, int64_t ranks,
                             TokenSplit split, bool causal) {
  const auto samples = pack_documents(dist, seq_length, "seq_dist");
  const std::vector<double> whole = rank_attention_work({seq_length}, ranks, split, causal);
  const double whole_max = *std::max_element(whole.begin(), whole.end());
  const double whole_total = split == TokenSplit::kHeads ? whole.front()
                                                         : std::accumulate(whole.begin(), whole.end(), 0.0);
  VarlenBalance out;
  out.documents = static_cast<int64_t>(dist.doc_lengths.size());
  out.samples = static_cast<int64_t>(samples.size());
  out.mean_doc_length = static_cast<double>(dist.total_tokens()) / static_cast<double>(out.documents);
  double fraction = 0, imbalance = 0, scale = 0;
  for (const auto& docs : samples) {
    const std::vector<double> work = rank_attention_work(docs, ranks, split, causal);
    const double busiest = *std::max_element(work.begin(), work.end());
    const double total = split == TokenSplit::kHeads ? work.front()
                                                     : std::accumulate(work.begin(), work.end(), 0.0);
    const double mean = split == TokenSplit::kHeads ? total : total / static_cast<double>(work.size());
    fraction += total / whole_total;
    imbalance += mean > 0 ? busiest / mean : 1.0;
    scale += busiest / whole_max;
  }
  const double n = static_cast<double>(samples.size());
  out.work_fraction = fraction / n;
  out.imbalance = imbalance / n;
  out.work_scale = scale / n;
  return out;
}

}  // namespace spsim
