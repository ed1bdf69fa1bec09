// An oracle mismatch end to end: a model that goes wrong in the middle of a run makes `vmmu run`
// stop with exit code 4, name the backend and the addresses, and still write its JSON with the
// counters so far. The fault is real: an EPT leaf is pointed at the wrong host frame, and the
// slat backend's own oracle finds it on the next walk through it.
#include "robustness_util.h"

#include "engine/cli/cli.h"
#include "engine/mmu/registry.h"
#include "engine/slat/slat_backend.h"

#include <nlohmann/json.hpp>

#include <cstdlib>

namespace vmmu::robust {
namespace {
using nlohmann::json;

// The slat model, with one EPT leaf corrupted after kAccessesBeforeCorruption data accesses.
class CorruptedSlat final : public Backend {
public:
    static constexpr uint64_t kAccessesBeforeCorruption = 20000;

    explicit CorruptedSlat(const BackendEnv& env) : env_(env), inner_(env) {}
    std::string name() const override { return "corrupted_slat"; }

    void on_access(const DataAccess& a) override {
        inner_.on_access(a);
        if (++accesses_ == kAccessesBeforeCorruption) {
            // The page just accessed now has an EPT leaf; send it 1 GiB away from its frame.
            HostPhys right = env_.p2m->translate(a.pa.page_base());
            inner_.corrupt_ept_leaf(a.pa, HostPhys(right.value() ^ (uint64_t{1} << 30)));
        }
    }
    void on_fetch(const Fetch& f) override { inner_.on_fetch(f); }
    void on_cr3_write(uint64_t rip, uint64_t cr3) override { inner_.on_cr3_write(rip, cr3); }
    void on_cr4_write(uint64_t rip, uint64_t cr4) override { inner_.on_cr4_write(rip, cr4); }
    void on_invlpg(uint64_t rip, GuestVirt va) override { inner_.on_invlpg(rip, va); }
    void on_pt_write(uint64_t rip, GuestPhys pa, uint64_t old_value, uint64_t new_value,
                     uint8_t size) override {
        inner_.on_pt_write(rip, pa, old_value, new_value, size);
    }
    void on_guest_fault(uint64_t rip, uint8_t vector, GuestVirt cr2, uint32_t code) override {
        inner_.on_guest_fault(rip, vector, cr2, code);
    }
    void on_timer(uint64_t rip) override { inner_.on_timer(rip); }
    void on_syscall(uint64_t rip) override { inner_.on_syscall(rip); }
    void on_hlt(uint64_t rip) override { inner_.on_hlt(rip); }
    void on_io(uint64_t rip, uint16_t port, bool write) override { inner_.on_io(rip, port, write); }
    void on_sensitive(uint64_t rip, std::string_view m) override { inner_.on_sensitive(rip, m); }
    void on_world_switch() override { inner_.on_world_switch(); }
    void on_host_remap(GuestPhys frame, HostRemap what) override {
        inner_.on_host_remap(frame, what);
    }
    const BackendCounters& counters() const override { return inner_.counters(); }
    CycleBreakdown cycles(uint64_t n) const override { return inner_.cycles(n); }

private:
    BackendEnv env_;
    SlatBackend inner_;
    uint64_t accesses_ = 0;
};

const bool registered = register_backend(
    "corrupted_slat", [](const BackendEnv& env) { return std::make_unique<CorruptedSlat>(env); });

int cli(std::vector<std::string> args) {
    args.insert(args.begin(), "vmmu");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    return cli_main(static_cast<int>(argv.size()), argv.data());
}

TEST(RobustOracle, CorruptedEptLeafStopsTheRunWithExitCodeFourAndKeepsTheJson) {
    ASSERT_TRUE(registered);
    setenv("VMMU_GUEST_DIR", VMMU_GUEST_DIR, 1);
    setenv("VMMU_PROFILE_DIR", VMMU_SOURCE_DIR "/workloads/profiles", 1);
    fs::path dir = fs::temp_directory_path() / "vmmu_robust_oracle";
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::path out = dir / "run.json";

    testing::internal::CaptureStderr();
    int code = cli({"run", "--workload", "forkwait", "--param", "n=4", "--quiet", "--backends",
                    "native,corrupted_slat", "--json", out.string()});
    std::string err = testing::internal::GetCapturedStderr();

    EXPECT_EQ(code, 4) << err;
    EXPECT_NE(err.find("slat"), std::string::npos) << err;
    EXPECT_NE(err.find("hPA"), std::string::npos) << err;
    EXPECT_NE(err.find("model error"), std::string::npos) << err;
    ASSERT_TRUE(fs::exists(out)) << "the counters so far are lost";
    json j = json::parse(read_text(out));
    EXPECT_EQ(j["status"], "oracle_mismatch");
    EXPECT_EQ(j["stop"]["kind"], "oracle_mismatch");
    EXPECT_NE(j["stop"]["message"].get<std::string>().find("hPA"), std::string::npos);
    // The run went as far as the corruption, and its counters are in the document.
    EXPECT_GE(j["guest"]["data_accesses"].get<uint64_t>(),
              CorruptedSlat::kAccessesBeforeCorruption);
    EXPECT_GT(j["backends"]["corrupted_slat"]["walks"]["count"].get<uint64_t>(), 0u);
    EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
    fs::remove_all(dir);
}

} // namespace
} // namespace vmmu::robust
