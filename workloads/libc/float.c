/* vformat's floating-point conversions: %f %F %e %E %g %G %a %A (C11 7.21.6.1).
 *
 * Exact, as glibc is: a finite double is m * 2^e with integer m, so its decimal expansion is
 * finite (at most 767 significant digits). It is computed in full with big integers
 * (m * 5^-e when e < 0, m * 2^e otherwise) and rounded once, at the position the conversion
 * asks for: half to even on an exact tie, as glibc does in the default rounding mode (glibc
 * follows the current rounding mode; this libc always rounds to nearest). No floating-point
 * arithmetic takes part, so the digits are the same whatever the precision. */
#include "format.h"

#define LIMBS 84 /* m * 5^1074 < 2^2547 < 2^(32 * 80) */
#define MAX_DIGITS 800

struct big {
    uint32_t w[LIMBS];
    int n;
};

static void big_mul_small(struct big *b, uint32_t m) {
    uint64_t carry = 0;
    for (int i = 0; i < b->n; ++i) {
        uint64_t t = (uint64_t)b->w[i] * m + carry;
        b->w[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry)
        b->w[b->n++] = (uint32_t)carry;
}

static void big_shl(struct big *b, int s) {
    int limbs = s / 32, bits = s % 32;
    for (int i = b->n - 1; i >= 0; --i)
        b->w[i + limbs] = b->w[i];
    for (int i = 0; i < limbs; ++i)
        b->w[i] = 0;
    b->n += limbs;
    if (bits) {
        uint32_t carry = 0;
        for (int i = 0; i < b->n; ++i) {
            uint32_t v = b->w[i];
            b->w[i] = (v << bits) | carry;
            carry = v >> (32 - bits);
        }
        if (carry)
            b->w[b->n++] = carry;
    }
}

static uint32_t big_div_small(struct big *b, uint32_t d) {
    uint64_t rem = 0;
    for (int i = b->n - 1; i >= 0; --i) {
        uint64_t cur = (rem << 32) | b->w[i];
        b->w[i] = (uint32_t)(cur / d);
        rem = cur % d;
    }
    while (b->n && !b->w[b->n - 1])
        --b->n;
    return (uint32_t)rem;
}

/* The exact decimal expansion of |v| (finite, nonzero): digits d[0..n) without leading zeros,
 * and the decimal point dp digits from the left (v = 0.d * 10^dp). */
static int exact_digits(double v, char *d, int *dp) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int biased = (int)((bits >> 52) & 0x7ff);
    uint64_t m = bits & ((1ULL << 52) - 1);
    int e;
    if (biased) {
        m |= 1ULL << 52;
        e = biased - 1075;
    } else {
        e = -1074;
    }
    while (!(m & 1) && e < 0) {
        m >>= 1;
        ++e;
    }
    struct big b;
    b.n = 0;
    for (uint64_t t = m; t; t >>= 32)
        b.w[b.n++] = (uint32_t)t;
    int k = 0; /* decimal places: v = b / 10^k */
    if (e >= 0) {
        big_shl(&b, e);
    } else {
        k = -e;
        int left = k;
        for (; left >= 13; left -= 13)
            big_mul_small(&b, 1220703125u); /* 5^13 */
        uint32_t p = 1;
        while (left--)
            p *= 5;
        big_mul_small(&b, p);
    }
    char rev[MAX_DIGITS + 16];
    int n = 0;
    while (b.n) {
        uint32_t chunk = big_div_small(&b, 1000000000u);
        for (int i = 0; i < 9; ++i) {
            rev[n++] = (char)('0' + chunk % 10);
            chunk /= 10;
        }
    }
    while (n > 1 && rev[n - 1] == '0')
        --n;
    for (int i = 0; i < n; ++i)
        d[i] = rev[n - 1 - i];
    *dp = n - k;
    while (n > 1 && d[n - 1] == '0')
        --n;
    return n;
}

/* Keeps the first `keep` digits, rounding half to even on what is dropped; returns the new
 * count (the digits may become "1" with dp one higher when 9s carry over). */
static int round_digits(char *d, int n, int *dp, int keep) {
    if (keep >= n)
        return n;
    int up = 0;
    if (keep >= 0) {
        char r = d[keep];
        if (r > '5') {
            up = 1;
        } else if (r == '5') {
            int rest = 0;
            for (int i = keep + 1; i < n; ++i)
                rest |= d[i] != '0';
            up = rest || (keep > 0 && ((d[keep - 1] - '0') & 1));
        }
    }
    n = keep > 0 ? keep : 0;
    if (up) {
        int i = n - 1;
        while (i >= 0 && d[i] == '9')
            d[i--] = '0';
        if (i >= 0) {
            d[i]++;
        } else {
            for (int j = n; j > 0; --j)
                d[j] = d[j - 1];
            d[0] = '1';
            ++n;
            ++*dp;
        }
    }
    return n;
}

/* The text of one conversion, written twice: once to measure (o == 0), once to emit. */
struct text {
    struct fmt_out *o;
    int len;
};
static void tput(struct text *t, char c) {
    if (t->o)
        fmt_bytes(t->o, &c, 1);
    t->len++;
}

static char digit_at(const char *d, int n, int i) { return i >= 0 && i < n ? d[i] : '0'; }

/* Fixed notation, `prec` decimals; strip: drop trailing zeros of the fraction (%g). */
static void fixed(struct text *t, const char *d, int n, int dp, int prec, int alt, int strip) {
    if (dp <= 0)
        tput(t, '0');
    for (int i = 0; i < dp; ++i)
        tput(t, digit_at(d, n, i));
    if (strip && !alt) {
        int last = dp + prec; /* one past the last decimal that is not a trailing zero */
        while (last > dp && digit_at(d, n, last - 1) == '0')
            --last;
        prec = last - dp;
    }
    if (prec > 0 || alt)
        tput(t, '.');
    for (int i = 0; i < prec; ++i)
        tput(t, digit_at(d, n, dp + i));
}

static void scientific(struct text *t, const char *d, int n, int exp10, int prec, int alt,
                       int strip, int upper) {
    tput(t, d[0]);
    if (strip && !alt) {
        while (prec > 0 && digit_at(d, n, prec) == '0')
            --prec;
    }
    if (prec > 0 || alt)
        tput(t, '.');
    for (int i = 1; i <= prec; ++i)
        tput(t, digit_at(d, n, i));
    tput(t, upper ? 'E' : 'e');
    tput(t, exp10 < 0 ? '-' : '+');
    int x = exp10 < 0 ? -exp10 : exp10;
    char buf[8];
    int k = 0;
    do {
        buf[k++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    if (k < 2)
        buf[k++] = '0';
    while (k)
        tput(t, buf[--k]);
}

/* %a: 0x1.hhhp+d (0x0.hhhp-1022 for subnormals, as glibc prints them). */
static void hexfloat(struct text *t, uint64_t bits, int prec, int alt, int upper) {
    int biased = (int)((bits >> 52) & 0x7ff);
    uint64_t frac = bits & ((1ULL << 52) - 1);
    int lead = biased ? 1 : 0;
    int exp2 = biased ? biased - 1023 : (frac ? -1022 : 0);
    const char *hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    if (prec >= 0 && prec < 13) {
        int drop = 4 * (13 - prec);
        uint64_t rem = frac & ((1ULL << drop) - 1), half = 1ULL << (drop - 1);
        frac >>= drop;
        if (rem > half || (rem == half && (frac & 1))) {
            ++frac;
            if (frac >> (4 * prec)) {
                frac &= (1ULL << (4 * prec)) - 1;
                ++lead;
            }
        }
        frac <<= drop;
    }
    int digits = 13;
    if (prec < 0)
        while (digits > 0 && !((frac >> (4 * (13 - digits))) & 0xf))
            --digits;
    else
        digits = prec;
    tput(t, '0');
    tput(t, upper ? 'X' : 'x');
    tput(t, (char)('0' + lead));
    if (digits > 0 || alt)
        tput(t, '.');
    for (int i = 0; i < digits; ++i)
        tput(t, i < 13 ? hex[(frac >> (4 * (12 - i))) & 0xf] : '0');
    tput(t, upper ? 'P' : 'p');
    tput(t, exp2 < 0 ? '-' : '+');
    int x = exp2 < 0 ? -exp2 : exp2;
    char buf[8];
    int k = 0;
    do {
        buf[k++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    while (k)
        tput(t, buf[--k]);
}

static void body(struct text *t, const struct fmt_spec *sp, double v, uint64_t bits) {
    char conv = sp->conv;
    int upper = conv == 'F' || conv == 'E' || conv == 'G' || conv == 'A';
    char lc = (char)(upper ? conv - 'A' + 'a' : conv);
    if (lc == 'a') {
        hexfloat(t, bits & ~(1ULL << 63), sp->prec, sp->alt, upper);
        return;
    }
    int prec = sp->prec < 0 ? 6 : sp->prec;
    static char d[MAX_DIGITS + 2];
    int dp = 1, n = 1;
    int zero = v == 0;
    if (zero)
        d[0] = '0';
    else
        n = exact_digits(v, d, &dp);
    if (lc == 'f') {
        if (!zero)
            n = round_digits(d, n, &dp, dp + prec);
        fixed(t, d, n, dp, prec, sp->alt, 0);
        return;
    }
    if (lc == 'e') {
        if (!zero)
            n = round_digits(d, n, &dp, prec + 1);
        if (n == 0) { /* cannot happen for a nonzero value kept to >= 1 digit */
            d[0] = '0';
            n = 1;
        }
        scientific(t, d, n, zero ? 0 : dp - 1, prec, sp->alt, 0, upper);
        return;
    }
    /* %g: P significant digits; the exponent X after rounding picks the style. */
    int p = prec == 0 ? 1 : prec;
    int x = 0;
    if (!zero) {
        static char r[MAX_DIGITS + 2];
        memcpy(r, d, (size_t)n);
        int rdp = dp;
        round_digits(r, n, &rdp, p);
        x = rdp - 1;
    }
    if (sp->alt && x == p && dp - 1 == p - 1) {
        /* glibc's output when rounding to P digits carries to exactly 10^P (999.5 as %#.3g): it
         * chose fixed notation from the unrounded exponent, and prints "1.e+03", not
         * "1.00e+03". Copied for byte-identical output. */
        d[0] = '1';
        scientific(t, d, 1, x, 0, 1, 0, upper);
        return;
    }
    if (p > x && x >= -4) {
        int fprec = p - 1 - x;
        if (!zero)
            n = round_digits(d, n, &dp, dp + fprec);
        fixed(t, d, n, dp, fprec, sp->alt, 1);
    } else {
        n = round_digits(d, n, &dp, p);
        scientific(t, d, n, dp - 1, p - 1, sp->alt, 1, upper);
    }
}

void fmt_double(struct fmt_out *o, struct fmt_spec *sp, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int negative = (int)(bits >> 63);
    const char *prefix = negative ? "-" : sp->plus ? "+" : sp->space ? " " : "";
    int upper = sp->conv == 'F' || sp->conv == 'E' || sp->conv == 'G' || sp->conv == 'A';
    if (((bits >> 52) & 0x7ff) == 0x7ff) {
        const char *s = (bits & ((1ULL << 52) - 1)) ? (upper ? "NAN" : "nan")
                                                     : (upper ? "INF" : "inf");
        struct fmt_spec plain = *sp;
        plain.zero = 0;
        fmt_field(o, &plain, prefix, 0, s, 3);
        return;
    }
    double mag = negative ? -v : v;
    struct text measure = {0, 0};
    body(&measure, sp, mag, bits);
    int plen = (int)strlen(prefix);
    int pad = sp->width > measure.len + plen ? sp->width - measure.len - plen : 0;
    if (!sp->left && !sp->zero)
        fmt_repeat(o, ' ', pad);
    fmt_bytes(o, prefix, (size_t)plen);
    if (!sp->left && sp->zero)
        fmt_repeat(o, '0', pad);
    struct text emit = {o, 0};
    body(&emit, sp, mag, bits);
    if (sp->left)
        fmt_repeat(o, ' ', pad);
}
