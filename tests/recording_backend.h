// A Backend test double that records every event it receives.
#pragma once

#include "engine/mmu/backend.h"

#include <string>
#include <vector>

namespace vmmu::testing {

class RecordingBackend : public Backend {
public:
    struct Event {
        std::string kind;
        uint64_t rip = 0, value = 0;
    };
    std::vector<Event> events;
    uint64_t accesses = 0, fetches = 0, fetched_instructions = 0;

    std::string name() const override { return "recording"; }
    void on_access(const DataAccess&) override { ++accesses; }
    void on_fetch(const Fetch& f) override {
        ++fetches;
        fetched_instructions += f.instructions;
    }
    void on_cr3_write(uint64_t rip, uint64_t v) override { events.push_back({"cr3", rip, v}); }
    void on_cr4_write(uint64_t rip, uint64_t v) override { events.push_back({"cr4", rip, v}); }
    void on_invlpg(uint64_t rip, GuestVirt va) override {
        events.push_back({"invlpg", rip, va.value()});
    }
    void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t, uint64_t, uint8_t) override {
        events.push_back({"pt_write", rip, pa.value()});
    }
    void on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2, uint32_t code) override {
        events.push_back({"fault" + std::to_string(vector), rip, cr2.value()});
    }
    void on_timer(uint64_t rip) override { events.push_back({"timer", rip, 0}); }
    void on_syscall(uint64_t rip) override { events.push_back({"syscall", rip, 0}); }
    void on_hlt(uint64_t rip) override { events.push_back({"hlt", rip, 0}); }
    void on_io(uint64_t rip, uint16_t port, bool) override { events.push_back({"io", rip, port}); }
    void on_sensitive(uint64_t rip, std::string_view m) override {
        events.push_back({"sensitive:" + std::string(m), rip, 0});
    }
    const BackendCounters& counters() const override { return counters_; }
    CycleBreakdown cycles(uint64_t) const override { return {}; }

    size_t count(const std::string& kind) const {
        size_t n = 0;
        for (auto& e : events) n += e.kind == kind;
        return n;
    }

private:
    BackendCounters counters_;
};

} // namespace vmmu::testing
