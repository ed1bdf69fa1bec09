#include "engine/cli/multi_command.h"

#include "engine/experiment/interrupt.h"
#include "engine/experiment/multi_vm.h"
#include "engine/output/multi_report.h"
#include "engine/experiment/paths.h"

#include <fmt/format.h>

#include <stdexcept>

namespace vmmu {

void MultiFlags::add(CLI::App* c) {
    vms_opt = c->add_option("--vms", vms,
                            "run N copies of the workload as N VMs on one modelled host, "
                            "round-robin (vmmu.multi/1 JSON)");
    quantum_opt = c->add_option("--quantum", quantum,
                                fmt::format("guest instructions a VM runs before the host "
                                            "switches to the next (default {})",
                                            kDefaultQuantum));
    c->add_option("--vms-file", vms_file,
                  "run the VMs of a vmmu.vms/1 file, each with its own workload and flags");
}

bool MultiFlags::wanted() const {
    return vms_opt->count() > 0 || quantum_opt->count() > 0 || !vms_file.empty();
}

int MultiFlags::run(RunFlags& flags, const std::string& json_path) const {
    MultiOptions m;
    if (!vms_file.empty()) {
        if (vms_opt->count())
            throw std::invalid_argument(
                fmt::format("--vms {} with --vms-file: the file lists the VMs; drop --vms", vms));
        m = load_vms_file(vms_file);
    } else {
        if (vms < 1 || vms > 64)
            throw std::invalid_argument(
                fmt::format("--vms {}: give 1 to 64 VMs (each reserves its guest memory)", vms));
        m.vms.assign(vms, flags.resolve());
    }
    if (quantum_opt->count()) {
        if (quantum == 0)
            throw std::invalid_argument("--quantum 0: give at least 1 guest instruction");
        m.quantum = quantum;
    }
    InterruptGuard interrupt;
    MultiOutput out = execute_multi(m);
    fmt::print("{}", multi_table(out));
    for (size_t i = 0; i < out.vms.size(); ++i) {
        const RunResult& r = out.vms[i].run.result;
        if (run_exit_code(r) != 0)
            fmt::print(stderr, "vmmu: VM {} guest error ({}): {} at RIP {:#x} {}\n", i,
                       run_status(r),
                       r.message.empty() ? fmt::format("exit status {}", r.exit_status) : r.message,
                       r.rip, r.instruction);
    }
    if (!json_path.empty()) {
        write_file_atomic(json_path, multi_json(out).dump(2) + "\n");
        fmt::print("wrote {}\n", json_path);
    }
    int code = multi_exit_code(out);
    if (code == 130 && interrupt.exit_code()) return interrupt.exit_code();
    return code;
}

} // namespace vmmu
