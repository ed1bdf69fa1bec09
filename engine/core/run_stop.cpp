#include "engine/core/run_stop.h"

#include <unicorn/unicorn.h>

namespace vmmu {

void RunStop::stop(StopKind kind, std::string message, int status) {
    if (!request_) request_ = StopRequest{kind, status, std::move(message), std::nullopt};
    halt_emulation();
}

void RunStop::halt_emulation() const {
    if (uc_) uc_emu_stop(uc_);
}

} // namespace vmmu
