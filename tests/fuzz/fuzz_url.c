/* Fuzz target: the -L/-F URL parser, its option getters, host:port,
 * CIDR lists and the YAML config loader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "core/config.h"
#include "core/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[URL_ERRLEN], host[256];
	url_t *u;
	uint64_t v;
	int b;
	uint16_t port;
	cidr_list_t l = {0};
	config_t c;

	memcpy(s, data, size);
	s[size] = 0;
	if (url_parse(s, &u, err, sizeof(err)) == 0) {
		const char *str;
		url_opt_uint(u, "max-conns", 1000, &v, err, sizeof(err));
		url_opt_duration(u, "idle-timeout", &v, err, sizeof(err));
		url_opt_bool(u, "insecure", &b, err, sizeof(err));
		url_opt_str(u, "key", &str);
		url_check_opts(u, err, sizeof(err));
		url_free(u);
	}
	hostport_parse(s, host, sizeof(host), &port);
	cidr_list_add(&l, s, host, sizeof(host));
	cidr_list_free(&l);
	config_init(&c);
	config_load_string(&c, s, size, "fuzz", err, sizeof(err));
	config_free(&c);
	free(s);
	return 0;
}
