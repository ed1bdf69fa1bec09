/* vformat: the printf engine, shared by the libc and the kernel. No floating point. */
#include "libc.h"

struct out {
    char *buf;
    size_t size, len; /* len counts every byte produced, even those that did not fit */
};

static void put(struct out *o, char c) {
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void put_number(struct out *o, uint64_t v, unsigned base, int negative, int width,
                       int zero_pad, int left) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    int total = n + negative;
    if (negative && zero_pad)
        put(o, '-');
    if (!left)
        for (; width > total; --width)
            put(o, zero_pad ? '0' : ' ');
    if (negative && !zero_pad)
        put(o, '-');
    while (n)
        put(o, digits[--n]);
    if (left)
        for (; width > total; --width)
            put(o, ' ');
}

int vformat(char *buf, size_t size, const char *fmt, va_list ap) {
    struct out o = {buf, size, 0};
    for (; *fmt; ++fmt) {
        if (*fmt != '%') {
            put(&o, *fmt);
            continue;
        }
        ++fmt;
        int left = 0, zero_pad = 0, width = 0, longs = 0;
        for (;; ++fmt) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '0')
                zero_pad = 1;
            else
                break;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            ++longs;
            ++fmt;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            put_number(&o, mag, 10, v < 0, width, zero_pad && !left, left);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            put_number(&o, v, *fmt == 'u' ? 10 : 16, 0, width, zero_pad && !left, left);
            break;
        }
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_number(&o, (uint64_t)va_arg(ap, void *), 16, 0, width, zero_pad, left);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int n = (int)strlen(s);
            if (!left)
                for (; width > n; --width)
                    put(&o, ' ');
            while (*s)
                put(&o, *s++);
            if (left)
                for (; width > n; --width)
                    put(&o, ' ');
            break;
        }
        case 'c': put(&o, (char)va_arg(ap, int)); break;
        case '%': put(&o, '%'); break;
        case 0: --fmt; break;
        default:
            put(&o, '%');
            put(&o, *fmt);
            break;
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = 0;
    return (int)(o.len < size ? o.len : (size ? size - 1 : 0));
}
