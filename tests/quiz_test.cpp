// `vmmu quiz`: the answers the models give checked against computations made here, without them:
// the 2D walk formula (n + 1)(m + 1) - 1, a by-hand reading of the printed table entries, an LRU
// simulation of the TLB questions, and what VMX with shadow paging must do for each operation.
#include "engine/core/paging.h"
#include "engine/experiment/quiz.h"
#include "engine/output/quiz_report.h"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>

using namespace vmmu;

TEST(Quiz, ColdWalkCountsFollowTheTwoDimensionalFormula) {
    for (unsigned g : {12u, 21u, 30u})
        for (unsigned e : {12u, 21u, 30u})
            for (int levels : {4, 5}) {
                int n = 4 - static_cast<int>((g - 12) / 9);      // guest entries read
                int m = levels - static_cast<int>((e - 12) / 9); // EPT entries per nested walk
                EXPECT_EQ(cold_2d_references(g, e, levels), uint64_t((n + 1) * (m + 1) - 1))
                    << g << " " << e << " " << levels;
            }
    EXPECT_EQ(cold_2d_references(12, 12, 4), 24u); // Bhargava et al., ASPLOS 2008
}

TEST(Quiz, TranslationAnswersMatchAHandReadingOfThePrintedEntries) {
    int translations = 0;
    for (uint64_t seed = 1; seed <= 20; ++seed)
        for (const QuizQuestion& q : make_quiz(seed, "walk", 4)) {
            if (q.kind != "translate") continue;
            ++translations;
            // By hand: follow the printed entries; the last one is the leaf.
            ASSERT_FALSE(q.table.empty());
            const Ref1d& leaf = q.table.back();
            ASSERT_TRUE(leaf.entry & 1);
            unsigned shift = leaf.level == 1 ? 12 : leaf.level == 2 ? 21 : 30;
            if (leaf.level > 1) {
                EXPECT_TRUE(leaf.entry & 0x80);
            }
            uint64_t frame = leaf.entry & 0x000f'ffff'ffff'f000ull & ~((1ull << shift) - 1);
            uint64_t mine = frame | (q.va & ((1ull << shift) - 1));
            EXPECT_EQ(q.answer, fmt::format("{:#x}", mine)) << q.question;
            EXPECT_NE(q.question.find(fmt::format("{:#018x}", leaf.entry)), std::string::npos);
        }
    EXPECT_GT(translations, 5);
}

TEST(Quiz, TheSameSeedGivesTheSameQuizAndAnotherSeedAnother) {
    std::string a = quiz_text(make_quiz(7, "all", 6), 7, true);
    EXPECT_EQ(a, quiz_text(make_quiz(7, "all", 6), 7, true));
    EXPECT_NE(a, quiz_text(make_quiz(8, "all", 6), 8, true));
    std::string hidden = quiz_text(make_quiz(7, "all", 6), 7, false);
    EXPECT_EQ(hidden.find("answer:"), std::string::npos);
    EXPECT_NE(a.find("answer:"), std::string::npos);
}

TEST(Quiz, AnUnknownTopicNamesTheValidOnes) {
    try {
        make_quiz(1, "caches", 3);
        FAIL() << "accepted an unknown topic";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("valid: walk, exits, tlb, all"), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(make_quiz(1, "walk", 0), std::invalid_argument);
}

// The TLB questions' hits, simulated here with per-set LRU lists from the printed question.
TEST(Quiz, TlbHitsMatchAnLruSimulationOfThePrintedSequence) {
    std::regex geometry(R"(A TLB of (\d+) entries, (\d+)-way)");
    std::regex step(R"((\d+)\. (access|invlpg) (0x[0-9a-f]+))");
    int questions = 0, hits_seen = 0, evictions = 0;
    for (uint64_t seed = 1; seed <= 30; ++seed)
        for (const QuizQuestion& q : make_quiz(seed, "tlb", 2)) {
            ++questions;
            std::smatch g;
            ASSERT_TRUE(std::regex_search(q.question, g, geometry)) << q.question;
            unsigned entries = std::stoul(g[1]), ways = std::stoul(g[2]), sets = entries / ways;
            std::map<uint64_t, std::deque<uint64_t>> lru; // set -> pages, least recent first
            ASSERT_EQ(q.steps.size(), 10u);
            for (size_t i = 0; i < q.steps.size(); ++i) {
                std::smatch m;
                std::string line = fmt::format("{}. {}", i + 1, q.steps[i].operation);
                ASSERT_TRUE(std::regex_search(line, m, step)) << line;
                uint64_t page = std::stoull(m[3], nullptr, 16) >> 12;
                auto& set = lru[page % sets];
                auto at = std::find(set.begin(), set.end(), page);
                if (m[2] == "invlpg") {
                    if (at != set.end()) set.erase(at);
                    EXPECT_EQ(q.steps[i].answer, "-");
                    continue;
                }
                bool hit = at != set.end();
                if (hit)
                    set.erase(at);
                else if (set.size() == ways)
                    set.pop_front(), ++evictions;
                set.push_back(page);
                hits_seen += hit;
                EXPECT_EQ(q.steps[i].answer, hit ? "hit" : "miss")
                    << q.question << "\nstep " << i + 1;
            }
        }
    EXPECT_EQ(questions, 60);
    EXPECT_GT(hits_seen, 30);
    EXPECT_GT(evictions, 10); // the sequences exercise replacement, not only cold misses
}

// What the architecture fixes, whatever the model's policy: a first touch of a mapped page under
// empty shadow tables is a hidden fault; the same page read again right away is not; SYSCALL
// never exits; CPUID, port I/O, HLT, mov to CR3 and invlpg always do; a write to a read-only page
// or a read of an unmapped one is the guest's own #PF, which exits under shadow paging.
TEST(Quiz, ShadowExitAnswersFollowWhatVmxAndShadowPagingRequire) {
    std::map<std::string, int> seen;
    for (uint64_t seed = 1; seed <= 30; ++seed)
        for (const QuizQuestion& q : make_quiz(seed, "exits", 2)) {
            ASSERT_EQ(q.steps.size(), 7u);
            EXPECT_EQ(q.steps[0].operation, "read gVA 0x400010");
            EXPECT_EQ(q.steps[0].answer, "exit: pf_hidden / fill");
            bool mapped_3000 = false;
            for (size_t i = 0; i < q.steps.size(); ++i) {
                const QuizStep& s = q.steps[i];
                const std::string& op = s.operation;
                std::string kind = op.substr(0, op.find(' '));
                ++seen[kind];
                if (op.find("maps gVA 0x403000") != std::string::npos) mapped_3000 = true;
                if (kind == "syscall") EXPECT_EQ(s.answer, "no exit");
                if (kind == "cpuid") EXPECT_EQ(s.answer, "exit: other / emulate instruction");
                if (kind == "out") EXPECT_EQ(s.answer, "exit: io / emulate port I/O");
                if (kind == "hlt") EXPECT_EQ(s.answer.rfind("exit: hlt", 0), 0u) << s.answer;
                if (kind == "switch") EXPECT_EQ(s.answer.rfind("exit: cr3_write", 0), 0u);
                if (kind == "invlpg") EXPECT_EQ(s.answer.rfind("exit: invlpg", 0), 0u);
                if (kind == "write" && op.find("0x404") != std::string::npos)
                    EXPECT_EQ(s.answer, "exit: pf_guest / reflect #PF") << op;
                if (kind == "read" && op.find("0x403") != std::string::npos && !mapped_3000)
                    EXPECT_EQ(s.answer, "exit: pf_guest / reflect #PF") << op;
                // The same page read again at once: the shadow entry (and TLB) hold it.
                if (i > 0 && kind == "read" && q.steps[i - 1].operation.rfind("read", 0) == 0 &&
                    q.steps[i - 1].answer.rfind("exit: pf_guest", 0) != 0 &&
                    op.substr(0, 14) == q.steps[i - 1].operation.substr(0, 14)) {
                    ++seen["read again"];
                    EXPECT_EQ(s.answer, "no exit") << q.question;
                }
                EXPECT_FALSE(s.why.empty());
            }
        }
    for (const char* kind : {"read", "write", "the", "invlpg", "switch", "syscall", "read again"})
        EXPECT_GT(seen[kind], 0) << kind;
}

TEST(Quiz, TopicAllDrawsEveryKind) {
    std::map<std::string, int> kinds;
    for (const QuizQuestion& q : make_quiz(3, "all", 20)) ++kinds[q.kind];
    for (const char* k : {"walk_refs", "translate", "shadow_exits", "tlb_hits"})
        EXPECT_GT(kinds[k], 0) << k;
}
