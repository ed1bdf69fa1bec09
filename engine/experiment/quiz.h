// `vmmu quiz`: exercises generated from a seed, answered by vmmu's own models. Topic "walk":
// the references of a cold 2D walk for given guest and EPT page sizes and EPT levels (the
// slat walker, engine/mmu/walker2d.h, walking hand-built tables), and the translation of a gVA
// from a printed guest page table (the guest's own walk, engine/mmu/inspect.h). Topic "exits":
// which of a sequence of guest operations exit under shadow paging and why (the shadow backend,
// created through the registry, driven with the events the engine would deliver, its exit trace
// recorded). Topic "tlb": which accesses of a sequence hit a small set-associative LRU TLB (the
// TLB model's array, engine/mmu/tlb.h).
#pragma once

#include "engine/mmu/inspect.h"

#include <cstdint>
#include <string>
#include <vector>

namespace vmmu {

// The topics a quiz draws from; "all" is every one of them.
inline const std::vector<std::string> kQuizTopics = {"walk", "exits", "tlb", "all"};

// One operation of a sequence (exits, tlb) and what the model did with it.
struct QuizStep {
    std::string operation; // what the guest does, in words
    std::string answer;    // exits: "no exit" or "exit: REASON (ACTION)"; tlb: "hit", "miss", "-"
    std::string why;       // how it comes out
    bool counts = true;    // tlb: false for an invalidation (not an access to predict)
};

struct QuizQuestion {
    std::string topic;
    std::string kind;     // "walk_refs", "translate", "shadow_exits" or "tlb_hits"
    std::string question; // the text a student reads
    std::string answer;   // the short answer
    std::string solution; // how it comes out, in words
    // walk_refs: the parameters and the count the walker made.
    unsigned guest_page_shift = 12, ept_page_shift = 12;
    int ept_levels = 4;
    uint64_t references = 0;
    // translate: the gVA, the guest's walk of it and its gPA.
    uint64_t va = 0, gpa = 0;
    std::vector<Ref1d> table;
    // shadow_exits, tlb_hits: the sequence, each step with the model's answer.
    std::vector<QuizStep> steps;
};

// `count` questions from `topic` (kQuizTopics), the same for the same seed. Throws
// std::invalid_argument for an unknown topic (naming the valid ones) or a count of 0.
std::vector<QuizQuestion> make_quiz(uint64_t seed, const std::string& topic, unsigned count);

// The cold 2D walk of a page mapped with these sizes, as the slat walker counts it (no caches;
// EPT entries installed as violations would, before the counted walk).
uint64_t cold_2d_references(unsigned guest_page_shift, unsigned ept_page_shift, int ept_levels);

} // namespace vmmu
