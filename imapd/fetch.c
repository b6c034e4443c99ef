/* FETCH and UID FETCH: items out of the view (FLAGS, UID, sizes and
 * dates from file names) and out of the message text (sections,
 * ENVELOPE, BODYSTRUCTURE), read once per message with CRLF line ends. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"
#include "fmt.h"
#include "log.h"
#include "mime.h"
#include "session.h"

/* Reads the file, each LF not already after a CR turned into CRLF. */
static int text_read(int fd, struct str *out)
{
	char buf[65536];
	int cr = 0;
	ssize_t k;

	out->len = 0;
	while ((k = read(fd, buf, sizeof buf)) != 0) {
		ssize_t i, start = 0;

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (out->len + (size_t)k > MSG_MAX + MSG_MAX / 2) {
			errno = EFBIG;
			return -1;
		}
		for (i = 0; i < k; i++) {
			if (buf[i] == '\n' && !(i ? buf[i - 1] == '\r' : cr)) {
				if (!str_catb(out, buf + start, (size_t)(i - start)) ||
				    !str_catc(out, '\r'))
					goto nomem;
				start = i;
			}
		}
		if (!str_catb(out, buf + start, (size_t)(k - start)))
			goto nomem;
		cr = buf[k - 1] == '\r';
	}
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

int msg_load(struct session *s, size_t i)
{
	struct stat st;
	int fd, r, e;

	if (s->cache.uid == s->mb.m[i].uid)
		return 0;
	s->cache.uid = 0;
	if (!msg_path(s, &s->u, i))
		die_nomem();
	fd = open(s->u.s, O_RDONLY);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && (unsigned long long)st.st_size > MSG_MAX) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	r = text_read(fd, &s->cache.text);
	e = errno;
	close(fd);
	errno = e;
	if (r == 0)
		s->cache.uid = s->mb.m[i].uid;
	return r;
}

static void put_date(struct session *s, size_t i)
{
	char b[IMAP_DATETIME];

	conn_puts(&s->c, "INTERNALDATE \"");
	conn_put(&s->c, b, imap_datetime_fmt(b, msg_date(s, i)));
	conn_puts(&s->c, "\"");
}

/* A section's bytes, partial applied, as a literal. */
static void put_bytes(struct session *s, const struct fitem *it,
                      const char *p, size_t n)
{
	if (it->partial) {
		unsigned long long st = it->pstart, len = it->plen;

		if (st > n)
			st = n;
		if (len > n - st)
			len = n - st;
		p += st;
		n = (size_t)len;
	}
	conn_puts(&s->c, "{");
	conn_putu(&s->c, n);
	conn_puts(&s->c, "}\r\n");
	conn_put(&s->c, p, n);
}

static void put_label(struct session *s, const struct fitem *it)
{
	if (it->body) {
		conn_puts(&s->c, "BODY[");
		conn_put(&s->c, it->sec, it->seclen);
		conn_puts(&s->c, "]");
		if (it->partial) {
			conn_puts(&s->c, "<");
			conn_putu(&s->c, it->pstart);
			conn_puts(&s->c, ">");
		}
	} else {
		conn_put(&s->c, it->label, it->labellen);
	}
	conn_puts(&s->c, " ");
}

static void put_section(struct session *s, const struct fitem *it,
                        const struct mime *m)
{
	const char *t = s->cache.text.s;
	size_t off = 0, len = 0;

	put_label(s, it);
	if (!mime_section(m, it->path, it->depth,
	                  it->spec == SEC_FIELDS_NOT ? SEC_FIELDS : it->spec,
	                  &off, &len)) {
		put_bytes(s, it, "", 0);
		return;
	}
	if (it->spec == SEC_FIELDS || it->spec == SEC_FIELDS_NOT) {
		s->t.len = 0;
		if (!mime_fields(t + off, len, it->names.s, it->nnames,
		                 it->spec == SEC_FIELDS, &s->t))
			die_nomem();
		put_bytes(s, it, s->t.s ? s->t.s : "", s->t.len);
		return;
	}
	put_bytes(s, it, t + off, len);
}

/* One message's response: 0 ok, -1 its file is gone. */
static int fetch_one(struct session *s, struct fetch *f, size_t i,
                     struct mime *m)
{
	struct msg *msg = &s->mb.m[i];
	int flags_done = 0, uid_done = 0, sp = 0;
	unsigned long long size;
	size_t k;

	if (f->need_text) {
		if (msg_load(s, i) < 0)
			return -1;
		if (mime_parse(m, s->cache.text.s ? s->cache.text.s : "",
		               s->cache.text.len) < 0)
			die_nomem();
	}
	if (f->sets_seen && !s->mb.readonly && !(msg->flags & FL_SEEN) &&
	    msg_setflags(s, i, msg->flags | FL_SEEN) < 0)
		log_kv("warn", "event", "seen", "error", strerror(errno), NULL);
	msg = &s->mb.m[i];
	conn_puts(&s->c, "* ");
	conn_putu(&s->c, i + 1);
	conn_puts(&s->c, " FETCH (");
	for (k = 0; k < f->n; k++) {
		const struct fitem *it = &f->it[k];

		if (sp++)
			conn_puts(&s->c, " ");
		switch (it->kind) {
		case FI_UID:
			conn_puts(&s->c, "UID ");
			conn_putu(&s->c, msg->uid);
			uid_done = 1;
			break;
		case FI_FLAGS:
			put_flags(s, msg->flags, msg->recent);
			flags_done = 1;
			break;
		case FI_DATE:
			put_date(s, i);
			break;
		case FI_SIZE:
			if (msg_size(s, i, &size) < 0)
				size = 0;
			conn_puts(&s->c, "RFC822.SIZE ");
			conn_putu(&s->c, size);
			break;
		case FI_ENVELOPE:
			s->t.len = 0;
			if (!str_cats(&s->t, "ENVELOPE ") ||
			    !mime_envelope(s->cache.text.s, m->e[0].hdrlen, &s->t))
				die_nomem();
			conn_put(&s->c, s->t.s, s->t.len);
			break;
		case FI_BODY:
		case FI_STRUCTURE:
			s->t.len = 0;
			if (!str_cats(&s->t, it->kind == FI_BODY ? "BODY " :
			              "BODYSTRUCTURE ") ||
			    !mime_bodystructure(m, 0, it->kind == FI_STRUCTURE, &s->t))
				die_nomem();
			conn_put(&s->c, s->t.s, s->t.len);
			break;
		default:
			put_section(s, it, m);
		}
	}
	if (s->cmd.uid && !uid_done) {
		conn_puts(&s->c, sp++ ? " UID " : "UID ");
		conn_putu(&s->c, msg->uid);
	}
	if (f->sets_seen && !s->mb.readonly && !flags_done) {
		conn_puts(&s->c, sp ? " " : "");
		put_flags(s, msg->flags, msg->recent);
	}
	conn_puts(&s->c, ")\r\n");
	return 0;
}

void cmd_fetch(struct session *s)
{
	const struct imap_arg *set = imap_first(&s->cmd);
	const struct imap_arg *att = imap_next(&s->cmd, set);
	static struct fetch f;
	struct mime m = MIME_ZERO;
	unsigned char *sel;
	int r, gone = 0;
	size_t i, n;

	if (!set || set->type != IMAP_ATOM || !att || imap_next(&s->cmd, att)) {
		reply_bad(s, "FETCH takes a set and data items");
		return;
	}
	r = fetch_parse(&f, &s->cmd, att);
	if (r < 0)
		die_nomem();
	if (r == 0) {
		fetch_free(&f);
		reply_bad(s, "bad FETCH data item");
		return;
	}
	sel = malloc(s->mb.n ? s->mb.n : 1);
	if (!sel)
		die_nomem();
	if (!seq_select(s, set->s, set->len, s->cmd.uid, sel)) {
		free(sel);
		fetch_free(&f);
		reply_bad(s, "bad sequence set");
		return;
	}
	/* setting \Seen may sync and grow the view: sel covers only n */
	for (i = 0, n = s->mb.n; i < n && !s->c.werr; i++) {
		if (!sel[i])
			continue;
		if (s->mb.m[i].gone || fetch_one(s, &f, i, &m) < 0)
			gone = 1;
	}
	free(sel);
	mime_free(&m);
	fetch_free(&f);
	reply(s, gone ? "NO [EXPUNGEISSUED] Some messages no longer exist" :
	      "OK FETCH completed");
}
