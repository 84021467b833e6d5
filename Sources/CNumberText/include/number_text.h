#ifndef RELUFLOW_NUMBER_TEXT_H
#define RELUFLOW_NUMBER_TEXT_H

#include <stddef.h>

/// printf's conversion of one double, "%.<precision><conversion>" with conversion 'e', 'f' or 'g'
/// (C's snprintf: the same text as Foundation's String(format:), whose CVarArg boxing makes the Swift
/// runtime look up the argument's conformances to the variadic-argument protocols, a scan of every
/// conformance record of the binary the first time: ~0.9 M instructions per command, issue 22).
/// In the C locale's numerics whatever the process's locale. Writes at most size bytes including the
/// terminating NUL; returns snprintf's length (the text's full length, ≥ size when it was cut), or -1
/// for an unknown conversion.
int rf_print_double(char *buffer, size_t size, char conversion, int precision, double value);

/// The shortest text that reads back to `value`, in the layout of Swift's `Double.description`
/// ("0.0001234", "100.0", "-0.0", "1e-05", "1.8014398509481984e+16"), written to `out` (at least
/// 32 bytes, no terminating NUL); returns its length, or -1 for the doubles it leaves to the
/// caller: infinities and NaNs, |value| ≥ 2^54, and those whose scaled rounding bounds can be
/// integers (Ryu's special cases; a few in a thousand random doubles, more among round binary
/// fractions such as 0.5 or 3.0). shortest.c says how.
int rf_shortest_double(double value, char *out);

/// The text of one CSV column's last number: `bits` and the text (`length` bytes of `text`;
/// length 0: none yet). A number's text is a function of its bits.
typedef struct {
    unsigned long long bits;
    int length;
    int unused;
    char text[32];
} rf_text_slot;

/// `rf_shortest_double(value, out)` through `slot`: when `value` has the bits of the text kept in
/// `slot`, that text is copied to `out` (32 bytes: `out` must have room for them) instead of being
/// computed again; otherwise it is computed and kept. The same return value and text (issue 22:
/// parameters that stay put, such as a dead neuron's, repeat from one sample row to the next).
int rf_shortest_double_kept(double value, char *out, rf_text_slot *slot);

#endif
