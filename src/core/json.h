/* json: the one string escaper for what sluice writes as JSON (log lines,
 * /health, /status).
 */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stddef.h>

/* s escaped for the inside of a JSON string ("\"", "\\", control bytes as
 * \uXXXX) into out (cap bytes, NUL-terminated, cut before an escape that
 * would not fit); returns the length written. */
size_t json_escape(char *out, size_t cap, const char *s);

#endif
