/* vpn_users: the VPN server's users file, which holds no passwords.
 *
 *   # name:$scrypt$ln=15,r=8,p=1$SALT$STOREDKEY$SERVERKEY[:ADDRESS]
 *   alice:$scrypt$ln=15,r=8,p=1$3q2+7w...$u7Z...$Jk0...
 *   bob:$scrypt$ln=15,r=8,p=1$...$...$...:10.10.0.20
 *
 * SALT (16 bytes), STOREDKEY and SERVERKEY (32 bytes each) are base64:
 * the SCRAM verifiers (RFC 5802) of SaltedPassword = scrypt(password,
 * SALT, 2^ln, r, p).  They let the server check a password proof and
 * prove itself, but neither is the password nor enough to log in.  The
 * optional ADDRESS is the user's fixed tunnel address.
 *
 * `sluice vpn-user add FILE NAME [ADDRESS]` writes such a line (replacing
 * the user's old one) with a password read from the terminal or stdin.
 */
#ifndef SLUICE_VPN_USERS_H
#define SLUICE_VPN_USERS_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/vpn/vpn_proto.h"

typedef struct vpn_user {
	char name[VPN_USER_MAX + 1];
	vpn_verifier_t v;
	uint32_t addr; /* fixed address (network order) or 0 */
} vpn_user_t;

typedef struct vpn_users {
	vpn_user_t *u;
	size_t n;
} vpn_users_t;

/* One line (no newline): 1 parsed, 0 blank/comment, -EINVAL. */
int vpn_user_parse(const char *line, vpn_user_t *u);
/* Formats a line (no newline) into buf. */
int vpn_user_format(const vpn_user_t *u, char *buf, size_t len);
int vpn_users_load(const char *path, vpn_users_t *out, char *err, size_t errlen);
const vpn_user_t *vpn_users_find(const vpn_users_t *us, const char *name);
/* The same answer, after looking at every entry the same way whatever the
 * name: the time taken does not tell whether the user exists. */
const vpn_user_t *vpn_users_lookup(const vpn_users_t *us, const char *name);
void vpn_users_free(vpn_users_t *us);

/* `sluice vpn-user ...`: the exit status. */
int vpn_user_main(int argc, char **argv);

#endif
