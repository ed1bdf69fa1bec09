/* The printf family and the other console output calls. stdout and stderr are the console
 * (fd 1 and 2); output is unbuffered: each call writes its bytes with one system call per 256
 * (a long printf writes in pieces, in order). */
#include "format.h"

static FILE out_file = {1}, err_file = {2};
FILE *const stdout = &out_file;
FILE *const stderr = &err_file;

static void flush_fd(struct fmt_out *o) {
    size_t n = o->len - o->flushed;
    if (n)
        write((int)(intptr_t)o->ctx, o->buf, n);
}

int vdprintf(int fd, const char *fmt, va_list ap) {
    char buf[256];
    struct fmt_out o = {buf, sizeof buf, 0, 0, flush_fd, (void *)(intptr_t)fd};
    fmt_run(&o, fmt, ap);
    flush_fd(&o);
    return (int)o.len;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
    return vformat(buf, size, fmt, ap);
}

int vsprintf(char *buf, const char *fmt, va_list ap) { return vformat(buf, (size_t)-1 / 2, fmt, ap); }
int vprintf(const char *fmt, va_list ap) { return vdprintf(1, fmt, ap); }
int vfprintf(FILE *f, const char *fmt, va_list ap) { return vdprintf(f->fd, fmt, ap); }

int snprintf(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vformat(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int sprintf(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsprintf(buf, fmt, ap);
    va_end(ap);
    return n;
}

int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vdprintf(1, fmt, ap);
    va_end(ap);
    return n;
}

int fprintf(FILE *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vdprintf(f->fd, fmt, ap);
    va_end(ap);
    return n;
}

int dprintf(int fd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vdprintf(fd, fmt, ap);
    va_end(ap);
    return n;
}

int fputc(int c, FILE *f) {
    unsigned char ch = (unsigned char)c;
    return write(f->fd, &ch, 1) == 1 ? ch : EOF;
}
int putc(int c, FILE *f) { return fputc(c, f); }
int putchar(int c) { return fputc(c, stdout); }

int fputs(const char *s, FILE *f) {
    size_t n = strlen(s);
    return write(f->fd, s, n) == (long)n ? 1 : EOF;
}

int puts(const char *s) {
    if (fputs(s, stdout) == EOF)
        return EOF;
    return putchar('\n') == EOF ? EOF : 1;
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *f) {
    if (!size || !n)
        return 0;
    long w = write(f->fd, p, size * n);
    return w < 0 ? 0 : (size_t)w / size;
}

int fflush(FILE *f) { return 0; }

void perror(const char *s) {
    if (s && *s)
        fprintf(stderr, "%s: %s\n", s, strerror(errno));
    else
        fprintf(stderr, "%s\n", strerror(errno));
}
