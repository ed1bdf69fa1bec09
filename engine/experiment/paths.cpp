#include "engine/experiment/paths.h"

#include "engine/mmu/profile.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
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
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), ec.message()));
    }
}

namespace {

void probe_dir(const fs::path& dir, const std::string& what) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw std::invalid_argument(fmt::format(
            "{}: cannot create the directory '{}': {}; choose a writable location", what,
            dir.string(), ec.message()));
    fs::path probe = dir / fmt::format(".vmmu-write-test.{}", getpid());
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        throw std::invalid_argument(fmt::format("{}: cannot create a file in '{}': {}; choose a "
                                                "writable location",
                                                what, dir.string(), std::strerror(errno)));
    ::close(fd);
    fs::remove(probe, ec);
}

} // namespace

void check_output_file(const std::string& path, const std::string& flag) {
    if (path.empty())
        throw std::invalid_argument(
            fmt::format("{} needs a file name (e.g. {} out.json)", flag, flag));
    fs::path p(path);
    if (!p.has_filename())
        throw std::invalid_argument(fmt::format(
            "{} '{}' ends in a '/': give a file name (e.g. {})", flag, path,
            (p / "out.json").string()));
    std::error_code ec;
    if (fs::is_directory(p, ec))
        throw std::invalid_argument(fmt::format("{} '{}' is a directory: give a file name inside "
                                                "it (e.g. {})",
                                                flag, path, (p / "out.json").string()));
    probe_dir(p.parent_path().empty() ? fs::path(".") : p.parent_path(),
              fmt::format("{} '{}'", flag, path));
}

void check_output_dir(const std::string& dir, const std::string& flag) {
    if (dir.empty())
        throw std::invalid_argument(fmt::format("{} needs a directory name", flag));
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        throw std::invalid_argument(
            fmt::format("{} '{}' is a file, not a directory: give a directory", flag, dir));
    probe_dir(dir, fmt::format("{} '{}'", flag, dir));
}

} // namespace vmmu
