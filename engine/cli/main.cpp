#include "engine/cli/cli.h"

int main(int argc, char** argv) { return vmmu::cli_main(argc, argv); }
