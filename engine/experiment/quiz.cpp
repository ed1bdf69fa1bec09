#include "engine/experiment/quiz.h"

#include "engine/core/guest_events.h"
#include "engine/core/guest_memory.h"
#include "engine/core/paging.h"
#include "engine/core/x86.h"
#include "engine/experiment/paths.h"
#include "engine/host/p2m.h"
#include "engine/mmu/backend_env.h"
#include "engine/mmu/counters.h"
#include "engine/mmu/ept.h"
#include "engine/mmu/profile.h"
#include "engine/mmu/registry.h"
#include "engine/mmu/tlb.h"
#include "engine/mmu/walker2d.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>

namespace vmmu {

namespace {

constexpr uint64_t kTableBase = 0x100000; // hand-built guest tables start at 1 MiB

// Guest page tables written into `mem` from kTableBase up, as an OS would.
class Tables {
public:
    explicit Tables(GuestMemory& mem) : mem_(mem), next_(kTableBase) { root_ = table(); }
    GuestPhys root() const { return root_; }
    void map(uint64_t va, uint64_t pa, unsigned shift) {
        int leaf = shift == 12 ? 1 : shift == 21 ? 2 : 3;
        GuestPhys t = root_;
        for (int level = 4; level > leaf; --level) {
            GuestPhys e = t + 8ull * x86::table_index(GuestVirt(va), level);
            uint64_t v = mem_.read_u64(e);
            if (!(v & x86::kPteP)) {
                v = table().value() | x86::kPteP | x86::kPteW | x86::kPteU;
                mem_.write_u64(e, v);
            }
            t = GuestPhys(v & x86::kPteAddrMask);
        }
        mem_.write_u64(t + 8ull * x86::table_index(GuestVirt(va), leaf),
                       pa | x86::kPteP | x86::kPteW | x86::kPteU | (leaf > 1 ? x86::kPtePs : 0));
    }

private:
    GuestPhys table() {
        GuestPhys pa(next_);
        next_ += 0x1000;
        for (unsigned i = 0; i < 512; ++i) mem_.write_u64(pa + 8ull * i, 0);
        return pa;
    }
    GuestMemory& mem_;
    uint64_t next_;
    GuestPhys root_;
};

const char* size_name(unsigned shift) { return shift == 30 ? "1G" : shift == 21 ? "2M" : "4K"; }

QuizQuestion walk_refs_question(std::mt19937_64& rng) {
    static const unsigned shifts[] = {12, 21, 30};
    QuizQuestion q;
    q.topic = "walk";
    q.kind = "walk_refs";
    q.guest_page_shift = shifts[rng() % 3];
    q.ept_page_shift = shifts[rng() % 3];
    q.ept_levels = rng() % 4 == 0 ? 5 : 4;
    q.references = cold_2d_references(q.guest_page_shift, q.ept_page_shift, q.ept_levels);
    q.question = fmt::format(
        "A guest maps a data page with {} pages in 4-level guest tables; the hypervisor maps "
        "guest memory with {} EPT pages in {}-level EPT. With no page-walk caches and no nested "
        "TLB, how many memory references does one 2D walk of that page make?",
        size_name(q.guest_page_shift), size_name(q.ept_page_shift), q.ept_levels);
    q.answer = fmt::format("{}", q.references);
    int n = 4 - static_cast<int>((q.guest_page_shift - 12) / 9);
    int m = q.ept_levels - static_cast<int>((q.ept_page_shift - 12) / 9);
    q.solution = fmt::format(
        "the guest walk reads {} guest entries (a {} leaf at gL{}), and each of those {} gPAs "
        "plus the data gPA goes through an EPT walk of {} entries ({} leaf at nL{}): {} guest "
        "reads + {} x {} nested reads = {} (the slat walker's count on hand-built tables)",
        n, size_name(q.guest_page_shift), 5 - n, n, m, size_name(q.ept_page_shift),
        q.ept_levels + 1 - m, n, n + 1, m, q.references);
    return q;
}

QuizQuestion translate_question(std::mt19937_64& rng) {
    QuizQuestion q;
    q.topic = "walk";
    q.kind = "translate";
    GuestMemory mem(64ull << 20);
    Tables t(mem);
    bool big = rng() % 2;
    unsigned shift = big ? 21 : 12;
    // A user address and a frame above the tables, both aligned to the page.
    uint64_t page = uint64_t{1} << shift;
    uint64_t va_page = (0x8000000000ull + (rng() % 4096) * page) & ~(page - 1);
    uint64_t pa = (0x2000000ull + (rng() % 8) * page) & ~(page - 1);
    t.map(va_page, pa, shift);
    q.va = va_page | (rng() % page & ~uint64_t{7});
    q.table = guest_walk(mem, t.root(), GuestVirt(q.va));
    auto r = x86::walk(t.root(), q.va, [&](GuestPhys e) { return mem.read_u64(e); });
    q.gpa = r.pa.value();
    std::string rows;
    for (auto& ref : q.table)
        rows += fmt::format("\n    gL{} entry at gPA {:#x} = {:#018x}", ref.level, ref.address,
                            ref.entry);
    q.question = fmt::format(
        "The guest's CR3 points at gPA {:#x}. Walking gVA {:#x} reads these entries:{}\n"
        "  Which gPA does gVA {:#x} translate to? (Bit 7, PS, marks a large-page leaf.)",
        t.root().value(), q.va, rows, q.va);
    q.answer = fmt::format("{:#x}", q.gpa);
    const Ref1d& leaf = q.table.back();
    q.solution = fmt::format(
        "the gL{} entry is a leaf ({}): frame {:#x} plus the low {} bits of the gVA ({:#x}) "
        "= {:#x}",
        leaf.level, leaf.level > 1 ? "PS set, a 2M page" : "a 4K page",
        leaf.entry & x86::kPteAddrMask & ~(page - 1), shift, q.va & (page - 1), q.gpa);
    return q;
}

// ---- exits: the shadow backend driven with a guest's operations ----

constexpr uint64_t kQuizPages = 0x400000; // the process's data pages: 0x400000, 0x401000, ...
constexpr uint64_t kReadOnlyPage = kQuizPages + 4 * 0x1000;
constexpr uint64_t kUnmappedPage = kQuizPages + 3 * 0x1000;

// A guest with two processes' page tables in its memory and the shadow backend attached, fed
// the events the engine delivers (engine/core/machine.cpp): accesses the guest tables allow,
// guest #PFs for the others, page-table stores reported after they land on a watched frame.
class ShadowQuizGuest {
public:
    explicit ShadowQuizGuest(const Profile& profile) : mem_(32ull << 20), profile_(profile) {
        for (GuestPhys* root : {&root_a_, &root_b_}) *root = table();
        uint64_t frames[2] = {0x800000, 0x900000};
        int i = 0;
        for (GuestPhys root : {root_a_, root_b_}) {
            for (uint64_t p = 0; p < 3; ++p)
                mem_.write_u64(entry(root, kQuizPages + p * 0x1000),
                               (frames[i] + p * 0x1000) | x86::kPteP | x86::kPteW | x86::kPteU);
            mem_.write_u64(entry(root, kReadOnlyPage),
                           (frames[i] + 4 * 0x1000) | x86::kPteP | x86::kPteU);
            ++i;
        }
        current_ = root_a_;
        BackendEnv env;
        env.memory = &mem_;
        env.p2m = &p2m_;
        env.profile = &profile_;
        env.initial_cr3 = root_a_.value();
        env.exit_trace = [this](const ExitRecord& r) {
            exits_.push_back({r.reason, std::string(r.action), r.address});
        };
        backend_ = create_backend("shadow", env);
    }
    struct Exit {
        ExitReason reason;
        std::string action;
        uint64_t address;
    };
    GuestPhys root_a() const { return root_a_; }
    GuestPhys root_b() const { return root_b_; }
    GuestPhys current() const { return current_; }
    Backend& backend() { return *backend_; }
    GuestMemory& memory() { return mem_; }
    const std::vector<Exit>& exits() const { return exits_; }
    // The leaf entry mapping `va` under `root` (the tables above exist: built in the constructor).
    GuestPhys entry(GuestPhys root, uint64_t va) {
        GuestPhys t = root;
        for (int level = 4; level > 1; --level) {
            GuestPhys e = t + 8ull * x86::table_index(GuestVirt(va), level);
            uint64_t v = mem_.read_u64(e);
            if (!(v & x86::kPteP)) {
                v = table().value() | x86::kPteP | x86::kPteW | x86::kPteU;
                mem_.write_u64(e, v);
            }
            t = GuestPhys(v & x86::kPteAddrMask);
        }
        return t + 8ull * x86::table_index(GuestVirt(va), 1);
    }
    // A data access: delivered if the guest's tables allow it, else the guest's #PF.
    bool access(uint64_t va, bool write) {
        auto r = x86::walk(current_, va, [&](GuestPhys e) { return mem_.read_u64(e); });
        if (r.ok && (!write || r.writable)) {
            backend_->on_access(DataAccess{GuestVirt(va), r.pa, 8, write, true});
            return true;
        }
        uint32_t error = (r.ok ? 1u : 0u) | (write ? 2u : 0u) | 4u;
        backend_->on_guest_fault(0, x86::kVecPf, GuestVirt(va), error);
        return false;
    }
    // A store to a page-table entry, as the engine's MMIO path reports a watched frame's.
    void store(GuestPhys pa, uint64_t value) {
        uint64_t old = mem_.read_u64(pa);
        mem_.write_u64(pa, value);
        if (mem_.watched(pa)) backend_->on_pt_write(0, pa, old, value, 8);
    }
    void cr3(GuestPhys root) {
        current_ = root;
        backend_->on_cr3_write(0, root.value());
    }

private:
    GuestPhys table() {
        GuestPhys pa(next_);
        next_ += 0x1000;
        for (unsigned i = 0; i < 512; ++i) mem_.write_u64(pa + 8ull * i, 0);
        return pa;
    }
    GuestMemory mem_;
    P2m p2m_;
    Profile profile_;
    uint64_t next_ = kTableBase;
    GuestPhys root_a_, root_b_, current_;
    std::unique_ptr<Backend> backend_;
    std::vector<Exit> exits_;
};

// Why the hypervisor took an exit, from its reason and the action the backend traced.
std::string exit_why(ExitReason reason, const std::string& action, uint64_t address) {
    switch (reason) {
    case ExitReason::PfHidden:
        if (action.find("write upgrade") != std::string::npos)
            return fmt::format("the shadow entry for gVA {:#x} is read-only (filled on a read, so "
                               "the guest's dirty bit can be set on the first write): a hidden "
                               "fault; the hypervisor makes it writable",
                               address);
        return fmt::format("the guest's tables map gVA {:#x} but the shadow tables have no entry "
                           "for it yet: a fault the guest never sees (pf_hidden); the hypervisor "
                           "copies the guest's entry into the shadow table (fill)",
                           address);
    case ExitReason::PfGuest:
        return fmt::format("the guest's own tables do not allow this access to gVA {:#x}; the "
                           "hardware cannot tell that from a hidden fault, so every #PF exits, "
                           "and the hypervisor injects it into the guest (reflect #PF)",
                           address);
    case ExitReason::PtWrite:
        if (action == "unsync")
            return fmt::format("the table at gPA {:#x} is write-protected because shadow entries "
                               "mirror it; it is a last-level table, so instead of emulating "
                               "the store the hypervisor stops protecting it (unsync) until the "
                               "guest's next invlpg or CR3 write",
                               address & ~uint64_t{0xfff});
        return fmt::format("the table at gPA {:#x} is write-protected because shadow entries "
                           "mirror it: the store traps, the hypervisor emulates it and updates "
                           "the shadow entry",
                           address & ~uint64_t{0xfff});
    case ExitReason::Cr3Write:
        return fmt::format(
            "a mov to CR3 exits under shadow paging: the hardware must load the shadow root, not "
            "the guest's; the hypervisor {} the shadow tables for guest root {:#x}{}",
            action.find("cached") != std::string::npos ? "finds (cached from before)" : "builds",
            address,
            action.find("resync") != std::string::npos
                ? ", and brings unsync tables up to date (resync), as a flush asks"
                : "");
    case ExitReason::Invlpg:
        return action == "resync"
                   ? fmt::format("invlpg exits; the table mapping gVA {:#x} was unsync, so the "
                                 "hypervisor brings its shadow entries up to date (resync)",
                                 address)
                   : fmt::format("invlpg exits: the hypervisor drops its shadow entry for gVA "
                                 "{:#x}, as the guest dropped its TLB entry",
                                 address);
    case ExitReason::Io:
        return "port I/O exits: the hypervisor emulates the device";
    case ExitReason::Hlt:
        return "hlt exits: the hypervisor deschedules the vCPU until its next interrupt";
    case ExitReason::Timer:
        return "the host's timer fires: the hypervisor injects the guest's timer interrupt";
    case ExitReason::Other:
        return "this instruction exits unconditionally under VMX; the hypervisor emulates it";
    default:
        return action;
    }
}

QuizQuestion shadow_exits_question(std::mt19937_64& rng) {
    QuizQuestion q;
    q.topic = "exits";
    q.kind = "shadow_exits";
    const Profile profile = load_profile("nehalem-2009", profile_dir());
    ShadowQuizGuest g(profile);
    // The operations to draw from; an access is more likely than the rest.
    enum Op { Read, Write, MapNew, Unmap, Invlpg, Switch, Syscall, Cpuid, Out, Hlt };
    static const Op draw[] = {Read,   Read,   Read,    Write, Write, MapNew, Unmap,
                              Invlpg, Switch, Syscall, Cpuid, Out,   Hlt};
    bool mapped_new = false;
    // Always start with a first touch, then 6 drawn operations.
    std::vector<std::pair<Op, uint64_t>> ops = {{Read, kQuizPages + 0x10}};
    while (ops.size() < 7) {
        Op op = draw[rng() % std::size(draw)];
        if (op == MapNew && mapped_new) continue;
        if (op == MapNew) mapped_new = true;
        static const uint64_t pages[] = {kQuizPages, kQuizPages + 0x1000, kQuizPages + 0x2000,
                                         kUnmappedPage, kReadOnlyPage};
        uint64_t va = pages[rng() % std::size(pages)] + 8 * (rng() % 64);
        if (op == Unmap) va = pages[rng() % 3];
        ops.push_back({op, va});
        // A touch of the same page again makes the TLB and the shadow's memory matter.
        if (op == Read && rng() % 2 && ops.size() < 7) ops.push_back({Read, va + 0x40});
    }
    std::string list;
    for (size_t i = 0; i < ops.size(); ++i) {
        auto [op, va] = ops[i];
        QuizStep s;
        size_t before = g.exits().size();
        TlbCounters tlb_before = g.backend().counters().tlb;
        bool watched = false, ever = false;
        GuestPhys pte{};
        switch (op) {
        case Read:
        case Write:
            s.operation = fmt::format("{} gVA {:#x}", op == Read ? "read" : "write", va);
            g.access(va, op == Write);
            break;
        case MapNew:
        case Unmap:
            pte = g.entry(g.current(), op == MapNew ? kUnmappedPage : va);
            watched = g.memory().watched(pte);
            ever = g.memory().ever_watched(pte);
            s.operation =
                op == MapNew
                    ? fmt::format("the kernel maps gVA {:#x}: it stores a PTE at gPA {:#x}",
                                  kUnmappedPage, pte.value())
                    : fmt::format("the kernel unmaps gVA {:#x}: it clears the PTE at gPA {:#x}", va,
                                  pte.value());
            g.store(pte, op == MapNew ? (0xa00000 | x86::kPteP | x86::kPteW | x86::kPteU) : 0);
            break;
        case Invlpg:
            s.operation = fmt::format("invlpg gVA {:#x}", va & ~uint64_t{0xfff});
            g.backend().on_invlpg(0, GuestVirt(va & ~uint64_t{0xfff}));
            break;
        case Switch: {
            GuestPhys to = g.current() == g.root_a() ? g.root_b() : g.root_a();
            s.operation = fmt::format("switch process: mov cr3 with {:#x} ({})", to.value(),
                                      to == g.root_a() ? "process A" : "process B");
            g.cr3(to);
            break;
        }
        case Syscall:
            s.operation = "syscall (enter the kernel)";
            g.backend().on_syscall(0);
            break;
        case Cpuid:
            s.operation = "cpuid";
            g.backend().on_sensitive(0, "cpuid");
            break;
        case Out:
            s.operation = "out to port 0x3f8 (the serial console)";
            g.backend().on_io(0, 0x3f8, true);
            break;
        case Hlt:
            s.operation = "hlt (the kernel idles)";
            g.backend().on_hlt(0);
            break;
        }
        list += fmt::format("\n    {}. {}", i + 1, s.operation);
        const auto& exits = g.exits();
        if (exits.size() > before) {
            std::vector<std::string> what, why;
            for (size_t k = before; k < exits.size(); ++k) {
                what.push_back(fmt::format("{} / {}", kExitReasonNames[size_t(exits[k].reason)],
                                           exits[k].action));
                why.push_back(exit_why(exits[k].reason, exits[k].action, exits[k].address));
            }
            s.answer = "exit: " + fmt::format("{}", fmt::join(what, ", then "));
            s.why = fmt::format("{}", fmt::join(why, "; then "));
        } else {
            s.answer = "no exit";
            const TlbCounters& t = g.backend().counters().tlb;
            if (op == Read || op == Write)
                s.why = t.l1d_misses == tlb_before.l1d_misses
                            ? "a TLB hit: the translation the shadow tables gave earlier is "
                              "still cached"
                            : "the shadow tables already hold a usable entry: the hardware "
                              "walks them on the TLB miss and needs no hypervisor";
            else if (op == MapNew || op == Unmap)
                s.why = ever && !watched
                            ? "the table is no longer write-protected (it went unsync at an "
                              "earlier store): the store goes straight through; the shadow "
                              "catches up at the next invlpg or CR3 write"
                            : "no shadow entry mirrors this table yet, so it is not "
                              "write-protected: the store goes straight through";
            else if (op == Syscall)
                s.why = "SYSCALL does not exit under VMX: it moves to the guest's own kernel";
            else
                s.why = "the hypervisor does not intercept it";
        }
        q.steps.push_back(s);
    }
    q.question = fmt::format(
        "A guest runs under shadow paging (KVM's policy: last-level tables may go unsync; "
        "VPID {}). Process A's tables map gVA {:#x}-{:#x} read-write and {:#x} read-only; {:#x} "
        "is not mapped. Process B maps the same addresses to other frames. Process A runs, its "
        "shadow tables still empty. Which of these operations exit to the hypervisor, and "
        "why?{}",
        profile.vpid ? "on" : "off", kQuizPages, kQuizPages + 0x2fff, kReadOnlyPage, kUnmappedPage,
        list);
    std::vector<std::string> steps, what;
    for (size_t i = 0; i < q.steps.size(); ++i)
        if (q.steps[i].answer != "no exit") {
            steps.push_back(fmt::format("{}", i + 1));
            what.push_back(fmt::format("{} {}", i + 1, q.steps[i].answer.substr(6)));
        }
    q.answer = steps.empty()
                   ? "none exits"
                   : fmt::format("{} {} exit{}: {}; the others do not",
                                 steps.size() == 1 ? "step" : "steps", fmt::join(steps, ", "),
                                 steps.size() == 1 ? "s" : "", fmt::join(what, ", "));
    std::vector<std::string> sol;
    for (size_t i = 0; i < q.steps.size(); ++i)
        sol.push_back(fmt::format("{}. {}: {}", i + 1, q.steps[i].answer, q.steps[i].why));
    q.solution = fmt::format("{} (the shadow backend's exit trace)", fmt::join(sol, ". "));
    return q;
}

// ---- tlb: a small LRU TLB array and an access sequence ----

QuizQuestion tlb_question(std::mt19937_64& rng) {
    QuizQuestion q;
    q.topic = "tlb";
    q.kind = "tlb_hits";
    static const TlbArrayGeometry shapes[] = {{4, 2}, {4, 4}, {8, 2}};
    TlbArrayGeometry geo = shapes[rng() % std::size(shapes)];
    GuestTlbArray tlb(geo, kSize4K);
    // Six pages over two sets (three to a set: more than its ways, so entries get evicted); ten
    // steps, each the page before last or any of the six, and now and then an invlpg.
    uint32_t sets = geo.sets();
    uint64_t set_a = rng() % sets, set_b = rng() % sets;
    std::vector<uint64_t> pages;
    while (pages.size() < 6) {
        uint64_t p = 0x10 + sets * (rng() % 8) + (pages.size() % 2 ? set_a : set_b);
        if (std::find(pages.begin(), pages.end(), p) == pages.end()) pages.push_back(p);
    }
    std::vector<std::pair<bool, uint64_t>> seq; // (invlpg, page)
    bool invalidated = false;
    while (seq.size() < 10) {
        bool inv = !invalidated && seq.size() >= 4 && rng() % 4 == 0;
        invalidated |= inv;
        uint64_t p = seq.size() >= 2 && rng() % 3 == 0 ? seq[seq.size() - 2].second
                                                       : pages[rng() % pages.size()];
        seq.push_back({inv, p});
    }
    auto va_of = [](uint64_t page) { return GuestVirt(page << 12); };
    auto resident = [&](uint32_t set) {
        // What the set holds, asked of a copy so that the probes change no LRU order here.
        GuestTlbArray probe = tlb;
        std::vector<std::string> out;
        std::sort(pages.begin(), pages.end());
        for (uint64_t p : pages)
            if ((p & (geo.sets() - 1)) == set && probe.lookup(va_of(p), 0, 0))
                out.push_back(fmt::format("{:#x}", p << 12));
        return out;
    };
    std::string list;
    unsigned hits = 0, accesses = 0;
    for (size_t i = 0; i < seq.size(); ++i) {
        auto [inv, page] = seq[i];
        GuestVirt va = va_of(page);
        uint32_t set = static_cast<uint32_t>(page & (sets - 1));
        QuizStep s;
        if (inv) {
            s.operation = fmt::format("invlpg {:#x}", va.value());
            s.answer = "-";
            s.counts = false;
            uint64_t dropped = tlb.invalidate_page(va, 0);
            std::vector<std::string> now = resident(set);
            s.why = fmt::format("{} (set {} now holds {})",
                                dropped ? "the entry is dropped" : "nothing to drop", set,
                                now.empty() ? "nothing" : fmt::format("{}", fmt::join(now, ", ")));
        } else {
            s.operation = fmt::format("access {:#x}", va.value() | (rng() % 512) * 8);
            ++accesses;
            std::vector<std::string> held = resident(set);
            if (tlb.lookup(va, 0, 0)) {
                ++hits;
                s.answer = "hit";
                s.why = fmt::format("page {:#x} is in set {}", va.value(), set);
            } else {
                s.answer = "miss";
                Translation t;
                t.frame = HostPhys((0x100000000ull + (page << 12)));
                tlb.fill(va, t, 0, 0);
                std::vector<std::string> now = resident(set);
                std::string evicted;
                for (auto& h : held)
                    if (std::find(now.begin(), now.end(), h) == now.end()) evicted = h;
                s.why = fmt::format(
                    "set {} held {}; filled{} (set {} now holds {})", set,
                    held.empty() ? "nothing" : fmt::format("{}", fmt::join(held, ", ")),
                    evicted.empty()
                        ? ""
                        : fmt::format(", evicting {}, the least recently used", evicted),
                    set, fmt::join(now, ", "));
            }
        }
        list += fmt::format("\n    {:>2}. {}", i + 1, s.operation);
        q.steps.push_back(s);
    }
    q.references = hits;
    q.question = fmt::format(
        "A TLB of {} entries, {}-way set-associative ({} set{}; set = page number mod {}), "
        "least recently used replacement, 4 KiB pages, starts empty. Which accesses hit?{}",
        geo.entries, geo.ways, geo.sets(), geo.sets() == 1 ? "" : "s", geo.sets(), list);
    std::vector<std::string> hit_steps, sol;
    for (size_t i = 0; i < q.steps.size(); ++i) {
        if (q.steps[i].answer == "hit") hit_steps.push_back(fmt::format("{}", i + 1));
        sol.push_back(fmt::format("{}. {}: {}", i + 1, q.steps[i].answer, q.steps[i].why));
    }
    q.answer = fmt::format("{} of {} hit{}", hits, accesses,
                           hit_steps.empty() ? std::string()
                                             : fmt::format(": {}", fmt::join(hit_steps, ", ")));
    q.solution = fmt::format("{} (the TLB model's array, engine/mmu/tlb.h)", fmt::join(sol, ". "));
    return q;
}

} // namespace

uint64_t cold_2d_references(unsigned guest_page_shift, unsigned ept_page_shift, int ept_levels) {
    // Room for a 1G guest page at gPA 1 GiB; the tables sit low.
    GuestMemory mem(2ull << 30);
    Tables t(mem);
    uint64_t page = uint64_t{1} << guest_page_shift;
    uint64_t va = 0x8000000000ull;
    uint64_t pa = guest_page_shift == 30 ? (1ull << 30) : 0x2000000;
    t.map(va, pa, guest_page_shift);
    P2m p2m;
    EptTables ept(p2m, mem.size(), ept_page_shift, ept_levels);
    WalkCounters counters;
    Walker2d walker(mem, ept, Walker2dConfig{}, &counters);
    GuestVirt at(va + page / 2);
    // Install the EPT entries the walk needs, as violations would; then the counted walk.
    for (int i = 0; i < 16; ++i) {
        Walk2dResult r = walker.walk(at, t.root(), 0);
        if (r.status != Walk2dResult::Status::EptViolation) break;
        ept.map(r.violation_gpa);
    }
    Walk2dResult r = walker.walk(at, t.root(), 0);
    if (r.status != Walk2dResult::Status::Ok)
        throw std::logic_error("quiz: the hand-built walk did not translate");
    return r.refs;
}

std::vector<QuizQuestion> make_quiz(uint64_t seed, const std::string& topic, unsigned count) {
    if (std::find(kQuizTopics.begin(), kQuizTopics.end(), topic) == kQuizTopics.end())
        throw std::invalid_argument(fmt::format("--topic '{}': no such topic (valid: {})", topic,
                                                fmt::join(kQuizTopics, ", ")));
    if (count == 0) throw std::invalid_argument("--count 0: ask for at least one question");
    std::mt19937_64 rng(seed);
    std::vector<QuizQuestion> out;
    for (unsigned i = 0; i < count; ++i) {
        if (topic == "walk")
            out.push_back(rng() % 2 ? walk_refs_question(rng) : translate_question(rng));
        else if (topic == "exits")
            out.push_back(shadow_exits_question(rng));
        else if (topic == "tlb")
            out.push_back(tlb_question(rng));
        else
            switch (rng() % 4) {
            case 0:
                out.push_back(walk_refs_question(rng));
                break;
            case 1:
                out.push_back(translate_question(rng));
                break;
            case 2:
                out.push_back(shadow_exits_question(rng));
                break;
            default:
                out.push_back(tlb_question(rng));
                break;
            }
    }
    return out;
}

} // namespace vmmu
