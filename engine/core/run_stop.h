// Why a run stops, recorded by whichever part of the vCPU notices first.
//
// Hooks run inside Unicorn and cannot return a reason, so each part of the vCPU (the block clock,
// the data path, event delivery, hypercalls, the loop coalescer) records the first reason here
// and asks Unicorn to stop; the run loop (Vcpu::run) reads it when uc_emu_start returns. Without
// a bound Unicorn instance (the loop coalescer's tests) it only records.
#pragma once

#include "engine/core/machine.h"

#include <cstdint>
#include <optional>
#include <string>

struct uc_struct;

namespace vmmu {

struct StopRequest {
    StopKind kind = StopKind::Exited;
    int status = 0;
    std::string message;
    std::optional<uint64_t> rip; // where, if known better than the current RIP
};

class RunStop {
public:
    void bind(uc_struct* uc) { uc_ = uc; }
    // Records the first reason (a later one is dropped: the first cause is the one to report)
    // and stops emulation.
    void stop(StopKind kind, std::string message, int status = 0);
    // Stops emulation with no reason: the run loop finds out why from the part that asked.
    void halt_emulation() const;
    // The first reason's location, when the current RIP would not say it.
    void set_rip(uint64_t rip) { request_->rip = rip; }
    bool stopped() const { return request_.has_value(); }
    const StopRequest& request() const { return *request_; }

private:
    uc_struct* uc_ = nullptr;
    std::optional<StopRequest> request_;
};

} // namespace vmmu
