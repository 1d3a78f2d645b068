#include "server/memory/scope.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace fast_crewai::memory {
namespace {

TEST(ScopeTest, NormalizeScopePrefix) {
  EXPECT_EQ(NormalizeScopePrefix(""), "");
  EXPECT_EQ(NormalizeScopePrefix("/"), "");
  EXPECT_EQ(NormalizeScopePrefix("///"), "");
  EXPECT_EQ(NormalizeScopePrefix("/a"), "/a");
  EXPECT_EQ(NormalizeScopePrefix("/a/"), "/a");
  EXPECT_EQ(NormalizeScopePrefix("/a/b//"), "/a/b");
  EXPECT_EQ(NormalizeScopePrefix("a/b"), "/a/b");
}

TEST(ScopeTest, NormalizeScope) {
  EXPECT_EQ(NormalizeScope("/"), "/");
  EXPECT_EQ(NormalizeScope("//"), "/");
  EXPECT_EQ(NormalizeScope("/a/"), "/a");
  EXPECT_EQ(NormalizeScope("/a/b"), "/a/b");
}

TEST(ScopeTest, PrefixMatchingIsPathAware) {
  EXPECT_TRUE(ScopeMatchesPrefix("/a", "/a"));
  EXPECT_TRUE(ScopeMatchesPrefix("/a/b", "/a"));
  EXPECT_TRUE(ScopeMatchesPrefix("/a/b/c", "/a/b"));
  EXPECT_FALSE(ScopeMatchesPrefix("/ab", "/a"));
  EXPECT_FALSE(ScopeMatchesPrefix("/a-b", "/a"));
  EXPECT_FALSE(ScopeMatchesPrefix("/a", "/a/b"));
  EXPECT_FALSE(ScopeMatchesPrefix("/", "/a"));
  EXPECT_TRUE(ScopeMatchesPrefix("/", ""));
  EXPECT_TRUE(ScopeMatchesPrefix("/anything", ""));
  // LIKE wildcards are plain characters here.
  EXPECT_FALSE(ScopeMatchesPrefix("/crewXmy", "/crew_my"));
  EXPECT_TRUE(ScopeMatchesPrefix("/crew_my/x", "/crew_my"));
}

TEST(ScopeTest, ImmediateChild) {
  EXPECT_EQ(ImmediateChild("/a/b/c", "/a"), std::optional<std::string>("/a/b"));
  EXPECT_EQ(ImmediateChild("/a/b", "/a"), std::optional<std::string>("/a/b"));
  EXPECT_EQ(ImmediateChild("/a", ""), std::optional<std::string>("/a"));
  EXPECT_EQ(ImmediateChild("/a/b", ""), std::optional<std::string>("/a"));
  EXPECT_EQ(ImmediateChild("/a", "/a"), std::nullopt);
  EXPECT_EQ(ImmediateChild("/ab", "/a"), std::nullopt);
  EXPECT_EQ(ImmediateChild("/", ""), std::nullopt);
  EXPECT_EQ(ImmediateChild("//x", ""), std::nullopt);  // empty component, as CrewAI skips it
}

}  // namespace
}  // namespace fast_crewai::memory
