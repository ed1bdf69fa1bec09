// `vmmu demo exits`: every VM exit in the trace names the guest instruction that caused it,
// including the exits raised inside a data access or a fetch (hidden faults, EPT violations),
// whose backend events carry no RIP and get it from the vCPU.
#include "engine/experiment/run.h"
#include "engine/core/elf_image.h"
#include "engine/core/sensitive.h"
#include "vmmu/abi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

namespace vmmu {
namespace {

namespace fs = std::filesystem;

class DemoExits : public ::testing::Test {
protected:
    void SetUp() override {
        setenv("VMMU_GUEST_DIR", VMMU_GUEST_DIR, 1);
        setenv("VMMU_PROFILE_DIR", VMMU_SOURCE_DIR "/workloads/profiles", 1);
        images_.push_back(read_elf(VMMU_GUEST_DIR "/kernel.elf"));
        for (auto& e : fs::directory_iterator(VMMU_GUEST_DIR "/programs"))
            if (e.path().extension() == ".elf") images_.push_back(read_elf(e.path().string()));
    }
    // True when `rip` lies in the text of the kernel or of a user program.
    bool in_text(uint64_t rip) const {
        for (auto& img : images_)
            if (rip >= img.text_begin() && rip < img.text_end()) return true;
        return false;
    }
    // The instruction at `rip`, disassembled from the image that holds it ("" if none).
    std::string instruction_at(uint64_t rip) const {
        for (auto& img : images_)
            for (auto& seg : img.segments)
                if (seg.exec && rip >= seg.vaddr && rip < seg.vaddr + seg.file_size) {
                    uint64_t off = seg.file_offset + (rip - seg.vaddr);
                    uint64_t n = std::min<uint64_t>(16, img.bytes.size() - off);
                    return disassemble_one(img.bytes.data() + off, n, rip);
                }
        return "";
    }
    // Runs `workload` with one backend and an exit trace, as the demo does.
    std::vector<ExitRecord> trace(const std::string& workload, std::vector<std::string> params,
                                  const std::string& backend) {
        RunOptions o;
        o.workload = workload;
        o.params = std::move(params);
        o.backends = {backend};
        o.guest_mib = 256;
        o.echo_console = false;
        std::vector<ExitRecord> records;
        o.exit_trace = [&](const std::string&, const ExitRecord& r) { records.push_back(r); };
        RunOutput out = execute_run(o);
        EXPECT_EQ(run_status(out.result), "ok");
        EXPECT_EQ(records.size(), out.backends.at(0).counters.exits.total());
        return records;
    }
    std::vector<ElfImage> images_;
};

TEST_F(DemoExits, EveryShadowExitHasARipInsideTheKernelOrAProgram) {
    auto records = trace("forkwait", {"n=20"}, "shadow");
    std::map<ExitReason, uint64_t> by_reason;
    for (auto& r : records) {
        ++by_reason[r.reason];
        ASSERT_NE(r.rip, 0u) << kExitReasonNames[size_t(r.reason)] << " at " << std::hex
                             << r.address;
        EXPECT_TRUE(in_text(r.rip))
            << kExitReasonNames[size_t(r.reason)] << " rip " << std::hex << r.rip;
    }
    // Port I/O exits name the OUT itself, not an earlier instruction of its block.
    uint64_t io = 0;
    for (auto& r : records)
        if (r.reason == ExitReason::Io) {
            ++io;
            EXPECT_EQ(instruction_at(r.rip).rfind("out ", 0), 0u)
                << std::hex << r.rip << ": " << instruction_at(r.rip);
        }
    EXPECT_GT(io, 0u);
    // The exits raised inside an access are in the trace, not only the instruction-bound ones.
    EXPECT_GT(by_reason[ExitReason::PfHidden], 0u);
    EXPECT_GT(by_reason[ExitReason::PtWrite], 0u);
    EXPECT_GT(by_reason[ExitReason::Cr3Write], 0u);
}

TEST_F(DemoExits, HiddenFaultOnAUserDataAccessNamesTheUserInstruction) {
    // forkwait's processes touch their own data and stack: hidden faults on user addresses,
    // most raised by the program's instructions (the kernel also writes user memory, e.g. the
    // status of wait, so not all of them).
    auto records = trace("forkwait", {"n=5"}, "shadow");
    uint64_t from_program = 0;
    for (auto& r : records)
        if (r.reason == ExitReason::PfHidden && r.address >= VMMU_USER_DATA_BASE &&
            r.address < VMMU_DIRECT_MAP && r.rip >= VMMU_PROG_TEXT_BASE && r.rip < VMMU_CODE_END)
            ++from_program;
    EXPECT_GT(from_program, 0u);
}

TEST_F(DemoExits, EptViolationsUnderSlatHaveARip) {
    auto records = trace("forkwait", {"n=5"}, "slat");
    uint64_t violations = 0;
    for (auto& r : records) {
        if (r.reason != ExitReason::EptViolation) continue;
        ++violations;
        EXPECT_TRUE(in_text(r.rip)) << std::hex << r.rip;
    }
    EXPECT_GT(violations, 0u);
}

} // namespace
} // namespace vmmu
