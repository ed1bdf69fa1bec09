// `vmmu demo walk` and `vmmu demo exits`: classroom views of one translation and of the VM exits
// a shadow-paging hypervisor takes.
#include "engine/cli/commands.h"
#include "engine/experiment/exits_demo.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/run.h"
#include "engine/experiment/run_flags.h"
#include "engine/experiment/walk_demo.h"
#include "engine/output/exits_report.h"
#include "engine/output/walk_html.h"
#include "engine/output/walk_report.h"
#include "engine/core/machine.h"

#include <fmt/format.h>

#include <filesystem>
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
        write_file_atomic(f.html, walk_demo_html(demo)); // never a half-written page
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

struct ExitsFlags {
    RunFlags run;
    uint64_t limit = 40;
    bool limit_given = false;
    std::vector<std::string> reasons;
    std::string from = "boot";
    std::string html;
    bool json = false, explain = false;
};

void check_html_target(const std::string& html) {
    fs::path dir = fs::absolute(html).parent_path();
    if (!fs::is_directory(dir))
        throw std::invalid_argument(
            fmt::format("--html {}: folder {} does not exist; create it or choose another", html,
                        dir.string()));
}

int demo_exits(ExitsFlags& f) {
    RunOptions o = f.run.resolve();
    o.echo_console = false;
    if (!f.html.empty()) {
        if (f.json) throw std::invalid_argument("--html and --json: choose one");
        check_html_target(f.html);
    }
    if (f.from != "boot" && f.from != "roi")
        throw std::invalid_argument(fmt::format(
            "--from '{}': valid values are boot (every exit) and roi (from the workload's first "
            "region of interest on, skipping boot and set-up)",
            f.from));
    if (o.workload == "forkwait" && o.params.empty()) o.params = {"n=20"};
    ExitsRequest req{f.limit, f.reasons, f.from == "roi"};
    if (!f.html.empty()) {
        if (!f.limit_given) req.limit = 400;
        ExitsPage page = collect_exits_page(o, req);
        write_file_atomic(f.html, exits_page_html(page));
        fmt::print(stderr, "wrote {} ({} shadow and {} slat exits in the window)\n", f.html,
                   page.shadow.size(), page.slat.size());
        return 0;
    }
    ExitsDemo demo = collect_exits(o, req);
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
