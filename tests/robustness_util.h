// Running the built `vmmu` as a user would: a subprocess, its exit code, stdout and stderr.
#pragma once

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace vmmu::robust {
namespace fs = std::filesystem;

struct Outcome {
    int code = -1; // exit code; 128 + signal if it was killed
    std::string out, err;
};

inline std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_text(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

inline std::vector<uint8_t> read_bytes(const fs::path& p) {
    std::string s = read_text(p);
    return std::vector<uint8_t>(s.begin(), s.end());
}

inline void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
    std::ofstream(p, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// A fresh directory for one test under the build tree.
// The running test's full name, Suite.Test: scratch directories are named after it, and two
// suites may have a test of the same name running at the same time (ctest -j).
inline std::string test_name() {
    const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(t->test_suite_name()) + "." + t->name();
}

inline fs::path scratch(const std::string& name) {
    fs::path d = fs::path(VMMU_BINARY_DIR) / "robustness" / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

// A started `vmmu` whose output goes to files in `dir`.
class Child {
public:
    Child(const std::vector<std::string>& args, const fs::path& dir,
          const std::vector<std::pair<std::string, std::string>>& env = {})
        : dir_(dir) {
        pid_ = fork();
        if (pid_ == 0) {
            for (auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
            if (!freopen((dir / "stdout").c_str(), "w", stdout) ||
                !freopen((dir / "stderr").c_str(), "w", stderr))
                _exit(126);
            std::vector<char*> argv;
            std::string exe = VMMU_EXE;
            argv.push_back(exe.data());
            std::vector<std::string> copy = args;
            for (auto& a : copy) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(exe.c_str(), argv.data());
            _exit(127);
        }
    }
    pid_t pid() const { return pid_; }
    Outcome wait() {
        int status = 0;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        Outcome o;
        o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        o.out = read_text(dir_ / "stdout");
        o.err = read_text(dir_ / "stderr");
        return o;
    }

private:
    fs::path dir_;
    pid_t pid_ = -1;
};

inline Outcome run_vmmu(const std::vector<std::string>& args, const fs::path& dir,
                        const std::vector<std::pair<std::string, std::string>>& env = {}) {
    return Child(args, dir, env).wait();
}

inline bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// Exit code and every expected part of stderr, with the whole output on failure.
#define EXPECT_FAILS_WITH(outcome, exit_code, ...)                                                 \
    do {                                                                                           \
        const auto& o_ = (outcome);                                                                \
        EXPECT_EQ(o_.code, exit_code) << "stderr:\n" << o_.err;                                    \
        for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__})                     \
            EXPECT_TRUE(::vmmu::robust::has(o_.err, part_))                                        \
                << "stderr lacks \"" << part_ << "\":\n"                                           \
                << o_.err;                                                                         \
    } while (0)

} // namespace vmmu::robust
