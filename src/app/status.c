/* `sluice status [-c FILE] [--metrics IP:PORT | --control PATH] [--json]`:
 * what a running sluice says on its metrics server's /status
 * (core/health.h), or on its control socket (app/control.h), as text for
 * people or, with --json, the document itself.  The metrics server is
 * --metrics, else the metrics: of the file, else $SLUICE_METRICS; the
 * control socket is asked when --control is given or no metrics server
 * is known (control_client_path).  Exit 0 when it is healthy, 1 when
 * not, 2 when it cannot be asked. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "app/app.h"
#include "app/control.h"
#include "core/config.h"
#include "core/dial.h"
#include "core/url.h"

/* GET path from addr: the body into buf, its length; -1 and a message. */
static long http_get(const char *addr, const char *path, char *buf, size_t cap, char *err,
                     size_t errlen)
{
	struct sockaddr_storage ss;
	struct timeval tv = {.tv_sec = 10};
	char host[256], req[300];
	uint16_t port;
	target_t t;
	size_t len = 0;
	ssize_t n;
	char *body;
	int fd;

	if (hostport_parse(addr, host, sizeof(host), &port) < 0 || target_set(&t, host, port) < 0 ||
	    !target_is_ip(&t, &ss)) {
		snprintf(err, errlen, "--metrics: '%s' is not IP:PORT", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&ss,
	            ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                     : sizeof(struct sockaddr_in)) < 0) {
		snprintf(err, errlen, "cannot reach sluice's metrics server at %s: %m", addr);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		snprintf(err, errlen, "%s: %m", addr);
		close(fd);
		return -1;
	}
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	if (strncmp(buf, "HTTP/1.1 200", 12) || !(body = strstr(buf, "\r\n\r\n"))) {
		snprintf(err, errlen, "%s%s: no status (%.40s)", addr, path, buf);
		return -1;
	}
	body += 4;
	len -= (size_t)(body - buf);
	memmove(buf, body, len + 1);
	return (long)len;
}

static int file_has_metrics(const char *cfgpath)
{
	config_t file;
	char err[600];
	int has;

	config_init(&file);
	has = config_load_file(&file, cfgpath, err, sizeof(err)) < 0 || file.metrics;
	config_free(&file);
	return has; /* a broken file: the metrics path says why */
}

static int healthy(const char *doc, int json)
{
	return json ? !strncmp(doc, "{\"status\":\"ok\"", 14) : !!strstr(doc, ": healthy\n");
}

/* The status on the control socket. */
static int status_control(const char *control, const char *cfgpath, int json)
{
	char path[256], err[600];
	mbuf_t reply = {0};
	int r;

	if (control_client_path(control, cfgpath, path, sizeof(path), err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice status: %s (or --metrics IP:PORT)\n", err);
		return 2;
	}
	if (control_ask(path, json ? "status json" : "status", &reply, err, sizeof(err)) < 0 ||
	    strncmp(reply.p, "ok\n", 3)) {
		fprintf(stderr, "sluice status: %s", reply.p ? reply.p : err);
		if (!reply.p)
			fputc('\n', stderr);
		free(reply.p);
		return 2;
	}
	fputs(reply.p + 3, stdout);
	r = healthy(reply.p + 3, json) ? 0 : 1;
	free(reply.p);
	return r;
}

int status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"metrics", required_argument, NULL, 'm'},
	    {"control", required_argument, NULL, 'C'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static char buf[1 << 20];
	const char *addr = NULL, *cfgpath = NULL, *control = NULL;
	char err[600];
	config_t file;
	int json = 0, c;
	long n;

	config_init(&file);
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'm':
			addr = optarg;
			break;
		case 'C':
			control = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			printf(
			    "usage: sluice status [-c FILE] [--metrics IP:PORT | --control PATH] "
			    "[--json]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (control ||
	    (!addr && !getenv("SLUICE_METRICS") && !(cfgpath && file_has_metrics(cfgpath))))
		return status_control(control, cfgpath, json);
	if (!addr && cfgpath) {
		if (config_load_file(&file, cfgpath, err, sizeof(err)) < 0) {
			fprintf(stderr, "sluice: %s\n", err);
			return 2;
		}
		addr = file.metrics;
	}
	if (!addr)
		addr = getenv("SLUICE_METRICS");
	if (!addr) {
		fprintf(stderr,
		        "sluice status: where is the metrics server? give --metrics IP:PORT "
		        "or -c FILE (with metrics:)\n");
		config_free(&file);
		return 2;
	}
	n = http_get(addr, json ? "/status" : "/status?format=text", buf, sizeof(buf), err,
	             sizeof(err));
	config_free(&file);
	if (n < 0) {
		fprintf(stderr, "sluice status: %s\n", err);
		return 2;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	return healthy(buf, json) ? 0 : 1;
}
