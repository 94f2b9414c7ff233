// A tiny persistent thread pool: parallel_for splits [0, n) into contiguous chunks, one per thread,
// and the calling thread takes the first chunk. Kernels call it; nothing else needs threads.
#pragma once
#include <cstdint>
#include <functional>

namespace alter {

// Runs fn(begin, end) over [0, n) split across the pool. Ranges smaller than `grain` items per
// thread run on fewer threads (down to a plain call on the caller's thread), so tiny tensors do
// not pay for a wake-up. fn must not call parallel_for itself (nested calls run serially).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace alter
