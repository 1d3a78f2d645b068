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
// A store that also has callback writers gives that `process` once, to EnableAsync, and its
// blocking writers use Submit(w, closed_status).
//
// Callback writers (SubmitAsync): a caller that must not block (a gRPC reactor) queues its
// writer and returns at once; the writer's `complete` runs once its group is processed. Such
// a writer, when it reaches the head of the queue, is led either on the submitting thread (when
// the queue was empty and the caller allows it) or by a leader task on the executor given to
// EnableAsync; either leader goes on with the next group while the head is a callback writer.
// Blocking and callback writers share one queue and one order. A callback writer type also
// has `absl::AnyInvocable<void()> complete`, which may delete the writer.
//
// Thread-safety: Submit, SubmitAsync, CloseAndDrain and pending() are safe to call from any
// thread; EnableAsync must be called before the first SubmitAsync.
#ifndef FAST_CREWAI_SERVER_PERSISTENCE_GROUP_COMMIT_H_
#define FAST_CREWAI_SERVER_PERSISTENCE_GROUP_COMMIT_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/util/executor.h"

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
    const absl::Status status = w->status;  // `w` is ours; read before the members are woken
    std::vector<W*> completed;
    W* async_head = Finish(group, &completed);  // wakes the members and the next leader
    if (async_head != nullptr) ScheduleLeader(async_head);
    RunCompletions(completed);
    return status;
  }

  // Sets where callback writers are led when their submitter may not lead them, and how a
  // group is processed (as the `process` of Submit). REQUIRES: before the first SubmitAsync.
  void EnableAsync(Executor* executor, std::function<void(const std::vector<W*>&)> process) {
    absl::MutexLock lock(&mu_);
    executor_ = executor;
    async_process_ = std::move(process);
  }

  // Submit with the `process` given to EnableAsync, so that a store that has both kinds of
  // writers says once how a group is processed. REQUIRES: EnableAsync was called.
  absl::Status Submit(W* w, const absl::Status& closed_status) ABSL_LOCKS_EXCLUDED(mu_) {
    return Submit(w, closed_status, Process());
  }

  // Queues callback writer `w` and returns without waiting for its group (see the file
  // comment). When the queue was empty and `may_lead`, this thread processes w's group before
  // returning. After CloseAndDrain, sets w->status to `closed_status` and completes it at once.
  // REQUIRES: EnableAsync was called.
  void SubmitAsync(W* w, const absl::Status& closed_status, bool may_lead)
      ABSL_LOCKS_EXCLUDED(mu_) {
    bool head = false;
    bool closed = false;
    {
      absl::MutexLock lock(&mu_);
      closed = closed_;
      if (!closed) {
        queue_.push_back(w);
        pending_.fetch_add(1, std::memory_order_relaxed);
        head = queue_.size() == 1;
      }
    }
    // Once queued, `w` belongs to its leader (which may complete and delete it at any time).
    if (closed) {
      w->status = closed_status;
      w->done = true;
      w->complete();
      return;
    }
    if (!head) return;  // a leader ahead of it will take it, or hand it on
    if (may_lead) {
      Lead(w, /*one_group=*/true);  // a caller that must not block leads once, hands the rest on
    } else {
      ScheduleLeader(w);
    }
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
  // The `process` given to EnableAsync (a copy: it is read under mu_).
  std::function<void(const std::vector<W*>&)> Process() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return async_process_;
  }

  // Whether W is a callback writer type (has `complete`).
  static constexpr bool kHasAsync = requires(W * w) { w->complete(); };

  // Pops `group` (the head of the queue) and marks its members done (blocking members wake
  // when mu_ is released); appends the callback members to `completed` (the caller runs them
  // with RunCompletions). Returns the new head when it is a callback writer nobody leads yet
  // (the caller must lead it or schedule a leader).
  W* Finish(const std::vector<W*>& group, std::vector<W*>* completed) ABSL_LOCKS_EXCLUDED(mu_) {
    W* async_head = nullptr;
    absl::MutexLock lock(&mu_);
    for (W* member : group) {
      queue_.pop_front();  // the group is the head of the queue, in order
      member->done = true;
      if constexpr (kHasAsync) {
        if (member->complete) completed->push_back(member);
      }
    }
    pending_.fetch_sub(static_cast<int64_t>(group.size()), std::memory_order_relaxed);
    if constexpr (kHasAsync) {
      if (!queue_.empty() && queue_.front()->complete) async_head = queue_.front();
    }
    return async_head;
  }  // Unlock wakes the blocking members and the next blocking leader.

  static void RunCompletions(const std::vector<W*>& completed) {
    if constexpr (kHasAsync) {
      for (W* member : completed) member->complete();  // may delete it
    }
  }

  // Leads groups from `head` (a callback writer at the head of the queue) for as long as the
  // head is a callback writer, or only one group with `one_group` (a queued next head is then
  // handed to the executor); completes each group's members before leading the next.
  // (Handing the next group to another executor thread first, so its commit overlaps these
  // completions, cost more CPU and context switches per write than it saved on 2 cores.)
  void Lead(W* head, bool one_group) ABSL_LOCKS_EXCLUDED(mu_) {
    const std::function<void(const std::vector<W*>&)> process = Process();
    std::vector<W*> group;
    std::vector<W*> completed;
    while (head != nullptr) {
      group.clear();
      completed.clear();
      {
        absl::MutexLock lock(&mu_);
        for (size_t i = 0; i < queue_.size() && group.size() < max_group_; ++i) {
          group.push_back(queue_[i]);
        }
      }
      process(group);
      head = Finish(group, &completed);
      RunCompletions(completed);
      if (head != nullptr && one_group) {
        ScheduleLeader(head);
        return;
      }
    }
  }

  void ScheduleLeader(W* head) ABSL_LOCKS_EXCLUDED(mu_) {
    if constexpr (kHasAsync) {
      Executor* executor;
      {
        absl::MutexLock lock(&mu_);
        executor = executor_;
      }
      executor->Schedule([this, head] { Lead(head, /*one_group=*/false); });
    }
  }

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
  Executor* executor_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::function<void(const std::vector<W*>&)> async_process_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fast_crewai::persistence

#endif  // FAST_CREWAI_SERVER_PERSISTENCE_GROUP_COMMIT_H_
