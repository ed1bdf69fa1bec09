// One vCPU's local APIC, as far as the teaching kernel needs it (workloads/include/vmmu/abi.h,
// "SMP"): a pending bit per vector (the IRR) and an in-service bit per vector (the ISR).
//
// A vector is deliverable when it is pending and higher than every vector in service (the SDM's
// priority rule, vol. 3, 11.8.3, by vector rather than by priority class: the kernel's vectors
// are few and far apart). Delivery moves it from pending to in service; EOI ends the highest in
// service. The timer is a vector like the others once the kernel runs several CPUs; before that
// it is never marked in service (abi.h), so a single-CPU kernel needs no EOI.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>

namespace vmmu {

class Lapic {
public:
    static constexpr unsigned kVectors = 256;

    void raise(uint8_t vector) { irr_.set(vector); }
    bool pending(uint8_t vector) const { return irr_.test(vector); }
    bool any_pending() const { return irr_.any(); }

    // The highest pending vector that may interrupt what is in service now, if any.
    std::optional<uint8_t> deliverable() const {
        if (irr_.none()) return std::nullopt;
        int top = highest(irr_);
        if (top < 0 || top <= highest(isr_)) return std::nullopt;
        return static_cast<uint8_t>(top);
    }
    // Whether `vector` could be delivered now (ignoring IF) if it were pending.
    bool unmasked(uint8_t vector) const { return static_cast<int>(vector) > highest(isr_); }
    // The vector is delivered: no longer pending; in service if `tracked`.
    void accept(uint8_t vector, bool tracked) {
        irr_.reset(vector);
        if (tracked) isr_.set(vector);
    }
    // Ends the highest vector in service; false when none was.
    bool eoi() {
        int top = highest(isr_);
        if (top < 0) return false;
        isr_.reset(static_cast<size_t>(top));
        return true;
    }

private:
    static int highest(const std::bitset<kVectors>& b) {
        if (b.none()) return -1;
        for (int v = kVectors - 1; v >= 0; --v)
            if (b.test(static_cast<size_t>(v))) return v;
        return -1;
    }
    std::bitset<kVectors> irr_, isr_;
};

} // namespace vmmu
