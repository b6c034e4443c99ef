#ifndef QUAIL_REMOTE_DNS_H
#define QUAIL_REMOTE_DNS_H

/* Where mail for a domain goes, by DNS (RFC 5321 5.1): its MX records in
 * preference order, shuffled among equal preferences; the domain itself
 * when it has no MX; nowhere when it has a null MX (RFC 7505). Queries go
 * through the system resolver (res_nquery, /etc/resolv.conf); addresses
 * come from getaddrinfo, IPv6 and IPv4 both. No DNS client of our own. */

#include <stddef.h>
#include <sys/socket.h>

#define DNS_HOSTS_MAX 16        /* MX hosts tried per delivery */
#define DNS_ADDRS_MAX 8         /* addresses tried per host */
#define DNS_NAME_MAX 256

enum {
	DNS_OK = 0,
	DNS_TEMP = -1,          /* SERVFAIL, timeout, no resolver: retry */
	DNS_NXDOMAIN = -2,      /* the domain does not exist: bounce */
	DNS_NULLMX = -3,        /* RFC 7505: the domain takes no mail */
	DNS_NOHOST = -4         /* a host with no address at all */
};

struct dns_host {
	char name[DNS_NAME_MAX];
	unsigned pref;
};

struct dns_mx {
	struct dns_host host[DNS_HOSTS_MAX];
	size_t n;
};

/* Fills mx with the hosts for domain (NUL-terminated): DNS_OK, or one of
 * the errors. With no MX, the one host is the domain itself. */
int dns_mx(const char *domain, struct dns_mx *mx);

struct dns_addr {
	struct sockaddr_storage sa;
	socklen_t len;
};

/* The addresses of host (a name, or an IP address literal) with port:
 * DNS_OK with *n > 0, DNS_TEMP, or DNS_NOHOST (the name has none). */
int dns_addrs(const char *host, unsigned port, struct dns_addr *out,
              size_t max, size_t *n);

/* The address in printable form, for logs and reports. */
void dns_ntop(const struct dns_addr *a, char *buf, size_t size);

#endif
