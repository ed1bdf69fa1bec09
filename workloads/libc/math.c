/* <math.h> on SSE2 doubles. Exact (correctly rounded, as IEEE 754 and glibc give them): sqrt
 * (the sqrtsd instruction), fabs, floor, ceil, trunc, round, fmod, ldexp, frexp, modf,
 * copysign, fmin, fmax. exp, log, log2, log10 and pow are computed in x87 extended precision and
 * rounded once: correctly rounded but for rare hard cases, one ulp off at most, so not always
 * bit-identical with glibc's (docs/PROGRAMS.md). */
#include <math.h>

#include "libc.h"

static uint64_t bits_of(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static double of_bits(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

double sqrt(double x) {
    double r;
    __asm__("sqrtsd %1, %0" : "=x"(r) : "x"(x));
    if (x < 0)
        errno = EDOM;
    return r;
}
float sqrtf(float x) {
    float r;
    __asm__("sqrtss %1, %0" : "=x"(r) : "x"(x));
    return r;
}

double fabs(double x) { return of_bits(bits_of(x) & ~(1ULL << 63)); }
float fabsf(float x) { return x < 0 ? -x : (x == 0 ? 0.0f : x); }
double copysign(double x, double y) {
    return of_bits((bits_of(x) & ~(1ULL << 63)) | (bits_of(y) & (1ULL << 63)));
}

/* Drops the fraction bits of x (toward zero). */
double trunc(double x) {
    uint64_t u = bits_of(x);
    int e = (int)((u >> 52) & 0x7ff) - 1023;
    if (e >= 52)
        return x; /* already an integer, or inf/nan */
    if (e < 0)
        return of_bits(u & (1ULL << 63)); /* |x| < 1: a signed zero */
    uint64_t mask = (1ULL << (52 - e)) - 1;
    return of_bits(u & ~mask);
}

double floor(double x) {
    double t = trunc(x);
    return t != x && x < 0 ? t - 1.0 : t;
}

double ceil(double x) {
    double t = trunc(x);
    return t != x && x > 0 ? t + 1.0 : t;
}

double round(double x) {
    double t = trunc(x);
    double d = x - t; /* exact: t and x share their exponent or t is 0 */
    if (d >= 0.5)
        return t + 1.0;
    if (d <= -0.5)
        return t - 1.0;
    return t;
}

double modf(double x, double *ip) {
    double t = trunc(x);
    *ip = t;
    if (isinf(x))
        return copysign(0.0, x);
    return copysign(x - t, x);
}

double fmin(double a, double b) { return isnan(a) ? b : isnan(b) ? a : a < b ? a : b; }
double fmax(double a, double b) { return isnan(a) ? b : isnan(b) ? a : a > b ? a : b; }

/* x * 2^e exactly (rounded once when the result is subnormal). */
double ldexp(double x, int e) {
    if (x == 0 || isinf(x) || isnan(x))
        return x;
    while (e > 1023) {
        x *= 0x1p1023;
        e -= 1023;
        if (isinf(x))
            return x;
    }
    while (e < -1022) {
        /* scale in steps that keep x normal until the last, so it rounds once */
        if (e < -1022 - 52) {
            x *= 0x1p-1022;
            e += 1022;
            if (x == 0)
                return x;
        } else {
            x *= 0x1p-52;
            e += 52;
        }
    }
    return x * of_bits((uint64_t)(e + 1023) << 52);
}

double frexp(double x, int *e) {
    *e = 0;
    if (x == 0 || isinf(x) || isnan(x))
        return x;
    uint64_t u = bits_of(x);
    int biased = (int)((u >> 52) & 0x7ff);
    if (!biased) { /* subnormal: normalise first */
        x *= 0x1p64;
        u = bits_of(x);
        biased = (int)((u >> 52) & 0x7ff);
        *e = -64;
    }
    *e += biased - 1022;
    return of_bits((u & ~(0x7ffULL << 52)) | (1022ULL << 52));
}

/* fmod: exact (the remainder of two doubles is representable), by binary long division of the
 * significands, as musl's fmod does. */
double fmod(double x, double y) {
    uint64_t ux = bits_of(x), uy = bits_of(y);
    int ex = (int)((ux >> 52) & 0x7ff), ey = (int)((uy >> 52) & 0x7ff);
    uint64_t sx = ux & (1ULL << 63);
    if ((uy << 1) == 0 || isnan(y) || ex == 0x7ff) {
        if (!isnan(x) && !isnan(y))
            errno = EDOM;
        return (x * y) / (x * y);
    }
    if ((ux << 1) <= (uy << 1)) {
        if ((ux << 1) == (uy << 1))
            return 0 * x;
        return x;
    }
    if (!ex) {
        for (uint64_t i = ux << 12; i >> 63 == 0; ex--, i <<= 1)
            ;
        ux <<= -ex + 1;
    } else {
        ux &= (uint64_t)-1 >> 12;
        ux |= 1ULL << 52;
    }
    if (!ey) {
        for (uint64_t i = uy << 12; i >> 63 == 0; ey--, i <<= 1)
            ;
        uy <<= -ey + 1;
    } else {
        uy &= (uint64_t)-1 >> 12;
        uy |= 1ULL << 52;
    }
    for (; ex > ey; ex--) {
        uint64_t i = ux - uy;
        if (i >> 63 == 0) {
            if (i == 0)
                return 0 * x;
            ux = i;
        }
        ux <<= 1;
    }
    uint64_t i = ux - uy;
    if (i >> 63 == 0) {
        if (i == 0)
            return 0 * x;
        ux = i;
    }
    for (; ux >> 52 == 0; ux <<= 1, ex--)
        ;
    if (ex > 0) {
        ux -= 1ULL << 52;
        ux |= (uint64_t)ex << 52;
    } else {
        ux >>= -ex + 1;
    }
    return of_bits(ux | sx);
}

/* ---- exp, log, pow: computed in x87 extended precision (64-bit significands; the x87's
 * add, multiply and divide are exact IEEE 754 operations, also under QEMU, which implements them
 * with softfloat), then rounded once to double. The errors of the extended-precision steps are
 * near 2^-63, so the double results are correctly rounded except when the exact value lies
 * within about 2^-10 ulp of a halfway point: rare, and then one ulp off. Constants: ln 2 split
 * so that k * LN2_HI is exact for |k| < 2^16, its remainder, 1/ln 2 and 1/ln 10, each the
 * nearest extended value. ---- */
static const long double LN2_HI = 0xb17217f7d1cf0000p-64L, LN2_LO = 0xf35793c7673007e6p-113L,
                         INV_LN2 = 0xb8aa3b295c17f0bcp-63L, INV_LN10 = 0xde5bd8a937287195p-65L;

/* e^t for |t| < 746: t = k ln 2 + r with |r| <= ln2 / 2, e^r by its Taylor series (19 terms:
 * the next is below 2^-80), then 2^k, exact in extended precision. */
static long double exp_ext(long double t) {
    long double kf = t * INV_LN2;
    int k = (int)(kf < 0 ? kf - 0.5L : kf + 0.5L);
    long double r = (t - k * LN2_HI) - k * LN2_LO;
    long double sum = 1, term = 1;
    for (int n = 1; n <= 19; ++n) {
        term = term * r / n;
        sum += term;
    }
    /* 2^k as an extended value: exponent field k + 16383, explicit integer bit. */
    union {
        long double v;
        struct {
            uint64_t mant;
            uint16_t se;
        } p;
    } two_k;
    two_k.p.mant = 1ULL << 63;
    two_k.p.se = (uint16_t)(k + 16383);
    return sum * two_k.v;
}

/* ln x for a finite x > 0: x = 2^k m with sqrt(1/2) <= m < sqrt(2),
 * ln m = 2 atanh(f) = 2 (f + f^3/3 + f^5/5 + ...), f = (m - 1) / (m + 1), |f| < 0.172
 * (15 terms: the next is below 2^-80). */
static long double log_ext(double x) {
    int k;
    double m = frexp(x, &k);
    if (m < 0.70710678118654752440) {
        m *= 2;
        --k;
    }
    long double f = ((long double)m - 1) / ((long double)m + 1), f2 = f * f;
    long double sum = 0, power = f;
    for (int n = 0; n < 15; ++n) {
        sum += power / (2 * n + 1);
        power *= f2;
    }
    return k * LN2_HI + (k * LN2_LO + 2 * sum);
}

double exp(double x) {
    if (isnan(x))
        return x;
    if (x > 7.09782712893383973096e+02) {
        errno = ERANGE;
        return HUGE_VAL;
    }
    if (x < -7.45133219101941108420e+02) {
        errno = ERANGE;
        return 0;
    }
    return (double)exp_ext(x);
}

double log(double x) {
    if (isnan(x))
        return x;
    if (x < 0) {
        errno = EDOM;
        return NAN;
    }
    if (x == 0) {
        errno = ERANGE;
        return -HUGE_VAL;
    }
    if (isinf(x))
        return x;
    return (double)log_ext(x);
}

double log2(double x) {
    if (!(x > 0) || isinf(x))
        return log(x);
    return (double)(log_ext(x) * INV_LN2);
}

double log10(double x) {
    if (!(x > 0) || isinf(x))
        return log(x);
    return (double)(log_ext(x) * INV_LN10);
}

static int is_integer(double y) { return trunc(y) == y && !isinf(y); }

/* pow: the C11 F.10.4.4 special cases, then e^(y ln |x|) in extended precision. */
double pow(double x, double y) {
    if (y == 0 || x == 1)
        return 1.0;
    if (isnan(x) || isnan(y))
        return x + y;
    int odd = is_integer(y) && fabs(y) < 0x1p53 && fmod(y, 2.0) != 0;
    if (x == 0) {
        if (y < 0) {
            errno = ERANGE;
            return odd ? copysign(HUGE_VAL, x) : HUGE_VAL;
        }
        return odd ? x : 0.0;
    }
    if (isinf(y)) {
        double ax = fabs(x);
        if (ax == 1)
            return 1.0;
        return (ax > 1) == (y > 0) ? HUGE_VAL : 0.0;
    }
    if (isinf(x)) {
        if (x < 0)
            return y < 0 ? (odd ? -0.0 : 0.0) : (odd ? -HUGE_VAL : HUGE_VAL);
        return y < 0 ? 0.0 : HUGE_VAL;
    }
    double sign = 1;
    if (x < 0) {
        if (!is_integer(y)) {
            errno = EDOM;
            return NAN;
        }
        if (odd)
            sign = -1;
        x = -x;
    }
    long double t = y * log_ext(x);
    if (t > 709.79L) {
        errno = ERANGE;
        return sign * HUGE_VAL;
    }
    if (t < -745.2L) {
        errno = ERANGE;
        return sign * 0.0;
    }
    return sign * (double)exp_ext(t);
}
