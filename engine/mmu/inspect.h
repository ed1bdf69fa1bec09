// Optional inspection of a scheme: how it translates one address, step by step, for
// `vmmu demo walk` and `vmmu validate`. A scheme opts in by returning itself from
// Backend::inspector(); the layers above the schemes (experiment, output, cli) use only these
// scheme-neutral types and never name a scheme's class.
#pragma once

#include "engine/core/addr.h"
#include "engine/core/guest_memory.h"
#include "engine/mmu/counters.h"

#include <cstdint>
#include <vector>

namespace vmmu {

enum class WalkDim : uint8_t { Guest, Nested };
enum class HitIn : uint8_t { None, Pwc, Ntlb };

// One step of a 2D walk, for traces and demos. Grid position: guest_level 4..1 is the guest
// table being read (0: the final data gPA); nested_level 4..1 an EPT level (0: a guest entry
// read). address is the host-physical address referenced, or what a cache supplied on a hit
// (an hPA, except a guest-PWC hit, which supplies the next guest table's gPA): two spaces in one
// field, so it stays a plain integer and hit_in with the grid position says which.
struct WalkRef {
    WalkDim dimension;
    int guest_level;
    int nested_level;
    uint64_t address;
    HitIn hit_in;
    // A memory reference (hit_in None) with caches modelled: the level that served it;
    // CacheLevel::Count otherwise.
    CacheLevel served = CacheLevel::Count;
};

// One reference of a one-dimensional walk (native: guest tables; shadow: shadow tables).
struct Ref1d {
    int level = 0;
    uint64_t address = 0; // the entry read: a gPA (guest tables) or an hPA (shadow tables)
    uint64_t entry = 0;   // its value
    // With caches modelled: the level that served this read (CacheLevel::Count otherwise).
    CacheLevel served = CacheLevel::Count;
};

// The guest's own walk of va from root (stops at a leaf or a non-present entry); `levels` is the
// guest's paging levels (5 with CR4.LA57).
std::vector<Ref1d> guest_walk(const GuestMemory& memory, GuestPhys root, GuestVirt va,
                              int levels = 4);

// What the hardware walks on a TLB miss under a scheme; says which Inspector walk applies.
enum class WalkShape : uint8_t {
    GuestTables,    // walk_1d: the guest's own tables (no hypervisor)
    ShadowTables,   // walk_1d: tables the hypervisor keeps, host-physical
    TwoDimensional, // trace_2d: guest tables whose every gPA goes through nested tables
    Mixed,          // trace_mixed: shadow tables from the root, then guest tables × nested
                    // tables from the level where the guest's tables are in nested mode (agile)
};

// The walk caches a traced 2D walk goes through.
enum class WalkCaches : uint8_t {
    None,      // no page-walk caches, no nested TLB: the classic cold walk
    FromEmpty, // the scheme's own caches, emptied first
    Warm,      // the scheme's own caches as they are
};

struct Walk1d {
    std::vector<Ref1d> refs; // root level first
    bool ok = false;         // reached a present leaf
    HostPhys hpa;            // the walk's translation of va (meaningful when ok)
    bool filled = false;     // the tables lacked va and were filled first, as an exit would
};

struct Walk2d {
    uint64_t references = 0;    // memory references made (cache hits are not references)
    std::vector<WalkRef> steps; // in order, cache hits included
    bool ok = false;            // reached a present guest leaf and its EPT mapping
    GuestPhys gpa;              // ok: the data gPA
    HostPhys hpa;               // ok: the data hPA
    int fault_level = 0;        // !ok: guest level of the not-present entry (0: none)
};

// A walk that starts one-dimensional and goes on two-dimensional (agile paging's switch).
struct WalkMixed {
    std::vector<Ref1d> shadowed; // shadow entries read (host-physical), root level first
    int switch_level = 0;        // guest level the 2D part starts at; 0: the walk stayed 1D
    Walk2d nested;               // the 2D part, cold (no page-walk caches, no nested TLB)
    bool ok = false;             // reached a present leaf (and its EPT mapping)
    HostPhys hpa;                // ok: the data hPA
    bool filled = false;         // shadow entries were filled first, as hidden faults would
    uint64_t references() const { return shadowed.size() + nested.references; }
};

class Inspector {
public:
    virtual WalkShape walk_shape() const = 0;
    // The guest page-table root (a gPA) the scheme tracks from the guest's CR3.
    virtual GuestPhys guest_root() const = 0;
    // The guest's paging levels: 4, or 5 with CR4.LA57 (the root is then a PML5).
    virtual int guest_levels() const = 0;
    // GuestTables and ShadowTables: the walk the hardware would make for va now, after a fill
    // if the scheme's tables lack va. Throws std::logic_error for other shapes.
    virtual Walk1d walk_1d(GuestVirt va);
    // TwoDimensional: one walk of va traced step by step through `caches`; missing nested
    // entries are installed as a violation would, without counting an exit. Throws
    // std::logic_error for other shapes.
    virtual Walk2d trace_2d(GuestVirt va, WalkCaches caches);
    // Mixed: one cold walk of va, shadowed part then 2D part; entries the scheme lacks are
    // filled (shadow) or installed (EPT) as exits would, without counting them. Throws
    // std::logic_error for other shapes.
    virtual WalkMixed trace_mixed(GuestVirt va);
    // TwoDimensional and Mixed: the nested page size (log2 bytes). Throws std::logic_error
    // otherwise.
    virtual unsigned nested_page_shift() const;
    // TwoDimensional and Mixed: the nested page-walk length (4, or 5 with 5-level EPT). Throws
    // std::logic_error otherwise.
    virtual int nested_levels() const;

protected:
    ~Inspector() = default; // never owned through this interface
};

} // namespace vmmu
