// The one place vmmu handles SIGINT/SIGTERM/SIGHUP. In-process runs: the handler asks the engine
// to stop (engine/core/stop_request.h), the run returns with StopKind::Interrupted and the command
// still writes its (incomplete) results. Child processes: the process pool (process_pool.h) holds
// a guard while it runs, starts no more children once a signal arrived and passes SIGTERM on.
#pragma once

namespace vmmu {

// Installs the handlers for its lifetime and restores the previous ones after. A second signal
// gets the default action (the process dies), so a stuck run can still be killed. Guards nest:
// an inner guard (the pool's, inside a command's) shares the outer one's handlers and signal.
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
