// Extended page tables (gPA -> hPA) kept in the backend's own modelled host memory (a hardware
// structure the slat and agile schemes both walk, hence in engine/mmu).
//
// Table pages come from a host-frame pool placed above the VM's p2m range, so EPT references
// have host addresses of their own. Leaves are 4K, 2M or 1G (Intel SDM vol. 3, 28.2.2) and are
// installed lazily, one per EPT violation, always pointing where p2m says. The tables have 4
// levels or 5 (5-level EPT, SDM vol. 3, 29.3.2: the EPTP's page-walk length is 5; a gPA below
// 2^48 always takes entry 0 of the level-5 table, so the fifth level costs one reference).
#pragma once

#include "engine/core/addr.h"
#include "engine/host/p2m.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace vmmu {

namespace ept {
constexpr uint64_t kRead = 1ull << 0;
constexpr uint64_t kWrite = 1ull << 1;
constexpr uint64_t kExec = 1ull << 2;
constexpr uint64_t kMemTypeWb = 6ull << 3; // leaf memory type (SDM 28.2.6)
constexpr uint64_t kLarge = 1ull << 7;     // leaf at level 2 or 3
constexpr uint64_t kAddrMask = 0x000f'ffff'ffff'f000ull;
inline bool present(uint64_t e) { return (e & (kRead | kWrite | kExec)) != 0; }
inline bool leaf(uint64_t e, int level) { return level == 1 || (e & kLarge); }
} // namespace ept

class EptTables {
public:
    // leaf_shift: 12, 21 or 30. guest_bytes: size of the VM's guest-physical memory. levels: 4
    // or 5 (the nested page-walk length).
    EptTables(const P2m& p2m, uint64_t guest_bytes, unsigned leaf_shift, int levels = 4);

    HostPhys root() const { return root_; }
    unsigned leaf_shift() const { return leaf_shift_; }
    int levels() const { return levels_; }
    uint64_t table_pages() const { return tables_.size(); }
    HostPhys pool_base() const { return pool_base_; }

    // One EPT entry; the address must lie in a table page of this pool.
    uint64_t read(HostPhys entry) const { return table(entry)[entry.page_offset() / 8]; }
    void write(HostPhys entry, uint64_t value) { table(entry)[entry.page_offset() / 8] = value; }

    // Installs the leaf covering gpa (creating tables on the way); returns tables created.
    unsigned map(GuestPhys gpa);
    // Address of the leaf entry covering gpa, if mapped.
    std::optional<HostPhys> leaf_entry(GuestPhys gpa) const;

private:
    using Table = std::array<uint64_t, 512>;
    Table& table(HostPhys entry) const;
    HostPhys alloc_table();

    const P2m& p2m_;
    unsigned leaf_shift_;
    int levels_;
    HostPhys pool_base_;
    std::vector<std::unique_ptr<Table>> tables_; // index = (host frame - pool base) / 4K
    HostPhys root_;
};

} // namespace vmmu
