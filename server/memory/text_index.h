// File: text_index.h
//
// An in-memory inverted index over record content, scored with Okapi BM25, for searches
// that have text but no embedding.
//
// Tokenizer: the text is split into maximal runs of "word" code points and each run is
// lowercased. Word code points are ASCII letters and digits and every non-ASCII code point
// except common punctuation and spaces (U+0080..U+00BF, U+00D7, U+00F7, U+2000..U+206F,
// U+2E00..U+2E7F, U+3000..U+303F, U+FE30..U+FE4F, U+FF00..U+FF0F, U+FF1A..U+FF20,
// U+FF3B..U+FF40, U+FF5B..U+FF65). Lowercasing covers ASCII, Latin-1, Greek and Cyrillic
// capitals; other scripts are kept as they are. Text without spaces (CJK) becomes one token
// per run; there is no stemming and no stop-word list.
//
// Scoring (per unique query term t, summed over the query):
//   idf(t)  = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))        (always > 0)
//   bm25    = sum_t idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))
// with k1 = 1.2, b = 0.75, N the number of documents in the namespace, df(t) the number of
// documents containing t, tf the count of t in the document, len its token count.
// Statistics are namespace-wide (not restricted to a search filter).
//
// Thread-safety: none; the owner (NamespaceIndex) serialises access.
#ifndef FAST_CREWAI_SERVER_MEMORY_TEXT_INDEX_H_
#define FAST_CREWAI_SERVER_MEMORY_TEXT_INDEX_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace fast_crewai::memory {

inline constexpr double kBm25K1 = 1.2;
inline constexpr double kBm25B = 0.75;

// Splits `text` (valid UTF-8) into lowercased tokens, appended to `tokens`.
void Tokenize(absl::string_view text, std::vector<std::string>* tokens);

class TextIndex {
 public:
  struct Hit {
    uint32_t slot;
    double score;  // raw BM25, > 0
  };
  struct Scores {
    // Every document containing at least one query term, in no particular order.
    std::vector<Hit> hits;
    // sum over the unique query terms of idf(t) * (k1 + 1): a strict upper bound of any
    // document's score, used to normalise into [0, 1). 0 when the query has no token.
    double upper_bound = 0;
  };

  // Indexes `content` as the document in `slot`. REQUIRES: the slot holds no document.
  void Add(uint32_t slot, absl::string_view content);
  // Removes the document in `slot`. No-op when it holds none.
  void Remove(uint32_t slot);
  void Clear();

  // Scores every document against `query`.
  Scores Score(absl::string_view query) const;

  size_t num_docs() const { return num_docs_; }

 private:
  struct Posting {
    uint32_t slot;
    uint32_t generation;  // stale when != docs_[slot].generation or the doc is gone
    uint32_t tf;
  };
  struct Term {
    std::vector<Posting> postings;
    uint32_t df = 0;     // live documents containing the term
    uint32_t stale = 0;  // postings left behind by removed documents
  };
  struct Doc {
    bool live = false;
    uint32_t generation = 0;
    uint32_t length = 0;
    std::vector<uint32_t> terms;  // unique term ids, for Remove
  };

  bool IsLive(const Posting& p) const {
    return p.slot < docs_.size() && docs_[p.slot].live && docs_[p.slot].generation == p.generation;
  }
  double Idf(uint32_t df) const;

  absl::flat_hash_map<std::string, uint32_t> term_ids_;
  std::vector<Term> terms_;
  std::vector<Doc> docs_;  // indexed by slot
  uint64_t total_length_ = 0;
  size_t num_docs_ = 0;
};

}  // namespace fast_crewai::memory

#endif  // FAST_CREWAI_SERVER_MEMORY_TEXT_INDEX_H_
