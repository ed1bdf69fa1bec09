#include "engine/mmu/pwc.h"

namespace vmmu {

template <class InAddress, class Table>
PageWalkCache<InAddress, Table>::PageWalkCache(const PwcConfig& config, WalkCounters* counters)
    : counters_(counters) {
    levels_[slot(2)].resize(config.pde);
    levels_[slot(3)].resize(config.pdpte);
    levels_[slot(4)].resize(config.pml4e);
    levels_[slot(5)].resize(config.pml5e);
}

template <class InAddress, class Table>
PwcProbe<Table> PageWalkCache<InAddress, Table>::lookup(In addr, uint32_t context) {
    if (counters_) counters_->pwc_lookups++;
    for (int level = 2; level <= 5; ++level) {
        uint64_t tag = tag_of(addr, level);
        for (Entry& e : levels_[slot(level)]) {
            if (e.valid && e.tag == tag && e.context == context) {
                e.stamp = ++clock_;
                if (counters_) counters_->pwc_hits++;
                // A cached level-L entry hands the walk the table of level L-1.
                return {level - 1, e.flags, e.next};
            }
        }
    }
    return {};
}

template <class InAddress, class Table>
void PageWalkCache<InAddress, Table>::fill(In addr, int level, Table next_table, uint32_t context,
                                           uint16_t flags) {
    if (level < 2 || level > 5) return;
    std::vector<Entry>& entries = levels_[slot(level)];
    if (entries.empty()) return;
    uint64_t tag = tag_of(addr, level);
    Entry* victim = &entries[0];
    for (Entry& e : entries) {
        if (e.valid && e.tag == tag && e.context == context) {
            victim = &e;
            break;
        }
        // Invalid entries first, then the least recently used.
        if (victim->valid && (!e.valid || e.stamp < victim->stamp)) victim = &e;
    }
    *victim = {tag, next_table, ++clock_, context, flags, true};
}

template <class InAddress, class Table>
void PageWalkCache<InAddress, Table>::invalidate_address(In addr, uint32_t context) {
    for (int level = 2; level <= 5; ++level)
        for (Entry& e : levels_[slot(level)])
            if (e.context == context && e.tag == tag_of(addr, level)) e.valid = false;
}

template <class InAddress, class Table>
void PageWalkCache<InAddress, Table>::flush_context(uint32_t context) {
    for (auto& level : levels_)
        for (Entry& e : level)
            if (e.context == context) e.valid = false;
}

template <class InAddress, class Table> void PageWalkCache<InAddress, Table>::flush_all() {
    for (auto& level : levels_)
        for (Entry& e : level) e.valid = false;
}

template class PageWalkCache<GuestVirt, GuestPhys>;
template class PageWalkCache<GuestVirt, HostPhys>;
template class PageWalkCache<GuestPhys, HostPhys>;

} // namespace vmmu
