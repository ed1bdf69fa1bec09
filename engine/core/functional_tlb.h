// The functional layer's translation cache: gVA page -> gPA page, for the MMIO data path.
//
// It caches only successful walks of the guest's own tables and is invalidated like a real TLB
// (CR3/CR4 writes, invlpg), so it is exactly as coherent as the guest OS makes the hardware TLB.
// A flush bumps a generation number instead of clearing 4096 entries.
#pragma once

#include <array>
#include <cstdint>

namespace vmmu {

class FunctionalTlb {
public:
    // Returns the gPA of the page holding `va`'s page, or UINT64_MAX on a miss.
    uint64_t lookup(uint64_t vpn) const {
        const Entry& e = entries_[vpn & (kEntries - 1)];
        return (e.vpn == vpn && e.generation == generation_) ? e.gpa_page : UINT64_MAX;
    }
    void insert(uint64_t vpn, uint64_t gpa_page) {
        entries_[vpn & (kEntries - 1)] = {vpn, gpa_page, generation_};
    }
    void flush() { ++generation_; }

private:
    static constexpr uint64_t kEntries = 4096;
    struct Entry {
        uint64_t vpn = UINT64_MAX;
        uint64_t gpa_page = 0;
        uint64_t generation = 0;
    };
    std::array<Entry, kEntries> entries_{};
    uint64_t generation_ = 1;
};

} // namespace vmmu
