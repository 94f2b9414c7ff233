// Thread pool behind parallel_for. Workers spin briefly on a generation counter (a kernel launch
// is often followed by another within microseconds) and then sleep on a condition variable.
//
// Chunks are claimed, not assigned: the caller and the workers take chunk indices from one atomic
// ticket until none are left, so when the machine is oversubscribed (another training run on the
// same cores) a worker that has not been scheduled yet simply gets nothing to do, instead of the
// caller waiting a whole scheduler time slice for it (measured: a tiny-model prune step went from
// 120 ms to about 25 ms with another 2-thread run on the 2 cores). The ticket packs the job's
// generation with the next chunk index, so a worker that wakes late can never claim a chunk of a
// later job it has not seen.
#include "parallel.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels.h"

namespace alter {
namespace {

int default_threads() {
  const char* env = std::getenv("ALTER_NUM_THREADS");
  if (env != nullptr) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

class Pool {
 public:
  Pool() { resize(default_threads()); }
  ~Pool() { stop_workers(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    if (n <= 0) n = default_threads();
    stop_workers();
    stopping_ = false;
    // Workers start from the generation current now: a job posted before a new thread gets
    // scheduled must still be seen by it as new (reading the counter in the thread would miss it).
    uint64_t start = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, start] { worker_loop(start); });
  }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    int64_t max_chunks = grain > 0 ? (n + grain - 1) / grain : n;
    int chunks = static_cast<int>(std::min<int64_t>(max_chunks, size()));
    if (chunks <= 1 || in_parallel_) {
      fn(0, n);
      return;
    }
    std::lock_guard<std::mutex> one_job_at_a_time(job_mutex_);
    job_ = &fn;
    job_n_ = n;
    job_chunks_ = chunks;
    pending_.store(chunks, std::memory_order_release);
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lk(mutex_);
      gen = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
      ticket_.store(gen << 32, std::memory_order_release);
    }
    cv_.notify_all();
    in_parallel_ = true;
    run_claimed_chunks(gen);
    in_parallel_ = false;
    // Only chunks a worker has already claimed can be outstanding here.
    while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    job_ = nullptr;
  }

 private:
  // Claims and runs chunks of job `gen` until none are left (or a newer job has started).
  void run_claimed_chunks(uint64_t gen) {
    for (;;) {
      uint64_t t = ticket_.load(std::memory_order_acquire);
      for (;;) {
        if ((t >> 32) != (gen & 0xffffffffu) || static_cast<int>(t & 0xffffffffu) >= job_chunks_) return;
        if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) break;
      }
      const int index = static_cast<int>(t & 0xffffffffu);
      const int64_t begin = job_n_ * index / job_chunks_;
      const int64_t end = job_n_ * (index + 1) / job_chunks_;
      if (begin < end) (*job_)(begin, end);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  void worker_loop(uint64_t seen) {
    for (;;) {
      // Spin for a short while before sleeping: back-to-back kernel launches are the common case.
      int spins = 0;
      while (generation_.load(std::memory_order_acquire) == seen && !stopping_ && spins < 20000) {
        ++spins;
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
      }
      if (generation_.load(std::memory_order_acquire) == seen && !stopping_) {
        std::unique_lock<std::mutex> lk(mutex_);
        cv_.wait(lk, [&] { return generation_.load() != seen || stopping_; });
      }
      if (stopping_) return;
      seen = generation_.load(std::memory_order_acquire);
      in_parallel_ = true;
      run_claimed_chunks(seen);
      in_parallel_ = false;
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex job_mutex_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> ticket_{0};  // (generation << 32) | next chunk index
  std::atomic<bool> stopping_{false};
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  static thread_local bool in_parallel_;
};

thread_local bool Pool::in_parallel_ = false;

Pool& pool() {
  static Pool instance;
  return instance;
}

}  // namespace

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  pool().run(n, grain, fn);
}

int num_threads() { return pool().size(); }

void set_num_threads(int n) { pool().resize(n); }

}  // namespace alter
