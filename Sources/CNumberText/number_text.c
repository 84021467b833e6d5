#define _GNU_SOURCE
#include "number_text.h"

#include <locale.h>
#include <stdio.h>

int rf_print_double(char *buffer, size_t size, char conversion, int precision, double value) {
    const char *format;
    switch (conversion) {
    case 'e': format = "%.*e"; break;
    case 'f': format = "%.*f"; break;
    case 'g': format = "%.*g"; break;
    default: return -1;
    }
    // The C locale's numerics (a decimal point), as String(format:) without a locale, whatever
    // locale the process may have set.
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t previous = c ? uselocale(c) : (locale_t)0;
    int length = snprintf(buffer, size, format, precision, value);
    if (c) {
        uselocale(previous);
        freelocale(c);
    }
    return length;
}
