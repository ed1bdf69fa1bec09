// `vmmu demo walk` and `vmmu demo exits`: classroom views of one translation and of the VM exits
// a shadow-paging hypervisor takes.
#include "engine/cli/commands.h"
#include "engine/experiment/paths.h"
#include "engine/experiment/run.h"
#include "engine/experiment/run_flags.h"
#include "engine/experiment/walk_demo.h"
#include "engine/core/elf_image.h"
#include "engine/core/paging.h"
#include "engine/core/sensitive.h"
#include "engine/shadow/shadow_backend.h"
#include "engine/slat/slat_backend.h"

#include <fmt/format.h>

#include <filesystem>

namespace vmmu {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

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

ojson refs_json(const std::vector<Ref1d>& refs) {
    ojson a = ojson::array();
    for (auto& r : refs)
        a.push_back({{"level", r.level},
                     {"address", fmt::format("{:#x}", r.address)},
                     {"entry", fmt::format("{:#x}", r.entry)}});
    return a;
}

std::string refs_text(const std::vector<Ref1d>& refs, const char* space) {
    std::string s;
    for (auto& r : refs)
        s += fmt::format("  L{} entry at {} {:#014x} = {:#018x}\n", r.level, space, r.address,
                         r.entry);
    return s;
}

struct WalkFlags {
    RunFlags run;
    std::string va;
    bool json = false;
};

int demo_walk(WalkFlags& f) {
    RunOptions o = f.run.resolve();
    o.echo_console = false;
    std::optional<uint64_t> want;
    if (!f.va.empty()) want = parse_address(f.va);
    ojson doc;
    std::string text;
    o.inspect = [&](const PreparedRun& run) {
        Machine& m = *run.machine;
        const GuestMemory& mem = m.memory();
        GuestPhys root;
        shadow::ShadowBackend* shadow = nullptr;
        SlatBackend* slat = nullptr;
        for (auto& b : run.backends) {
            if (auto* s = dynamic_cast<SlatBackend*>(b.get())) slat = s;
            if (auto* s = dynamic_cast<shadow::ShadowBackend*>(b.get())) shadow = s;
        }
        // Every backend tracks the same guest CR3; take it from one that exposes it.
        if (slat) root = slat->guest_root();
        else if (shadow) root = shadow->mmu().current_root().gfn;
        else throw std::invalid_argument("--backends: the walk demo needs shadow or slat");
        std::optional<uint64_t> va = want ? want : pick_data_va(mem, root);
        if (!va) throw std::invalid_argument("no 4K-mapped data address in the final address "
                                             "space; give one with --va");
        doc["schema"] = "vmmu.demo.walk/1";
        doc["va"] = fmt::format("{:#x}", *va);
        doc["guest_cr3_root"] = fmt::format("{:#x}", root.value());
        text += fmt::format("translation of gVA {:#x} under guest root gPA {:#x} (the address "
                            "space current when the guest stopped)\n\n",
                            *va, root.value());
        std::vector<Ref1d> guest = guest_walk(mem, root, *va);
        for (auto& name : o.backends) {
            if (name == "native") {
                doc["native"] = {{"references", guest.size()}, {"refs", refs_json(guest)}};
                text += fmt::format("native: {} references, the guest's own tables (gPA == "
                                    "physical address)\n{}\n",
                                    guest.size(), refs_text(guest, "PA"));
            } else if (name == "shadow" && shadow) {
                shadow::ShadowMmu& mmu = shadow->mmu();
                shadow::ShadowWalk w = mmu.walk(*va);
                bool filled = false;
                if (!w.ok && mmu.fix_hidden_fault(*va)) {
                    filled = true; // what the hidden-fault exit would have done
                    w = mmu.walk(*va);
                }
                std::vector<Ref1d> refs;
                uint64_t table = mmu.root_table().value();
                for (int l = 4; l > 4 - w.refs; --l) {
                    refs.push_back({l, table + 8ull * x86::table_index(*va, l), w.entry[l]});
                    table = w.entry[l] & x86::kPteAddrMask;
                }
                doc["shadow"] = {{"references", refs.size()},
                                 {"filled_by_hidden_fault", filled},
                                 {"hpa", w.ok ? ojson(fmt::format("{:#x}", w.hpa.value())) : ojson()},
                                 {"refs", refs_json(refs)}};
                text += fmt::format("shadow: {} references to the hypervisor's shadow tables "
                                    "(host-physical){}\n{}  -> hPA {:#x}\n\n",
                                    refs.size(), filled ? ", after a hidden-fault fill" : "",
                                    refs_text(refs, "hPA"), w.hpa.value());
            } else if (name == "slat" && slat) {
                std::vector<WalkRef> cold, first, again;
                Walk2dResult rc = slat->traced_walk(*va, false, false, cold);
                Walk2dResult rf = slat->traced_walk(*va, true, true, first);
                Walk2dResult ra = slat->traced_walk(*va, true, false, again);
                WalkGrid gf = walk_grid(cold, &first), ga = walk_grid(cold, &again);
                doc["slat"] = {{"cold_references", rc.refs},
                               {"cached_from_empty_references", rf.refs},
                               {"warm_references", ra.refs},
                               {"ept_page_shift", slat->ept().leaf_shift()},
                               {"cold_grid", grid_json(walk_grid(cold, nullptr))},
                               {"cached_from_empty_grid", grid_json(gf)},
                               {"warm_grid", grid_json(ga)}};
                text += fmt::format("slat: cold 2D walk, no page-walk caches or nested TLB: {} "
                                    "references (host-physical addresses, in order)\n{}\n",
                                    rc.refs, grid_text(gf, false));
                text += fmt::format("slat: with the PWCs and nested TLB (NTLB), starting empty: {} "
                                    "references; what the caches filled during this very walk "
                                    "saved\n{}\n",
                                    rf.refs, grid_text(gf, true));
                text += fmt::format("slat: the same walk again, caches warm: {} reference(s)\n{}\n",
                                    ra.refs, grid_text(ga, true));
            }
        }
    };
    RunOutput out = execute_run(o);
    if (out.result.stop != StopKind::Exited && out.result.stop != StopKind::Budget)
        fmt::print(stderr, "vmmu: note: guest stopped with {}\n", run_status(out.result));
    if (f.json) fmt::print("{}\n", doc.dump(2));
    else fmt::print("{}", text);
    return 0;
}

// Names an address from the kernel's or a program's symbols.
struct Symbolizer {
    std::vector<std::pair<std::string, ElfImage>> images;
    explicit Symbolizer(const RunOptions& o) {
        fs::path g = guest_dir();
        images.emplace_back("", read_elf(o.kernel.empty() ? (g / "kernel.elf").string() : o.kernel));
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
    bool json = false;
};

int demo_exits(ExitsFlags& f) {
    RunOptions o = f.run.resolve();
    o.echo_console = false;
    o.backends = {"shadow"};
    if (o.workload == "forkwait" && o.params.empty()) o.params = {"n=20"};
    struct Row {
        ExitRecord r;
        std::string action;
    };
    std::vector<Row> rows;
    std::map<std::string, uint64_t> by_action;
    o.exit_trace = [&](const std::string&, const ExitRecord& r) {
        std::string key = fmt::format("{} / {}", kExitReasonNames[size_t(r.reason)], r.action);
        ++by_action[key];
        if (rows.size() < f.limit) rows.push_back({r, std::string(r.action)});
    };
    ojson list = ojson::array();
    std::string text;
    Symbolizer sym(o);
    o.inspect = [&](const PreparedRun& run) {
        Machine& m = *run.machine;
        for (auto& row : rows) {
            uint8_t code[16] = {};
            uint64_t n = 0;
            while (n < sizeof code && m.memory().contains(GuestPhys(row.r.rip + n)))
                code[n] = *m.memory().host_ptr(GuestPhys(row.r.rip + n)), ++n;
            // The run fills in the RIP of exits raised inside an access or a fetch (run.cpp).
            bool has_rip = row.r.rip != 0;
            std::string insn = has_rip ? disassemble_one(code, n, row.r.rip) : "-";
            std::string where = has_rip ? sym(row.r.rip) : "(no RIP)";
            std::string reason(kExitReasonNames[size_t(row.r.reason)]);
            list.push_back({{"reason", reason},
                            {"rip", fmt::format("{:#x}", row.r.rip)},
                            {"instruction", insn},
                            {"function", where},
                            {"address", fmt::format("{:#x}", row.r.address)},
                            {"action", row.action}});
            text += fmt::format("{:<14}{:<#12x}{:<30} {:<28}{:<#16x}{}\n", reason, row.r.rip,
                                insn.empty() ? "?" : insn, where, row.r.address, row.action);
        }
    };
    RunOutput out = execute_run(o);
    if (f.json) {
        ojson doc = {{"schema", "vmmu.demo.exits/1"},
                     {"workload", out.workload.name},
                     {"params", out.params},
                     {"total_exits", out.backends.at(0).counters.exits.total()},
                     {"by_reason_and_action", by_action},
                     {"exits", list}};
        fmt::print("{}\n", doc.dump(2));
        return 0;
    }
    fmt::print("VM exits under shadow paging, workload {} (first {} of {}):\n", out.workload.name,
               rows.size(), out.backends.at(0).counters.exits.total());
    fmt::print("{:<14}{:<12}{:<30} {:<28}{:<16}{}\n", "reason", "guest RIP", "instruction",
               "function", "address", "hypervisor action");
    fmt::print("{}\nall exits by reason / action:\n", text);
    for (auto& [k, v] : by_action) fmt::print("  {:<44}{:>10}\n", k, v);
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
    w->add_option("--va", wf->va, "guest virtual address to walk (default: a user data page)");
    w->add_flag("--json", wf->json, "print JSON instead of text");
    w->callback([wf, &action] { action = [wf] { return demo_walk(*wf); }; });

    auto* e = demo->add_subcommand("exits", "a trace of the VM exits a shadow-paging hypervisor "
                                            "takes: reason, RIP, instruction, function, action");
    auto ef = std::make_shared<ExitsFlags>();
    ef->run.o.workload = "forkwait";
    ef->run.add(e);
    e->add_option("--limit", ef->limit, "exits to list")->capture_default_str();
    e->add_flag("--json", ef->json, "print JSON instead of text");
    e->callback([ef, &action] { action = [ef] { return demo_exits(*ef); }; });
}

} // namespace vmmu
