#include "engine/host/vm_scheduler.h"

namespace vmmu {

bool run_round_robin(std::vector<ScheduledVm>& vms, uint64_t quantum,
                     const std::function<void(uint64_t ran)>& after_quantum) {
    size_t running = 0;
    for (const ScheduledVm& vm : vms) running += !vm.done;
    bool interrupted = false;
    while (running > 0 && !interrupted) {
        for (size_t i = 0; i < vms.size() && !interrupted; ++i) {
            ScheduledVm& vm = vms[i];
            if (vm.done) continue;
            uint64_t before = vm.result->guest.instructions;
            RunResult r = vm.machine->run_for(quantum);
            if (after_quantum) after_quantum(r.guest.instructions - before);
            vm.quanta++;
            double wall = vm.result->wall_seconds + r.wall_seconds;
            if (r.stop != StopKind::Quantum) {
                *vm.result = std::move(r);
                vm.result->wall_seconds = wall;
                vm.done = true;
                --running;
                interrupted = vm.result->stop == StopKind::Interrupted;
                continue;
            }
            vm.result->wall_seconds = wall;
            vm.result->guest = r.guest;
            if (running > 1) {
                for (HostObserver* o : vm.observers) o->on_world_switch();
                vm.world_switches++;
            }
        }
    }
    return interrupted;
}

} // namespace vmmu
