// The environment of a backend for a booted machine (engine/mmu/backend_env.h).
#pragma once

#include "engine/core/machine.h"
#include "engine/mmu/backend_env.h"

namespace vmmu {

// For VM `vm` of `host`, running on `machine` with the host map `p2m`: its memory and the
// paging state it boots with; the model switches keep their defaults.
BackendEnv backend_env_for(Machine& machine, const P2m& p2m, const HostFrames* host, int vm);

} // namespace vmmu
