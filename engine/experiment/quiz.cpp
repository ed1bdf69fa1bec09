#include "engine/experiment/quiz.h"

#include "engine/core/guest_memory.h"
#include "engine/core/paging.h"
#include "engine/host/p2m.h"
#include "engine/mmu/counters.h"
#include "engine/mmu/ept.h"
#include "engine/mmu/walker2d.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
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
    for (unsigned i = 0; i < count; ++i)
        out.push_back(rng() % 2 ? walk_refs_question(rng) : translate_question(rng));
    return out;
}

} // namespace vmmu
