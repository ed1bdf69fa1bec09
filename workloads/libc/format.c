/* vformat: the printf engine, shared by the libc and the kernel (C11 7.21.6.1 and glibc's output
 * for every conversion it has). Flags - + space # 0, width and precision (numbers or *), length
 * hh h l ll z j t L, conversions d i u o x X c s p n %; in the libc also f F e E g G (float.c:
 * exact decimal conversion, byte-identical with glibc). The kernel is built without FPU code
 * (VMMU_KERNEL), so its copy has no floating-point conversions. Output goes to a buffer; a sink
 * with a flush function (print.c) empties it whenever it fills, so output has no length limit. */
#include "format.h"

static void put(struct fmt_out *o, char c) {
    if (o->flush) {
        if (o->len - o->flushed == o->size) {
            o->flush(o);
            o->flushed = o->len;
        }
        o->buf[o->len - o->flushed] = c;
    } else if (o->len + 1 < o->size) {
        o->buf[o->len] = c;
    }
    o->len++;
}

void fmt_repeat(struct fmt_out *o, char c, int n) {
    for (; n > 0; --n)
        put(o, c);
}

void fmt_bytes(struct fmt_out *o, const char *s, size_t n) {
    for (size_t i = 0; i < n; ++i)
        put(o, s[i]);
}

/* One converted field: prefix (sign, 0x), zeros to reach the precision, digits, then padding
 * to the width on the left or right (or zeros between prefix and digits with the 0 flag). */
void fmt_field(struct fmt_out *o, const struct fmt_spec *sp, const char *prefix, int zeros,
               const char *body, size_t body_len) {
    size_t plen = strlen(prefix);
    int total = (int)(plen + body_len) + zeros;
    int pad = sp->width > total ? sp->width - total : 0;
    if (!sp->left && !sp->zero)
        fmt_repeat(o, ' ', pad);
    fmt_bytes(o, prefix, plen);
    if (!sp->left && sp->zero)
        fmt_repeat(o, '0', pad);
    fmt_repeat(o, '0', zeros);
    fmt_bytes(o, body, body_len);
    if (sp->left)
        fmt_repeat(o, ' ', pad);
}

static void put_integer(struct fmt_out *o, struct fmt_spec *sp, uint64_t v, int negative) {
    char digits[24];
    int n = 0;
    unsigned base = sp->conv == 'o' ? 8 : (sp->conv == 'x' || sp->conv == 'X' || sp->conv == 'p') ? 16 : 10;
    const char *set = sp->conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    if (!(v == 0 && sp->prec == 0))
        do {
            digits[n++] = set[v % base];
            v /= base;
        } while (v);
    char body[24];
    for (int i = 0; i < n; ++i)
        body[i] = digits[n - 1 - i];
    const char *prefix = "";
    if (negative)
        prefix = "-";
    else if (sp->plus && (sp->conv == 'd' || sp->conv == 'i'))
        prefix = "+";
    else if (sp->space && (sp->conv == 'd' || sp->conv == 'i'))
        prefix = " ";
    int zeros = sp->prec > n ? sp->prec - n : 0;
    if (sp->alt && sp->conv == 'o' && zeros == 0 && (n == 0 || body[0] != '0'))
        zeros = 1;
    if ((sp->alt && n > 0 && !(n == 1 && body[0] == '0') && (sp->conv == 'x' || sp->conv == 'X')) ||
        sp->conv == 'p')
        prefix = sp->conv == 'X' ? "0X" : "0x";
    if (sp->prec >= 0)
        sp->zero = 0; /* a precision turns the 0 flag off for integers */
    fmt_field(o, sp, prefix, zeros, body, (size_t)n);
}

static void put_string(struct fmt_out *o, struct fmt_spec *sp, const char *s) {
    size_t n = 0;
    if (!s)
        s = sp->prec >= 0 && sp->prec < 6 ? "" : "(null)";
    while (s[n] && (sp->prec < 0 || n < (size_t)sp->prec))
        ++n;
    sp->zero = 0;
    fmt_field(o, sp, "", 0, s, n);
}

int fmt_run(struct fmt_out *o, const char *fmt, va_list ap) {
    for (; *fmt; ++fmt) {
        if (*fmt != '%') {
            put(o, *fmt);
            continue;
        }
        const char *start = fmt++;
        struct fmt_spec sp = {0};
        sp.prec = -1;
        for (;; ++fmt) {
            if (*fmt == '-')
                sp.left = 1;
            else if (*fmt == '0')
                sp.zero = 1;
            else if (*fmt == '+')
                sp.plus = 1;
            else if (*fmt == ' ')
                sp.space = 1;
            else if (*fmt == '#')
                sp.alt = 1;
            else
                break;
        }
        if (*fmt == '*') {
            sp.width = va_arg(ap, int);
            if (sp.width < 0) {
                sp.left = 1;
                sp.width = -sp.width;
            }
            ++fmt;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                sp.width = sp.width * 10 + (*fmt++ - '0');
        }
        if (*fmt == '.') {
            ++fmt;
            sp.prec = 0;
            if (*fmt == '*') {
                sp.prec = va_arg(ap, int);
                if (sp.prec < 0)
                    sp.prec = -1;
                ++fmt;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    sp.prec = sp.prec * 10 + (*fmt++ - '0');
            }
        }
        if (sp.left)
            sp.zero = 0;
        /* Length: hh h l ll z j t L (q as ll). */
        int len = 0; /* -2 hh, -1 h, 0 int, 1 long and wider, 2 L */
        for (;; ++fmt) {
            if (*fmt == 'h')
                len = len == -1 ? -2 : -1;
            else if (*fmt == 'l' || *fmt == 'z' || *fmt == 'j' || *fmt == 't' || *fmt == 'q')
                len = 1;
            else if (*fmt == 'L')
                len = 2;
            else
                break;
        }
        sp.conv = *fmt;
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = len >= 1 ? va_arg(ap, int64_t) : va_arg(ap, int);
            if (len == -1)
                v = (short)v;
            else if (len == -2)
                v = (signed char)v;
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            put_integer(o, &sp, mag, v < 0);
            break;
        }
        case 'u':
        case 'o':
        case 'x':
        case 'X': {
            uint64_t v = len >= 1 ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            if (len == -1)
                v = (unsigned short)v;
            else if (len == -2)
                v = (unsigned char)v;
            put_integer(o, &sp, v, 0);
            break;
        }
        case 'p': {
            void *p = va_arg(ap, void *);
            if (!p) {
                sp.zero = 0;
                fmt_field(o, &sp, "", 0, "(nil)", 5);
            } else {
                put_integer(o, &sp, (uint64_t)p, 0);
            }
            break;
        }
        case 's': put_string(o, &sp, va_arg(ap, const char *)); break;
        case 'c': {
            char c = (char)va_arg(ap, int);
            sp.zero = 0;
            fmt_field(o, &sp, "", 0, &c, 1);
            break;
        }
        case 'n': {
            void *p = va_arg(ap, void *);
            if (len == -2)
                *(signed char *)p = (signed char)o->len;
            else if (len == -1)
                *(short *)p = (short)o->len;
            else if (len >= 1)
                *(long *)p = (long)o->len;
            else
                *(int *)p = (int)o->len;
            break;
        }
        case '%': put(o, '%'); break;
#ifndef VMMU_KERNEL
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
        case 'a':
        case 'A': {
            double v = len == 2 ? (double)va_arg(ap, long double) : va_arg(ap, double);
            fmt_double(o, &sp, v);
            break;
        }
#endif
        case 0: --fmt; /* a lone % at the end: printed as is */
            /* fall through */
        default: fmt_bytes(o, start, (size_t)(fmt - start + (*fmt ? 1 : 0))); break;
        }
    }
    return (int)o->len;
}

int vformat(char *buf, size_t size, const char *fmt, va_list ap) {
    struct fmt_out o = {buf, size, 0, 0, 0, 0};
    fmt_run(&o, fmt, ap);
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return (int)o.len;
}
