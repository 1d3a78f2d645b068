// File: temp_dir.h
//
// TempDir: a fresh directory under $TEST_TMPDIR or /tmp, removed with its contents when the
// object goes out of scope.
//
// Example:
//   TempDir dir;
//   std::string db = dir.path() + "/memory.db";
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_TEMP_DIR_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_TEMP_DIR_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace fast_crewai::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string templ =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/fast_crewai_test.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp(" << templ << ") failed";
    }
    path_ = templ;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    // Make read-only subdirectories removable again before deleting.
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ignored);
         it != std::filesystem::recursive_directory_iterator(); it.increment(ignored)) {
      if (it->is_directory(ignored)) {
        std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ignored);
      }
    }
    std::filesystem::remove_all(path_, ignored);
  }

  // Absolute path, no trailing slash.
  const std::string& path() const { return path_; }

  // Writes `contents` to `path()/relative` (creating parent directories) and returns the full
  // path.
  std::string WriteFile(absl::string_view relative, absl::string_view contents) const {
    std::filesystem::path full = std::filesystem::path(path_) / std::string(relative);
    std::filesystem::create_directories(full.parent_path());
    std::ofstream out(full, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    return full.string();
  }

 private:
  std::string path_;
};

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_TEMP_DIR_H_
