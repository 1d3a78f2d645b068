// File: group_commit.h
//
// GroupCommitQueue: leader-based group commit (leveldb's writers_ queue) for a store with one
// SQLite writer. Writers queue up; the writer at the head of the queue becomes the leader,
// takes every queued writer (up to max_group_size), lets the store commit them in one
// transaction (one fsync), then marks them done and wakes them together. The queue owns no
// thread: leaders are the callers themselves, so tests stay deterministic.
//
// W is the store's writer type; it must have `absl::Status status` and `bool done` (written
// only by the queue, under its mutex) and live on the caller's stack until Submit returns.
//
// Example:
//   absl::Status Store::Write(Writer* w) {
//     return writers_.Submit(w, Closed(), [this](const std::vector<Writer*>& group) {
//       absl::MutexLock leader(&leader_mu_);
//       ProcessGroup(group);  // sets each member's status; must not throw
//     });
//   }
//
// Thread-safety: Submit, CloseAndDrain and pending() are safe to call from any thread.
#ifndef FAST_CREWAI_SERVER_PERSISTENCE_GROUP_COMMIT_H_
#define FAST_CREWAI_SERVER_PERSISTENCE_GROUP_COMMIT_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace fast_crewai::persistence {

template <typename W>
class GroupCommitQueue {
 public:
  // At most `max_group_size` writers share one group (values below 1 mean 1).
  explicit GroupCommitQueue(int max_group_size)
      : max_group_(static_cast<size_t>(std::max(1, max_group_size))) {}
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  // Queues `w` and returns w->status once a group containing it has been processed. When this
  // caller leads, it calls `process(group)` (the head of the queue, in order, `w` first) with no
  // queue lock held; `process` sets each member's status and must not throw. Returns
  // `closed_status` without queueing after CloseAndDrain.
  template <typename Process>
  absl::Status Submit(W* w, const absl::Status& closed_status, Process&& process)
      ABSL_LOCKS_EXCLUDED(mu_) {
    // Nothing below may throw once `w` is queued (its frame must outlive its queue entry), so
    // allocate first.
    std::vector<W*> group;
    group.reserve(max_group_);
    {
      absl::MutexLock lock(&mu_);
      if (closed_) return closed_status;
      queue_.push_back(w);
      pending_.fetch_add(1, std::memory_order_relaxed);
      Turn turn{this, w};
      mu_.Await(absl::Condition(&Turn::Ready, &turn));
      if (w->done) return w->status;  // a leader processed it for us
      // We lead: take everything queued, up to max_group_.
      for (size_t i = 0; i < queue_.size() && group.size() < max_group_; ++i) {
        group.push_back(queue_[i]);
      }
    }
    process(group);
    {
      absl::MutexLock lock(&mu_);
      for (W* member : group) {
        queue_.pop_front();  // the group is the head of the queue, in order
        member->done = true;
      }
      pending_.fetch_sub(static_cast<int64_t>(group.size()), std::memory_order_relaxed);
    }  // Unlock wakes the members and the next leader.
    return w->status;
  }

  // Refuses new writers from now on and waits until every queued one has been processed.
  // Returns false (and waits for nothing) when the queue was already closed.
  bool CloseAndDrain() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    closed_ = true;
    mu_.Await(absl::Condition(
        +[](std::deque<W*>* queue) ABSL_NO_THREAD_SAFETY_ANALYSIS { return queue->empty(); },
        &queue_));
    return true;
  }

  // Writers queued or being processed right now.
  int64_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  // The Await condition of one queued writer: it is done, or it is at the head (it leads).
  struct Turn {
    GroupCommitQueue* queue;
    W* w;
    // Evaluated by absl::Mutex with mu_ held.
    static bool Ready(Turn* t) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return t->w->done || t->queue->queue_.front() == t->w;
    }
  };

  const size_t max_group_;
  absl::Mutex mu_;
  std::deque<W*> queue_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> pending_{0};
};

}  // namespace fast_crewai::persistence

#endif  // FAST_CREWAI_SERVER_PERSISTENCE_GROUP_COMMIT_H_
