// `vmmu demo exits` as a table and as the vmmu.demo.exits/1 document.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vmmu {

// One traced VM exit, named: its guest instruction and the function holding it.
struct DemoExit {
    std::string reason;
    uint64_t rip = 0; // 0: the exit has no RIP
    std::string instruction;
    std::string function;
    uint64_t address = 0;
    std::string action;        // what the hypervisor did
    uint64_t order = 0;        // position among every traced exit of the run, all schemes
    uint64_t instructions = 0; // guest instructions retired before the exiting one
};

struct ExitsDemo {
    std::string backend; // the scheme whose exits these are
    std::string workload;
    std::string from;                 // "" (from boot) or where the list starts, in words
    std::vector<std::string> reasons; // the reasons listed ({} : all)
    std::map<std::string, uint64_t> params;
    uint64_t total_exits = 0;
    std::map<std::string, uint64_t> by_action; // "reason / action" -> exits
    std::vector<DemoExit> exits;               // the first ones, in order
};

// `vmmu demo exits --html`: one window of a run seen by two schemes at once (the same guest
// execution): shadow paging's exits and, for contrast, slat's in the same window.
struct ExitsPage {
    std::string workload;
    std::string from; // "" (from boot) or where the window starts, in words
    std::map<std::string, uint64_t> params;
    std::vector<std::string> reasons; // reasons the page's filter starts with ({}: all)
    uint64_t limit = 0;               // the window ends at this many shadow exits
    bool window_is_whole_run = false; // fewer shadow exits than the limit: the window is the run
    std::vector<DemoExit> shadow, slat;
    std::map<std::string, uint64_t> shadow_run_totals, slat_run_totals; // reason -> whole run
};

std::string exits_demo_text(const ExitsDemo& d);
// What an exit's address is, by reason: "gVA", "gPA", "CR3", "port" or "-".
std::string exit_address_kind(const std::string& reason);
// The terms the demos use (fill, unsync, resync, pf_hidden, PWC, NTLB, ...), for --explain.
std::string demo_glossary();
nlohmann::ordered_json exits_demo_json(const ExitsDemo& d); // vmmu.demo.exits/1
nlohmann::ordered_json exits_page_json(const ExitsPage& p); // vmmu.demo.exits_page/1
// The page: self-contained and offline (inline script and style, a content-security policy
// forbidding every request), the document above embedded as JSON and never recomputed.
std::string exits_page_html(const ExitsPage& p);

} // namespace vmmu
