/* strtod (C11 7.22.1.3), correctly rounded: the decimal string is read as an exact big integer
 * D times 10^E (the first 800 significant digits, and a "sticky" note of any nonzero digit after
 * them: a value halfway between two doubles has at most 767), the top 64 bits of D * 10^E (or
 * of D * 2^s / 10^-E) are computed exactly with the rest folded into the sticky bit, and that
 * is rounded once to 53 bits, half to even, with subnormals and overflow as IEEE 754 has them.
 * Also hexadecimal floats (0x1.8p3), inf, infinity, nan and nan(chars), any case. */
#include <ctype.h>
#include <math.h>

#include "libc.h"

#define MAX_SIG 800
#define LIMBS 160 /* 10^1124 * 2^70: the largest operand a 800-digit input with E >= -1124 needs */

struct big {
    uint32_t w[LIMBS];
    int n;
};

static void big_trim(struct big *b) {
    while (b->n && !b->w[b->n - 1])
        --b->n;
}

static void big_mul_add(struct big *b, uint32_t m, uint32_t add) {
    uint64_t carry = add;
    for (int i = 0; i < b->n; ++i) {
        uint64_t t = (uint64_t)b->w[i] * m + carry;
        b->w[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry)
        b->w[b->n++] = (uint32_t)carry;
}

static int big_bits(const struct big *b) {
    if (!b->n)
        return 0;
    return 32 * (b->n - 1) + (32 - __builtin_clz(b->w[b->n - 1]));
}

static void big_shl(struct big *b, int s) {
    if (!b->n || s <= 0)
        return;
    int limbs = s / 32, bits = s % 32;
    b->w[b->n] = 0;
    for (int i = b->n; i >= 0; --i) {
        uint32_t hi = b->w[i] << bits;
        if (bits && i > 0)
            hi |= b->w[i - 1] >> (32 - bits);
        b->w[i + limbs] = hi;
    }
    for (int i = 0; i < limbs; ++i)
        b->w[i] = 0;
    b->n += limbs + 1;
    big_trim(b);
}

static int big_cmp(const struct big *a, const struct big *b) {
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; --i)
        if (a->w[i] != b->w[i])
            return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

static void big_sub(struct big *a, const struct big *b) { /* a -= b, a >= b */
    int64_t borrow = 0;
    for (int i = 0; i < a->n; ++i) {
        int64_t t = (int64_t)a->w[i] - (i < b->n ? b->w[i] : 0) - borrow;
        borrow = t < 0;
        a->w[i] = (uint32_t)(t + (borrow ? (1LL << 32) : 0));
    }
    big_trim(a);
}

static void big_shr1(struct big *b) {
    for (int i = 0; i < b->n; ++i)
        b->w[i] = (b->w[i] >> 1) | (i + 1 < b->n ? b->w[i + 1] << 31 : 0);
    big_trim(b);
}

/* Bits [from, from + 64) of b, and whether any bit below `from` is set. */
static uint64_t big_top(const struct big *b, int from, int *sticky) {
    uint64_t v = 0;
    for (int k = 63; k >= 0; --k) {
        int bit = from + k;
        if (bit >= 0 && bit / 32 < b->n && ((b->w[bit / 32] >> (bit % 32)) & 1))
            v |= 1ULL << k;
    }
    for (int bit = 0; bit < from && !*sticky; ++bit)
        if ((b->w[bit / 32] >> (bit % 32)) & 1)
            *sticky = 1;
    return v;
}

static double from_bits(uint64_t bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* (q + a fraction that is nonzero if sticky) * 2^sh, rounded to a double half to even. */
static double round_binary(uint64_t q, int sh, int sticky, int *range) {
    if (!q)
        return 0;
    while (!(q >> 63)) {
        q <<= 1;
        --sh;
    }
    int lead = 63 + sh;
    if (lead > 1023) {
        *range = 1;
        return from_bits(0x7ffULL << 52);
    }
    int keep = 53;
    if (lead < -1022)
        keep = 53 - (-1022 - lead);
    if (keep < 0) {
        *range = 1;
        return 0;
    }
    int drop = 64 - keep;
    uint64_t mant = drop >= 64 ? 0 : q >> drop;
    uint64_t rem = drop >= 64 ? q : q & ((1ULL << drop) - 1);
    uint64_t half = 1ULL << (drop - 1);
    int inexact = rem || sticky;
    if (rem > half || (rem == half && (sticky || (mant & 1))))
        ++mant;
    if (keep < 53) { /* subnormal: the least significant bit is worth 2^-1074 */
        if (inexact && mant < (1ULL << 52))
            *range = 1;
        if (!mant)
            *range = 1;
        return from_bits(mant);
    }
    int lsb = sh + drop;
    if (mant >> 53) {
        mant >>= 1;
        ++lsb;
    }
    int biased = lsb + 52 + 1023;
    if (biased >= 2047) {
        *range = 1;
        return from_bits(0x7ffULL << 52);
    }
    return from_bits(((uint64_t)biased << 52) | (mant & ((1ULL << 52) - 1)));
}

static int prefix_ci(const char *s, const char *word) {
    for (; *word; ++s, ++word)
        if (tolower((unsigned char)*s) != *word)
            return 0;
    return 1;
}

/* The exponent after `mark` ('e' or 'p', either case) when digits follow it, moving *pp past it;
   0 and *pp unmoved otherwise. Its magnitude saturates (every result is 0 or inf long before). */
static long exponent_part(const char **pp, char mark) {
    const char *p = *pp;
    if ((*p | 0x20) != mark ||
        !(isdigit((unsigned char)p[1]) ||
          ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2]))))
        return 0;
    ++p;
    int neg = *p == '-';
    if (*p == '+' || *p == '-')
        ++p;
    long e = 0;
    for (; isdigit((unsigned char)*p); ++p)
        if (e < 100000)
            e = e * 10 + (*p - '0');
    *pp = p;
    return neg ? -e : e;
}

/* One decimal significand digit, before (frac 0) or after (frac 1) the point: leading zeros only
   move the point; past MAX_SIG digits a digit only makes the value inexact (and, before the
   point, scales it by ten). */
static void take_digit(int d, int frac, unsigned char *dig, int *nd, long *dexp, int *sticky) {
    if (*nd == 0 && d == 0) {
        *dexp -= frac;
        return;
    }
    if (*nd < MAX_SIG) {
        dig[(*nd)++] = (unsigned char)d;
        *dexp -= frac;
    } else {
        *sticky |= d != 0;
        *dexp += !frac;
    }
}

static double parse_hex(const char **pp, int *range) {
    const char *p = *pp + 2;
    uint64_t q = 0;
    int sh = 0, sticky = 0, any = 0;
    for (int frac = 0;; ++p) {
        int c = (unsigned char)*p, v;
        if (c == '.' && !frac) {
            frac = 1;
            continue;
        }
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            break;
        any = 1;
        if (q >> 60) { /* no room: the digit only makes the value inexact */
            sticky |= v != 0;
            if (!frac)
                sh += 4;
        } else {
            q = q << 4 | (uint64_t)v;
            if (frac)
                sh -= 4;
        }
    }
    if (!any)
        return 0;
    sh += (int)exponent_part(&p, 'p');
    *pp = p;
    return round_binary(q, sh, sticky, range);
}

double strtod(const char *s, char **end) {
    const char *p = s;
    while (isspace((unsigned char)*p))
        ++p;
    int neg = 0, range = 0;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    double v;
    if (prefix_ci(p, "inf")) {
        p += prefix_ci(p, "infinity") ? 8 : 3;
        v = from_bits(0x7ffULL << 52);
    } else if (prefix_ci(p, "nan")) {
        p += 3;
        uint64_t payload = 0;
        if (*p == '(') {
            const char *q = p + 1;
            while (isalnum((unsigned char)*q) || *q == '_')
                ++q;
            if (*q == ')') {
                /* glibc: a number filling the parentheses becomes the payload */
                char *num_end;
                uint64_t n = strtoull(p + 1, &num_end, 0);
                if (num_end == q)
                    payload = n & ((1ULL << 51) - 1);
                p = q + 1;
            }
        }
        v = from_bits((0x7ff8ULL << 48) | payload);
    } else if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
               (isxdigit((unsigned char)p[2]) ||
                (p[2] == '.' && isxdigit((unsigned char)p[3])))) {
        v = parse_hex(&p, &range);
    } else {
        static unsigned char dig[MAX_SIG];
        int nd = 0, any = 0, sticky = 0;
        long dexp = 0;
        for (; isdigit((unsigned char)*p); ++p, any = 1)
            take_digit(*p - '0', 0, dig, &nd, &dexp, &sticky);
        if (*p == '.') {
            const char *dot = p++;
            for (; isdigit((unsigned char)*p); ++p, any = 1)
                take_digit(*p - '0', 1, dig, &nd, &dexp, &sticky);
            if (!any)
                p = dot;
        }
        if (!any) {
            if (end)
                *end = (char *)s;
            return 0;
        }
        dexp += exponent_part(&p, 'e');
        if (nd == 0) {
            v = 0;
        } else if (nd + dexp - 1 > 309) {
            range = 1;
            v = from_bits(0x7ffULL << 52);
        } else if (nd + dexp < -324) {
            range = 1;
            v = 0;
        } else {
            static struct big d, b;
            d.n = 0;
            for (int i = 0; i < nd; ++i) {
                if (!d.n)
                    d.n = 1, d.w[0] = 0;
                big_mul_add(&d, 10, dig[i]);
            }
            big_trim(&d);
            if (dexp >= 0) {
                for (long i = 0; i < dexp; ++i)
                    big_mul_add(&d, 10, 0);
                int from = big_bits(&d) - 64;
                uint64_t q = big_top(&d, from, &sticky);
                v = round_binary(q, from, sticky, &range);
            } else {
                b.n = 1;
                b.w[0] = 1;
                for (long i = 0; i < -dexp; ++i)
                    big_mul_add(&b, 10, 0);
                /* q = floor(d * 2^s / b) with 64 or 65 bits */
                int s = 65 - big_bits(&d) + big_bits(&b);
                if (s >= 0)
                    big_shl(&d, s);
                else
                    big_shl(&b, -s);
                big_shl(&b, 65);
                uint64_t q = 0;
                int top = 0; /* the quotient's bit 65, if any */
                for (int bit = 65; bit >= 0; --bit) {
                    if (big_cmp(&d, &b) >= 0) {
                        big_sub(&d, &b);
                        if (bit == 65 || bit == 64)
                            top |= 1 << (bit - 64);
                        else
                            q |= 1ULL << bit;
                    }
                    big_shr1(&b);
                }
                sticky |= d.n != 0;
                int sh = -s;
                while (top) { /* fold bits 64 and 65 in, keeping the dropped ones as sticky */
                    sticky |= (int)(q & 1);
                    q = (q >> 1) | ((uint64_t)(top & 1) << 63);
                    top >>= 1;
                    ++sh;
                }
                v = round_binary(q, sh, sticky, &range);
            }
        }
    }
    if (end)
        *end = (char *)p;
    if (range)
        errno = ERANGE;
    return neg ? -v : v;
}

float strtof(const char *s, char **end) { return (float)strtod(s, end); }
long double strtold(const char *s, char **end) { return strtod(s, end); }
double atof(const char *s) { return strtod(s, 0); }
