/* secret: wiping memory that held a secret.
 *
 * A memset() of a buffer that is freed or goes out of scope right after is
 * a dead store, and the compiler may drop it.  These wipes use
 * OPENSSL_cleanse(), which it keeps.  Use them for keys, passwords and
 * anything derived from them, on the stack and on the heap.
 */
#ifndef SLUICE_SECRET_H
#define SLUICE_SECRET_H

#include <stddef.h>

void secret_wipe(void *p, size_t n);
/* Wipe n bytes at p, then free(p); NULL is fine. */
void secret_free(void *p, size_t n);
/* Wipe a NUL-terminated string (its bytes and the NUL), then free it;
 * NULL is fine. */
void secret_free_str(char *s);

#endif
