// The last few events of a run (exceptions, syscalls, CR3 loads, timer ticks), kept so that a
// guest error can be reported with what led up to it. A fixed ring: recording one event is a
// few stores, no allocation, so it stays on in every run.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vmmu {

struct GuestEvent {
    uint64_t instructions = 0; // retired guest instructions when it happened
    uint64_t rip = 0;
    const char* kind = ""; // a string literal: "page fault", "syscall", ...
    uint64_t a = 0, b = 0; // kind-specific: vector/CR2/error code, syscall number, CR3 value
};

class EventLog {
public:
    static constexpr size_t kCapacity = 16;

    void record(const char* kind, uint64_t instructions, uint64_t rip, uint64_t a = 0,
                uint64_t b = 0) {
        ring_[next_ % kCapacity] = GuestEvent{instructions, rip, kind, a, b};
        ++next_;
    }

    // Oldest first: "@1234567 rip 0xffff... page fault a=0x10 b=0x2".
    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        size_t n = next_ < kCapacity ? next_ : kCapacity;
        for (size_t i = next_ - n; i < next_; ++i) {
            const GuestEvent& e = ring_[i % kCapacity];
            out.push_back(fmt::format("@{} rip {:#x} {} a={:#x} b={:#x}", e.instructions, e.rip,
                                      e.kind, e.a, e.b));
        }
        return out;
    }

private:
    std::array<GuestEvent, kCapacity> ring_{};
    size_t next_ = 0; // events recorded so far; the next slot is next_ % kCapacity
};

} // namespace vmmu
