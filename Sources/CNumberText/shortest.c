// The shortest text that reads back to the same double, laid out as Swift's `Double.description`
// (issue 22: the standard library's formatting, with its 128-bit products in Swift, was ~540
// instructions a number and 7 M of the 27 M of a small run).
//
// Digits: Ryu's general case (Ulf Adams, "Ryū: fast float-to-string conversion", PLDI 2018). A
// double v = m·2^e has the rounding interval (v − ulp⁻/2, v + ulp/2) of the reals that read back
// as v; scaled by 2^2 (so the bounds are integers: 4m − 1 − s, 4m, 4m + 2, s = 1 except at a
// power of two) and by 10^−q, with q chosen so that the scaled interval is wide enough, the three
// become vm < vr < vp, computed as floors of 128-bit products with Ryu's tables (exact 5^i and
// 2^k/5^i in 125 bits, shortest_tables.h). Removing trailing decimal digits while vp/10 > vm/10
// gives the shortest digits inside the interval; the last removed digit rounds vr to the closest
// of them. This needs every scaled bound to be a non-integer (the floors then exclude the bounds
// and no removed digits can tie at exactly ...5000): Ryu tracks the exceptions (a scaled value
// with trailing decimal zeros, q ≤ 1, or e ≥ 0) separately; here every such case (and more, see
// `needs_exact`) is left to the caller, which formats it with Swift's own description. So what
// this returns is Ryu's proven result where Ryu needs no special case, and both Ryu and Swift
// return the unique shortest, closest digits there (ShortestTextTests compares the two on
// millions of doubles).
//
// Layout (Swift's): "-" for negatives; with E the decimal exponent of the first digit, plain
// decimal when −4 ≤ E and |v| ≤ 2^53 ("0.0001234", "100.0", "12.5"), else d[.ddd]e±XX with at
// least two exponent digits ("1e-05", "1.8014398509481984e+16").

#include "number_text.h"

#include <stdint.h>
#include <string.h>

#include "shortest_tables.h"

static inline uint32_t pow5bits(int32_t e) { return (uint32_t)(((uint32_t)e * 1217359u) >> 19) + 1; }
static inline uint32_t log10_pow5(int32_t e) { return ((uint32_t)e * 732923u) >> 20; }

static inline uint64_t mul_shift(uint64_t m, const uint64_t *mul, int32_t j) {
    const unsigned __int128 low = (unsigned __int128)m * mul[0];
    const unsigned __int128 high = (unsigned __int128)m * mul[1];
    return (uint64_t)(((low >> 64) + high) >> (j - 64));
}

// The number of decimal digits of v < 10^17 (most outputs have 15 to 17).
static inline int decimal_length(uint64_t v) {
    if (v >= 10000000000000000ull) return 17;
    if (v >= 1000000000000000ull) return 16;
    if (v >= 100000000000000ull) return 15;
    int n = 1;
    while (v >= 10) { v /= 10; n++; }
    return n;
}

static const char TWO_DIGITS[200] =
    "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
    "5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

// The n decimal digits of v (v < 10^n), two at a time.
static inline void write_digits(char *digits, int n, uint64_t v) {
    char *end = digits + n;
    while (v >= 100000000) {
        uint32_t low = (uint32_t)(v % 100000000);
        v /= 100000000;
        const uint32_t a = low / 10000, b = low % 10000;
        end -= 8;
        memcpy(end, TWO_DIGITS + 2 * (a / 100), 2);
        memcpy(end + 2, TWO_DIGITS + 2 * (a % 100), 2);
        memcpy(end + 4, TWO_DIGITS + 2 * (b / 100), 2);
        memcpy(end + 6, TWO_DIGITS + 2 * (b % 100), 2);
    }
    uint32_t w = (uint32_t)v;
    while (w >= 100) {
        end -= 2;
        memcpy(end, TWO_DIGITS + 2 * (w % 100), 2);
        w /= 100;
    }
    if (w >= 10) {
        end -= 2;
        memcpy(end, TWO_DIGITS + 2 * w, 2);
    } else {
        *--end = (char)('0' + w);
    }
}

int rf_shortest_double(double value, char *out) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    const int sign = (int)(bits >> 63);
    const uint64_t mantissa = bits & ((1ull << 52) - 1);
    const uint32_t exponent = (uint32_t)((bits >> 52) & 0x7ff);
    if (exponent == 0x7ff) return -1;  // inf, nan: the caller's
    char *p = out;
    if (sign) *p++ = '-';
    if (exponent == 0 && mantissa == 0) {
        memcpy(p, "0.0", 3);
        return (int)(p - out) + 3;
    }
    int32_t e2;
    uint64_t m2;
    if (exponent == 0) {
        e2 = 1 - 1023 - 52 - 2;
        m2 = mantissa;
    } else {
        e2 = (int32_t)exponent - 1023 - 52 - 2;
        m2 = (1ull << 52) | mantissa;
    }
    // e2 ≥ 0 (|v| ≥ 2^54): Ryu's other branch with its own special cases; the caller's.
    if (e2 >= 0) return -1;
    const uint64_t mv = 4 * m2;
    const uint32_t mm_shift = (mantissa != 0 || exponent <= 1) ? 1 : 0;
    const uint32_t q = log10_pow5(-e2) - (-e2 > 1 ? 1 : 0);
    // q ≤ 1: the scaled bounds may be integers (Ryu: vr has trailing zeros, vm may). For q ≥ 2,
    // vm = 4m − 1 − s and vp = 4m + 2 have fewer than 2 factors of 2 and so never q; vr = 4m·2^e2·10^−q
    // ... is an integer with trailing zeros when mv has ≥ q factors of 2. Left to the caller when mv
    // has q − 1 or more (a superset, so no case Ryu treats specially comes through here).
    if (q <= 1) return -1;
    if (q < 64 && (mv & ((1ull << (q - 1)) - 1)) == 0) return -1;
    const int32_t e10 = (int32_t)q + e2;
    const int32_t i = -e2 - (int32_t)q;
    const int32_t k = (int32_t)pow5bits(i) - 125;
    const int32_t j = (int32_t)q - k;
    uint64_t vr = mul_shift(mv, POW5_SPLIT[i], j);
    uint64_t vp = mul_shift(mv + 2, POW5_SPLIT[i], j);
    uint64_t vm = mul_shift(mv - 1 - mm_shift, POW5_SPLIT[i], j);

    int32_t removed = 0;
    int round_up = 0;
    if (vp / 100 > vm / 100) {
        const uint64_t r = vr / 100;
        round_up = (vr - 100 * r) >= 50;
        vr = r; vp /= 100; vm /= 100;
        removed += 2;
    }
    for (;;) {
        const uint64_t p10 = vp / 10, m10 = vm / 10;
        if (p10 <= m10) break;
        const uint64_t r = vr / 10;
        round_up = (vr - 10 * r) >= 5;
        vr = r; vp = p10; vm = m10;
        removed++;
    }
    const uint64_t output = vr + ((vr == vm || round_up) ? 1 : 0);

    char digits[20];
    const int n = decimal_length(output);
    write_digits(digits, n, output);
    const int32_t E = e10 + removed + n - 1;
    // |v| ≤ 2^53 for the plain layout: e2 = −1 is [2^53, 2^54); only 2^53 itself is plain there.
    const int small = e2 < -1 || (mantissa == 0 && e2 == -1);
    if (E >= -4 && small) {
        if (E < 0) {
            *p++ = '0'; *p++ = '.';
            for (int z = 0; z < -E - 1; z++) *p++ = '0';
            memcpy(p, digits, (size_t)n); p += n;
        } else if (E >= n - 1) {
            memcpy(p, digits, (size_t)n); p += n;
            for (int z = 0; z < E - (n - 1); z++) *p++ = '0';
            *p++ = '.'; *p++ = '0';
        } else {
            memcpy(p, digits, (size_t)E + 1); p += E + 1;
            *p++ = '.';
            memcpy(p, digits + E + 1, (size_t)(n - E - 1)); p += n - E - 1;
        }
    } else {
        *p++ = digits[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, (size_t)n - 1); p += n - 1;
        }
        *p++ = 'e';
        int32_t a = E;
        if (a < 0) { *p++ = '-'; a = -a; } else { *p++ = '+'; }
        if (a >= 100) { *p++ = (char)('0' + a / 100); a %= 100; }
        *p++ = (char)('0' + a / 10);
        *p++ = (char)('0' + a % 10);
    }
    return (int)(p - out);
}
