#include "server/memory/text_index.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/memory/utf8.h"

namespace fast_crewai::memory {
namespace {

bool IsSeparator(char32_t cp) {
  if (cp < 0x80) {
    return !((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9'));
  }
  return (cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x206F) ||
         (cp >= 0x2E00 && cp <= 0x2E7F) || (cp >= 0x3000 && cp <= 0x303F) ||
         (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF0F) ||
         (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
         (cp >= 0xFF5B && cp <= 0xFF65);
}

char32_t ToLower(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0x80) return cp;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;     // Latin-1
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;  // Greek
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;                 // Cyrillic
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;                 // Cyrillic Ѐ..Џ
  return cp;
}

}  // namespace

void Tokenize(absl::string_view text, std::vector<std::string>* tokens) {
  std::string current;
  size_t pos = 0;
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (c < 0x80) {  // fast path
      ++pos;
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        current.push_back(static_cast<char>(c));
      } else if (c >= 'A' && c <= 'Z') {
        current.push_back(static_cast<char>(c + 32));
      } else if (!current.empty()) {
        tokens->push_back(std::move(current));
        current.clear();
      }
      continue;
    }
    const char32_t cp = DecodeUtf8(text, &pos);
    if (IsSeparator(cp)) {
      if (!current.empty()) {
        tokens->push_back(std::move(current));
        current.clear();
      }
    } else {
      AppendUtf8(ToLower(cp), &current);
    }
  }
  if (!current.empty()) tokens->push_back(std::move(current));
}

double TextIndex::Idf(uint32_t df) const {
  const double n = static_cast<double>(num_docs_);
  return std::log(1.0 + (n - df + 0.5) / (df + 0.5));
}

void TextIndex::Add(uint32_t slot, absl::string_view content) {
  if (slot >= docs_.size()) docs_.resize(slot + 1);
  Doc& doc = docs_[slot];
  std::vector<std::string> tokens;
  Tokenize(content, &tokens);
  absl::flat_hash_map<uint32_t, uint32_t> tf;
  for (std::string& token : tokens) {
    auto [it, inserted] = term_ids_.try_emplace(std::move(token), terms_.size());
    if (inserted) terms_.emplace_back();
    ++tf[it->second];
  }
  doc.live = true;
  doc.length = static_cast<uint32_t>(tokens.size());
  doc.terms.clear();
  doc.terms.reserve(tf.size());
  for (const auto& [term, count] : tf) {
    terms_[term].postings.push_back(Posting{slot, doc.generation, count});
    ++terms_[term].df;
    doc.terms.push_back(term);
  }
  total_length_ += doc.length;
  ++num_docs_;
}

void TextIndex::Remove(uint32_t slot) {
  if (slot >= docs_.size() || !docs_[slot].live) return;
  Doc& doc = docs_[slot];
  doc.live = false;
  ++doc.generation;
  total_length_ -= doc.length;
  --num_docs_;
  for (const uint32_t term_id : doc.terms) {
    Term& term = terms_[term_id];
    --term.df;
    ++term.stale;
    // Compact once half of the postings are stale: amortised O(1) per removal.
    if (term.stale > 16 && term.stale * 2 > term.postings.size()) {
      term.postings.erase(std::remove_if(term.postings.begin(), term.postings.end(),
                                         [this](const Posting& p) { return !IsLive(p); }),
                          term.postings.end());
      term.stale = 0;
    }
  }
  doc.terms.clear();
  doc.terms.shrink_to_fit();
}

void TextIndex::Clear() {
  term_ids_.clear();
  terms_.clear();
  docs_.clear();
  total_length_ = 0;
  num_docs_ = 0;
}

TextIndex::Scores TextIndex::Score(absl::string_view query) const {
  Scores out;
  std::vector<std::string> tokens;
  Tokenize(query, &tokens);
  absl::flat_hash_set<std::string> unique(tokens.begin(), tokens.end());
  if (unique.empty()) return out;
  // Terms absent from the index have df = 0: they count in the bound (a query whose words
  // are missing scores lower) but match nothing.
  const double avg_len =
      num_docs_ == 0 ? 1.0 : std::max(1.0, static_cast<double>(total_length_) / num_docs_);
  std::vector<double> acc;
  std::vector<uint32_t> touched;
  for (const std::string& token : unique) {
    auto it = term_ids_.find(token);
    const uint32_t df = it == term_ids_.end() ? 0 : terms_[it->second].df;
    const double idf = Idf(df);
    out.upper_bound += idf * (kBm25K1 + 1);
    if (df == 0) continue;
    if (acc.empty()) acc.assign(docs_.size(), 0.0);
    for (const Posting& p : terms_[it->second].postings) {
      if (!IsLive(p)) continue;
      const double len_norm = 1 - kBm25B + kBm25B * docs_[p.slot].length / avg_len;
      const double s = idf * p.tf * (kBm25K1 + 1) / (p.tf + kBm25K1 * len_norm);
      if (acc[p.slot] == 0.0) touched.push_back(p.slot);
      acc[p.slot] += s;
    }
  }
  out.hits.reserve(touched.size());
  for (const uint32_t slot : touched) out.hits.push_back(Hit{slot, acc[slot]});
  return out;
}

}  // namespace fast_crewai::memory
