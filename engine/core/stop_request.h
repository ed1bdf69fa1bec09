// Asking a running guest to stop from outside the run loop, e.g. from a SIGINT handler.
//
// uc_emu_stop is not async-signal-safe, so a handler only sets a lock-free atomic flag; the vCPU's
// block hook polls it and stops the run between two blocks (StopKind::Interrupted), which keeps
// the counters consistent and lets the caller still write its results. The flag is inline: the
// block hook reads it once per guest block.
#pragma once

#include <atomic>

namespace vmmu {
namespace detail {
// A signal handler may only touch lock-free atomics (C++20 [support.signal]).
inline std::atomic<bool> g_stop_request{false};
static_assert(std::atomic<bool>::is_always_lock_free);
} // namespace detail

// Async-signal-safe.
inline void request_stop() noexcept {
    detail::g_stop_request.store(true, std::memory_order_relaxed);
}
inline bool stop_requested() noexcept {
    return detail::g_stop_request.load(std::memory_order_relaxed);
}
// Forget an earlier request (before starting a new run).
inline void clear_stop_request() noexcept {
    detail::g_stop_request.store(false, std::memory_order_relaxed);
}

} // namespace vmmu
