#include "engine/agile/agile_tables.h"

#include "engine/core/paging.h"
#include "engine/core/x86.h"

namespace vmmu::agile {

ShadowPage& ShadowPages::get(GuestPhys gpa, int level) {
    GuestPhys base = gpa.page_base();
    auto it = by_gfn_.find(base.page_number());
    if (it != by_gfn_.end()) {
        ShadowPage& p = *it->second;
        if (p.level != level) {
            p.level = level;
            p.entry.fill(0);
        }
        return p;
    }
    auto page = std::make_unique<ShadowPage>();
    page->gpa = base;
    page->frame = pool_ + (uint64_t{by_frame_.size()} << kPageShift4K);
    page->level = level;
    // Watched in both modes: a write exits while shadowed, and sets the dirty bit once nested.
    memory_.watch(base);
    by_frame_.push_back(page.get());
    return *by_gfn_.emplace(base.page_number(), std::move(page)).first->second;
}

ShadowPage* ShadowPages::find(GuestPhys gpa) {
    auto it = by_gfn_.find(gpa.page_number());
    return it == by_gfn_.end() ? nullptr : it->second.get();
}

ShadowPage* ShadowPages::at_frame(HostPhys frame) const {
    uint64_t i = (frame - pool_) >> kPageShift4K;
    return i < by_frame_.size() ? by_frame_[i] : nullptr;
}

void ShadowPages::for_subtree(ShadowPage& top, const std::function<void(ShadowPage&)>& visit) {
    visit(top);
    if (top.level == 1) return;
    for (unsigned i = 0; i < 512; ++i) {
        GuestPhys entry = top.gpa + 8ull * i;
        if (!memory_.contains(entry, 8)) return;
        uint64_t e = memory_.read_u64(entry);
        if (!(e & x86::kPteP) || ((top.level == 2 || top.level == 3) && (e & x86::kPtePs)))
            continue;
        ShadowPage* child = find(GuestPhys(e & x86::kPteAddrMask));
        if (child && child != &top && child->level == top.level - 1) for_subtree(*child, visit);
    }
}

std::vector<ShadowPage*> ShadowPages::nested_tops() const {
    std::vector<ShadowPage*> tops;
    for (ShadowPage* p : by_frame_)
        if (p->nested && p->top) tops.push_back(p);
    return tops;
}

} // namespace vmmu::agile
