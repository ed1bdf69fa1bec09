#include "engine/experiment/paths.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace vmmu {
namespace fs = std::filesystem;

fs::path executable_path() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    buf[n] = 0;
    return fs::path(buf);
}

fs::path executable_dir() {
    fs::path exe = executable_path();
    return exe.empty() ? fs::current_path() : exe.parent_path();
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<fs::path> data_dir_candidates(const fs::path& exe_dir, const char* env_data_dir) {
    if (env_data_dir && *env_data_dir) return {fs::path(env_data_dir)};
    return {(exe_dir / ".." / "share" / "vmmu").lexically_normal(),
            (exe_dir / "share" / "vmmu").lexically_normal()};
}

fs::path find_data_dir(const fs::path& exe_dir, const char* env_data_dir) {
    auto candidates = data_dir_candidates(exe_dir, env_data_dir);
    std::error_code ec;
    for (auto& d : candidates)
        if (fs::is_directory(d / "profiles", ec)) return d;
    bool from_env = env_data_dir && *env_data_dir;
    std::string looked;
    for (auto& d : candidates)
        looked += fmt::format("\n  {}{}", d.string(), from_env ? " (VMMU_DATA_DIR)" : "");
    throw std::invalid_argument(fmt::format(
        "cannot find vmmu's data directory (guest images, CPU profiles, scenarios, schemas, "
        "report script); looked for a directory holding profiles/ at:{}{}\n"
        "fix: reinstall with 'cmake --install BUILD --prefix P' and run P/bin/vmmu, run the "
        "build tree's BUILD/vmmu, or set VMMU_DATA_DIR to an installed P/share/vmmu",
        looked, from_env ? "" : "\n(VMMU_DATA_DIR is not set)"));
}

fs::path data_dir() { return find_data_dir(executable_dir(), std::getenv("VMMU_DATA_DIR")); }

fs::path guest_dir() {
    if (const char* env = std::getenv("VMMU_GUEST_DIR")) return env;
    return data_dir() / "guest";
}

fs::path profile_dir() {
    if (const char* env = std::getenv("VMMU_PROFILE_DIR")) return env;
    return data_dir() / "profiles";
}

fs::path scenario_dir() { return data_dir() / "scenarios"; }

fs::path report_script() { return data_dir() / "report" / "make_report.py"; }

void write_file_atomic(const fs::path& path, const std::string& text) {
    if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
    fs::path tmp = path;
    tmp += fmt::format(".tmp.{}", getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out)
            throw std::runtime_error(
                fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
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
        throw std::invalid_argument(
            fmt::format("{}: cannot create the directory '{}': {}; choose a writable location",
                        what, dir.string(), ec.message()));
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
        throw std::invalid_argument(fmt::format("{} '{}' ends in a '/': give a file name (e.g. {})",
                                                flag, path, (p / "out.json").string()));
    std::error_code ec;
    if (fs::is_directory(p, ec))
        throw std::invalid_argument(fmt::format("{} '{}' is a directory: give a file name inside "
                                                "it (e.g. {})",
                                                flag, path, (p / "out.json").string()));
    probe_dir(p.parent_path().empty() ? fs::path(".") : p.parent_path(),
              fmt::format("{} '{}'", flag, path));
}

void check_output_dir(const std::string& dir, const std::string& flag) {
    if (dir.empty()) throw std::invalid_argument(fmt::format("{} needs a directory name", flag));
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
        throw std::invalid_argument(
            fmt::format("{} '{}' is a file, not a directory: give a directory", flag, dir));
    probe_dir(dir, fmt::format("{} '{}'", flag, dir));
}

std::string json_error_text(const std::string& text, const nlohmann::json::exception& e) {
    if (dynamic_cast<const nlohmann::json::out_of_range*>(&e))
        return "a number is out of range (larger than a double can hold)";
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..."
    if (auto colon = what.find(": "); colon != std::string::npos) what = what.substr(colon + 2);
    const auto* pe = dynamic_cast<const nlohmann::json::parse_error*>(&e);
    if (!pe) return what;
    // nlohmann counts bytes from 1; the error is at the last byte it read.
    size_t end = std::min(pe->byte ? pe->byte - 1 : 0, text.size());
    size_t line = 1, column = 1;
    for (size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return fmt::format("line {}, column {}: {}", line, column, what);
}

} // namespace vmmu
