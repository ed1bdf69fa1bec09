// `vmmu quiz`: the answers the models give checked against computations made here, without them:
// the 2D walk formula (n + 1)(m + 1) - 1 and a by-hand reading of the printed table entries.
#include "engine/core/paging.h"
#include "engine/experiment/quiz.h"
#include "engine/output/quiz_report.h"

#include <fmt/format.h>

#include <gtest/gtest.h>

#include <stdexcept>

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
        EXPECT_NE(std::string(e.what()).find("valid: walk, all"), std::string::npos) << e.what();
    }
    EXPECT_THROW(make_quiz(1, "walk", 0), std::invalid_argument);
}
