#include "engine/experiment/interrupt.h"

#include "engine/core/stop_request.h"

#include <csignal>

namespace vmmu {
namespace {

volatile std::sig_atomic_t g_signal = 0;
// Guards alive; only the outermost installs and restores the handlers.
int g_depth = 0;
struct sigaction g_old_int = {};
struct sigaction g_old_term = {};
struct sigaction g_old_hup = {};

void on_signal(int sig) {
    g_signal = sig;
    request_stop();
}

} // namespace

InterruptGuard::InterruptGuard() {
    if (g_depth++ > 0) return;
    g_signal = 0;
    clear_stop_request();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    // One-shot: a second Ctrl-C kills the process the ordinary way.
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
    // A closed terminal or a dropped ssh session: stop the same way (the pool passes it on).
    sigaction(SIGHUP, &sa, &g_old_hup);
}

InterruptGuard::~InterruptGuard() {
    if (--g_depth > 0) return;
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGTERM, &g_old_term, nullptr);
    sigaction(SIGHUP, &g_old_hup, nullptr);
    clear_stop_request();
}

int InterruptGuard::signal() const { return g_signal; }

int InterruptGuard::exit_code() const { return g_signal ? 128 + g_signal : 0; }

} // namespace vmmu
