// Asking a running guest to stop from outside the run loop, e.g. from a SIGINT handler.
//
// uc_emu_stop is not async-signal-safe, so a handler only sets a lock-free atomic flag; the vCPU's
// block hook polls it and stops the run between two blocks (StopKind::Interrupted), which keeps
// the counters consistent and lets the caller still write its results.
#pragma once

namespace vmmu {

// Async-signal-safe.
void request_stop() noexcept;
bool stop_requested() noexcept;
// Forget an earlier request (before starting a new run).
void clear_stop_request() noexcept;

} // namespace vmmu
