/* CONDSTORE and QRESYNC (RFC 7162): the MODSEQ, VANISHED and
 * HIGHESTMODSEQ responses and the mod-sequence argument (see
 * session.h). */
#include <stdlib.h>

#include "fmt.h"
#include "log.h"
#include "session.h"

void put_modseq(struct session *s, const struct msg *m)
{
	conn_puts(&s->c, "MODSEQ (");
	conn_putu(&s->c, m->modseq);
	conn_puts(&s->c, ")");
}

/* A set of ascending numbers, runs as ranges: "1:3,7". */
void put_uidset(struct session *s, const unsigned long *u, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && u[j + 1] == u[j] + 1)
			j++;
		if (i)
			conn_puts(&s->c, ",");
		conn_putu(&s->c, u[i]);
		if (j > i) {
			conn_puts(&s->c, ":");
			conn_putu(&s->c, u[j]);
		}
		i = j + 1;
	}
}

/* A modseq argument: 1 and the number (0 to 2^63-1), else 0. */
int modseq_arg(const struct imap_arg *a, unsigned long long *out)
{
	return a && a->type == IMAP_ATOM && a->len <= 19 &&
	       scan_ulong(a->s, a->len, out) && *out <= MODSEQ_MAX;
}

/* RFC 7162 3.2.10: under QRESYNC one VANISHED names them all. */
void put_vanished(struct session *s)
{
	struct mailbox *mb = &s->mb;
	unsigned long *u;
	size_t i, n = 0;

	for (i = 0; i < mb->n; i++)
		n += mb->m[i].gone;
	if (!n)
		return;
	u = reallocarray(0, n, sizeof *u);
	if (!u)
		die_nomem();
	for (i = 0, n = 0; i < mb->n; i++)
		if (mb->m[i].gone)
			u[n++] = mb->m[i].uid;
	conn_puts(&s->c, "* VANISHED ");
	put_uidset(s, u, n);
	conn_puts(&s->c, "\r\n");
	free(u);
}

static int range_cmp(const void *a, const void *b)
{
	const struct imap_range *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* quail keeps no expunge history, so every UID of the set not in the
 * view is reported (RFC 7162 3.2.5.2 allows it). Gaps are walked,
 * never single UIDs, so "1:4294967294" costs one pass over the view. */
void put_vanished_earlier(struct session *s, struct imap_seq *q)
{
	struct mailbox *mb = &s->mb;
	unsigned long top = mb->next - 1, cur = 1, lo, hi;
	size_t k, i;
	int sp = 0;

	imap_seq_resolve(q, top);
	qsort(q->r, q->n, sizeof q->r[0], range_cmp);
	for (k = 0; k < q->n; k++) {
		lo = q->r[k].lo > cur ? q->r[k].lo : cur;
		hi = q->r[k].hi < top ? q->r[k].hi : top;
		if (hi == 0 || lo > hi)
			continue;
		for (i = msg_find_uid(mb, lo); lo <= hi; i++) {
			unsigned long end = i < mb->n && mb->m[i].uid <= hi ?
			                    mb->m[i].uid : hi + 1;

			if (end > lo) {
				conn_puts(&s->c, sp++ ? "," : "* VANISHED (EARLIER) ");
				conn_putu(&s->c, lo);
				if (end - 1 > lo) {
					conn_puts(&s->c, ":");
					conn_putu(&s->c, end - 1);
				}
			}
			if (end > hi)
				break;
			lo = end + 1;
		}
		cur = hi + 1;
		if (hi == top)
			break;
	}
	if (sp)
		conn_puts(&s->c, "\r\n");
}

/* SELECT's QRESYNC parameter (RFC 7162 3.2.5): what vanished of the
 * UIDs the client knows, and the flags that changed since its modseq. */
static void qresync_replies(struct session *s, const struct select_opts *o)
{
	struct mailbox *mb = &s->mb;
	struct imap_seq q = { 0, 0, 0 };
	int r = 1;
	size_t i;

	if (o->validity != mb->validity)
		return;
	mb_ready(s);
	if (o->known)
		r = imap_seq_parse(&q, o->known, o->knownlen);
	else if (mb->next > 1)
		r = imap_seq_parse(&q, "1:*", 3);
	if (r < 0)
		die_nomem();
	if (r > 0)
		put_vanished_earlier(s, &q);
	for (i = 0; i < mb->n; i++)
		if (mb->m[i].modseq > o->modseq &&
		    (!o->known || imap_seq_has(&q, mb->m[i].uid)))
			put_fetch_flags(s, i, 1, 1);
	imap_seq_free(&q);
}

/* SELECT's RFC 7162 replies: HIGHESTMODSEQ once CONDSTORE is on, then
 * what a QRESYNC parameter asked for. */
void condstore_select_replies(struct session *s, const struct select_opts *o)
{
	if (s->condstore) {
		conn_puts(&s->c, "* OK [HIGHESTMODSEQ ");
		conn_putu(&s->c, s->mb.highest);
		conn_puts(&s->c, "] Highest\r\n");
	}
	if (o && o->qresync)
		qresync_replies(s, o);
}
