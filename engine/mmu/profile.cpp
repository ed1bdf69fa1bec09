#include "engine/mmu/profile.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmmu {
namespace {

using nlohmann::json;

// Walks one JSON object, remembering its key path for error messages.
class Node {
public:
    Node(const json& j, std::string path, const std::string* profile)
        : j_(j), path_(std::move(path)), profile_(profile) {}

    [[noreturn]] void fail(std::string_view key, std::string_view problem) const {
        std::string where = path_.empty() ? std::string(key)
                            : key.empty() ? path_
                                          : path_ + "." + std::string(key);
        throw std::invalid_argument(fmt::format("profile {}: {}: {}", *profile_, where, problem));
    }
    void require_object() const {
        if (!j_.is_object()) fail("", "must be an object");
    }
    // Every key must be one of `allowed`, and every one of `required` must be present.
    void keys(std::initializer_list<std::string_view> allowed,
              std::initializer_list<std::string_view> required) const {
        require_object();
        for (auto& [k, v] : j_.items())
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end())
                fail(k, "unknown key");
        for (std::string_view k : required)
            if (!j_.contains(k)) fail(k, "missing");
    }
    Node child(std::string_view key) const {
        if (!j_.contains(key)) fail(key, "missing");
        return Node(j_.at(std::string(key)),
                    path_.empty() ? std::string(key) : path_ + "." + std::string(key), profile_);
    }
    bool has(std::string_view key) const { return j_.contains(key); }
    std::string text(std::string_view key) const {
        const json& v = at(key);
        if (!v.is_string() || v.get<std::string>().empty()) fail(key, "must be a non-empty string");
        return v.get<std::string>();
    }
    bool flag(std::string_view key) const {
        const json& v = at(key);
        if (!v.is_boolean()) fail(key, "must be true or false");
        return v.get<bool>();
    }
    double number(std::string_view key, double min, double max) const {
        const json& v = at(key);
        if (!v.is_number()) fail(key, "must be a number");
        double d = v.get<double>();
        if (!std::isfinite(d) || d < min || d > max)
            fail(key, fmt::format("{} is out of range [{}, {}]", d, min, max));
        return d;
    }
    uint32_t count(std::string_view key, uint32_t min, uint32_t max) const {
        const json& v = at(key);
        if (!v.is_number_integer()) fail(key, "must be an integer");
        int64_t n = v.get<int64_t>();
        if (n < min || n > max) fail(key, fmt::format("{} is out of range [{}, {}]", n, min, max));
        return static_cast<uint32_t>(n);
    }
    const std::string& path() const { return path_; }

private:
    const json& at(std::string_view key) const {
        if (!j_.contains(key)) fail(key, "missing");
        return j_.at(std::string(key));
    }
    const json& j_;
    std::string path_;
    const std::string* profile_;
};

constexpr double kMaxCycles = 1e7;

// {"value": x, "source": "..."}: one sourced number.
double sourced(const Node& parent, std::string_view key, double min, double max, Profile& p) {
    Node n = parent.child(key);
    n.keys({"value", "source"}, {"value", "source"});
    p.sources[n.path()] = n.text("source");
    return n.number("value", min, max);
}

// {"entries": E, "ways": W, ...}: a set-associative array; sets must be a power of two.
TlbArrayGeometry geometry(const Node& n, bool allow_empty) {
    TlbArrayGeometry g;
    g.entries = n.count("entries", allow_empty ? 0 : 1, 1u << 16);
    g.ways = n.count("ways", allow_empty ? 0 : 1, 255);
    if (g.entries == 0 && g.ways == 0) return g;
    if (g.ways == 0) n.fail("ways", "must be >= 1");
    if (g.entries % g.ways != 0)
        n.fail("entries", fmt::format("{} is not a multiple of {} ways", g.entries, g.ways));
    if (!std::has_single_bit(g.sets()))
        n.fail("entries", fmt::format("{} entries / {} ways = {} sets: must be a power of two",
                                      g.entries, g.ways, g.sets()));
    return g;
}

TlbArrayGeometry tlb_array(const Node& tlb, std::string_view key, Profile& p, bool* holds_2m) {
    Node n = tlb.child(key);
    if (holds_2m)
        n.keys({"entries", "ways", "holds_2m", "source"},
               {"entries", "ways", "holds_2m", "source"});
    else
        n.keys({"entries", "ways", "source"}, {"entries", "ways", "source"});
    p.sources[n.path()] = n.text("source");
    if (holds_2m) *holds_2m = n.flag("holds_2m");
    return geometry(n, key == "l1d_large");
}

// {"size_kib": S, "ways": W, "latency": L, ["inclusive": b,] "source": "..."}: one cache level.
CacheLevelConfig cache_level(const Node& caches, std::string_view key, uint32_t line_bytes,
                             Profile& p, bool* inclusive) {
    Node n = caches.child(key);
    if (inclusive)
        n.keys({"size_kib", "ways", "latency", "inclusive", "source"},
               {"size_kib", "ways", "latency", "inclusive", "source"});
    else
        n.keys({"size_kib", "ways", "latency", "source"},
               {"size_kib", "ways", "latency", "source"});
    p.sources[n.path()] = n.text("source");
    CacheLevelConfig c;
    c.size_kib = n.count("size_kib", 1, 1u << 20);
    c.ways = n.count("ways", 0, 64);
    c.latency = n.number("latency", 0, kMaxCycles);
    if (inclusive) *inclusive = n.flag("inclusive");
    if (c.ways == 0) n.fail("ways", "must be >= 1");
    if (std::string problem = cache_level_problem(c, line_bytes); !problem.empty())
        n.fail("size_kib", problem);
    return c;
}

CacheConfig cache_hierarchy(const Node& root, Profile& p) {
    Node n = root.child("caches");
    n.keys({"line_bytes", "l1d", "l2", "llc", "memory", "walker_l1d", "source"},
           {"line_bytes", "l1d", "llc", "memory", "walker_l1d", "source"});
    p.sources[n.path()] = n.text("source");
    CacheConfig c;
    c.line_bytes = n.count("line_bytes", 16, 4096);
    if (!std::has_single_bit(c.line_bytes)) n.fail("line_bytes", "must be a power of two");
    c.l1d = cache_level(n, "l1d", c.line_bytes, p, nullptr);
    if (n.has("l2")) c.l2 = cache_level(n, "l2", c.line_bytes, p, nullptr);
    c.llc = cache_level(n, "llc", c.line_bytes, p, &c.llc_inclusive);
    c.memory_latency = sourced(n, "memory", 0, kMaxCycles, p);
    Node walker = n.child("walker_l1d");
    walker.keys({"value", "source"}, {"value", "source"});
    p.sources[walker.path()] = walker.text("source");
    c.walker_uses_l1d = walker.flag("value");
    // A farther level is never faster than a nearer one.
    struct Step {
        std::string key;
        double latency;
    };
    std::vector<Step> order{{"l1d.latency", c.l1d.latency}};
    if (c.l2.present()) order.push_back({"l2.latency", c.l2.latency});
    order.push_back({"llc.latency", c.llc.latency});
    order.push_back({"memory.value", c.memory_latency});
    for (size_t i = 1; i < order.size(); ++i)
        if (order[i].latency < order[i - 1].latency)
            n.fail(order[i - 1].key,
                   fmt::format("{} cycles is more than {} ({}): latencies must not decrease from "
                               "L1D to memory",
                               order[i - 1].latency, n.path() + "." + order[i].key,
                               order[i].latency));
    return c;
}

PwcConfig pwc_sizes(const Node& n, Profile& p) {
    p.sources[n.path()] = n.text("source");
    PwcConfig c{n.count("pml4e", 0, 1024), n.count("pdpte", 0, 1024), n.count("pde", 0, 1024)};
    // Five-level walks only. Estimate where a profile gives none: SDM vol. 3, 4.10.3.1 names a
    // PML5E cache (and EPT walks of 5 levels cache the same way, 29.4.3) but no processor
    // documents its size; one as large as the PML4E cache is assumed (upper entries are few).
    c.pml5e = n.has("pml5e") ? n.count("pml5e", 0, 1024) : c.pml4e;
    return c;
}

} // namespace

Profile parse_profile(const json& j, std::string_view origin) {
    Profile p;
    std::string label(origin);
    Node root(j, "", &label);
    // Errors name the profile itself as soon as it has a readable name.
    if (j.is_object() && j.contains("name") && j["name"].is_string()) label = j["name"];
    root.keys({"name", "description", "core_ghz", "base_cpi", "features", "tlb", "pwc", "ntlb",
               "caches", "latency", "vm_exit"},
              {"name", "description", "core_ghz", "base_cpi", "features", "tlb", "pwc", "ntlb",
               "caches", "latency", "vm_exit"});
    p.name = root.text("name");
    label = p.name;
    p.description = root.text("description");
    p.core_ghz = sourced(root, "core_ghz", 0.1, 10, p);
    p.base_cpi = sourced(root, "base_cpi", 0.05, 100, p);

    Node features = root.child("features");
    features.keys({"ept", "vpid", "pcid", "apicv", "ipiv", "source"},
                  {"ept", "vpid", "pcid", "source"});
    p.ept = features.flag("ept");
    p.vpid = features.flag("vpid");
    p.pcid = features.flag("pcid");
    // APIC virtualization (several vCPUs): optional, absent means the CPU has none.
    p.apicv = features.has("apicv") && features.flag("apicv");
    p.ipiv = features.has("ipiv") && features.flag("ipiv");
    p.sources[features.path()] = features.text("source");
    // Every CPU with APIC virtualization has EPT (Intel APICv from Ivy Bridge-EP, AMD AVIC from
    // family 15h model 60h, both years after nested paging); a profile with one and not the
    // other describes no processor.
    if (p.apicv && !p.ept)
        features.fail("apicv", "APIC virtualization needs features.ept (no CPU has one without "
                               "the other)");
    if (p.ipiv && !p.apicv)
        features.fail("ipiv", "IPI virtualization needs features.apicv (it posts the interrupt "
                              "through APICv's posted-interrupt descriptors)");

    Node tlb = root.child("tlb");
    tlb.keys({"l1i", "l1d_4k", "l1d_large", "stlb"}, {"l1i", "l1d_4k", "l1d_large", "stlb"});
    p.tlb.l1i = tlb_array(tlb, "l1i", p, nullptr);
    p.tlb.l1d_4k = tlb_array(tlb, "l1d_4k", p, nullptr);
    p.tlb.l1d_large = tlb_array(tlb, "l1d_large", p, nullptr);
    p.tlb.stlb = tlb_array(tlb, "stlb", p, &p.tlb.stlb_holds_2m);

    Node pwc = root.child("pwc");
    pwc.keys({"guest", "nested"}, {"guest", "nested"});
    Node guest = pwc.child("guest");
    guest.keys({"pml5e", "pml4e", "pdpte", "pde", "source"}, {"pml4e", "pdpte", "pde", "source"});
    p.pwc = pwc_sizes(guest, p);
    Node nested = pwc.child("nested");
    nested.keys({"present", "pml5e", "pml4e", "pdpte", "pde", "source"},
                {"present", "pml4e", "pdpte", "pde", "source"});
    p.nested_pwc = nested.flag("present");
    p.pwc_nested = pwc_sizes(nested, p);

    Node ntlb = root.child("ntlb");
    ntlb.keys({"present", "entries", "ways", "source"}, {"present", "entries", "ways", "source"});
    p.ntlb = ntlb.flag("present");
    p.sources[ntlb.path()] = ntlb.text("source");
    p.ntlb_geometry = geometry(ntlb, !p.ntlb);
    if (p.nested_pwc && !p.ept) nested.fail("present", "nested page-walk caches need features.ept");
    if (p.ntlb && !p.ept) ntlb.fail("present", "a nested TLB needs features.ept");

    p.caches = cache_hierarchy(root, p);

    Node latency = root.child("latency");
    latency.keys({"walk_ref", "pwc_hit", "ntlb_hit"}, {"walk_ref", "pwc_hit", "ntlb_hit"});
    p.walk_ref_cycles = sourced(latency, "walk_ref", 0, kMaxCycles, p);
    p.pwc_hit_cycles = sourced(latency, "pwc_hit", 0, kMaxCycles, p);
    p.ntlb_hit_cycles = sourced(latency, "ntlb_hit", 0, kMaxCycles, p);

    Node exit = root.child("vm_exit");
    exit.keys({"round_trip", "handler", "hv_flush_entry"},
              {"round_trip", "handler", "hv_flush_entry"});
    p.exit_round_trip_cycles = sourced(exit, "round_trip", 0, kMaxCycles, p);
    p.hv_flush_entry_cycles = sourced(exit, "hv_flush_entry", 0, kMaxCycles, p);
    Node handler = exit.child("handler");
    handler.require_object();
    for (auto& [k, v] : j.at("vm_exit").at("handler").items())
        if (std::find(kExitReasonNames.begin(), kExitReasonNames.end(), k) ==
            kExitReasonNames.end())
            handler.fail(k, "unknown key (not an exit reason)");
    for (size_t r = 0; r < kExitReasonNames.size(); ++r)
        p.handler_cycles[r] = sourced(handler, kExitReasonNames[r], 0, kMaxCycles, p);
    return p;
}

namespace {

// Applies one `--set KEY=VALUE` to a profile's JSON.
void apply_set(json& j, const std::string& set, const std::string& profile) {
    auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0)
        throw std::invalid_argument(fmt::format(
            "--set '{}': expected KEY=VALUE, a profile key path and its new value (e.g. "
            "tlb.stlb.entries=1024, vm_exit.round_trip.value=1200)",
            set));
    std::string key = set.substr(0, eq), text = set.substr(eq + 1);
    auto fail = [&](const std::string& problem) {
        throw std::invalid_argument(fmt::format("--set {}: {}", set, problem));
    };
    json* at = &j;
    json* group = nullptr;
    std::string walked;
    size_t start = 0;
    while (true) {
        size_t dot = key.find('.', start);
        std::string part = key.substr(start, dot == std::string::npos ? dot : dot - start);
        if (!at->is_object() || !at->contains(part)) {
            std::string known;
            if (at->is_object())
                for (auto& [k, _] : at->items()) known += (known.empty() ? "" : ", ") + k;
            fail(fmt::format("profile {} has no key {}{} ({} holds: {})", profile,
                             walked.empty() ? "" : walked + ".", part,
                             walked.empty() ? "the profile" : walked, known));
        }
        group = at;
        at = &(*at)[part];
        walked += (walked.empty() ? "" : ".") + part;
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    if (at->is_object()) {
        std::string known;
        for (auto& [k, _] : at->items()) known += (known.empty() ? "" : ", ") + k;
        fail(fmt::format("{} is a group in profile {}: set one of its keys ({})", key, profile,
                         known));
    }
    if (key == "name") fail("a profile's name cannot be overridden (use --profile FILE)");
    json value;
    try {
        value = json::parse(text);
    } catch (const json::exception&) {
        value = text; // a bare word is a string
    }
    auto kind = [](const json& v) {
        return v.is_boolean() ? "true or false" : v.is_number() ? "a number" : "a string";
    };
    if (std::string(kind(value)) != kind(*at))
        fail(fmt::format("{} must be {} (profile {} has {})", key, kind(*at), profile, at->dump()));
    std::string was = at->dump();
    *at = value;
    if (group->contains("source") && (*group)["source"].is_string())
        (*group)["source"] = fmt::format("{} [overridden by --set {} (was {})]",
                                         (*group)["source"].get<std::string>(), set, was);
}

} // namespace

Profile load_profile_file(const std::filesystem::path& file, const std::vector<std::string>& sets) {
    std::ifstream in(file);
    if (!in) throw std::invalid_argument(fmt::format("profile {}: cannot open", file.string()));
    json j;
    try {
        j = json::parse(in);
    } catch (const json::parse_error& e) {
        throw std::invalid_argument(fmt::format("profile {}: {}", file.string(), e.what()));
    }
    if (sets.empty()) return parse_profile(j, file.stem().string());
    std::string name = j.is_object() && j.contains("name") && j["name"].is_string()
                           ? j["name"].get<std::string>()
                           : file.stem().string();
    for (auto& s : sets) apply_set(j, s, name);
    try {
        return parse_profile(j, file.stem().string());
    } catch (const std::invalid_argument& e) {
        // The profile's own rule, with the overrides that broke it.
        std::string given;
        for (auto& s : sets) given += (given.empty() ? "" : " ") + s;
        throw std::invalid_argument(fmt::format("--set {}: {}", given, e.what()));
    }
}

std::filesystem::path profile_file(std::string_view name_or_path,
                                   const std::filesystem::path& dir) {
    std::filesystem::path arg(name_or_path);
    bool is_path = arg.has_parent_path() || arg.extension() == ".json";
    if (is_path) return arg;
    std::filesystem::path file = dir / (std::string(name_or_path) + ".json");
    if (!std::filesystem::exists(file)) {
        std::vector<std::string> names = profile_names(dir);
        std::string known;
        for (auto& n : names) known += (known.empty() ? "" : ", ") + n;
        throw std::invalid_argument(fmt::format("profile {}: not found in {} (known: {})",
                                                name_or_path, dir.string(), known));
    }
    return file;
}

Profile load_profile(std::string_view name_or_path, const std::filesystem::path& dir,
                     const std::vector<std::string>& sets) {
    std::filesystem::path arg(name_or_path);
    bool is_path = arg.has_parent_path() || arg.extension() == ".json";
    std::filesystem::path file = profile_file(name_or_path, dir);
    Profile p = load_profile_file(file, sets);
    if (!is_path && p.name != name_or_path)
        throw std::invalid_argument(fmt::format("profile {}: name: file {} says \"{}\"",
                                                name_or_path, file.string(), p.name));
    return p;
}

std::filesystem::path find_profile_dir(const std::filesystem::path& start) {
    std::error_code ec;
    for (auto dir = std::filesystem::absolute(start, ec); !dir.empty(); dir = dir.parent_path()) {
        auto candidate = dir / "workloads" / "profiles";
        if (std::filesystem::is_directory(candidate, ec)) return candidate;
        if (dir == dir.parent_path()) break;
    }
    return {};
}

std::vector<std::string> profile_names(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace vmmu
