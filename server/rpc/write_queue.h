// File: write_queue.h
//
// WriteQueue: the outgoing side of a streaming reactor (server-streaming or bidi). Messages
// queued from any thread leave one StartWrite at a time, and Finish is issued exactly once,
// after every message queued before it has been written. The scheduler's WatchRun and
// StreamLeases reactors use it.
//
// Example (inside a reactor, its mutex mu_ held):
//   if (v1::WatchRunResponse* message = writes_.Add(); message != nullptr) {
//     Fill(message);
//     writes_.Pump(this);
//   }
//   ...
//   void OnWriteDone(bool ok) override {
//     absl::MutexLock lock(&mu_);
//     writes_.WriteDone();
//     if (ok) writes_.Pump(this); else { writes_.Clear(); writes_.Finish(this, broken); }
//   }
//
// Thread-safety: none of its own. The reactor guards it with its mutex (ABSL_GUARDED_BY) and
// holds that mutex across every call here, including the StartWrite and Finish they issue.
#ifndef FAST_CREWAI_SERVER_RPC_WRITE_QUEUE_H_
#define FAST_CREWAI_SERVER_RPC_WRITE_QUEUE_H_

#include <grpcpp/support/status.h>

#include <cstddef>
#include <deque>
#include <optional>
#include <utility>

namespace fast_crewai {

template <typename Response>
class WriteQueue {
 public:
  // A new empty message at the back of the queue for the caller to fill (then Pump), or
  // nullptr once a final status is set: nothing more may be written.
  Response* Add() {
    if (final_.has_value()) return nullptr;
    return &pending_.emplace_back();
  }

  // Messages queued and not yet handed to StartWrite.
  size_t size() const { return pending_.size(); }

  // Whether a final status is set (Finish is issued, or will be once the queue drains).
  bool finishing() const { return final_.has_value(); }

  // Drops the messages not yet handed to StartWrite.
  void Clear() { pending_.clear(); }

  // The write handed to StartWrite is done (call from OnWriteDone, then Pump or Finish).
  void WriteDone() { writing_ = false; }

  // Sets the final status (the first one set wins) and issues Finish once the queue drains.
  template <typename Reactor>
  void Finish(Reactor* reactor, grpc::Status status) {
    if (final_.has_value()) return;
    final_ = std::move(status);
    Pump(reactor);
  }

  // Starts the next write when none is in flight, or Finish when the queue has drained and a
  // final status is set.
  template <typename Reactor>
  void Pump(Reactor* reactor) {
    if (writing_ || finish_issued_) return;
    if (!pending_.empty()) {
      current_ = std::move(pending_.front());
      pending_.pop_front();
      writing_ = true;
      reactor->StartWrite(&current_);
      return;
    }
    if (final_.has_value()) {
      finish_issued_ = true;
      reactor->Finish(*final_);
    }
  }

 private:
  std::deque<Response> pending_;
  Response current_;  // the message being written: gRPC reads it until OnWriteDone
  bool writing_ = false;
  std::optional<grpc::Status> final_;
  bool finish_issued_ = false;
};

}  // namespace fast_crewai

#endif  // FAST_CREWAI_SERVER_RPC_WRITE_QUEUE_H_
