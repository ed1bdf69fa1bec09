// Small Unicorn helpers every part of the vCPU uses: register reads and writes, and turning a
// failed Unicorn call into an exception. Outside a hook only: nothing may be thrown through QEMU's
// C code, so a hook that can fail records a stop instead (engine/core/run_stop.h).
#pragma once

#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include <cstdint>
#include <stdexcept>

namespace vmmu {

inline void check_uc(uc_err err, const char* what) {
    if (err != UC_ERR_OK)
        throw std::runtime_error(fmt::format("unicorn: {}: {}", what, uc_strerror(err)));
}

inline uint64_t read_reg(uc_engine* uc, int id) {
    uint64_t v = 0;
    uc_reg_read(uc, id, &v);
    return v;
}

inline void write_reg(uc_engine* uc, int id, uint64_t v) {
    check_uc(uc_reg_write(uc, id, &v), "register write");
}

} // namespace vmmu
