/* Folders: Maildir++ directories ".Name" beside the INBOX's cur/, new/
 * and tmp/, with '.' as the hierarchy separator; CREATE, DELETE, RENAME
 * and the subscriptions file. LIST and LSUB are in list.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>              /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"
#include "log.h"
#include "maildir.h"
#include "session.h"
#include "uniq.h"

#define SUBS_MAX (1024 * 1024)  /* bytes of the subscriptions file */

static const struct {
	const char *name, *attr;
} special[] = {
	{ "Sent", "\\Sent" },
	{ "Drafts", "\\Drafts" },
	{ "Trash", "\\Trash" },
	{ "Junk", "\\Junk" },
	{ "Archive", "\\Archive" },
};
#define NSPECIAL (sizeof special / sizeof special[0])

const char *folder_special_attr(const char *name)
{
	size_t k;

	for (k = 0; k < NSPECIAL; k++)
		if (!strcmp(name, special[k].name))
			return special[k].attr;
	return 0;
}

int folder_is_inbox(const char *name, size_t n)
{
	return n == 5 && case_eqb(name, "INBOX", 5);
}

int folder_dir(struct str *out, const char *name, size_t n)
{
	out->len = 0;
	if (folder_is_inbox(name, n)) {
		if (!str_cats(out, "."))
			die_nomem();
		return 1;
	}
	if (!imap_mailbox_ok(name, n))
		return 0;
	if (!str_cats(out, "./.") || !str_catb(out, name, n))
		die_nomem();
	return 1;
}

int folder_exists(const char *dir)
{
	struct str p = STR_ZERO;
	struct stat st;
	int r;

	if (!str_cats(&p, dir) || !str_cats(&p, "/cur") || !str_0(&p))
		die_nomem();
	r = stat(p.s, &st) == 0 && S_ISDIR(st.st_mode);
	str_free(&p);
	return r;
}

static int folder_make(const char *dir)
{
	struct str p = STR_ZERO;
	int fd;

	if (maildir_make(dir, 0700) < 0)
		return -1;
	if (!str_cats(&p, dir) || !str_cats(&p, "/maildirfolder") || !str_0(&p))
		die_nomem();
	fd = open(p.s, O_WRONLY | O_CREAT, 0600);
	str_free(&p);
	if (fd < 0)
		return -1;
	return close(fd);
}

/* -- subscriptions --------------------------------------------------- */

int folders_subs_read(struct str *out)
{
	char buf[8192];
	ssize_t k;
	int fd = open(SESSION_SPECIAL, O_RDONLY);

	out->len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	while ((k = read(fd, buf, sizeof buf)) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 || out->len + (size_t)k > SUBS_MAX ||
		    !str_catb(out, buf, (size_t)k)) {
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 1;
}

static int subs_write(const struct str *text)
{
	const char *tmp = SESSION_SPECIAL ".tmp";
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -1;
	if (io_writeall(fd, text->s, text->len) < 0 || fsync(fd) < 0) {
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return -1;
	return rename(tmp, SESSION_SPECIAL);
}

/* The line of name in text, or text->len. */
static size_t subs_find(const struct str *text, const char *name, size_t n)
{
	size_t i = 0;

	while (i < text->len) {
		size_t e = i + byte_chr(text->s + i, text->len - i, '\n');

		if (e - i == n && !memcmp(text->s + i, name, n))
			return i;
		i = e + 1;
	}
	return text->len;
}

int folders_first_login(void)
{
	struct str t = STR_ZERO, d = STR_ZERO;
	size_t k;
	int r = folders_subs_read(&t);

	if (r != 0) {
		str_free(&t);
		return r < 0 ? -1 : 0;
	}
	if (!str_cats(&t, "INBOX\n"))
		die_nomem();
	for (k = 0; k < NSPECIAL; k++) {
		d.len = 0;
		if (!str_cats(&d, "./.") || !str_cats(&d, special[k].name) ||
		    !str_0(&d) || !str_cats(&t, special[k].name) ||
		    !str_catc(&t, '\n'))
			die_nomem();
		if (folder_make(d.s) < 0) {
			str_free(&t);
			str_free(&d);
			return -1;
		}
	}
	r = subs_write(&t);
	str_free(&t);
	str_free(&d);
	return r;
}

void cmd_subscribe(struct session *s, int on)
{
	const struct imap_arg *a = imap_first(&s->cmd);
	const char *name;
	size_t n, at;

	if (!imap_astring(a, &name, &n) || imap_next(&s->cmd, a) ||
	    memchr(name, '\n', n) || n == 0) {
		reply_bad(s, "takes a mailbox name");
		return;
	}
	if (folders_subs_read(&s->t) < 0) {
		reply_errno(s, "subscriptions");
		return;
	}
	at = subs_find(&s->t, name, n);
	if (on && at == s->t.len) {
		if (!folder_dir(&s->u, name, n) || !str_0(&s->u) ||
		    !folder_exists(s->u.s)) {
			reply(s, "NO [NONEXISTENT] No such mailbox");
			return;
		}
		if (!str_catb(&s->t, name, n) || !str_catc(&s->t, '\n'))
			die_nomem();
	} else if (!on && at < s->t.len) {
		memmove(s->t.s + at, s->t.s + at + n + 1, s->t.len - at - n - 1);
		s->t.len -= n + 1;
	} else {
		reply(s, on ? "OK SUBSCRIBE completed" :
		      "NO [NONEXISTENT] Not subscribed");
		return;
	}
	if (subs_write(&s->t) < 0) {
		reply_errno(s, "subscriptions");
		return;
	}
	reply(s, on ? "OK SUBSCRIBE completed" : "OK UNSUBSCRIBE completed");
}

/* -- CREATE, DELETE, RENAME ------------------------------------------- */

static int name_arg(struct session *s, const struct imap_arg *a,
                    const char **name, size_t *n)
{
	if (!imap_astring(a, name, n)) {
		reply_bad(s, "bad mailbox name");
		return 0;
	}
	if (*n > 1 && (*name)[*n - 1] == '.')
		(*n)--;         /* "a.b." asks for a hierarchy: the same here */
	return 1;
}

void cmd_create(struct session *s)
{
	const struct imap_arg *a = imap_first(&s->cmd);
	const char *name;
	size_t n;

	if (!name_arg(s, a, &name, &n))
		return;
	if (imap_next(&s->cmd, a)) {
		reply_bad(s, "CREATE takes one mailbox name");
		return;
	}
	if (folder_is_inbox(name, n)) {
		reply(s, "NO [ALREADYEXISTS] INBOX always exists");
		return;
	}
	if (!folder_dir(&s->t, name, n) || !str_0(&s->t)) {
		reply(s, "NO [CANNOT] Unusable mailbox name");
		return;
	}
	if (folder_exists(s->t.s)) {
		reply(s, "NO [ALREADYEXISTS] Mailbox exists");
		return;
	}
	if (folder_make(s->t.s) < 0) {
		reply_errno(s, "CREATE");
		return;
	}
	reply(s, "OK CREATE completed");
}

/* Removes a folder that was first renamed out of sight, so other
 * sessions see it gone at once and never half deleted. */
static int tree_remove(const char *dir)
{
	static const char *const subs[] = { "cur", "new", "tmp", "" };
	struct str p = STR_ZERO;
	struct dirent *d;
	size_t k;
	DIR *dp;

	for (k = 0; k < 4; k++) {
		p.len = 0;
		if (!str_cats(&p, dir) || !str_catc(&p, '/') ||
		    !str_cats(&p, subs[k]) || !str_0(&p))
			die_nomem();
		dp = opendir(p.s);
		if (!dp)
			continue;
		while ((d = readdir(dp))) {
			struct str f = STR_ZERO;

			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			if (!str_cats(&f, p.s) || !str_catc(&f, '/') ||
			    !str_cats(&f, d->d_name) || !str_0(&f))
				die_nomem();
			unlink(f.s);
			str_free(&f);
		}
		closedir(dp);
		if (k < 3)
			rmdir(p.s);
	}
	str_free(&p);
	return rmdir(dir);
}

void cmd_delete(struct session *s)
{
	const struct imap_arg *a = imap_first(&s->cmd);
	struct str aside = STR_ZERO, u = STR_ZERO;
	const char *name;
	size_t n;

	if (!name_arg(s, a, &name, &n))
		return;
	if (imap_next(&s->cmd, a)) {
		reply_bad(s, "DELETE takes one mailbox name");
		return;
	}
	if (folder_is_inbox(name, n)) {
		reply(s, "NO [CANNOT] INBOX can't be deleted");
		return;
	}
	if (!folder_dir(&s->t, name, n) || !str_0(&s->t) ||
	    !folder_exists(s->t.s)) {
		reply(s, "NO [NONEXISTENT] No such mailbox");
		return;
	}
	if (s->selected && !strcmp(s->mb.dir, s->t.s))
		mb_close(s);
	if (!uniq_name(&u) || !str_cats(&aside, "./..quail-deleted.") ||
	    !str_catb(&aside, u.s, u.len) || !str_0(&aside))
		die_nomem();
	if (rename(s->t.s, aside.s) < 0) {
		reply_errno(s, "DELETE");
	} else {
		if (tree_remove(aside.s) < 0)
			log_kv("warn", "event", "delete", "dir", aside.s, "error",
			       strerror(errno), NULL);
		reply(s, "OK DELETE completed");
	}
	str_free(&aside);
	str_free(&u);
}

/* RENAME INBOX moves its messages to a new folder and leaves it empty
 * (RFC 3501 6.3.5). */
static int inbox_move(const char *to)
{
	static const char *const subs[] = { "cur", "new" };
	struct str a = STR_ZERO, b = STR_ZERO;
	struct dirent *d;
	size_t k;
	DIR *dp;

	for (k = 0; k < 2; k++) {
		dp = opendir(subs[k]);
		if (!dp)
			return -1;
		while ((d = readdir(dp))) {
			if (d->d_name[0] == '.')
				continue;
			a.len = b.len = 0;
			if (!str_cats(&a, subs[k]) || !str_catc(&a, '/') ||
			    !str_cats(&a, d->d_name) || !str_0(&a) ||
			    !str_cats(&b, to) || !str_catc(&b, '/') ||
			    !str_cats(&b, subs[k]) || !str_catc(&b, '/') ||
			    !str_cats(&b, d->d_name) || !str_0(&b))
				die_nomem();
			rename(a.s, b.s);
		}
		closedir(dp);
	}
	str_free(&a);
	str_free(&b);
	return 0;
}

static int rename_children(const char *from, size_t fn, const char *to,
                           size_t tn)
{
	struct str a = STR_ZERO, b = STR_ZERO;
	struct dirent *d;
	DIR *dp = opendir(".");
	int r = 0;

	if (!dp)
		return -1;
	while ((d = readdir(dp))) {
		size_t n = strlen(d->d_name);

		/* ".from.x" -> ".to.x" */
		if (n <= fn + 2 || d->d_name[0] != '.' ||
		    memcmp(d->d_name + 1, from, fn) || d->d_name[fn + 1] != '.')
			continue;
		a.len = b.len = 0;
		if (!str_cats(&a, d->d_name) || !str_0(&a) ||
		    !str_catc(&b, '.') || !str_catb(&b, to, tn) ||
		    !str_cats(&b, d->d_name + fn + 1) || !str_0(&b))
			die_nomem();
		if (rename(a.s, b.s) < 0)
			r = -1;
	}
	closedir(dp);
	str_free(&a);
	str_free(&b);
	return r;
}

void cmd_rename(struct session *s)
{
	const struct imap_arg *a = imap_first(&s->cmd);
	const struct imap_arg *b = imap_next(&s->cmd, a);
	const char *from, *to;
	size_t fn, tn;

	if (!name_arg(s, a, &from, &fn) || !name_arg(s, b, &to, &tn))
		return;
	if (imap_next(&s->cmd, b)) {
		reply_bad(s, "RENAME takes two mailbox names");
		return;
	}
	if (!folder_dir(&s->t, from, fn) || !str_0(&s->t) ||
	    !folder_exists(s->t.s)) {
		reply(s, "NO [NONEXISTENT] No such mailbox");
		return;
	}
	if (folder_is_inbox(to, tn) || !folder_dir(&s->u, to, tn) || !str_0(&s->u)) {
		reply(s, "NO [CANNOT] Unusable mailbox name");
		return;
	}
	if (folder_exists(s->u.s)) {
		reply(s, "NO [ALREADYEXISTS] Mailbox exists");
		return;
	}
	if (s->selected && (!strcmp(s->mb.dir, s->t.s) || !strcmp(s->mb.dir, s->u.s)))
		mb_close(s);
	if (folder_is_inbox(from, fn)) {
		if (folder_make(s->u.s) < 0 || inbox_move(s->u.s) < 0) {
			reply_errno(s, "RENAME");
			return;
		}
	} else if (rename(s->t.s, s->u.s) < 0 ||
	           rename_children(from, fn, to, tn) < 0) {
		reply_errno(s, "RENAME");
		return;
	}
	reply(s, "OK RENAME completed");
}
