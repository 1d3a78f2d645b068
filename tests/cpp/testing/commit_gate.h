// File: commit_gate.h
//
// CommitGate: a store's `before_commit_hook` that holds commits until the test releases them,
// so that a test can queue writes behind a group-commit leader stuck inside its commit.
//
// Example:
//   CommitGate gate;
//   options.before_commit_hook = gate.Hook();
//   std::thread leader([&] { store->Save(...); });   // leads, then waits in the gate
//   gate.WaitUntilHolding();
//   ... queue writes behind it ...
//   gate.Release();
//
// Thread-safety: every method may be called from any thread. The gate must outlive the store's
// last commit.
#ifndef FAST_CREWAI_TESTS_CPP_TESTING_COMMIT_GATE_H_
#define FAST_CREWAI_TESTS_CPP_TESTING_COMMIT_GATE_H_

#include <atomic>
#include <functional>
#include <thread>

namespace fast_crewai::testing {

class CommitGate {
 public:
  // The hook: every commit that arrives before Release() waits in it.
  std::function<void(int)> Hook() {
    return [this](int) {
      if (!closed_.load()) return;
      holding_ = true;
      while (closed_.load()) std::this_thread::yield();
    };
  }

  // Returns once a commit is waiting in the gate.
  void WaitUntilHolding() const {
    while (!holding_.load()) std::this_thread::yield();
  }

  // Lets every held and later commit through.
  void Release() { closed_ = false; }

 private:
  std::atomic<bool> closed_{true};
  std::atomic<bool> holding_{false};
};

}  // namespace fast_crewai::testing

#endif  // FAST_CREWAI_TESTS_CPP_TESTING_COMMIT_GATE_H_
