#include "server/util/errno_text.h"

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fast_crewai {
namespace {

TEST(ErrnoTextTest, KnownValuesHaveTheirSystemText) {
  EXPECT_EQ(ErrnoText(ENOENT), "No such file or directory");
  EXPECT_EQ(ErrnoText(EACCES), "Permission denied");
}

TEST(ErrnoTextTest, UnknownValuesNameTheNumber) {
  EXPECT_NE(ErrnoText(987654).find("987654"), std::string::npos);
  EXPECT_NE(ErrnoText(-3).find("-3"), std::string::npos);
}

TEST(ErrnoTextTest, ThreadsFormattingDifferentValuesEachGetTheirOwn) {
  // With a text buffer shared by threads (what std::strerror may use for unknown values), a
  // thread could read another thread's number.
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &wrong] {
      const int value = 100000 + t;
      for (int i = 0; i < 20000; ++i) {
        if (ErrnoText(value).find(std::to_string(value)) == std::string::npos) ++wrong[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace fast_crewai
