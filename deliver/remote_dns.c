/* MX and address lookups for quail-remote: see remote_dns.h. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "remote_dns.h"

/* Big enough for any UDP answer and most over TCP; a bigger one is cut
 * and its MX records beyond the cut are not seen. */
#define DNS_ANSWER_MAX 65536

static int copy_name(char *dst, const char *src)
{
	size_t n = strlen(src);

	if (n >= DNS_NAME_MAX)
		return 0;
	memcpy(dst, src, n + 1);
	return 1;
}

/* Sorts by preference; equal preferences come out in random order, so
 * load spreads as RFC 5321 5.1 asks. */
static void mx_sort(struct dns_mx *mx)
{
	unsigned key[DNS_HOSTS_MAX], k;
	struct dns_host h;
	size_t i, j;

	for (i = 0; i < mx->n; i++)
		key[i] = arc4random();
	for (i = 1; i < mx->n; i++) {
		h = mx->host[i];
		k = key[i];
		for (j = i; j > 0 && (mx->host[j - 1].pref > h.pref ||
		     (mx->host[j - 1].pref == h.pref && key[j - 1] > k)); j--) {
			mx->host[j] = mx->host[j - 1];
			key[j] = key[j - 1];
		}
		mx->host[j] = h;
		key[j] = k;
	}
}

/* The MX records of an answer into mx; returns how many records there
 * were in all, the null MX ones included, and sets *null when one was. */
static size_t mx_parse(const unsigned char *ans, int len, struct dns_mx *mx,
                       int *null)
{
	char name[NS_MAXDNAME];
	size_t total = 0;
	ns_msg msg;
	ns_rr rr;
	int i, count;

	*null = 0;
	if (ns_initparse(ans, len, &msg) < 0)
		return 0;
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if (ns_rr_type(rr) != ns_t_mx || ns_rr_class(rr) != ns_c_in ||
		    ns_rr_rdlen(rr) < 3)
			continue;
		if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg),
		                       ns_rr_rdata(rr) + 2, name,
		                       sizeof name) < 0)
			continue;
		total++;
		if (!name[0] || (name[0] == '.' && !name[1])) {
			*null = 1;
			continue;
		}
		if (mx->n < DNS_HOSTS_MAX && copy_name(mx->host[mx->n].name, name)) {
			mx->host[mx->n].pref = ns_get16(ns_rr_rdata(rr));
			mx->n++;
		}
	}
	return total;
}

int dns_mx(const char *domain, struct dns_mx *mx)
{
	static unsigned char ans[DNS_ANSWER_MAX];
	struct __res_state st;
	size_t total;
	int len, null, herr;

	mx->n = 0;
	memset(&st, 0, sizeof st);
	if (res_ninit(&st) < 0)
		return DNS_TEMP;
	len = res_nquery(&st, domain, ns_c_in, ns_t_mx, ans, sizeof ans);
	herr = st.res_h_errno;
	res_nclose(&st);
	if (len < 0) {
		if (herr == HOST_NOT_FOUND)
			return DNS_NXDOMAIN;
		if (herr != NO_DATA)
			return DNS_TEMP;
		len = 0;
	}
	if (len > (int)sizeof ans)
		len = sizeof ans;      /* truncated: parse what came */
	total = len ? mx_parse(ans, len, mx, &null) : 0;
	if (total == 1 && null)
		return DNS_NULLMX;
	if (mx->n) {
		mx_sort(mx);
		return DNS_OK;
	}
	if (total)              /* MX records, none usable */
		return null ? DNS_NULLMX : DNS_TEMP;
	/* no MX: the domain is its own mail host (implicit MX) */
	if (!copy_name(mx->host[0].name, domain))
		return DNS_NXDOMAIN;
	mx->host[0].pref = 0;
	mx->n = 1;
	return DNS_OK;
}

int dns_addrs(const char *host, unsigned port, struct dns_addr *out,
              size_t max, size_t *n)
{
	struct addrinfo hints, *res, *ai;
	char ps[FMT_ULONG];
	int rc;

	*n = 0;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	fmt_u(ps, port);
	rc = getaddrinfo(host, ps, &hints, &res);
	if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL)
		return rc == EAI_FAIL ? DNS_TEMP : DNS_NOHOST;
	if (rc)
		return DNS_TEMP;
	for (ai = res; ai && *n < max; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof out[*n].sa)
			continue;
		memcpy(&out[*n].sa, ai->ai_addr, ai->ai_addrlen);
		out[*n].len = ai->ai_addrlen;
		(*n)++;
	}
	freeaddrinfo(res);
	return *n ? DNS_OK : DNS_NOHOST;
}

void dns_ntop(const struct dns_addr *a, char *buf, size_t size)
{
	const void *p;

	if (a->sa.ss_family == AF_INET6)
		p = &((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
	else
		p = &((const struct sockaddr_in *)&a->sa)->sin_addr;
	if (!inet_ntop(a->sa.ss_family, p, buf, size) && size)
		buf[0] = 0;
}
