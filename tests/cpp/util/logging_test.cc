#include "server/util/logging.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cpp/testing/status_matchers.h"
#include "tests/cpp/testing/temp_dir.h"

namespace fast_crewai {
namespace {

using ::fast_crewai::testing::IsOk;
using ::fast_crewai::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::SizeIs;

class CapturingSink : public LogSink {
 public:
  void Write(absl::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_;
};

// Installs a CapturingSink and restores the level and sink afterwards.
class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_level_ = GetLogLevel();
    previous_sink_ = SetLogSink(&sink_);
  }
  void TearDown() override {
    SetLogSink(previous_sink_);
    SetLogLevel(saved_level_);
  }

  CapturingSink sink_;
  LogSink* previous_sink_ = nullptr;
  LogLevel saved_level_ = LogLevel::kInfo;
};

TEST(FormatLogLineTest, MatchesTheLogfmtContract) {
  const absl::Time ts = absl::FromUnixMillis(1'795'654'923'123);  // 2026-11-26T01:02:03.123Z
  EXPECT_EQ(FormatLogLine(ts, LogLevel::kInfo, "serving",
                          {{"listen", "127.0.0.1:50051"}, {"port", 50051}, {"auth", "on"}}),
            "ts=2026-11-26T01:02:03.123Z level=info msg=\"serving\" listen=127.0.0.1:50051 "
            "port=50051 auth=on");
}

TEST(FormatLogLineTest, AlwaysPrintsThreeMillisecondDigitsInUtc) {
  EXPECT_THAT(FormatLogLine(absl::FromUnixSeconds(0), LogLevel::kError, "x", {}),
              MatchesRegex("ts=1970-01-01T00:00:00\\.000Z level=error msg=\"x\""));
}

TEST(FormatLogLineTest, QuotesAndEscapesMessagesAndValues) {
  const std::string line =
      FormatLogLine(absl::FromUnixSeconds(0), LogLevel::kWarning, "say \"hi\"\nnow",
                    {{"path", "/a b/c"}, {"empty", ""}, {"eq", "a=b"}, {"tab", "a\tb"}});
  EXPECT_THAT(line, HasSubstr("level=warning msg=\"say \\\"hi\\\"\\nnow\""));
  EXPECT_THAT(line, HasSubstr(" path=\"/a b/c\""));
  EXPECT_THAT(line, HasSubstr(" empty=\"\""));
  EXPECT_THAT(line, HasSubstr(" eq=\"a=b\""));
  EXPECT_THAT(line, HasSubstr(" tab=\"a\\tb\""));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(LogfmtValueTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(LogfmtValue("plain-value_1.2:3/x"), "plain-value_1.2:3/x");
  EXPECT_EQ(LogfmtValue(""), "\"\"");
  EXPECT_EQ(LogfmtValue("two words"), "\"two words\"");
  EXPECT_EQ(LogfmtValue("back\\slash"), "\"back\\\\slash\"");
  EXPECT_EQ(LogfmtValue(std::string("nul\0byte", 8)), "\"nul\\x00byte\"");
}

TEST(ParseLogLevelTest, AcceptsTheFourLevels) {
  EXPECT_THAT(ParseLogLevel("debug"), IsOk());
  EXPECT_EQ(*ParseLogLevel("DEBUG"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("info"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("warning"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_THAT(ParseLogLevel("loud"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "invalid log level \"loud\" (expected debug, info, warning or error)"));
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    EXPECT_EQ(*ParseLogLevel(LogLevelName(level)), level);
  }
}

TEST_F(LoggingTest, DropsLinesBelowTheLevel) {
  SetLogLevel(LogLevel::kWarning);
  LogDebug("d");
  LogInfo("i");
  LogWarning("w", {{"k", 1}});
  LogError("e");
  const std::vector<std::string> lines = sink_.lines();
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[0], MatchesRegex("ts=[0-9T:.-]+Z level=warning msg=\"w\" k=1"));
  EXPECT_THAT(lines[1], HasSubstr("level=error msg=\"e\""));

  SetLogLevel(LogLevel::kDebug);
  LogDebug("d2");
  EXPECT_THAT(sink_.lines(), SizeIs(3));
}

TEST_F(LoggingTest, LinesFromManyThreadsStayWhole) {
  SetLogLevel(LogLevel::kInfo);
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLinesPerThread; ++i) LogInfo("tick", {{"thread", t}, {"i", i}});
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<std::string> lines = sink_.lines();
  ASSERT_THAT(lines, SizeIs(kThreads * kLinesPerThread));
  for (const std::string& line : lines) {
    EXPECT_THAT(line, MatchesRegex("ts=\\S+ level=info msg=\"tick\" thread=[0-3] i=[0-9]+"));
  }
}

TEST_F(LoggingTest, DefaultSinkWritesOneLinePerEventToStderr) {
  SetLogSink(nullptr);  // The stderr sink.
  fast_crewai::testing::TempDir dir;
  const std::string path = dir.path() + "/stderr.txt";
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_NE(std::freopen(path.c_str(), "w", stderr), nullptr);
  LogInfo("to stderr", {{"n", 7}});
  LogError("second");
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  std::vector<std::string> lines;
  for (std::string line; std::getline(contents, line);) lines.push_back(line);
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[0], MatchesRegex("ts=\\S+Z level=info msg=\"to stderr\" n=7"));
  EXPECT_THAT(lines[1], HasSubstr("level=error msg=\"second\""));
}

}  // namespace
}  // namespace fast_crewai
