#include "engine/mmu/machine_env.h"

namespace vmmu {

BackendEnv backend_env_for(Machine& machine, const P2m& p2m, const HostFrames* host, int vm) {
    BackendEnv env;
    env.memory = &machine.memory();
    env.p2m = &p2m;
    env.host = host;
    env.vm = vm;
    env.initial_cr3 = machine.initial_cr3();
    env.initial_cr4 = machine.initial_cr4();
    return env;
}

} // namespace vmmu
