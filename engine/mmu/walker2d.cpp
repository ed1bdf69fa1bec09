#include "engine/mmu/walker2d.h"

#include "engine/core/paging.h"
#include "engine/core/guest_events.h"

#include <fmt/format.h>

#include <algorithm>

namespace vmmu {
namespace {
void note(std::vector<WalkRef>* trace, WalkDim d, int gl, int nl, uint64_t addr, HitIn hit,
          CacheLevel served = CacheLevel::Count) {
    if (trace) trace->push_back({d, gl, nl, addr, hit, served});
}
// A reference through the data caches, if modelled: the level that served it.
CacheLevel reference(CacheHierarchy* caches, HostPhys hpa, WalkDimension dim) {
    return caches ? caches->walk(hpa, dim) : CacheLevel::Count;
}
} // namespace

Walker2d::Walker2d(const GuestMemory& memory, EptTables& ept, const Walker2dConfig& config,
                   WalkCounters* counters)
    : memory_(memory), ept_(ept), guest_levels_(config.guest_levels), counters_(counters),
      config_(config), vcpu_(fresh_caches()) {}

Walker2dCaches Walker2d::fresh_caches() const {
    return {GuestPwc(config_.guest_pwc, counters_), NestedPwc(config_.nested_pwc, counters_),
            NestedTlbArray(config_.ntlb, kSizeAll)};
}

Walker2d::Nested Walker2d::translate(GuestPhys gpa, int guest_level, uint64_t& refs,
                                     std::vector<WalkRef>* trace) {
    Nested r = translate_unchecked(gpa, guest_level, refs, trace);
    // The oracle, cheap when it agrees (see check_oracle in engine/mmu/oracle.h); on a
    // disagreement the owner is judged first, so a foreign frame is named as such.
    if (!r.ok || !oracle_ || r.hpa == oracle_->translate(gpa)) [[likely]]
        return r;
    if (host_) {
        HostFrames::Owner o = host_->owner_near(static_cast<size_t>(vm_), r.hpa);
        if (o != vm_ && o != HostFrames::kShared)
            throw OracleMismatch(fmt::format(
                "{}: isolation violated: VM {}'s EPT maps gPA {:#x} to hPA {:#x}, which is owned "
                "by {}",
                scheme_, vm_, gpa.value(), r.hpa.value(), HostFrames::describe(o)));
    }
    throw OracleMismatch(fmt::format("{}: EPT maps gPA {:#x} to hPA {:#x}, p2m says {:#x}", scheme_,
                                     gpa.value(), r.hpa.value(), oracle_->translate(gpa).value()));
}

Walker2d::Nested Walker2d::translate_unchecked(GuestPhys gpa, int guest_level, uint64_t& refs,
                                               std::vector<WalkRef>* trace) {
    Nested r;
    if (vcpu_.ntlb.enabled()) {
        counters_->ntlb_lookups++;
        if (const Translation* t = vcpu_.ntlb.lookup(gpa, 0, 0)) {
            counters_->ntlb_hits++;
            r.ok = true;
            r.hpa = t->host(gpa);
            r.shift = t->page_shift;
            r.writable = t->writable;
            note(trace, WalkDim::Nested, guest_level, 0, r.hpa.value(), HitIn::Ntlb);
            return r;
        }
    }
    int level = ept_.levels();
    HostPhys table = ept_.root();
    if (vcpu_.nested_pwc.enabled()) {
        NestedPwc::Probe probe = vcpu_.nested_pwc.lookup(gpa, 0);
        if (probe.hit()) {
            level = probe.level;
            table = probe.table;
            note(trace, WalkDim::Nested, guest_level, level + 1, table.value(), HitIn::Pwc);
        }
    }
    for (; level >= 1; --level) {
        HostPhys entry = table + 8ull * x86::table_index(gpa, level);
        uint64_t e = ept_.read(entry);
        ++refs;
        counters_->refs++;
        counters_->nested_refs++;
        CacheLevel served = reference(caches_, entry, WalkDimension::Nested);
        note(trace, WalkDim::Nested, guest_level, level, entry.value(), HitIn::None, served);
        if (!ept::present(e)) {
            r.fault_level = level;
            return r;
        }
        if (ept::leaf(e, level)) {
            unsigned shift = x86::leaf_shift(level);
            Translation t;
            t.frame = HostPhys(e & ept::kAddrMask).page_base(shift);
            t.page_shift = static_cast<uint8_t>(shift);
            t.writable = e & ept::kWrite;
            vcpu_.ntlb.fill(gpa, t, 0, 0);
            r.ok = true;
            r.hpa = t.host(gpa);
            r.shift = shift;
            r.writable = t.writable;
            return r;
        }
        table = HostPhys(e & ept::kAddrMask);
        vcpu_.nested_pwc.fill(gpa, level, table, 0);
    }
    return r;
}

Walk2dResult Walker2d::walk(GuestVirt va, GuestPhys root, uint32_t guest_context,
                            std::vector<WalkRef>* trace) {
    return walk_from(va, guest_levels_, root, kPermW | kPermU, guest_context, trace);
}

Walk2dResult Walker2d::walk_from(GuestVirt va, int level, GuestPhys table, uint16_t perms,
                                 uint32_t guest_context, std::vector<WalkRef>* trace) {
    Walk2dResult r;
    if (vcpu_.guest_pwc.enabled()) {
        GuestPwc::Probe probe = vcpu_.guest_pwc.lookup(va, guest_context);
        // Only a table below the starting level helps (from the root, any hit does).
        if (probe.hit() && probe.level < level) {
            level = probe.level;
            table = probe.table;
            perms = probe.flags;
            note(trace, WalkDim::Guest, level + 1, 0, table.value(), HitIn::Pwc);
        }
    }
    for (; level >= 1; --level) {
        // The guest table is a gPA: find where it lives in host memory first.
        Nested nt = translate(table, level, r.refs, trace);
        if (!nt.ok) {
            r.status = Walk2dResult::Status::EptViolation;
            r.violation_gpa = table;
            return r;
        }
        unsigned index = x86::table_index(va, level);
        GuestPhys entry_gpa = table + 8ull * index;
        if (!memory_.contains(entry_gpa, 8)) {
            r.status = Walk2dResult::Status::GuestNotPresent;
            r.fault_level = level;
            return r;
        }
        uint64_t e = memory_.read_u64(entry_gpa);
        ++r.refs;
        counters_->refs++;
        counters_->guest_refs++;
        HostPhys entry_hpa = nt.hpa + 8ull * index;
        CacheLevel served = reference(caches_, entry_hpa, WalkDimension::Guest);
        note(trace, WalkDim::Guest, level, 0, entry_hpa.value(), HitIn::None, served);
        if (!(e & x86::kPteP)) {
            r.status = Walk2dResult::Status::GuestNotPresent;
            r.fault_level = level;
            return r;
        }
        if (!(e & x86::kPteW)) perms &= ~kPermW;
        if (!(e & x86::kPteU)) perms &= ~kPermU;
        if (e & x86::kPteNx) perms |= kPermNx;
        if (level == 1 || ((level == 2 || level == 3) && (e & x86::kPtePs))) {
            unsigned shift = x86::leaf_shift(level);
            r.gpa = GuestPhys(e & x86::kPteAddrMask).page_base(shift) + va.page_offset(shift);
            Nested data = translate(r.gpa, 0, r.refs, trace);
            if (!data.ok) {
                r.status = Walk2dResult::Status::EptViolation;
                r.violation_gpa = r.gpa;
                return r;
            }
            // A TLB entry cannot be larger than either dimension's page (a "splintered" page).
            unsigned eff = std::min(shift, data.shift);
            r.t.frame = data.hpa.page_base(eff);
            r.t.page_shift = static_cast<uint8_t>(eff);
            // A combined mapping allows only what both dimensions allow (SDM vol. 3, "Cached
            // translation information": combined mappings).
            r.t.writable = (perms & kPermW) && data.writable;
            r.t.user = perms & kPermU;
            r.t.nx = perms & kPermNx;
            r.t.global = e & x86::kPteG;
            return r;
        }
        table = GuestPhys(e & x86::kPteAddrMask);
        vcpu_.guest_pwc.fill(va, level, table, guest_context, perms);
    }
    return r;
}

} // namespace vmmu
