#include "engine/cli/cli.h"
#include "engine/experiment/sweep.h"

int main(int argc, char** argv) {
    vmmu::follow_sweep_parent(); // a run started by `vmmu sweep` stops when its sweep dies
    return vmmu::cli_main(argc, argv);
}
