#include "server/memory/text_index.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fast_crewai::memory {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Tokens(absl::string_view text) {
  std::vector<std::string> out;
  Tokenize(text, &out);
  return out;
}

// Slots ranked by score, best first.
std::vector<uint32_t> Ranked(const TextIndex& index, absl::string_view query) {
  TextIndex::Scores scores = index.Score(query);
  std::sort(scores.hits.begin(), scores.hits.end(), [](const auto& a, const auto& b) {
    return a.score > b.score || (a.score == b.score && a.slot < b.slot);
  });
  std::vector<uint32_t> out;
  for (const auto& hit : scores.hits) out.push_back(hit.slot);
  return out;
}

TEST(TokenizeTest, LowercasesAndSplitsOnNonAlphanumerics) {
  EXPECT_THAT(Tokens("Hello, WORLD! it's 42-ish"),
              ElementsAre("hello", "world", "it", "s", "42", "ish"));
  EXPECT_THAT(Tokens("  \t\n"), ElementsAre());
  EXPECT_THAT(Tokens("snake_case/path.ext"), ElementsAre("snake", "case", "path", "ext"));
}

TEST(TokenizeTest, Utf8Safe) {
  // "Café Ünïcode ΑΒΓ ПРИВЕТ naïve—dash «quoted» 東京"
  EXPECT_THAT(
      Tokens("Caf\xC3\xA9 \xC3\x9Cn\xC3\xAF"
             "code \xCE\x91\xCE\x92\xCE\x93 "
             "\xD0\x9F\xD0\xA0\xD0\x98\xD0\x92\xD0\x95\xD0\xA2 "
             "na\xC3\xAFve\xE2\x80\x94"
             "dash \xC2\xABquoted\xC2\xBB \xE6\x9D\xB1\xE4\xBA\xAC"),
      ElementsAre("caf\xC3\xA9",
                  "\xC3\xBCn\xC3\xAF"
                  "code",
                  "\xCE\xB1\xCE\xB2\xCE\xB3", "\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
                  "na\xC3\xAFve", "dash", "quoted", "\xE6\x9D\xB1\xE4\xBA\xAC"));
}

TEST(TextIndexTest, QueryTermInOneDocumentRanksItFirst) {
  TextIndex index;
  index.Add(0, "the cat sat on the mat");
  index.Add(1, "the dog chased the ball");
  index.Add(2, "a bird sang in the tree");
  EXPECT_THAT(Ranked(index, "dog"), ElementsAre(1u));
  EXPECT_EQ(Ranked(index, "Dog!").front(), 1u);
  EXPECT_TRUE(index.Score("elephant").hits.empty());
  EXPECT_TRUE(index.Score("").hits.empty());
  EXPECT_EQ(index.Score("").upper_bound, 0.0);
}

TEST(TextIndexTest, RareTermsWeighMore) {
  TextIndex index;
  // "common" is in every document, "rare" in one.
  index.Add(0, "common words here");
  index.Add(1, "common rare words");
  index.Add(2, "common text again");
  index.Add(3, "common common stuff");
  const std::vector<uint32_t> ranked = Ranked(index, "rare common");
  ASSERT_EQ(ranked.size(), 4u);
  EXPECT_EQ(ranked.front(), 1u);
  // The idf of a term in every document is small but positive.
  TextIndex::Scores only_common = index.Score("common");
  EXPECT_EQ(only_common.hits.size(), 4u);
  for (const auto& hit : only_common.hits) EXPECT_GT(hit.score, 0.0);
}

TEST(TextIndexTest, ShorterDocumentWinsAtEqualFrequency) {
  TextIndex index;
  index.Add(0, "apple banana cherry date elderberry fig grape");
  index.Add(1, "apple kiwi");
  index.Add(2, "nothing related");
  EXPECT_THAT(Ranked(index, "apple"), ElementsAre(1u, 0u));
}

TEST(TextIndexTest, ScoresStayBelowTheUpperBound) {
  TextIndex index;
  index.Add(0, std::string(20000, 'x').replace(0, 0, "word ") + " word word word");
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "word ";
  index.Add(1, many);
  index.Add(2, "other");
  const TextIndex::Scores scores = index.Score("word missing");
  ASSERT_FALSE(scores.hits.empty());
  for (const auto& hit : scores.hits) {
    EXPECT_GT(hit.score, 0.0);
    EXPECT_LT(hit.score / scores.upper_bound, 1.0);
  }
}

TEST(TextIndexTest, RemoveAndReAddUpdateStatistics) {
  TextIndex index;
  index.Add(0, "alpha beta");
  index.Add(1, "alpha gamma");
  EXPECT_EQ(index.num_docs(), 2u);
  index.Remove(0);
  EXPECT_EQ(index.num_docs(), 1u);
  EXPECT_THAT(Ranked(index, "beta"), ElementsAre());
  EXPECT_THAT(Ranked(index, "alpha"), ElementsAre(1u));
  index.Add(0, "delta");  // the slot is reused by another document
  EXPECT_THAT(Ranked(index, "alpha"), ElementsAre(1u));
  EXPECT_THAT(Ranked(index, "delta"), ElementsAre(0u));
  index.Remove(7);  // no document there: no-op
  // Many removals trigger posting compaction; results stay right.
  for (uint32_t slot = 10; slot < 200; ++slot) index.Add(slot, "alpha filler");
  for (uint32_t slot = 10; slot < 199; ++slot) index.Remove(slot);
  EXPECT_THAT(Ranked(index, "filler"), ElementsAre(199u));
  index.Clear();
  EXPECT_EQ(index.num_docs(), 0u);
  EXPECT_TRUE(index.Score("alpha").hits.empty());
}

}  // namespace
}  // namespace fast_crewai::memory
