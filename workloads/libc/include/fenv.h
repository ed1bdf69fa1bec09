/* Guest libc: the floating-point environment (rounding mode of both SSE and x87). */
#ifndef VMMU_FENV_H
#define VMMU_FENV_H
#define FE_TONEAREST 0x000
#define FE_DOWNWARD 0x400
#define FE_UPWARD 0x800
#define FE_TOWARDZERO 0xc00
int fegetround(void);
int fesetround(int mode);
#endif
