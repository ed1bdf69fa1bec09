// SIGINT/SIGTERM/SIGHUP during a guest run: the handler asks the engine to stop (stop_request.h),
// the run returns with StopKind::Interrupted, and the command still writes its (incomplete)
// results.
#pragma once

namespace vmmu {

// Installs the handlers for its lifetime and restores the previous ones after. A second signal
// gets the default action (the process dies), so a stuck run can still be killed.
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;

    // The signal that arrived, 0 if none.
    int signal() const;
    // 128 + the signal, as a shell reports a process killed by it; 0 if none arrived.
    int exit_code() const;
};

} // namespace vmmu
