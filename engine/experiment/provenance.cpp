#include "engine/experiment/provenance.h"

#include "vmmu_version.h"

#include <capstone/capstone.h>
#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <functional>
#include <stdexcept>

namespace vmmu {
using json = nlohmann::json;

namespace {

// SHA-256 (FIPS 180-4), so that a recorded hash can be checked with sha256sum.
class Sha256 {
public:
    void update(const unsigned char* p, size_t n) {
        for (size_t i = 0; i < n; ++i) {
            block_[fill_++] = p[i];
            if (fill_ == 64) {
                compress();
                fill_ = 0;
            }
        }
        bytes_ += n;
    }
    std::string hex() {
        uint64_t bits = bytes_ * 8;
        unsigned char pad = 0x80;
        update(&pad, 1);
        unsigned char zero = 0;
        while (fill_ != 56) update(&zero, 1);
        for (int i = 7; i >= 0; --i) {
            unsigned char b = static_cast<unsigned char>(bits >> (i * 8));
            update(&b, 1);
        }
        std::string s;
        for (uint32_t v : h_) s += fmt::format("{:08x}", v);
        return s;
    }

private:
    static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
    void compress() {
        static constexpr std::array<uint32_t, 64> k = {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
            0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
            0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
            0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
            0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
            0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
            0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
            0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
            0xc67178f2};
        std::array<uint32_t, 64> w{};
        for (int i = 0; i < 16; ++i)
            w[i] = uint32_t(block_[4 * i]) << 24 | uint32_t(block_[4 * i + 1]) << 16 |
                   uint32_t(block_[4 * i + 2]) << 8 | uint32_t(block_[4 * i + 3]);
        for (int i = 16; i < 64; ++i) {
            uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        auto v = h_;
        for (int i = 0; i < 64; ++i) {
            uint32_t s1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
            uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
            uint32_t t1 = v[7] + s1 + ch + k[i] + w[i];
            uint32_t s0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
            uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            uint32_t t2 = s0 + maj;
            v = {t1 + t2, v[0], v[1], v[2], v[3] + t1, v[4], v[5], v[6]};
        }
        for (int i = 0; i < 8; ++i) h_[i] += v[i];
    }
    std::array<uint32_t, 8> h_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::array<unsigned char, 64> block_{};
    size_t fill_ = 0;
    uint64_t bytes_ = 0;
};

// Every `provenance` object in a document, by the path of the object holding it.
void find_provenance(const json& j, const std::string& path, std::map<std::string, json>& out) {
    if (!j.is_object()) return;
    for (auto it = j.begin(); it != j.end(); ++it) {
        std::string p = path.empty() ? it.key() : path + "." + it.key();
        if (it.key() == "provenance")
            out[p] = it.value();
        else if (it.key() != "sim")
            find_provenance(it.value(), p, out);
    }
}

void leaves(const json& j, const std::string& path, std::map<std::string, std::string>& out) {
    if (j.is_object() && !j.empty()) {
        for (auto it = j.begin(); it != j.end(); ++it)
            leaves(it.value(), path + "." + it.key(), out);
    } else {
        out[path] = j.is_string() ? j.get<std::string>() : j.dump();
    }
}

} // namespace

Provenance tool_provenance() {
    Provenance p;
    p.vmmu_version = kVmmuVersion;
    unsigned uc_major = 0, uc_minor = 0;
    uc_version(&uc_major, &uc_minor);
    // uc_version returns major << 24 | minor << 16 | patch << 8 | extra (unicorn.h).
    unsigned uc_full = uc_version(nullptr, nullptr);
    p.unicorn_version = fmt::format("{}.{}.{}", uc_major, uc_minor, (uc_full >> 8) & 0xff);
    int cs_major = 0, cs_minor = 0;
    cs_version(&cs_major, &cs_minor);
    p.capstone_version = fmt::format("{}.{}", cs_major, cs_minor);
    return p;
}

std::string file_sha256(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("cannot read '{}' to hash it", file.string()));
    Sha256 h;
    std::array<char, 65536> buf;
    while (in) {
        in.read(buf.data(), buf.size());
        h.update(reinterpret_cast<const unsigned char*>(buf.data()),
                 static_cast<size_t>(in.gcount()));
    }
    return "sha256:" + h.hex();
}

std::string text_sha256(const std::string& text) {
    Sha256 h;
    h.update(reinterpret_cast<const unsigned char*>(text.data()), text.size());
    return "sha256:" + h.hex();
}

std::vector<ProvenanceDifference> compare_provenance(const json& base, const json& now) {
    std::map<std::string, json> a, b;
    find_provenance(base, "", a);
    find_provenance(now, "", b);
    std::map<std::string, std::string> la, lb;
    for (auto& [p, v] : a) leaves(v, p, la);
    for (auto& [p, v] : b) leaves(v, p, lb);
    std::vector<ProvenanceDifference> out;
    auto add = [&](const std::string& key) {
        auto x = la.find(key), y = lb.find(key);
        std::string vx = x == la.end() ? "(absent)" : x->second;
        std::string vy = y == lb.end() ? "(absent)" : y->second;
        if (vx == vy) return;
        bool tool = key.size() >= 13 && key.compare(key.size() - 13, 13, ".vmmu_version") == 0;
        out.push_back({key, vx, vy, tool});
    };
    for (auto& [k, _] : la) add(k);
    for (auto& [k, _] : lb)
        if (!la.count(k)) add(k);
    // A document written before provenance was recorded: one difference, not one per key.
    if (a.empty() != b.empty()) {
        out.clear();
        out.push_back({"provenance", a.empty() ? "(absent)" : "(present)",
                       b.empty() ? "(absent)" : "(present)", false});
    }
    return out;
}

} // namespace vmmu
