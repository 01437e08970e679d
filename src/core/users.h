/* users: a file of user names and passwords for authenticating peers.
 *
 *   # comment
 *   alice:correct horse battery staple
 *   bob:s3cret
 *
 * One `name:password` per line; the password is everything after the first
 * colon (spaces included).  PPP's CHAP and MS-CHAPv2 need the secret
 * itself, so this file is as sensitive as a private key: sluice warns when
 * others can read it.  Loaded once; lookups are by exact name.
 */
#ifndef SLUICE_USERS_H
#define SLUICE_USERS_H

#include <stddef.h>

typedef struct users users_t;

/* -errno with a message naming the file and line on failure. */
int users_load(const char *path, users_t **out, char *err, size_t errlen);
/* Copy the password of name into out; its length, or -1 if unknown. */
int users_lookup(const users_t *u, const char *name, char *out, size_t cap);
size_t users_count(const users_t *u);
void users_free(users_t *u);

#endif
