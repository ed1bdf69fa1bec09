/* The printf engine's internals, shared by format.c (integers, strings) and float.c (double). */
#ifndef VMMU_FORMAT_H
#define VMMU_FORMAT_H

#include "libc.h"

struct fmt_out {
    char *buf;
    size_t size;
    size_t len;     /* every byte produced so far, even those that did not fit */
    size_t flushed; /* bytes already handed to flush */
    void (*flush)(struct fmt_out *o); /* 0: a plain buffer (snprintf); else empties buf */
    void *ctx;
};

struct fmt_spec {
    int left, zero, plus, space, alt;
    int width, prec; /* prec -1: none */
    char conv;
};

int fmt_run(struct fmt_out *o, const char *fmt, va_list ap);
void fmt_repeat(struct fmt_out *o, char c, int n);
void fmt_bytes(struct fmt_out *o, const char *s, size_t n);
void fmt_field(struct fmt_out *o, const struct fmt_spec *sp, const char *prefix, int zeros,
               const char *body, size_t body_len);
#ifndef VMMU_KERNEL
void fmt_double(struct fmt_out *o, struct fmt_spec *sp, double v);
#endif

#endif
