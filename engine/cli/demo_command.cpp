// `vmmu demo walk` and `vmmu demo exits`: classroom views of one translation and of the VM exits
// a shadow-paging hypervisor takes.
#include "engine/cli/commands.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/run.h"
#include "engine/experiment/run_flags.h"
#include "engine/experiment/walk_demo.h"
#include "engine/output/exits_report.h"
#include "engine/output/walk_html.h"
#include "engine/output/walk_report.h"
#include "engine/core/elf_image.h"
#include "engine/core/machine.h"
#include "engine/core/sensitive.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace vmmu {
namespace fs = std::filesystem;

namespace {

uint64_t parse_address(const std::string& s) {
    size_t used = 0;
    uint64_t v = 0;
    try {
        v = std::stoull(s, &used, 0);
    } catch (const std::exception&) {
        used = 0;
    }
    if (s.empty() || used != s.size())
        throw std::invalid_argument(
            fmt::format("--va '{}': not an address (hex 0x... or decimal)", s));
    return v;
}

struct WalkFlags {
    RunFlags run;
    std::string va;
    std::string at = "roi";
    uint64_t at_instruction = 0;
    std::string html;
    bool json = false, explain = false;
};

int demo_walk(WalkFlags& f) {
    RunOptions o = f.run.resolve();
    o.echo_console = false;
    std::optional<uint64_t> want;
    if (!f.va.empty()) {
        want = parse_address(f.va);
        int levels = static_cast<int>(o.guest_levels);
        if (!canonical_va(*want, levels))
            throw std::invalid_argument(fmt::format(
                "--va {:#x}: not a canonical address (bits 63..{} must all equal bit {}, as "
                "x86-64 requires with {}-level guest tables); the CPU raises #GP before any walk. "
                "User addresses are below {:#x}",
                *want, levels == 5 ? 56 : 47, levels == 5 ? 56 : 47, levels,
                levels == 5 ? uint64_t{1} << 56 : uint64_t{1} << 47));
    }
    if (f.at != "roi" && f.at != "end")
        throw std::invalid_argument(
            fmt::format("--at '{}': valid values are roi (the first region of interest's begin "
                        "marker, or the end if the workload marks none) and end",
                        f.at));
    if (!f.html.empty()) {
        fs::path dir = fs::absolute(f.html).parent_path();
        if (!fs::is_directory(dir))
            throw std::invalid_argument(
                fmt::format("--html {}: folder {} does not exist; create it or choose another",
                            f.html, dir.string()));
    }
    o.inspect_at_region = f.at == "roi" && !f.at_instruction;
    o.inspect_at_instruction = f.at_instruction;
    WalkDemo demo;
    o.inspect = [&](const PreparedRun& run) {
        demo = explain_walks(run.machine->memory(), run.backends, want);
        demo.moment = run.inspected_at;
    };
    RunOutput out = execute_run(o);
    if (out.result.stop != StopKind::Exited && out.result.stop != StopKind::Budget &&
        out.result.stop != StopKind::Quantum)
        fmt::print(stderr, "vmmu: note: guest stopped with {}\n", run_status(out.result));
    if (demo.moment.empty() && (f.at_instruction || f.at == "roi"))
        fmt::print(stderr, "vmmu: note: {}; walked at the end of the run\n",
                   f.at_instruction
                       ? fmt::format("the guest ended after {} instructions, before "
                                     "--at-instruction {}",
                                     out.result.guest.instructions, f.at_instruction)
                       : fmt::format("workload {} marks no region of interest", out.workload.name));
    if (!f.html.empty()) {
        bool two_d = false;
        for (auto& b : demo.backends) two_d |= b.shape == WalkShape::TwoDimensional;
        if (!two_d)
            throw std::invalid_argument("--html: the page steps through a 2D walk; include a "
                                        "nested-paging scheme in --backends (slat)");
        // Written whole, then renamed: never a half-written page.
        std::string tmp = f.html + ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary);
            out << walk_demo_html(demo);
            if (!out) throw std::runtime_error(fmt::format("cannot write {}", tmp));
        }
        fs::rename(tmp, f.html);
        fmt::print(stderr, "wrote {}\n", f.html);
        return 0;
    }
    if (f.json) {
        fmt::print("{}\n", walk_demo_json(demo).dump(2));
        return 0;
    }
    if (f.explain) fmt::print("{}\n", demo_glossary());
    fmt::print("{}", walk_demo_text(demo));
    return 0;
}

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

struct ExitsFlags {
    RunFlags run;
    uint64_t limit = 40;
    bool limit_given = false;
    std::vector<std::string> reasons;
    std::string from = "boot";
    std::string html;
    bool json = false, explain = false;
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

void check_html_target(const std::string& html) {
    fs::path dir = fs::absolute(html).parent_path();
    if (!fs::is_directory(dir))
        throw std::invalid_argument(
            fmt::format("--html {}: folder {} does not exist; create it or choose another", html,
                        dir.string()));
}

// `demo exits --html`: one run with shadow and slat attached to the same guest execution; the
// window holds shadow's first `limit` exits (from boot or the first region of interest) and
// every slat exit taken meanwhile.
int demo_exits_page(ExitsFlags& f, RunOptions o) {
    for (auto& b : o.backends)
        if (b != "shadow" && b != "slat")
            throw std::invalid_argument(fmt::format(
                "--backends {}: demo exits --html shows shadow paging with slat for contrast; "
                "leave --backends out (or give shadow,slat)",
                fmt::join(o.backends, ",")));
    o.backends = {"shadow", "slat"};
    uint64_t limit = f.limit_given ? f.limit : 400;
    if (limit == 0) throw std::invalid_argument("--limit 0: the window needs at least one exit");
    struct Row {
        std::string backend;
        ExitRecord r;
        std::string action;
        uint64_t order;
    };
    std::vector<Row> rows;
    ExitsPage page;
    uint64_t order = 0, shadow_listed = 0;
    bool started = f.from == "boot", window_open = true;
    o.boundary_trace = [&](const Boundary& b) {
        if (started || b.kind != Boundary::Kind::RegionBegin) return;
        started = true;
        page.from =
            fmt::format("from region '{}' on, instruction {}", b.region, b.guest.instructions);
    };
    o.exit_trace = [&](const std::string& backend, const ExitRecord& r) {
        if (!started) return;
        std::string reason(kExitReasonNames[size_t(r.reason)]);
        ++(backend == "shadow" ? page.shadow_run_totals : page.slat_run_totals)[reason];
        ++order;
        if (!window_open) return;
        rows.push_back({backend, r, std::string(r.action), order});
        if (backend == "shadow" && ++shadow_listed == limit) window_open = false;
    };
    Symbolizer sym(o);
    o.inspect = [&](const PreparedRun& run) {
        for (auto& row : rows)
            (row.backend == "shadow" ? page.shadow : page.slat)
                .push_back(named_exit(*run.machine, sym, row.r, row.action, row.order));
    };
    RunOutput out = execute_run(o);
    if (f.from == "roi" && !started)
        throw std::invalid_argument(
            fmt::format("--from roi: workload {} marks no region of interest; use --from boot",
                        out.workload.name));
    page.workload = out.workload.name;
    page.params = out.params;
    page.reasons = f.reasons;
    page.limit = limit;
    page.window_is_whole_run = window_open;
    write_file_atomic(f.html, exits_page_html(page));
    fmt::print(stderr, "wrote {} ({} shadow and {} slat exits in the window)\n", f.html,
               page.shadow.size(), page.slat.size());
    return 0;
}

int demo_exits(ExitsFlags& f) {
    RunOptions o = f.run.resolve();
    o.echo_console = false;
    if (!f.html.empty()) {
        if (f.json) throw std::invalid_argument("--html and --json: choose one");
        check_html_target(f.html);
    }
    for (auto& r : f.reasons)
        if (std::find(kExitReasonNames.begin(), kExitReasonNames.end(), r) ==
            kExitReasonNames.end())
            throw std::invalid_argument(fmt::format("--reason '{}': not an exit reason (valid: {})",
                                                    r, fmt::join(kExitReasonNames, ", ")));
    if (f.from != "boot" && f.from != "roi")
        throw std::invalid_argument(fmt::format(
            "--from '{}': valid values are boot (every exit) and roi (from the workload's first "
            "region of interest on, skipping boot and set-up)",
            f.from));
    if (o.workload == "forkwait" && o.params.empty()) o.params = {"n=20"};
    if (!f.html.empty()) return demo_exits_page(f, o);
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
    std::map<std::string, uint64_t> by_action;
    uint64_t listed_total = 0;
    bool started = f.from == "boot";
    std::string from;
    o.boundary_trace = [&](const Boundary& b) {
        if (started || b.kind != Boundary::Kind::RegionBegin) return;
        started = true;
        from = fmt::format("from region '{}' on, instruction {}", b.region, b.guest.instructions);
    };
    o.exit_trace = [&](const std::string&, const ExitRecord& r) {
        if (!started) return;
        std::string_view reason = kExitReasonNames[size_t(r.reason)];
        if (!f.reasons.empty() &&
            std::find(f.reasons.begin(), f.reasons.end(), reason) == f.reasons.end())
            return;
        ++listed_total;
        ++by_action[fmt::format("{} / {}", reason, r.action)];
        if (rows.size() < f.limit) rows.push_back({r, std::string(r.action)});
    };
    ExitsDemo demo;
    Symbolizer sym(o);
    o.inspect = [&](const PreparedRun& run) {
        for (auto& row : rows)
            demo.exits.push_back(named_exit(*run.machine, sym, row.r, row.action, 0));
    };
    RunOutput out = execute_run(o);
    if (f.from == "roi" && !started)
        throw std::invalid_argument(
            fmt::format("--from roi: workload {} marks no region of interest; use --from boot",
                        out.workload.name));
    demo.backend = o.backends[0];
    demo.workload = out.workload.name;
    demo.params = out.params;
    demo.from = from;
    demo.reasons = f.reasons;
    demo.total_exits = listed_total;
    demo.by_action = by_action;
    if (f.json) {
        fmt::print("{}\n", exits_demo_json(demo).dump(2));
        return 0;
    }
    if (f.explain) fmt::print("{}\n", demo_glossary());
    fmt::print("{}", exits_demo_text(demo));
    return 0;
}

} // namespace

void add_demo_command(CLI::App& app, Action& action) {
    auto* demo = app.add_subcommand("demo", "classroom demonstrations");
    demo->require_subcommand(1);
    auto* w = demo->add_subcommand("walk", "one data address translated step by step: the 24 "
                                           "references of a 2D walk, shadow and native's 4");
    auto wf = std::make_shared<WalkFlags>();
    wf->run.add(w);
    w->add_option("--va", wf->va,
                  "guest virtual address to walk (default: the first mapped user data page)");
    w->add_option("--at", wf->at,
                  "when to walk: roi (at the workload's first region of interest, in its "
                  "process; the end if it marks none) or end (once the run ended)")
        ->capture_default_str();
    w->add_option("--at-instruction", wf->at_instruction,
                  "walk after N guest instructions (block granularity), in the process running "
                  "then; overrides --at");
    w->add_flag("--json", wf->json, "print JSON instead of text");
    w->add_flag("--explain", wf->explain, "print a glossary of the terms first");
    w->add_option("--html", wf->html,
                  "write a self-contained offline page stepping through the 2D walk instead");
    w->callback([wf, &action] { action = [wf] { return demo_walk(*wf); }; });

    auto* e = demo->add_subcommand("exits", "a trace of the VM exits a shadow-paging hypervisor "
                                            "takes: reason, RIP, instruction, function, action");
    auto ef = std::make_shared<ExitsFlags>();
    ef->run.o.workload = "forkwait";
    ef->run.backends = "shadow";
    ef->run.add(e);
    e->add_option("--limit", ef->limit,
                  "exits to list (with --html: shadow exits in the window, default 400)")
        ->capture_default_str();
    e->add_option("--reason", ef->reasons,
                  "list only exits of these reasons (cr3_write, pf_hidden, pt_write, "
                  "ept_violation, ...; repeat or comma-separate)")
        ->delimiter(',');
    e->add_option("--from", ef->from,
                  "boot (every exit) or roi (from the workload's first region of interest on)")
        ->capture_default_str();
    e->add_flag("--explain", ef->explain, "print a glossary of the terms first");
    e->add_flag("--json", ef->json, "print JSON instead of text");
    e->add_option("--html", ef->html,
                  "write a self-contained offline page instead: shadow's exits as a timeline "
                  "with filters, and slat's in the same window (runs both schemes)");
    e->callback([ef, e, &action] {
        ef->limit_given = e->count("--limit") > 0;
        action = [ef] { return demo_exits(*ef); };
    });
}

} // namespace vmmu
