#include "engine/cli/paths.h"

#include "engine/mmu/profile.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace vmmu {
namespace fs = std::filesystem;

fs::path executable_dir() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return fs::current_path();
    buf[n] = 0;
    return fs::path(buf).parent_path();
}

fs::path guest_dir() {
    if (const char* env = std::getenv("VMMU_GUEST_DIR")) return env;
    for (fs::path d = executable_dir(); !d.empty(); d = d.parent_path()) {
        if (fs::exists(d / "guest" / "kernel.elf")) return d / "guest";
        if (d == d.parent_path()) break;
    }
    return executable_dir() / "guest";
}

fs::path profile_dir() {
    if (const char* env = std::getenv("VMMU_PROFILE_DIR")) return env;
    fs::path d = find_profile_dir(executable_dir());
    return d.empty() ? find_profile_dir(fs::current_path()) : d;
}

void write_file_atomic(const fs::path& path, const std::string& text) {
    if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
    fs::path tmp = path;
    tmp += fmt::format(".tmp.{}", getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
        out << text;
        out.flush();
        if (!out) {
            fs::remove(tmp);
            throw std::runtime_error(fmt::format("cannot write {}: disk full?", tmp.string()));
        }
    }
    fs::rename(tmp, path);
}

} // namespace vmmu
