// Two fields of QEMU's x86 CPU state that Unicorn 2.0.1 does not expose but exception delivery
// needs (docs/UNICORN-2.0.1.md, fact 9): `old_exception`, which must be reset after every hooked
// exception or the next #PF arrives as #DF, and `error_code`, the #PF error code.
//
// Their offsets inside a saved uc_context are found once per process by calibration: a probe
// vCPU takes three page faults with known error codes (0, 2, 3), and the unique int32 slots that
// changed as expected are the fields.
#pragma once

#include <cstddef>
#include <unicorn/unicorn.h>

namespace vmmu {

struct QemuStateOffsets {
    size_t old_exception = 0; // byte offset inside the uc_context allocation
    size_t error_code = 0;
};

// Calibrates on first call (throws std::runtime_error if the layout cannot be found).
const QemuStateOffsets& qemu_state_offsets();

// After a hooked exception: reads the error code and resets old_exception in one context
// round trip. `scratch` is a context allocated with uc_context_alloc for this engine.
uint32_t take_exception_state(uc_engine* uc, uc_context* scratch);

} // namespace vmmu
