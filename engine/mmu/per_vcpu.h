// A scheme's per-vCPU state (several vCPUs per VM, docs/ARCHITECTURE.md "Several vCPUs"): the
// scheme keeps the running vCPU's state in its own members, so its hot path is unchanged, and
// the other vCPUs' states wait here. A switch exchanges the live members with the parked state of
// the vCPU that runs next (moves: a TLB's arrays change hands, nothing is copied).
#pragma once

#include <fmt/format.h>

#include <map>
#include <stdexcept>
#include <utility>

namespace vmmu {

template <class State> class ParkedVcpus {
public:
    // vCPU `index` starts with `fresh` (GuestObserver::on_vcpu_start).
    void start(unsigned index, State fresh) {
        if (index == running_ || parked_.count(index))
            throw std::logic_error(fmt::format("vCPU {} started twice", index));
        parked_.emplace(index, std::move(fresh));
    }
    // vCPU `index` runs next (GuestObserver::on_vcpu_switch): `exchange(State&)` swaps the
    // scheme's live members with the state it is given.
    template <class Exchange> void switch_to(unsigned index, Exchange exchange) {
        if (index == running_) return;
        auto node = parked_.extract(index);
        if (node.empty())
            throw std::logic_error(fmt::format("switch to vCPU {}, never started", index));
        exchange(node.mapped());
        node.key() = running_;
        parked_.insert(std::move(node));
        running_ = index;
    }
    unsigned running() const { return running_; }
    // Every parked state (a flush that reaches every vCPU).
    template <class Fn> void for_each_parked(Fn fn) {
        for (auto& [index, state] : parked_) fn(state);
    }

private:
    std::map<unsigned, State> parked_;
    unsigned running_ = 0;
};

} // namespace vmmu
