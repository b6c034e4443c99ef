/* quail-remote: delivers one message to one domain by SMTP.
 *
 *   quail-remote host sender rcpt...
 *
 * The qmail-remote(8) interface: the message is on fd 0 (LF line ends, as
 * the queue keeps it), host is the recipients' domain. Mail goes to the
 * relay smtproutes names for the domain, else to the domain's MX hosts
 * (remote_dns.c), each address in turn until one takes the message or
 * refuses it for good. On fd 1 it writes, for each recipient in order,
 * 'r' (accepted), 'h' (refused for good) or 's' (refused for now), then
 * 'K' (delivered), 'Z' (try again later) or 'D' (bounce) for the
 * message, each followed by text and a NUL. The remote host's name,
 * address and reply are in the text, for the bounce's Diagnostic-Code.
 *
 * Reads control files (QUAIL_CONTROL or CONTROLDIR): me, helohost,
 * smtproutes, smtpauth, tlspolicy, outgoingip, timeoutconnect,
 * timeoutremote. Logs one line per host tried and one for the delivery
 * on fd 2. Runs as quail-rspawn's user (remote); needs no privilege.
 * Exit: 0 whenever the reports were written; 111 when it cannot even
 * start (no memory, unreadable message or control file); 100 bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "remote_dns.h"
#include "remote_smtp.h"
#include "str.h"

#define REMOTE_PORT 25
#define TIMEOUT_CONNECT 60      /* s, control file timeoutconnect */
#define TIMEOUT_REMOTE 1200     /* s per read, control file timeoutremote */
#define TIMEOUT_MAX 86400       /* s: a longer setting is a typo */
#define REMOTE_RCPT_MAX 1000    /* recipients on one command line */

/* Settings, fixed before the message is read. */
struct config {
	struct str helo;
	struct str routes, auths, policies;     /* control_lines form */
	struct dns_addr src4, src6;     /* outgoingip; family 0: none */
	int connect_ms, remote_ms;
};

/* Where this message goes. */
struct route {
	char relay[DNS_NAME_MAX];       /* empty: by MX */
	unsigned port;
	int literal;                    /* relay is an address literal */
};

static void nomem_if(int ok)
{
	if (!ok)
		die_nomem();
}

static void die_config(const char *name)
{
	die_kv(EXIT_TEMP, "event", "config", "file", name, "error",
	       strerror(errno), (char *)0);
}

static int timeout_ms(const char *name, unsigned long long def)
{
	unsigned long long t;

	if (control_ulong(name, &t, def) < 0 || t == 0 || t > TIMEOUT_MAX)
		die_config(name);
	return (int)(t * 1000);
}

static void outgoing_ip(struct config *cf)
{
	struct str ip = STR_ZERO;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&cf->src4.sa;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&cf->src6.sa;

	if (control_lines("outgoingip", &ip) < 0)
		die_config("outgoingip");
	/* one address per family, each on its own line */
	for (size_t i = 0; i < ip.len; i += strlen(ip.s + i) + 1) {
		if (inet_pton(AF_INET, ip.s + i, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			cf->src4.len = sizeof *a4;
		} else if (inet_pton(AF_INET6, ip.s + i, &a6->sin6_addr) == 1) {
			a6->sin6_family = AF_INET6;
			cf->src6.len = sizeof *a6;
		} else {
			errno = EINVAL;
			die_config("outgoingip");
		}
	}
	str_free(&ip);
}

static void config_load(struct config *cf)
{
	struct str me = STR_ZERO;

	memset(cf, 0, sizeof *cf);
	if (control_line("me", &me, "localhost") < 0)
		die_config("me");
	if (control_line("helohost", &cf->helo, me.s) < 0)
		die_config("helohost");
	str_free(&me);
	if (control_lines("smtproutes", &cf->routes) < 0)
		die_config("smtproutes");
	if (control_lines("smtpauth", &cf->auths) < 0)
		die_config("smtpauth");
	if (control_lines("tlspolicy", &cf->policies) < 0)
		die_config("tlspolicy");
	outgoing_ip(cf);
	cf->connect_ms = timeout_ms("timeoutconnect", TIMEOUT_CONNECT);
	cf->remote_ms = timeout_ms("timeoutremote", TIMEOUT_REMOTE);
}

/* The value of the line for domain in a `domain:value` table: the
 * domain itself, else the nearest `.parent`, else the `:value` default;
 * NULL when none matches. */
static const char *table_find(const struct str *t, const char *domain)
{
	const char *best = 0, *line, *colon;
	size_t dl = strlen(domain), i, kl, rank = 0, r;

	for (i = 0; i < t->len; i += strlen(t->s + i) + 1) {
		line = t->s + i;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		kl = (size_t)(colon - line);
		r = 0;
		if (kl == dl && case_eqb(line, domain, dl))
			r = 3 + dl;     /* exact beats any suffix */
		else if (kl && line[0] == '.' && kl < dl &&
		         case_eqb(line, domain + dl - kl, kl))
			r = 2 + kl;     /* the longer suffix wins */
		else if (!kl)
			r = 1;
		if (r > rank) {
			rank = r;
			best = colon + 1;
		}
	}
	return best;
}

/* relay[:port], with [address] for literals (IPv6 ones contain ':'). */
static int route_parse(const char *v, struct route *rt)
{
	const char *end, *port;
	unsigned long long p;
	size_t n;

	rt->port = REMOTE_PORT;
	rt->literal = 0;
	rt->relay[0] = 0;
	if (*v == '[') {
		end = strchr(v, ']');
		if (!end)
			return 0;
		rt->literal = 1;
		v++;
		n = (size_t)(end - v);
		port = end[1] == ':' ? end + 2 : end[1] ? 0 : end + 1;
		if (!port)
			return 0;
	} else {
		n = strcspn(v, ":");
		port = v[n] ? v + n + 1 : v + n;
	}
	if (n >= DNS_NAME_MAX)
		return 0;
	memcpy(rt->relay, v, n);
	rt->relay[n] = 0;
	if (*port) {
		if (!scan_ulong(port, strlen(port), &p) || p == 0 || p > 65535)
			return 0;
		rt->port = (unsigned)p;
	}
	return 1;
}

/* The TLS policy for the domain: none, may (default), encrypt, or
 * verify[:cafile]. */
static int policy_find(const struct config *cf, const char *domain,
                       const char **cafile)
{
	const char *v = table_find(&cf->policies, domain);

	*cafile = 0;
	if (!v || !strcmp(v, "may"))
		return TLS_MAY;
	if (!strcmp(v, "none"))
		return TLS_NONE;
	if (!strcmp(v, "encrypt"))
		return TLS_ENCRYPT;
	if (!strncmp(v, "verify", 6) && (!v[6] || v[6] == ':')) {
		if (v[6] && v[7])
			*cafile = v + 7;
		return TLS_VERIFY;
	}
	/* an unknown word asks for more than we know: the strictest */
	log_kv("warn", "event", "config", "file", "tlspolicy", "domain", domain,
	       "error", "unknown policy; using verify", (char *)0);
	return TLS_VERIFY;
}

/* smtpauth: relay[/plain]:user:password; the password is the rest of
 * the line. /plain allows AUTH without TLS. */
static void auth_find(const struct config *cf, const char *relay,
                      struct smtp_job *j, struct str *user)
{
	const char *line, *c1, *c2;
	size_t i, rl = strlen(relay), kl;

	for (i = 0; i < cf->auths.len; i += strlen(cf->auths.s + i) + 1) {
		line = cf->auths.s + i;
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : 0;
		if (!c2)
			continue;
		kl = (size_t)(c1 - line);
		j->auth_plaintext = kl > 6 && !memcmp(c1 - 6, "/plain", 6);
		if (j->auth_plaintext)
			kl -= 6;
		if (kl != rl || !case_eqb(line, relay, rl))
			continue;
		nomem_if(str_copyb(user, c1 + 1, (size_t)(c2 - c1 - 1)) &&
		         str_0(user));
		j->user = user->s;
		j->pass = c2 + 1;
		return;
	}
	j->auth_plaintext = 0;
}

/* The message on fd 0, seekable (a pipe is copied to an unnamed file),
 * with its size as sent (CRLF) and whether it has 8-bit bytes. */
static void message_scan(struct smtp_job *j)
{
	static char buf[65536];
	unsigned long long size = 0;
	int fd = 0, tmp = -1;
	ssize_t n, i;

	if (lseek(0, 0, SEEK_SET) < 0) {
		tmp = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (tmp < 0)
			die_kv(EXIT_TEMP, "event", "tmpfile", "error",
			       strerror(errno), (char *)0);
		fd = tmp;
	}
	for (;;) {
		n = read(0, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_kv(EXIT_TEMP, "event", "read", "error",
			       strerror(errno), (char *)0);
		if (n == 0)
			break;
		if (tmp >= 0 && io_writeall(tmp, buf, (size_t)n) < 0)
			die_kv(EXIT_TEMP, "event", "tmpfile", "error",
			       strerror(errno), (char *)0);
		for (i = 0; i < n; i++) {
			size += 1 + (buf[i] == '\n');
			j->eightbit |= (unsigned char)buf[i] > 127;
		}
	}
	j->msgfd = fd;
	j->size = size;
}

/* Delivery to one address: 1 done (stop), 0 try the next. */
static int try_addr(const struct config *cf, struct smtp_job *j,
                    const char *host, const struct dns_addr *a,
                    struct smtp_result *res)
{
	const struct dns_addr *src;
	struct conn c;
	char ip[INET6_ADDRSTRLEN];
	int again = 1;

	dns_ntop(a, ip, sizeof ip);
	src = a->sa.ss_family == AF_INET6 ? &cf->src6 : &cf->src4;
	j->skip_tls = 0;
	while (again) {
		again = 0;
		j->tls_tried_failed = 0;
		if (conn_open(&c, a, src->len ? src : 0, cf->connect_ms) < 0) {
			res->code = 'Z';
			res->text.len = 0;
			nomem_if(str_cats(&res->text, host) &&
			         str_catc(&res->text, '[') &&
			         str_cats(&res->text, ip) &&
			         str_cats(&res->text, "]: cannot connect: ") &&
			         str_cats(&res->text, errno == ETIMEDOUT ?
			                  "timed out" : strerror(errno)));
			res->next = 1;
		} else {
			smtp_session(j, &c, host, ip, res);
			conn_close(&c);
			/* opportunistic TLS that broke: once more in plain
			 * text, as RFC 7435 has it */
			if (j->tls_tried_failed && j->tls == TLS_MAY &&
			    !j->skip_tls) {
				j->skip_tls = again = 1;
			}
		}
		nomem_if(str_0(&res->text));
		log_kv("info", "event", "attempt", "host", host, "ip", ip,
		       "result", res->code == 'K' ? "ok" : res->code == 'D' ?
		       "failed" : "deferred", "tls", res->tls[0] ? res->tls : "-",
		       "text", res->text.s, (char *)0);
	}
	return !res->next;
}

/* Every recipient refused or accepted for good: no host is needed. */
static int all_settled(const struct smtp_job *j)
{
	for (size_t i = 0; i < j->nrcpt; i++)
		if (j->state[i] == RCPT_PENDING || j->state[i] == RCPT_TEMP)
			return 0;
	return 1;
}

static void try_host(const struct config *cf, struct smtp_job *j,
                     const char *host, unsigned port, int *done,
                     struct smtp_result *res)
{
	struct dns_addr addr[DNS_ADDRS_MAX];
	size_t n, i;
	int rc;

	rc = dns_addrs(host, port, addr, DNS_ADDRS_MAX, &n);
	if (rc != DNS_OK) {
		res->code = 'Z';
		res->next = 1;
		res->text.len = 0;
		nomem_if(str_cats(&res->text, host) &&
		         str_cats(&res->text, rc == DNS_TEMP ?
		                  ": temporary DNS failure looking up the address" :
		                  ": host has no address"));
		return;
	}
	for (i = 0; i < n && !*done; i++) {
		*done = try_addr(cf, j, host, &addr[i], res);
		if (all_settled(j) && res->code != 'K')
			*done = 1;
	}
}

static void set_text(struct smtp_result *res, char code, const char *a,
                     const char *b)
{
	res->code = code;
	res->next = 0;
	res->text.len = 0;
	nomem_if(str_cats(&res->text, a) && (!b || str_cats(&res->text, b)));
}

static void by_mx(const struct config *cf, struct smtp_job *j,
                  const char *domain, struct smtp_result *res)
{
	struct dns_mx mx;
	size_t i;
	int done = 0;

	switch (dns_mx(domain, &mx)) {
	case DNS_NXDOMAIN:
		set_text(res, 'D', domain, ": no such domain (#5.1.2)");
		return;
	case DNS_NULLMX:
		set_text(res, 'D', domain, ": 5.1.10 Recipient address has "
		         "null MX (#5.1.10)");
		return;
	case DNS_TEMP:
		set_text(res, 'Z', domain, ": temporary DNS failure looking "
		         "up MX records (#4.4.3)");
		return;
	}
	for (i = 0; i < mx.n && !done; i++)
		try_host(cf, j, mx.host[i].name, REMOTE_PORT, &done, res);
	/* a domain with neither MX nor address cannot take mail */
	if (!done && mx.n == 1 && !strcmp(mx.host[0].name, domain) &&
	    res->text.len && strstr(res->text.s, ": host has no address"))
		set_text(res, 'D', domain, ": no mail host for the domain "
		         "(#5.1.2)");
}

static void deliver(const struct config *cf, struct smtp_job *j,
                    const char *domain, struct smtp_result *res,
                    struct str *user)
{
	const char *v = table_find(&cf->routes, domain);
	struct route rt;
	int done = 0;

	j->tls = policy_find(cf, domain, &j->cafile);
	if (domain[0] == '[')
		v = domain;     /* an address literal goes where it says */
	if (!v || !*v) {
		by_mx(cf, j, domain, res);
		return;
	}
	if (!route_parse(v, &rt)) {
		set_text(res, 'Z', "bad smtproutes entry for ", domain);
		log_kv("warn", "event", "config", "file", "smtproutes",
		       "domain", domain, (char *)0);
		return;
	}
	auth_find(cf, rt.relay, j, user);
	try_host(cf, j, rt.relay, rt.port, &done, res);
}

/* The reports on fd 1: one per recipient, then the message's. */
static void report(struct smtp_job *j, struct smtp_result *res)
{
	struct str out = STR_ZERO;
	size_t i;
	char st;

	for (i = 0; i < j->nrcpt; i++) {
		st = j->state[i];
		if (st == RCPT_PENDING || (st == RCPT_TEMP && res->code == 'D')) {
			st = res->code == 'D' ? RCPT_PERM : RCPT_TEMP;
			nomem_if(str_copyb(&j->text[i], res->text.s,
			                   res->text.len));
		}
		nomem_if(str_catc(&out, st) &&
		         str_catb(&out, j->text[i].s, j->text[i].len) &&
		         str_catc(&out, 0));
	}
	nomem_if(str_catc(&out, res->code) &&
	         str_catb(&out, res->text.s, res->text.len) &&
	         str_catc(&out, 0));
	if (io_writeall(1, out.s, out.len) < 0)
		die_kv(EXIT_TEMP, "event", "report", "error", strerror(errno),
		       (char *)0);
	str_free(&out);
}

/* A line break in an address would end the command it is put in. */
static int addr_bad(const char *a)
{
	return strpbrk(a, "\r\n") != 0 || strlen(a) > 1000;
}

int main(int argc, char **argv)
{
	struct smtp_result res = { 'Z', 0, STR_ZERO, "" };
	struct smtp_job j;
	struct config cf;
	struct str user = STR_ZERO;
	char nbuf[FMT_ULONG];
	size_t i;

	log_init("quail-remote");
	signal(SIGPIPE, SIG_IGN);
	if (argc < 4 || argc - 3 > REMOTE_RCPT_MAX)
		die_kv(EXIT_PERM, "event", "usage", "usage",
		       "quail-remote host sender rcpt...", (char *)0);
	config_load(&cf);
	memset(&j, 0, sizeof j);
	j.sender = argv[2];
	j.rcpt = (const char *const *)argv + 3;
	j.nrcpt = (size_t)argc - 3;
	j.state = calloc(j.nrcpt, 1);
	j.text = calloc(j.nrcpt, sizeof *j.text);
	if (!j.state || !j.text)
		die_nomem();
	j.helo = cf.helo.s;
	j.timeout_ms = cf.remote_ms;
	message_scan(&j);
	for (i = 0; i < j.nrcpt; i++)
		if (addr_bad(j.rcpt[i])) {
			j.state[i] = RCPT_PERM;
			nomem_if(str_cats(&j.text[i], "bad recipient address "
			                  "(#5.1.3)"));
		}
	if (addr_bad(j.sender))
		set_text(&res, 'D', "bad sender address (#5.1.7)", 0);
	else if (!all_settled(&j))
		deliver(&cf, &j, argv[1], &res, &user);
	else
		set_text(&res, 'D', "no valid recipient (#5.1.3)", 0);
	nomem_if(str_0(&res.text));
	log_kv("info", "event", "result", "domain", argv[1], "rcpts",
	       fmt_u(nbuf, j.nrcpt), "result", res.code == 'K' ? "ok" :
	       res.code == 'D' ? "failed" : "deferred", "text", res.text.s,
	       (char *)0);
	report(&j, &res);
	return 0;
}
