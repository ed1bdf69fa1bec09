// A guest-observer test double that records every event it receives.
#pragma once

#include "engine/core/guest_events.h"

#include <string>
#include <vector>

namespace vmmu::testing {

class RecordingObserver : public GuestObserver {
public:
    struct Event {
        std::string kind;
        uint64_t rip = 0, value = 0;
        uint64_t at = 0; // instructions fetched before the event
    };
    std::vector<Event> events;
    uint64_t accesses = 0, fetches = 0, fetched_instructions = 0;

    void on_access(const DataAccess&) override { ++accesses; }
    void on_fetch(const Fetch& f) override {
        ++fetches;
        fetched_instructions += f.instructions;
    }
    void on_cr3_write(uint64_t rip, uint64_t v) override { push({"cr3", rip, v}); }
    void on_cr4_write(uint64_t rip, uint64_t v) override { push({"cr4", rip, v}); }
    void on_invlpg(uint64_t rip, GuestVirt va) override { push({"invlpg", rip, va.value()}); }
    void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t, uint64_t, uint8_t) override {
        push({"pt_write", rip, pa.value()});
    }
    void on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2, uint32_t code) override {
        push({"fault" + std::to_string(vector), rip, cr2.value()});
    }
    void on_timer(uint64_t rip) override { push({"timer", rip, 0}); }
    void on_syscall(uint64_t rip) override { push({"syscall", rip, 0}); }
    void on_hlt(uint64_t rip) override { push({"hlt", rip, 0}); }
    void on_io(uint64_t rip, uint16_t port, bool) override { push({"io", rip, port}); }
    void on_sensitive(uint64_t rip, std::string_view m) override {
        push({"sensitive:" + std::string(m), rip, 0});
    }

    void push(Event e) {
        e.at = fetched_instructions;
        events.push_back(e);
    }
    size_t count(const std::string& kind) const {
        size_t n = 0;
        for (auto& e : events) n += e.kind == kind;
        return n;
    }
};

} // namespace vmmu::testing
