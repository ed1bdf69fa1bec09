// `vmmu demo exits`: the VM exits of one run, collected and named (the guest instruction that
// exited, the function holding it, what the hypervisor did). engine/output formats them as a
// table, a document or a page; engine/cli only reads flags and writes what it gets.
#pragma once

#include "engine/experiment/run.h"

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

struct ExitsRequest {
    uint64_t limit = 40;              // exits listed (the page: shadow exits in its window)
    std::vector<std::string> reasons; // list only these ({}: all); the page filters later
    bool from_roi = false;            // from the first region of interest on, not from boot
};

// Each throws std::invalid_argument naming bad input: an unknown reason, a scheme the view does
// not show, a limit of 0 for the page, --from roi on a workload that marks no region.
ExitsDemo collect_exits(RunOptions o, const ExitsRequest& req);      // one hypervisor scheme
ExitsPage collect_exits_page(RunOptions o, const ExitsRequest& req); // shadow and slat

} // namespace vmmu
