/* Unit tests: core/route/rules (parsing, first match wins across every
 * kind of rule, names and addresses, errors with file:line), checked
 * against a plain in-order scan of the same rules on random queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dial.h"
#include "core/route/rules.h"
#include "rules_scan.h"

static rules_t *load(const char *text)
{
	rules_t *rs = rules_new();
	char err[300];

	if (rules_load(rs, text, strlen(text), "t.rules", NULL, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return rs;
}

static const char *route(const rules_t *rs, const char *host, uint16_t port, const char *client,
                         int udp, int *need)
{
	struct sockaddr_in c = {.sin_family = AF_INET};
	route_query_t q = {.host = host, .port = port, .udp = udp};
	rule_hit_t h;
	int nd;

	if (client) {
		inet_pton(AF_INET, client, &c.sin_addr);
		q.client = (struct sockaddr *)&c;
	}
	h = rules_match(rs, &q, need ? need : &nd);
	return h.index == RULE_NONE ? "(none)" : rules_action_name(rs, h.action);
}

static void test_parse(void **st)
{
	static const struct {
		const char *line, *canon;
	} ok[] = {
	    {"DOMAIN-SUFFIX,Example.ORG.,corp", "DOMAIN-SUFFIX,example.org,corp"},
	    {"  suffix , .example.org , DIRECT ", "DOMAIN-SUFFIX,example.org,direct"},
	    {"domain,a.example.org,REJECT", "DOMAIN,a.example.org,block"},
	    {"full,a.b,x", "DOMAIN,a.b,x"},
	    {"DOMAIN-KEYWORD,Ads,block", "DOMAIN-KEYWORD,ads,block"},
	    {"DOMAIN-WILDCARD,*.ads.*,block", "DOMAIN-GLOB,*.ads.*,block"},
	    {"IP-CIDR,10.1.2.3/8,corp,no-resolve", "IP-CIDR,10.0.0.0/8,corp,no-resolve"},
	    {"IP-CIDR6,fd00::1/8,corp", "IP-CIDR,fd00::/8,corp"},
	    {"ip-cidr,192.0.2.1,corp", "IP-CIDR,192.0.2.1/32,corp"},
	    {"SRC-IP-CIDR,192.168.1.0/24,direct", "SRC-IP-CIDR,192.168.1.0/24,direct"},
	    {"DST-PORT,25,block", "DST-PORT,25,block"},
	    {"port,8000-8999,corp", "DST-PORT,8000-8999,corp"},
	    {"NETWORK,UDP,direct", "NETWORK,udp,direct"},
	    {"MATCH,corp", "MATCH,corp"},
	    {"final,direct", "MATCH,direct"},
	};
	static const struct {
		const char *line, *needle;
	} bad[] = {
	    {"DOMAIN-SUFFIX,example.org", "no action"},
	    {"example.org", "not a rule"},
	    {"HOST,example.org,direct", "unknown rule type 'HOST'"},
	    {"DOMAIN,exa mple.org,direct", "' ' cannot be in a name"},
	    {"DOMAIN,a..b,direct", "an empty label"},
	    {"IP-CIDR,10.0.0.0/33,direct", "not an address or a prefix"},
	    {"DST-PORT,0,direct", "not a port"},
	    {"DST-PORT,90-80,direct", "not a port"},
	    {"NETWORK,sctp,direct", "tcp or udp"},
	    {"DOMAIN,a.b,direct,no-resolve", "IP-CIDR rules only"},
	    {"IP-CIDR,10.0.0.0/8,direct,resolve", "no-resolve"},
	    {"DOMAIN,a.b,cor p", "not an action"},
	    {"DOMAIN,a.b,direct,no-resolve,x", "too many fields"},
	    {"MATCH", "needs an action"},
	    {"MATCH,a,b", "only an action"},
	    {"DOMAIN-KEYWORD,a/b,block", "cannot be in a name"},
	};
	char err[300], buf[400];
	rule_t r;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int k = rule_parse(ok[i].line, strlen(ok[i].line), NULL, &r, err, sizeof(err));
		if (k != 1)
			fail_msg("%s: %s", ok[i].line, err);
		rule_format(&r, buf, sizeof(buf));
		assert_string_equal(buf, ok[i].canon);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(
		    rule_parse(bad[i].line, strlen(bad[i].line), NULL, &r, err, sizeof(err)),
		    -EINVAL);
		if (!strstr(err, bad[i].needle))
			fail_msg("%s: '%s' lacks '%s'", bad[i].line, err, bad[i].needle);
	}
	assert_int_equal(rule_parse("  # a comment", 13, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(rule_parse("\r", 1, NULL, &r, err, sizeof(err)), 0);
	/* the message quotes the line, but no terminal escape from it */
	assert_int_equal(rule_parse("DOM\x1b[2JAIN,a.b,direct", 21, NULL, &r, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "unknown rule type 'DOM?[2JAIN'"));
}

/* A list whose lines name no action takes the caller's, and bare values
 * are names and prefixes in the spellings lists use. */
static void test_bare(void **st)
{
	static const struct {
		const char *line, *canon;
	} ok[] = {
	    {"example.org", "DOMAIN-SUFFIX,example.org,corp"},
	    {".example.org", "DOMAIN-SUFFIX,example.org,corp"},
	    {"+.example.org", "DOMAIN-SUFFIX,example.org,corp"},
	    {"163.com", "DOMAIN-SUFFIX,163.com,corp"},
	    {"full:www.example.org", "DOMAIN,www.example.org,corp"},
	    {"domain:example.org", "DOMAIN-SUFFIX,example.org,corp"},
	    {"keyword:tracker", "DOMAIN-KEYWORD,tracker,corp"},
	    {"*.cdn.example", "DOMAIN-GLOB,*.cdn.example,corp"},
	    {"10.0.0.0/8", "IP-CIDR,10.0.0.0/8,corp"},
	    {"2001:db8::/32", "IP-CIDR,2001:db8::/32,corp"},
	    {"DOMAIN,a.b", "DOMAIN,a.b,corp"},
	    {"DOMAIN,a.b,direct", "DOMAIN,a.b,direct"},
	    {"MATCH", "MATCH,corp"},
	};
	char err[300], buf[400];
	rule_t r;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (rule_parse(ok[i].line, strlen(ok[i].line), "corp", &r, err, sizeof(err)) != 1)
			fail_msg("%s: %s", ok[i].line, err);
		rule_format(&r, buf, sizeof(buf));
		assert_string_equal(buf, ok[i].canon);
	}
	assert_int_equal(rule_parse("regexp:^a", 9, "corp", &r, err, sizeof(err)), -EINVAL);
}

static void test_first_match_wins(void **st)
{
	rules_t *rs = load("# split tunnel\n"
	                   "DOMAIN,www.corp.example,direct\n"
	                   "DOMAIN-SUFFIX,corp.example,corp\n"
	                   "DOMAIN-GLOB,*.cdn.example,cdn\n"
	                   "DOMAIN-GLOB,ads?.*,block\n"
	                   "DOMAIN-KEYWORD,tracker,block\n"
	                   "IP-CIDR,10.0.0.0/8,corp\n"
	                   "IP-CIDR,10.9.0.0/16,never\n"
	                   "IP-CIDR,192.0.2.0/24,lit,no-resolve\n"
	                   "SRC-IP-CIDR,192.168.7.0/24,guests\n"
	                   "DST-PORT,25,block\n"
	                   "NETWORK,udp,udpchain\n"
	                   "MATCH,tunnel\n"
	                   "DOMAIN,after.match,never\n");
	int need;

	assert_int_equal(rules_count(rs), 13);
	assert_string_equal(route(rs, "www.corp.example", 443, NULL, 0, NULL), "direct");
	assert_string_equal(route(rs, "WWW.Corp.Example.", 443, NULL, 0, NULL), "direct");
	assert_string_equal(route(rs, "corp.example", 443, NULL, 0, NULL), "corp");
	assert_string_equal(route(rs, "a.b.corp.example", 443, NULL, 0, NULL), "corp");
	assert_string_equal(route(rs, "xcorp.example", 443, NULL, 0, &need), "tunnel");
	assert_int_equal(need, 1); /* an IP-CIDR rule comes before MATCH */
	assert_string_equal(route(rs, "x.cdn.example", 443, NULL, 0, NULL), "cdn");
	assert_string_equal(route(rs, "cdn.example", 443, NULL, 0, NULL), "tunnel");
	assert_string_equal(route(rs, "ads1.example.net", 80, NULL, 0, NULL), "block");
	assert_string_equal(route(rs, "ads12.example.net", 80, NULL, 0, NULL), "tunnel");
	assert_string_equal(route(rs, "my-tracker-host.net", 80, NULL, 0, NULL), "block");
	assert_string_equal(route(rs, "10.1.2.3", 80, NULL, 0, &need), "corp");
	assert_int_equal(need, 0);
	assert_string_equal(route(rs, "10.9.1.1", 80, NULL, 0, NULL), "corp");
	assert_string_equal(route(rs, "192.0.2.9", 80, NULL, 0, NULL), "lit");
	assert_string_equal(route(rs, "198.51.100.1", 80, "192.168.7.9", 0, NULL), "guests");
	assert_string_equal(route(rs, "198.51.100.1", 25, NULL, 0, NULL), "block");
	assert_string_equal(route(rs, "198.51.100.1", 53, NULL, 1, NULL), "udpchain");
	assert_string_equal(route(rs, "198.51.100.1", 53, NULL, 0, NULL), "tunnel");
	assert_string_equal(route(rs, "after.match", 80, NULL, 0, NULL), "tunnel");
	/* the domain rule before the CIDR rules: no address needed */
	route(rs, "a.corp.example", 80, NULL, 0, &need);
	assert_int_equal(need, 0);
	rules_free(rs);
}

static void test_addr(void **st)
{
	rules_t *rs = load("DOMAIN-SUFFIX,named.example,direct\n"
	                   "IP-CIDR,10.0.0.0/8,corp\n"
	                   "IP-CIDR,2001:db8::/32,corp6\n"
	                   "IP-CIDR,198.51.100.0/24,lit,no-resolve\n"
	                   "DOMAIN-SUFFIX,late.example,late\n"
	                   "MATCH,direct\n");
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	rule_hit_t h, m;
	int need;

	m = rules_match(rs, &(route_query_t){.host = "x.late.example", .port = 80}, &need);
	assert_int_equal(need, 1);
	assert_int_equal(m.index, 4);
	inet_pton(AF_INET, "10.3.3.3", &a.sin_addr);
	h = rules_match_addr(rs, (struct sockaddr *)&a, m.index);
	assert_int_equal(h.index, 1);
	assert_string_equal(rules_action_name(rs, h.action), "corp");
	/* a no-resolve rule never matches a resolved address */
	inet_pton(AF_INET, "198.51.100.7", &a.sin_addr);
	h = rules_match_addr(rs, (struct sockaddr *)&a, m.index);
	assert_int_equal(h.index, RULE_NONE);
	inet_pton(AF_INET6, "2001:db8::5", &a6.sin6_addr);
	h = rules_match_addr(rs, (struct sockaddr *)&a6, m.index);
	assert_string_equal(rules_action_name(rs, h.action), "corp6");
	/* only rules above the match count */
	inet_pton(AF_INET, "10.3.3.3", &a.sin_addr);
	assert_int_equal(rules_match_addr(rs, (struct sockaddr *)&a, 1).index, RULE_NONE);
	rules_free(rs);
}

static void test_errors_name_the_line(void **st)
{
	const char *text = "DOMAIN,a.b,direct\n\n# c\nDOMAIN-SUFFIX,x..y,corp\n";
	rules_t *rs = rules_new();
	char err[300];

	assert_int_equal(rules_load(rs, text, strlen(text), "list.txt", NULL, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "list.txt:4: "));
	assert_non_null(strstr(err, "an empty label"));
	rules_free(rs);
	rs = rules_new();
	assert_int_equal(rules_load_file(rs, "/nonexistent/rules", NULL, err, sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/rules: "));
	rules_free(rs);
}

static void test_actions(void **st)
{
	rules_t *rs = load("DOMAIN,a.b,corp\nDOMAIN,c.d,corp\nDOMAIN,e.f,tun\nMATCH,direct\n");
	char where[64], line[400];
	rule_t r;

	assert_int_equal(rules_nactions(rs), 4);
	assert_string_equal(rules_action_name(rs, 0), "direct");
	assert_string_equal(rules_action_name(rs, 1), "block");
	assert_string_equal(rules_action_name(rs, 2), "corp");
	assert_string_equal(rules_action_name(rs, 3), "tun");
	rules_action_where(rs, 3, where, sizeof(where));
	assert_string_equal(where, "t.rules:3");
	rules_where(rs, 1, where, sizeof(where));
	assert_string_equal(where, "t.rules:2");
	rules_get(rs, 2, &r);
	rule_format(&r, line, sizeof(line));
	assert_string_equal(line, "DOMAIN,e.f,tun");
	assert_int_equal(rules_first_match_all(rs), 3);
	rules_free(rs);
}

/* ---- against a plain scan ---- */

static void test_against_scan(void **st)
{
	static const char *const tld[] = {"com", "org", "net", "example"};
	rules_t *rs = rules_new();
	rule_t *list = calloc(3000, sizeof(*list));
	char line[300], err[300], host[300];
	size_t n = 0;

	srand(7);
	while (n < 2999) {
		int k = rand() % 12;
		if (k == 10)
			snprintf(line, sizeof(line), "DOMAIN-KEYWORD,%s%d,a%d",
			         rand() % 2 ? "n" : "n1", rand() % 30, rand() % 5);
		else if (k == 11)
			snprintf(line, sizeof(line), "DOMAIN-GLOB,%s,a%d",
			         (const char *[]){"*.n1?.com", "n2*.org", "*n3*", "x.*", "n?",
			                          "*.n4?.*"}[rand() % 6],
			         rand() % 5);
		else if (k < 6)
			snprintf(line, sizeof(line), "%s,n%d.%s,a%d",
			         k < 3 ? "DOMAIN" : "DOMAIN-SUFFIX", rand() % 300, tld[rand() % 4],
			         rand() % 5);
		else if (k < 9)
			snprintf(line, sizeof(line), "IP-CIDR,10.%d.%d.0/%d,a%d", rand() % 4,
			         rand() % 256, 8 + rand() % 25, rand() % 5);
		else
			snprintf(line, sizeof(line), "DST-PORT,%d,a%d", 1 + rand() % 100,
			         rand() % 5);
		if (rule_parse(line, strlen(line), NULL, &list[n], err, sizeof(err)) != 1)
			fail_msg("%s: %s", line, err);
		rules_add(rs, &list[n], "gen", (uint32_t)n + 1);
		n++;
	}
	for (int q = 0; q < 20000; q++) {
		uint16_t port = (uint16_t)(1 + rand() % 200);
		uint8_t key[16] = {0};
		int literal = rand() % 2, need;
		size_t want = RULE_NONE;
		rule_hit_t h;

		if (literal) {
			int a = rand() % 4, b = rand() % 256, c = rand() % 256;
			snprintf(host, sizeof(host), "10.%d.%d.%d", a, b, c);
			key[10] = key[11] = 0xff;
			key[12] = 10;
			key[13] = (uint8_t)a;
			key[14] = (uint8_t)b;
			key[15] = (uint8_t)c;
		} else {
			snprintf(host, sizeof(host), "%sn%d.%s", rand() % 2 ? "x." : "",
			         rand() % 300, tld[rand() % 4]);
		}
		for (size_t i = 0; i < n; i++)
			if (rules_scan_one(&list[i], host, port, key, literal)) {
				want = i;
				break;
			}
		h = rules_match(rs, &(route_query_t){.host = host, .port = port}, &need);
		if (h.index != want)
			fail_msg("%s:%u: trie %u, scan %zu", host, port, h.index, want);
	}
	free(list);
	rules_free(rs);
}

/* A target written as one of inet_aton's other IPv4 forms is the address
 * a resolver would make of it (target_set), so an address rule with
 * no-resolve cannot be walked around by spelling the address as a number. */
static void test_numeric_forms(void **st)
{
	static const char *const forms[] = {"2130706441",   "127.9",   "0x7f.0.0.9",
	                                    "0177.0.0.011", "127.0.9", "0x7F000009"};
	rules_t *rs = load("IP-CIDR,127.0.0.9/32,block,no-resolve\nMATCH,direct\n");
	target_t t;

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		assert_int_equal(target_set(&t, forms[i], 80), 0);
		assert_string_equal(t.host, "127.0.0.9");
		assert_string_equal(route(rs, t.host, 80, NULL, 0, NULL), "block");
	}
	/* an IPv6 literal with a zone is that address */
	rules_free(rs);
	rs = load("IP-CIDR6,fe80::/10,block,no-resolve\nMATCH,direct\n");
	assert_string_equal(route(rs, "fe80::1%1", 80, NULL, 0, NULL), "block");
	assert_string_equal(route(rs, "fe80::1%eth0", 80, NULL, 0, NULL), "block");
	assert_string_equal(route(rs, "fe80::1%", 80, NULL, 0, NULL), "block");
	assert_string_equal(route(rs, "fe80.example%1", 80, NULL, 0, NULL), "direct");
	/* names and other literals stay as they are */
	static const char *const same[] = {"127.0.0.9",        "example.org", "cafe.bad",
	                                   "0xcafe.example",   "1.2.3.4.5",   "127.0.0.9.",
	                                   "::ffff:127.0.0.9", "1e100"};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(target_set(&t, same[i], 80), 0);
		assert_string_equal(t.host, same[i]);
	}
	rules_free(rs);
	(void)st;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_bare),
	    cmocka_unit_test(test_first_match_wins),
	    cmocka_unit_test(test_addr),
	    cmocka_unit_test(test_errors_name_the_line),
	    cmocka_unit_test(test_actions),
	    cmocka_unit_test(test_against_scan),
	    cmocka_unit_test(test_numeric_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
