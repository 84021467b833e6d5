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

// The 8 decimal digits of x < 10^8 (leading zeros included) as 8 ASCII bytes in memory order,
// computed in the lanes of one 64-bit word: x = 10^4 a + b; the lanes hold a and b, then their
// quotients and remainders by 100, then by 10. y·10486 >> 20 = ⌊y/100⌋ for y < 10^4 and
// y·103 >> 10 = ⌊y/10⌋ for y < 100 (both identities hold over their whole ranges: checked value by value
// when written); no lane's
// product reaches the next lane.
static inline uint64_t eight_digits(uint32_t x) {
    const uint64_t a = x / 10000, b = x % 10000;
    uint64_t z = a | (b << 32);
    const uint64_t z100 = ((z * 10486) >> 20) & 0x0000007F0000007Full;
    z = ((z - z100 * 100) << 16) | z100;
    const uint64_t z10 = ((z * 103) >> 10) & 0x000F000F000F000Full;
    z = ((z - z10 * 10) << 8) | z10;
    return z | 0x3030303030303030ull;
}

// The 17 decimal digits of v < 10^17, leading zeros included, at digits[0..17).
static inline void seventeen_digits(char *digits, uint64_t v) {
    const uint64_t high = v / 100000000, low = v % 100000000;
    digits[0] = (char)('0' + high / 100000000);
    const uint64_t h = eight_digits((uint32_t)(high % 100000000)), l = eight_digits((uint32_t)low);
    memcpy(digits + 1, &h, 8);
    memcpy(digits + 9, &l, 8);
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

    // The digits right-aligned in 17 places; d points at the first of the n significant ones. The
    // copies below move fixed sizes (16 or 24 bytes, a few stores) and may write past the text's end
    // (never past out + 32); what lies past it is overwritten or ignored (the length returned).
    char buffer[48];
    seventeen_digits(buffer, output);
    const int n = decimal_length(output);
    const char *d = buffer + 17 - n;
    const int32_t E = e10 + removed + n - 1;
    // |v| ≤ 2^53 for the plain layout: e2 = −1 is [2^53, 2^54); only 2^53 itself is plain there.
    const int small = e2 < -1 || (mantissa == 0 && e2 == -1);
    if (E >= -4 && small) {
        if (E < 0) {
            // "0." and −E − 1 ≤ 3 zeros, then the digits: at most 1 + 5 + 24 bytes written.
            memcpy(p, "0.000000", 8);
            p += 1 - E;
            memcpy(p, d, 16);
            memcpy(p + 16, d + 16, 8);
            p += n;
        } else if (E >= n - 1) {
            // An integer (E ≤ 15, n ≤ 16): the digits, E − (n − 1) zeros, ".0".
            memcpy(p, d, 16);
            if (E > n - 1) {   // then n ≤ 15: the zeros end by out + 1 + 15 + 16
                memcpy(p + n, "0000000000000000", 16);
            }
            p += E + 1;
            memcpy(p, ".0", 2);
            p += 2;
        } else if (E <= 13) {
            // The point after E + 1 ≤ 14 digits: the integer digits, '.', then the n − E − 1 ≤ 16
            // others from a copy of 16 bytes ending by out + 1 + 15 + 16.
            memcpy(p, d, 16);
            p[E + 1] = '.';
            memcpy(p + E + 2, d + E + 1, 16);
            p += n + 1;
        } else {
            // The point after 15 or 16 digits (|v| ≥ 10^14): byte by byte.
            for (int z = 0; z <= E; z++) *p++ = d[z];
            *p++ = '.';
            for (int z = E + 1; z < n; z++) *p++ = d[z];
        }
    } else {
        // d[.ddd]e±XX: at most 1 + 1 + 1 + 16 + 5 bytes.
        p[0] = d[0];
        p[1] = '.';
        memcpy(p + 2, d + 1, 16);
        p += n > 1 ? n + 1 : 1;
        int32_t a = E;
        p[0] = 'e';
        p[1] = a < 0 ? '-' : '+';
        if (a < 0) a = -a;
        p += 2;
        if (a >= 100) { *p++ = (char)('0' + a / 100); a %= 100; }
        memcpy(p, TWO_DIGITS + 2 * a, 2);
        p += 2;
    }
    return (int)(p - out);
}

int rf_shortest_double_kept(double value, char *out, rf_text_slot *slot) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    if (slot->length > 0 && slot->bits == bits) {
        memcpy(out, slot->text, 32);
        return slot->length;
    }
    const int length = rf_shortest_double(value, out);
    if (length > 0) {
        // The 32 bytes from `out`: the text and what follows it (never read back past `length`).
        slot->bits = bits;
        slot->length = length;
        memcpy(slot->text, out, 32);
    }
    return length;
}
