// Thread pool behind parallel_for. Workers spin briefly on a generation counter (a kernel launch
// is often followed by another within microseconds) and then sleep on a condition variable.
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
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, start] { worker_loop(i, start); });
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
    pending_.store(chunks - 1, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mutex_);
      generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    cv_.notify_all();
    in_parallel_ = true;
    run_chunk(0);
    in_parallel_ = false;
    while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    job_ = nullptr;
  }

 private:
  void run_chunk(int index) {
    int64_t begin = job_n_ * index / job_chunks_;
    int64_t end = job_n_ * (index + 1) / job_chunks_;
    if (begin < end) (*job_)(begin, end);
  }

  void worker_loop(int index, uint64_t seen) {
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
      if (index < job_chunks_) {
        in_parallel_ = true;
        run_chunk(index);
        in_parallel_ = false;
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
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
