#ifndef VMMU_SYS_TYPES_H
#define VMMU_SYS_TYPES_H
#include <stddef.h>
#include <stdint.h>
typedef int pid_t;
typedef long ssize_t;
typedef long off_t;
#endif
