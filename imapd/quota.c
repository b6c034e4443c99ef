/* Maildir++ quota for the session stage: the limit is $QUOTA (as
 * quail-lspawn gives quail-local) or else the quota line of the
 * mailbox's maildirsize; usage is maildirsize's. APPEND, COPY and MOVE
 * are refused with NO [OVERQUOTA] past the limit; GETQUOTAROOT and
 * GETQUOTA (RFC 9208) report it under the one root "", and SETQUOTA is
 * refused: the administrator sets quotas. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "log.h"
#include "maildir.h"
#include "session.h"

/* The file's quota line, without recalculating: 1 found, 0 none. */
static int file_quota(struct maildir_quota *q)
{
	char buf[MAILDIRSIZE_MAX];
	size_t n = 0, line;
	ssize_t r;
	int fd = open("maildirsize", O_RDONLY);

	if (fd < 0)
		return 0;
	while (n < sizeof buf && (r = read(fd, buf + n, sizeof buf - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	/* the quota line alone is enough, whatever the deltas say */
	line = byte_chr(buf, n, '\n');
	return line < n && maildir_quota_parse(buf, line, q);
}

/* 1 when the user has a quota (in q), 0 when none. */
int quota_get(struct maildir_quota *q)
{
	const char *e = getenv("QUOTA");

	q->bytes = q->count = 0;
	if (e && *e) {
		if (!maildir_quota_parse(e, strlen(e), q)) {
			log_kv("warn", "event", "quota", "error", "bad QUOTA",
			       "quota", e, NULL);
			q->bytes = q->count = 0;
		}
	} else if (!file_quota(q)) {
		return 0;
	}
	return q->bytes || q->count;
}

/* Trash is left out of the count, as Courier and quail-local do. */
int quota_refuses(struct session *s, const char *dir,
                  unsigned long long bytes, unsigned long long count)
{
	struct maildir_quota q;
	int r;

	if (!count || !strcmp(dir, "./.Trash") || !quota_get(&q))
		return 0;
	r = maildir_quota_check(".", &q, bytes, count);
	if (r == 0)
		return 0;
	if (r < 0)
		reply_errno(s, "quota");
	else
		reply(s, "NO [OVERQUOTA] Quota exceeded");
	return 1;
}

static void put_quota(struct session *s, const struct maildir_quota *q,
                      const struct maildir_usage *u)
{
	int sp = 0;

	conn_puts(&s->c, "* QUOTA \"\" (");
	if (q->bytes) {
		/* STORAGE counts units of 1024 octets (RFC 9208 5.1) */
		conn_puts(&s->c, "STORAGE ");
		conn_putu(&s->c, u->bytes > 0 ?
		          ((unsigned long long)u->bytes + 1023) / 1024 : 0);
		conn_puts(&s->c, " ");
		conn_putu(&s->c, q->bytes / 1024);
		sp = 1;
	}
	if (q->count) {
		conn_puts(&s->c, sp ? " MESSAGE " : "MESSAGE ");
		conn_putu(&s->c, u->count > 0 ? (unsigned long long)u->count : 0);
		conn_puts(&s->c, " ");
		conn_putu(&s->c, q->count);
	}
	conn_puts(&s->c, ")\r\n");
}

/* The untagged QUOTA of root "": 1 sent, 0 no quota, -1 error. */
static int quota_report(struct session *s)
{
	struct maildir_quota q;
	struct maildir_usage u;

	if (!quota_get(&q))
		return 0;
	if (maildir_quota_read(".", &q, &u) < 0)
		return -1;
	put_quota(s, &q, &u);
	return 1;
}

/* GETQUOTAROOT mailbox */
void cmd_getquotaroot(struct session *s)
{
	const struct imap_arg *box = imap_first(&s->cmd);
	struct maildir_quota q;
	const char *name;
	size_t n;

	if (!imap_astring(box, &name, &n) || imap_next(&s->cmd, box)) {
		reply_bad(s, "GETQUOTAROOT takes a mailbox");
		return;
	}
	if (!folder_dir(&s->t, name, n) || !str_0(&s->t) ||
	    !folder_exists(s->t.s)) {
		reply(s, "NO [NONEXISTENT] No such mailbox");
		return;
	}
	conn_puts(&s->c, "* QUOTAROOT ");
	conn_string(&s->c, name, n);
	conn_puts(&s->c, quota_get(&q) ? " \"\"\r\n" : "\r\n");
	if (quota_report(s) < 0) {
		reply_errno(s, "GETQUOTAROOT");
		return;
	}
	reply(s, "OK GETQUOTAROOT completed");
}

/* GETQUOTA root */
void cmd_getquota(struct session *s)
{
	const struct imap_arg *root = imap_first(&s->cmd);
	const char *name;
	size_t n;
	int r;

	if (!imap_astring(root, &name, &n) || imap_next(&s->cmd, root)) {
		reply_bad(s, "GETQUOTA takes a quota root");
		return;
	}
	r = n ? 0 : quota_report(s);
	if (r < 0)
		reply_errno(s, "GETQUOTA");
	else if (r == 0)
		reply(s, "NO [NONEXISTENT] No such quota root");
	else
		reply(s, "OK GETQUOTA completed");
}
