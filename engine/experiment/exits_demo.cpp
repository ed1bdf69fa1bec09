#include "engine/experiment/exits_demo.h"

#include "engine/experiment/paths.h"
#include "engine/core/elf_image.h"
#include "engine/core/machine.h"
#include "engine/core/sensitive.h"
#include "engine/mmu/counters.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

// Names an address from the kernel's or a program's symbols.
struct Symbolizer {
    std::vector<std::pair<std::string, ElfImage>> images;
    explicit Symbolizer(const RunOptions& o) {
        fs::path g = guest_dir();
        images.emplace_back("",
                            read_elf(o.kernel.empty() ? (g / "kernel.elf").string() : o.kernel));
        for (auto& e : fs::directory_iterator(g / "programs"))
            if (e.path().extension() == ".elf")
                images.emplace_back(e.path().stem().string() + ":", read_elf(e.path().string()));
    }
    std::string operator()(uint64_t rip) const {
        for (auto& [prefix, img] : images) {
            std::string s = img.symbolize(rip);
            if (!s.empty()) return prefix + s;
        }
        // Assembly labels (the kernel's _start, trap stubs) are not typed as functions: name the
        // nearest symbol below `rip` in the same image's text.
        for (auto& [prefix, img] : images) {
            if (rip < img.text_begin() || rip >= img.text_end()) continue;
            const std::pair<const std::string, uint64_t>* best = nullptr;
            for (auto& sym : img.symbols)
                // At one address, prefer a label to a linker marker such as __text_start.
                if (sym.second <= rip && sym.second >= img.text_begin() &&
                    (!best || sym.second > best->second ||
                     (sym.second == best->second && best->first.rfind("__", 0) == 0)))
                    best = &sym;
            if (best) return fmt::format("{}{}+{:#x}", prefix, best->first, rip - best->second);
        }
        return "?";
    }
};

// The guest instruction at `rip` (Capstone) and the function holding it, read once the run has
// ended (the kernel's and programs' text does not change).
DemoExit named_exit(Machine& m, const Symbolizer& sym, const ExitRecord& r, std::string action,
                    uint64_t order) {
    uint8_t code[16] = {};
    uint64_t n = 0;
    while (n < sizeof code && m.memory().contains(GuestPhys(r.rip + n)))
        code[n] = *m.memory().host_ptr(GuestPhys(r.rip + n)), ++n;
    // The run fills in the RIP of exits raised inside an access or a fetch (run.cpp).
    bool has_rip = r.rip != 0;
    return {std::string(kExitReasonNames[size_t(r.reason)]),
            r.rip,
            has_rip ? disassemble_one(code, n, r.rip) : "-",
            has_rip ? sym(r.rip) : "(no RIP)",
            r.address,
            std::move(action),
            order,
            r.instructions};
}

void check_reasons(const std::vector<std::string>& reasons) {
    for (auto& r : reasons)
        if (std::find(kExitReasonNames.begin(), kExitReasonNames.end(), r) ==
            kExitReasonNames.end())
            throw std::invalid_argument(fmt::format("--reason '{}': not an exit reason (valid: {})",
                                                    r, fmt::join(kExitReasonNames, ", ")));
}

// Where the list starts: at boot, or at the first region of interest's begin marker (its words
// go to `from`).
struct Start {
    bool started;
    std::string from;
    explicit Start(bool from_roi) : started(!from_roi) {}
    void hook(RunOptions& o) {
        o.boundary_trace = [this](const Boundary& b) {
            if (started || b.kind != Boundary::Kind::RegionBegin) return;
            started = true;
            from =
                fmt::format("from region '{}' on, instruction {}", b.region, b.guest.instructions);
        };
    }
    void check(const RunOutput& out) const {
        if (!started)
            throw std::invalid_argument(
                fmt::format("--from roi: workload {} marks no region of interest; use --from boot",
                            out.workload.name));
    }
};

} // namespace

ExitsDemo collect_exits(RunOptions o, const ExitsRequest& req) {
    check_reasons(req.reasons);
    if (o.backends.size() != 1 || o.backends[0] == "native")
        throw std::invalid_argument(fmt::format(
            "--backends {}: demo exits shows one hypervisor scheme's exits at a time (shadow, "
            "slat, ...; native runs no hypervisor); run it once per scheme",
            fmt::join(o.backends, ",")));
    struct Row {
        ExitRecord r;
        std::string action;
    };
    std::vector<Row> rows;
    ExitsDemo demo;
    Start start(req.from_roi);
    start.hook(o);
    o.exit_trace = [&](const std::string&, const ExitRecord& r) {
        if (!start.started) return;
        std::string_view reason = kExitReasonNames[size_t(r.reason)];
        if (!req.reasons.empty() &&
            std::find(req.reasons.begin(), req.reasons.end(), reason) == req.reasons.end())
            return;
        ++demo.total_exits;
        ++demo.by_action[fmt::format("{} / {}", reason, r.action)];
        if (rows.size() < req.limit) rows.push_back({r, std::string(r.action)});
    };
    Symbolizer sym(o);
    o.inspect = [&](const PreparedRun& run) {
        for (auto& row : rows)
            demo.exits.push_back(named_exit(*run.machine, sym, row.r, row.action, 0));
    };
    RunOutput out = execute_run(o);
    if (req.from_roi) start.check(out);
    demo.backend = o.backends[0];
    demo.workload = out.workload.name;
    demo.params = out.params;
    demo.from = start.from;
    demo.reasons = req.reasons;
    return demo;
}

// The window holds shadow's first `limit` exits (from boot or the first region of interest) and
// every slat exit taken meanwhile; the run totals count every exit from the start on.
ExitsPage collect_exits_page(RunOptions o, const ExitsRequest& req) {
    check_reasons(req.reasons);
    for (auto& b : o.backends)
        if (b != "shadow" && b != "slat")
            throw std::invalid_argument(fmt::format(
                "--backends {}: demo exits --html shows shadow paging with slat for contrast; "
                "leave --backends out (or give shadow,slat)",
                fmt::join(o.backends, ",")));
    o.backends = {"shadow", "slat"};
    if (req.limit == 0)
        throw std::invalid_argument("--limit 0: the window needs at least one exit");
    struct Row {
        std::string backend;
        ExitRecord r;
        std::string action;
        uint64_t order;
    };
    std::vector<Row> rows;
    ExitsPage page;
    uint64_t order = 0, shadow_listed = 0;
    bool window_open = true;
    Start start(req.from_roi);
    start.hook(o);
    o.exit_trace = [&](const std::string& backend, const ExitRecord& r) {
        if (!start.started) return;
        std::string reason(kExitReasonNames[size_t(r.reason)]);
        ++(backend == "shadow" ? page.shadow_run_totals : page.slat_run_totals)[reason];
        ++order;
        if (!window_open) return;
        rows.push_back({backend, r, std::string(r.action), order});
        if (backend == "shadow" && ++shadow_listed == req.limit) window_open = false;
    };
    Symbolizer sym(o);
    o.inspect = [&](const PreparedRun& run) {
        for (auto& row : rows)
            (row.backend == "shadow" ? page.shadow : page.slat)
                .push_back(named_exit(*run.machine, sym, row.r, row.action, row.order));
    };
    RunOutput out = execute_run(o);
    if (req.from_roi) start.check(out);
    page.workload = out.workload.name;
    page.params = out.params;
    page.from = start.from;
    page.reasons = req.reasons;
    page.limit = req.limit;
    page.window_is_whole_run = window_open;
    return page;
}

} // namespace vmmu
