/* secret: see secret.h. */
#include "core/secret.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void secret_wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

void secret_free(void *p, size_t n)
{
	secret_wipe(p, n);
	free(p);
}

void secret_free_str(char *s)
{
	if (s)
		secret_free(s, strlen(s) + 1);
}
