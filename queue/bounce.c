/* Building and queueing RFC 3464 bounces. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "control.h"
#include "date.h"
#include "fmt.h"
#include "log.h"
#include "qq.h"

#define HEADER_MAX 65536        /* bytes of the original header returned */
#define TEXT_MAX 900            /* bytes of one diagnostic in the report */
#define DOUBLE_BOUNCE "#@[]"

int bounce_config(struct bounce_cfg *c, const char *me)
{
	int r = control_line("me", &c->me, me);

	if (r >= 0)
		r = control_line("bouncefrom", &c->from, "MAILER-DAEMON");
	if (r >= 0)
		r = control_line("bouncehost", &c->host, c->me.s);
	if (r >= 0)
		r = control_line("doublebounceto", &c->dbto, "postmaster");
	if (r >= 0)
		r = control_line("doublebouncehost", &c->dbhost, c->me.s);
	return r;
}

int bounce_add(struct bounce *b, size_t rcpt, const char *text, int expired)
{
	struct bounce_item *it;

	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 4;

		it = realloc(b->item, cap * sizeof *it);
		if (!it)
			return 0;
		b->item = it;
		b->cap = cap;
	}
	it = &b->item[b->n];
	it->text = strdup(text);
	if (!it->text)
		return 0;
	it->rcpt = rcpt;
	it->expired = expired;
	b->n++;
	return 1;
}

void bounce_free(struct bounce *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->item[i].text);
	free(b->item);
	b->item = 0;
	b->n = b->cap = 0;
}

static int isdig(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of an x.y.z status at p (x one of 2, 4, 5), or 0. */
static size_t status_len(const char *p)
{
	size_t i = 0, part;

	if (p[0] != '2' && p[0] != '4' && p[0] != '5')
		return 0;
	i = 1;
	for (part = 0; part < 2; part++) {
		size_t d = 0;

		if (p[i++] != '.')
			return 0;
		while (isdig(p[i]) && d < 3)
			i++, d++;
		if (!d)
			return 0;
	}
	return i;
}

void bounce_status(const char *text, const char *def, char out[16])
{
	const char *p;
	size_t n = status_len(text);

	if (!n)
		for (p = text; (p = strstr(p, "(#")) != 0; p += 2)
			if ((n = status_len(p + 2)) && p[2 + n] == ')') {
				text = p + 2;
				break;
			}
	if (!n) {
		text = def;
		n = strlen(def);
	}
	memcpy(out, text, n);
	out[n] = 0;
}

/* Appends text with anything but printable ASCII made a space, cut. */
static int cat_clean(struct str *s, const char *t, size_t max)
{
	size_t i;

	for (i = 0; t[i] && i < max; i++) {
		unsigned char c = (unsigned char)t[i];

		if (!str_catc(s, (c >= 32 && c < 127) ? (char)c : ' '))
			return 0;
	}
	return 1;
}

/* The original message's header, up to its blank line. */
static int read_header(unsigned long long id, struct str *h)
{
	char path[QFILE_PATH_MAX];
	char buf[8192];
	ssize_t n;
	int fd;

	qfile_path(path, QFILE_MESS, id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (h->len < HEADER_MAX) {
		char *end;

		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (!str_catb(h, buf, (size_t)n)) {
			close(fd);
			return -1;
		}
		if (h->len && (end = memmem(h->s, h->len, "\n\n", 2)) != 0) {
			h->len = (size_t)(end - h->s) + 1;
			break;
		}
	}
	close(fd);
	if (h->len > HEADER_MAX)
		h->len = HEADER_MAX;
	return 0;
}

static int compose(struct str *m, const struct bounce *b,
                   const struct bounce_cfg *c, unsigned long long id,
                   const struct qfile_env *e, const char *to,
                   const struct str *hdr)
{
	char date[DATE_RFC822], arrival[DATE_RFC822], st[16], bnd[64];
	size_t dl = date_rfc822(date, time(0)), i, bl;
	size_t al = date_rfc822(arrival, (time_t)e->birth);
	int ok;

	bl = 0;
	memcpy(bnd, "quail-", 6);
	bl = 6 + fmt_ulong(bnd + 6, id);
	bnd[bl++] = '-';
	bl += fmt_ulong(bnd + bl, (unsigned long long)time(0));
	ok = str_cats(m, "From: Mail Delivery System <") &&
	     str_catb(m, c->from.s, c->from.len) && str_catc(m, '@') &&
	     str_catb(m, c->host.s, c->host.len) && str_cats(m, ">\nTo: ") &&
	     str_cats(m, to) && str_cats(m, "\nSubject: failure notice: "
	     "undelivered mail returned to sender\nDate: ") &&
	     str_catb(m, date, dl) && str_cats(m, "\nMessage-ID: <") &&
	     str_catb(m, bnd, bl) && str_catc(m, '@') &&
	     str_catb(m, c->me.s, c->me.len) &&
	     str_cats(m, ">\nAuto-Submitted: auto-replied\nMIME-Version: 1.0\n"
	     "Content-Type: multipart/report; report-type=delivery-status;\n"
	     "\tboundary=\"") && str_catb(m, bnd, bl) &&
	     str_cats(m, "\"\n\nThis is a MIME-encapsulated message.\n\n--") &&
	     str_catb(m, bnd, bl) &&
	     str_cats(m, "\nContent-Type: text/plain; charset=us-ascii\n"
	     "Content-Description: Notification\n\nHi. This is the quail-send "
	     "program at ") && str_catb(m, c->me.s, c->me.len) &&
	     str_cats(m, ".\nI'm afraid I wasn't able to deliver your message "
	     "to the following addresses.\nThis is a permanent error; I've "
	     "given up. Sorry it didn't work out.\n");
	for (i = 0; ok && i < b->n; i++)
		ok = str_cats(m, "\n<") &&
		     str_cats(m, e->rcpt[b->item[i].rcpt].addr) &&
		     str_cats(m, ">:\n") &&
		     (!b->item[i].expired ||
		      str_cats(m, "The message stayed in the queue too long. "
		                  "Last error: ")) &&
		     cat_clean(m, b->item[i].text, TEXT_MAX) && str_catc(m, '\n');
	ok = ok && str_cats(m, "\n--") && str_catb(m, bnd, bl) &&
	     str_cats(m, "\nContent-Type: message/delivery-status\n"
	     "Content-Description: Delivery report\n\nReporting-MTA: dns; ") &&
	     str_catb(m, c->me.s, c->me.len) &&
	     str_cats(m, "\nX-Quail-Queue-ID: ") && str_catu(m, id) &&
	     str_cats(m, "\nArrival-Date: ") && str_catb(m, arrival, al) &&
	     str_catc(m, '\n');
	for (i = 0; ok && i < b->n; i++) {
		bounce_status(b->item[i].text,
		              b->item[i].expired ? "4.4.7" : "5.0.0", st);
		ok = str_cats(m, "\nFinal-Recipient: rfc822; ") &&
		     str_cats(m, e->rcpt[b->item[i].rcpt].addr) &&
		     str_cats(m, "\nAction: failed\nStatus: ") &&
		     str_cats(m, b->item[i].expired ? "4.4.7" : st) &&
		     str_cats(m, "\nDiagnostic-Code: X-Quail; ") &&
		     cat_clean(m, b->item[i].text, TEXT_MAX) &&
		     str_cats(m, "\nLast-Attempt-Date: ") &&
		     str_catb(m, date, dl) && str_catc(m, '\n');
	}
	return ok && str_cats(m, "\n--") && str_catb(m, bnd, bl) &&
	       str_cats(m, "\nContent-Type: text/rfc822-headers\n"
	       "Content-Description: Undelivered Message Headers\n\n") &&
	       str_catb(m, hdr->s, hdr->len) && str_cats(m, "\n--") &&
	       str_catb(m, bnd, bl) && str_cats(m, "--\n");
}

int bounce_send(struct bounce *b, const struct bounce_cfg *c,
                unsigned long long id, const struct qfile_env *e)
{
	struct str msg = STR_ZERO, hdr = STR_ZERO, env = STR_ZERO,
	           to = STR_ZERO, text = STR_ZERO;
	const char *sender = DOUBLE_BOUNCE + 4;   /* "" */
	char ids[FMT_ULONG];
	struct qq q;
	int r = -1;

	fmt_u(ids, id);
	if (e->senderlen == 4 && memcmp(e->sender, DOUBLE_BOUNCE, 4) == 0) {
		log_kv("warn", "event", "triple-bounce", "id", ids,
		       "action", "dropped", (char *)0);
		return 0;
	}
	if (e->senderlen) {
		if (!str_catb(&to, e->sender, e->senderlen))
			goto out;
	} else {
		sender = DOUBLE_BOUNCE;
		if (!str_catb(&to, c->dbto.s, c->dbto.len) ||
		    !str_catc(&to, '@') || !str_catb(&to, c->dbhost.s, c->dbhost.len))
			goto out;
	}
	if (!str_0(&to) || read_header(id, &hdr) < 0 ||
	    !compose(&msg, b, c, id, e, to.s, &hdr) ||
	    !qq_env_from(&env, sender, strlen(sender)) ||
	    !qq_env_rcpt(&env, to.s, to.len))
		goto out;
	if (qq_start(&q) < 0)
		goto out;
	qq_put(&q, msg.s, msg.len);
	if (qq_finish(&q, &env, &text) == QQ_R_OK) {
		log_kv("info", "event", "bounce", "id", ids, "to", to.s,
		       "bounce", text.s, (char *)0);
		r = 0;
	} else
		log_kv("warn", "event", "bounce-failed", "id", ids, "error",
		       text.s, (char *)0);
out:
	if (r < 0 && !text.len)
		log_kv("warn", "event", "bounce-failed", "id", ids, "error",
		       strerror(errno), (char *)0);
	str_free(&msg);
	str_free(&hdr);
	str_free(&env);
	str_free(&to);
	str_free(&text);
	return r;
}
