/* <stdio.h> for programs built with `vmmu cc`: the guest libc declares everything it has in one
 * header (libc.h; docs/PROGRAMS.md lists what exists). */
#include "libc.h"
