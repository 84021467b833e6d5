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

#endif
