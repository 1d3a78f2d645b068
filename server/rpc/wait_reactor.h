// File: wait_reactor.h
//
// The reactor of a unary call that may park in a core until the core calls back (a long poll:
// the cache's Get waiting for a claimer, the scheduler's LeaseNodes waiting for a ready node).
// No server thread waits. Exactly one of two things finishes the call: the core's callback
// (the subclass calls MarkFinished() and then Finish()), or a cancellation that the core
// confirms (CancelWait returns true: the callback will not run). The reactor deletes itself in
// OnDone, always the last reaction.
//
// Example (a subclass constructor):
//   const uint64_t wait_id = core_->Wait(query, [this](absl::StatusOr<R> r) { Complete(r); });
//   Registered(wait_id);
// with Complete() calling MarkFinished() before it fills the response and calls Finish().
#ifndef FAST_CREWAI_SERVER_RPC_WAIT_REACTOR_H_
#define FAST_CREWAI_SERVER_RPC_WAIT_REACTOR_H_

#include <grpcpp/support/server_callback.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace fast_crewai {

class WaitReactor : public grpc::ServerUnaryReactor {
 public:
  void OnCancel() final {
    uint64_t wait_id = 0;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (finished_) return;
      wait_id = wait_id_;
    }
    if (wait_id != 0) CancelNow(wait_id);
  }

  void OnDone() final { delete this; }

 protected:
  // `cancelled_message` is the status message of a call cancelled while it waited.
  explicit WaitReactor(std::string cancelled_message)
      : cancelled_message_(std::move(cancelled_message)) {}
  ~WaitReactor() override = default;

  // Asks the core to drop wait `wait_id`; true when it did (its callback will never run).
  virtual bool CancelWait(uint64_t wait_id) = 0;

  // Called by the subclass constructor, still inside the handler, with the id the core gave
  // the wait (0: nothing to cancel, the callback ran or will run). OnDone cannot run before the
  // handler returns, so `this` stays valid here even if the callback finished the call on
  // another thread meanwhile. A cancellation that came first is carried out now.
  void Registered(uint64_t wait_id) {
    bool cancel = false;
    {
      absl::MutexLock lock(&mu_);
      if (!finished_ && wait_id != 0) {
        wait_id_ = wait_id;
        cancel = cancelled_;
      }
    }
    if (cancel) CancelNow(wait_id);
  }

  // Called by the core's callback before it finishes the call.
  void MarkFinished() {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }

 private:
  void CancelNow(uint64_t wait_id) {
    if (CancelWait(wait_id)) {
      MarkFinished();
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, cancelled_message_));
    }
  }

  const std::string cancelled_message_;
  absl::Mutex mu_;
  uint64_t wait_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_WAIT_REACTOR_H_
