/* encoding: base64 and hex, the one module for both.
 *
 * Keys, Basic credentials and MS-CHAP authenticator responses pass through
 * here, so no branch and no table index depends on the value of a secret
 * character or byte: characters are mapped with arithmetic, as
 * wireguard-tools' encoding.c does.  What steers the code is public: the
 * length, where the padding starts, and (for b64_decode_py only) which
 * characters are outside the alphabet and skipped.
 *
 *   b64_encode         standard alphabet, padded (keys, Basic credentials)
 *   b64url_encode      URL-safe alphabet, unpadded (tokens in URLs, cookies)
 *   b64_decode         liberal, for keys people paste: either alphabet,
 *                      padding optional (any '=' at the end is dropped), a
 *                      lone character in the last quantum refused
 *   b64_decode_strict  RFC 4648 section 4: standard alphabet, length a
 *                      multiple of four, one or two '=' only at the end
 *                      (HTTP Basic credentials)
 *   b64_decode_py      Python's base64.b64decode without validate=True:
 *                      characters outside the standard alphabet are
 *                      skipped, a complete padding ends the input, a
 *                      dangling partial quantum is an error, non-ASCII is
 *                      refused (wstan's keys)
 *   hex_encode         lower or upper case
 *   hex_decode         either case, an even number of digits
 *
 * Decoders return the bytes written or a negative errno (-EINVAL: not this
 * encoding or no room; b64_decode_py says -ENOSPC for no room, as Python's
 * users expect a length check to fail differently).  Encoders write a NUL
 * after the text and return its length.
 */
#ifndef SLUICE_ENCODING_H
#define SLUICE_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Characters b64_encode writes for n bytes (add one for the NUL). */
#define B64_LEN(n) ((((n) + 2) / 3) * 4)

size_t b64_encode(const uint8_t *in, size_t n, char *out);
size_t b64url_encode(const uint8_t *in, size_t n, char *out);
int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap);
int b64_decode_strict(const char *in, size_t n, uint8_t *out, size_t cap);
int b64_decode_py(const char *in, size_t n, uint8_t *out, size_t cap);

/* out holds 2 * n + 1 characters. */
size_t hex_encode(const uint8_t *in, size_t n, char *out, int upper);
int hex_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#endif
