/* quail-inject: queues a message from a local user or program, as a mail
 * submission agent: reads the message on fd 0 (CRLF or LF line ends,
 * stored with LF), completes its header (Date, Message-ID and From when
 * missing; Bcc and Resent-Bcc removed; a Received trace line on top) and
 * hands it to $QUAILQUEUE (else BINDIR/quail-queue) with its envelope.
 *
 * Usage: quail-inject [-t] [-a] [-d] [-f sender] [-F fullname] [--] [rcpt ...]
 *
 * Reads the control files me, defaulthost, defaultdomain and idhost, and
 * the environment: QUAILUSER, USER, LOGNAME (the user), QUAILNAME, NAME
 * (the full name), QUAILSUSER, QUAILSHOST (the envelope sender),
 * QUAILHOST, QUAILDEFAULTDOMAIN, QUAILIDHOST (override the control files),
 * QUAILQUEUE and QUAIL_CONTROL. Writes nothing but the queue's pipes and
 * one log line on fd 2 when it fails.
 *
 * Runs as the invoking user, with no privilege of its own.
 * Exit: 0 queued; 100 permanent (bad usage, no recipients, a bad address,
 * a header over HDR_MAX, the queue refused it for good); 111 temporary.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "date.h"
#include "exitcode.h"
#include "fmt.h"
#include "hdr.h"
#include "io.h"
#include "log.h"
#include "qq.h"
#include "str.h"

#define INJECT_READBUF 65536    /* bytes read from fd 0 at a time */
#define INJECT_HOST_MAX 255     /* a host name from gethostname */

struct opts {
	int headers;            /* -t: recipients from the header too */
	int dot;                /* -d: a line holding only "." ends input */
	const char *sender;     /* -f, or 0 */
	const char *name;       /* -F, or 0 */
	char **rcpt;            /* the arguments after the options */
	int nrcpt;
};

/* Who and where: host names and the user the message comes from. */
struct ident {
	struct str me, host, domain, idhost;
	struct str user;        /* local part, quoted when it must be */
	struct str name;        /* full name, may be empty */
	struct str sender;      /* envelope sender, empty for <> */
};

/* Copying the body: LF line ends, and with -d a stop at a lone dot. */
struct body {
	int dot, bol, cr, dotp, done;
	char last;              /* last byte written, 0 before any */
};

struct inject {
	struct opts o;
	struct ident id;
	struct hdr h;
	struct rd in;
	struct str rcpt;        /* recipients, each NUL-terminated */
	size_t nrcpt;
	struct qq q;
	struct body b;
	time_t now;
	char inbuf[INJECT_READBUF];
};

static void usage(const char *why, const char *arg)
{
	die_kv(EXIT_PERM, "event", "usage", "error", why, "arg", arg,
	       "usage", "quail-inject_[-t]_[-a]_[-d]_[-f_sender]_[-F_name]_"
	       "[--]_[rcpt_...]", (char *)0);
}

/* Options may be grouped ("-td") and take their argument attached or
 * as the next word, as getopt does; the first non-option ends them. */
static void opts_parse(struct opts *o, int argc, char **argv)
{
	int i = 1;
	size_t j;

	memset(o, 0, sizeof *o);
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];

		if (a[1] == '-' && !a[2]) {
			i++;
			break;
		}
		for (j = 1; a[j]; j++) {
			const char **val;

			switch (a[j]) {
			case 't': o->headers = 1; continue;
			case 'a': o->headers = 0; continue;
			case 'd': o->dot = 1; continue;
			case 'f': val = &o->sender; break;
			case 'F': val = &o->name; break;
			default:
				usage("unknown_option", a);
			}
			if (a[j + 1])
				*val = a + j + 1;
			else if (i + 1 < argc)
				*val = argv[++i];
			else
				usage("option_needs_argument", a);
			break;
		}
	}
	o->rcpt = argv + i;
	o->nrcpt = argc - i;
}

static void die_control(const char *name)
{
	die_kv(EXIT_TEMP, "event", "control", "file", name, "error",
	       strerror(errno), (char *)0);
}

/* A setting: the environment variable when set and not empty, else the
 * control file, else def. */
static void setting(struct str *out, const char *env, const char *file,
                    const char *def)
{
	const char *e = env ? getenv(env) : 0;

	if (e && *e) {
		if (!str_copys(out, e) || !str_0(out))
			die_nomem();
		return;
	}
	if (control_line(file, out, def) < 0)
		die_control(file);
}

static const char *env_first(const char *a, const char *b, const char *c)
{
	const char *names[3] = { a, b, c }, *v;
	int i;

	for (i = 0; i < 3; i++)
		if (names[i] && (v = getenv(names[i])) && *v)
			return v;
	return 0;
}

static int is_atext(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A local part from the environment: kept as it is when it is a
 * dot-atom, else quoted. Control bytes make no address at all. */
static void local_set(struct str *out, const char *u)
{
	size_t i, n = strlen(u);
	int atom = n && u[0] != '.' && u[n - 1] != '.';

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];

		if (c < 32 || c == 127)
			die_kv(EXIT_PERM, "event", "bad_user", "user", u, (char *)0);
		if (!is_atext(c) && !(c == '.' && u[i + 1] != '.'))
			atom = 0;
	}
	out->len = 0;
	if (atom) {
		if (!str_catb(out, u, n))
			die_nomem();
		return;
	}
	if (!str_catc(out, '"'))
		die_nomem();
	for (i = 0; i < n; i++)
		if (((u[i] == '"' || u[i] == '\\') && !str_catc(out, '\\')) ||
		    !str_catc(out, u[i]))
			die_nomem();
	if (!str_catc(out, '"'))
		die_nomem();
}

/* The full name: -F, QUAILNAME, NAME, else the gecos field up to its
 * first comma, with '&' standing for the capitalised login name.
 * Control bytes become spaces, so a name can never start a new field. */
static void name_set(struct ident *id, const char *opt, const char *login,
                     const struct passwd *pw)
{
	const char *n = opt ? opt : env_first("QUAILNAME", "NAME", 0);
	char first = login[0];
	size_t i;

	if (first >= 'a' && first <= 'z')
		first = (char)(first - 'a' + 'A');
	id->name.len = 0;
	if (!n && pw && pw->pw_gecos) {
		for (i = 0; pw->pw_gecos[i] && pw->pw_gecos[i] != ','; i++) {
			char c = pw->pw_gecos[i];

			if (c != '&') {
				if (!str_catc(&id->name, c))
					die_nomem();
				continue;
			}
			if (!str_catc(&id->name, first) ||
			    (first && !str_cats(&id->name, login + 1)))
				die_nomem();
		}
	} else if (n && !str_cats(&id->name, n)) {
		die_nomem();
	}
	for (i = 0; i < id->name.len; i++)
		if ((unsigned char)id->name.s[i] < 32 || id->name.s[i] == 127)
			id->name.s[i] = ' ';
}

/* Where the domain starts: the '@' after the local part (which may be a
 * quoted string holding '@'), or n when there is none. */
static size_t domain_at(const char *a, size_t n)
{
	size_t i = 0;

	if (n && a[0] == '"')
		for (i = 1; i < n && a[i] != '"'; i++)
			if (a[i] == '\\')
				i++;
	for (; i < n; i++)
		if (a[i] == '@')
			return i;
	return n;
}

/* An envelope address from what a user wrote: a bare local part gets
 * "@defaulthost", a domain without a dot gets ".defaultdomain" (as
 * qmail-inject does: "joe@mail" is joe@mail.example.org). */
static void addr_complete(const struct ident *id, const char *a, size_t n,
                          struct str *out)
{
	size_t at = domain_at(a, n), d = out->len + at + 1;

	if (!str_catb(out, a, n))
		die_nomem();
	if (at == n) {
		d = out->len + 1;
		if (!str_catc(out, '@') ||
		    !str_catb(out, id->host.s, id->host.len))
			die_nomem();
	}
	if (d < out->len && out->s[d] != '[' &&
	    !memchr(out->s + d, '.', out->len - d) && id->domain.len &&
	    (!str_catc(out, '.') ||
	     !str_catb(out, id->domain.s, id->domain.len)))
		die_nomem();
}

static void ident_load(struct ident *id, const struct opts *o)
{
	char hostname[INJECT_HOST_MAX + 1], num[FMT_ULONG];
	const struct passwd *pw = 0;
	const char *user, *s;
	struct str tmp = STR_ZERO;
	size_t count = 0;

	if (gethostname(hostname, sizeof hostname - 1) < 0 || !hostname[0])
		memcpy(hostname, "localhost", sizeof "localhost");
	hostname[sizeof hostname - 1] = 0;
	setting(&id->me, 0, "me", hostname);
	setting(&id->host, "QUAILHOST", "defaulthost", id->me.s);
	setting(&id->domain, "QUAILDEFAULTDOMAIN", "defaultdomain", id->me.s);
	setting(&id->idhost, "QUAILIDHOST", "idhost", id->me.s);

	user = env_first("QUAILUSER", "USER", "LOGNAME");
	if (!user || (!o->name && !env_first("QUAILNAME", "NAME", 0)))
		pw = getpwuid(getuid());
	if (!user && pw)
		user = pw->pw_name;
	if (!user || !*user)
		die_kv(EXIT_PERM, "event", "no_user", "uid", fmt_u(num, getuid()),
		       "hint", "set_QUAILUSER", (char *)0);
	local_set(&id->user, user);
	name_set(id, o->name, user, pw);

	id->sender.len = 0;
	if (o->sender && (!*o->sender || !strcmp(o->sender, "<>")))
		return;         /* the null sender */
	if (o->sender) {
		if (hdr_addrlist(o->sender, strlen(o->sender), &tmp, &count) !=
		    HDR_ADDR_OK || count != 1)
			die_kv(EXIT_PERM, "event", "bad_sender", "sender",
			       o->sender, (char *)0);
		addr_complete(id, tmp.s, tmp.len - 1, &id->sender);
	} else {
		if ((s = getenv("QUAILSUSER")) && *s)
			local_set(&tmp, s);
		else if (!str_copyb(&tmp, id->user.s, id->user.len))
			die_nomem();
		s = getenv("QUAILSHOST");
		if (!str_catc(&tmp, '@') ||
		    !str_cats(&tmp, s && *s ? s : id->host.s))
			die_nomem();
		addr_complete(id, tmp.s, tmp.len, &id->sender);
	}
	str_free(&tmp);
}

/* Adds the addresses of one list (an argument or a field value). */
static void rcpt_addlist(struct inject *x, const char *v, size_t n,
                         const char *where)
{
	struct str list = STR_ZERO;
	size_t count = 0, i = 0, k;
	int r;

	r = hdr_addrlist(v, n, &list, &count);
	if (r == HDR_ADDR_NOMEM)
		die_nomem();
	if (r != HDR_ADDR_OK) {
		struct str shown = STR_ZERO;

		if (!str_catb(&shown, v, n) || !str_0(&shown))
			die_nomem();
		die_kv(EXIT_PERM, "event", "bad_recipient", "in", where,
		       "error", hdr_addr_error(r), "value", shown.s, (char *)0);
	}
	while (i < list.len) {
		k = i + strlen(list.s + i);
		addr_complete(&x->id, list.s + i, k - i, &x->rcpt);
		if (!str_catc(&x->rcpt, 0))
			die_nomem();
		x->nrcpt++;
		i = k + 1;
	}
	str_free(&list);
}

/* sendmail -t: the recipients in To, Cc and Bcc, or, when the message
 * has been resent (any Resent-To, Resent-Cc or Resent-Bcc), in those. */
static void rcpt_fromheader(struct inject *x)
{
	static const char *plain[] = { "to", "cc", "bcc", 0 };
	static const char *resent[] = { "resent-to", "resent-cc",
	                                "resent-bcc", 0 };
	const char **names = plain;
	size_t i, j;

	for (j = 0; resent[j]; j++)
		if (hdr_find(&x->h, resent[j], 0) < x->h.nfield)
			names = resent;
	for (i = 0; i < x->h.nfield; i++)
		for (j = 0; names[j]; j++)
			if (hdr_is(&x->h, i, names[j]))
				rcpt_addlist(x, x->h.text.s + x->h.field[i].value,
				             x->h.field[i].valuelen, names[j]);
}

static int rcpt_cmp(const void *a, const void *b, void *base)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp((const char *)base + i, (const char *)base + j);

	return c ? c : (i > j) - (i < j);
}

/* The envelope: the sender, then each recipient once, in the order
 * first given. Sorting offsets finds duplicates in n log n, so a header
 * with many thousands of addresses costs no quadratic time. */
static void envelope(struct inject *x, struct str *env)
{
	size_t *off, i, k = 0, keep, n = x->nrcpt;

	if (!qq_env_from(env, x->id.sender.s, x->id.sender.len))
		die_nomem();
	off = calloc(n, sizeof *off);
	if (!off)
		die_nomem();
	for (i = 0; i < x->rcpt.len; i += strlen(x->rcpt.s + i) + 1)
		off[k++] = i;
	qsort_r(off, n, sizeof *off, rcpt_cmp, x->rcpt.s);
	/* mark each later copy by setting its first byte to 1, which no
	 * address starts with; keep is the first copy, left unmarked */
	for (i = 1, keep = off[0]; i < n; i++)
		if (!strcmp(x->rcpt.s + keep, x->rcpt.s + off[i]))
			x->rcpt.s[off[i]] = 1;
		else
			keep = off[i];
	free(off);
	for (i = 0; i < x->rcpt.len; i += strlen(x->rcpt.s + i) + 1)
		if (x->rcpt.s[i] != 1 &&
		    !qq_env_rcpt(env, x->rcpt.s + i, strlen(x->rcpt.s + i)))
			die_nomem();
}

static int cat_field(struct str *s, const char *name, const char *v, size_t n)
{
	return str_cats(s, name) && str_cats(s, ": ") && str_catb(s, v, n) &&
	       str_catc(s, '\n');
}

/* "Ann Lee" as it is; anything else with specials as a quoted string. */
static int cat_phrase(struct str *s, const struct str *name)
{
	size_t i;
	int plain = name->len && name->s[0] != ' ' &&
	            name->s[name->len - 1] != ' ';

	for (i = 0; i < name->len; i++)
		if (name->s[i] != ' ' && !is_atext((unsigned char)name->s[i]))
			plain = 0;
	if (plain)
		return str_catb(s, name->s, name->len);
	if (!str_catc(s, '"'))
		return 0;
	for (i = 0; i < name->len; i++)
		if (((name->s[i] == '"' || name->s[i] == '\\') &&
		     !str_catc(s, '\\')) || !str_catc(s, name->s[i]))
			return 0;
	return str_catc(s, '"');
}

static int cat_msgid(struct str *s, const struct inject *x)
{
	unsigned char rnd[8];
	char hex[2 * sizeof rnd];
	size_t i;
	struct timespec ts;

	if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
		/* uniqueness still holds by time and pid */
		clock_gettime(CLOCK_REALTIME, &ts);
		for (i = 0; i < sizeof rnd; i++)
			rnd[i] = (unsigned char)(ts.tv_nsec >> (8 * (i % 4)));
	}
	for (i = 0; i < sizeof rnd; i++) {
		hex[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
	}
	return str_cats(s, "Message-ID: <") &&
	       str_catu(s, (unsigned long long)x->now) && str_catc(s, '.') &&
	       str_catu(s, (unsigned long long)getpid()) && str_catc(s, '.') &&
	       str_catb(s, hex, sizeof hex) && str_catc(s, '@') &&
	       str_catb(s, x->id.idhost.s, x->id.idhost.len) &&
	       str_cats(s, ">\n");
}

/* The new header: trace line, the old fields but Bcc and Resent-Bcc,
 * then what a submission agent adds when it is missing. */
static void header_build(const struct inject *x, struct str *s)
{
	const struct hdr *h = &x->h;
	char date[DATE_RFC822];
	size_t dlen = date_rfc822(date, x->now), i;
	int ok;

	ok = str_cats(s, "Received: (quail-inject ") &&
	     str_catu(s, (unsigned long long)getpid()) &&
	     str_cats(s, " invoked by uid ") &&
	     str_catu(s, (unsigned long long)getuid()) && str_cats(s, "); ") &&
	     str_catb(s, date, dlen) && str_catc(s, '\n');
	for (i = 0; ok && i < h->nfield; i++)
		if (!hdr_is(h, i, "bcc") && !hdr_is(h, i, "resent-bcc"))
			ok = str_catb(s, h->text.s + h->field[i].pos,
			              h->field[i].len);
	if (ok && hdr_find(h, "date", 0) == h->nfield)
		ok = cat_field(s, "Date", date, dlen);
	if (ok && hdr_find(h, "message-id", 0) == h->nfield)
		ok = cat_msgid(s, x);
	if (ok && hdr_find(h, "from", 0) == h->nfield) {
		ok = str_cats(s, "From: ");
		if (ok && x->id.name.len)
			ok = cat_phrase(s, &x->id.name) && str_cats(s, " <");
		ok = ok && str_catb(s, x->id.user.s, x->id.user.len) &&
		     str_catc(s, '@') &&
		     str_catb(s, x->id.host.s, x->id.host.len) &&
		     str_cats(s, x->id.name.len ? ">\n" : "\n");
	}
	if (!ok || !str_catc(s, '\n'))
		die_nomem();
}

/* Body bytes to the queue: CRLF becomes LF; with -d a line holding only
 * "." (LF or CRLF) ends the message, as classic sendmail without -i.
 * Dots are never unstuffed: this is not SMTP. */
static void body_put(struct body *b, struct qq *q, const char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n && !b->done) {
		char c = p[i];

		if (!b->cr && !b->dotp && !(b->bol && b->dot)) {
			/* the common case: copy up to the next CR or LF */
			for (k = i; k < n && p[k] != '\r' && p[k] != '\n'; k++)
				;
			if (k > i) {
				qq_put(q, p + i, k - i);
				b->last = p[k - 1];
				i = k;
				continue;
			}
		}
		i++;
		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {
				if (b->dotp)
					b->done = 1;
				else
					qq_put(q, "\n", 1);
				b->bol = 1;
				b->last = '\n';
				continue;
			}
			if (b->dotp)
				qq_put(q, ".", 1);
			b->dotp = 0;
			qq_put(q, "\r", 1);
			b->last = '\r';
			b->bol = 0;
		}
		if (b->dotp && c == '\n') {
			b->done = 1;
			continue;
		}
		if (c == '\r') {
			b->cr = 1;
			continue;
		}
		if (b->dotp) {
			qq_put(q, ".", 1);
			b->dotp = 0;
			b->last = '.';
		}
		if (b->bol && b->dot && c == '.') {
			b->dotp = 1;
			b->bol = 0;
			continue;
		}
		qq_put(q, &c, 1);
		b->last = c;
		b->bol = c == '\n';
	}
}

/* End of input: a held-back dot or CR is written (a CR at the very end
 * counts as a line end), and the message ends in LF. */
static void body_end(struct body *b, struct qq *q)
{
	if (b->done)
		return;
	if (b->dotp && b->cr)
		return;         /* ".\r" at the end: the lone dot line */
	if (b->dotp) {
		qq_put(q, ".", 1);
		b->last = '.';
	}
	if (b->cr || (b->last && b->last != '\n'))
		qq_put(q, "\n", 1);
}

static void read_header(struct inject *x)
{
	char buf[FMT_ULONG];
	int r;

	rd_init(&x->in, 0, x->inbuf, sizeof x->inbuf, -1);
	hdr_init(&x->h);
	r = hdr_read(&x->h, &x->in);
	if (r == HDR_NOMEM)
		die_nomem();
	if (r == HDR_IO)
		die_kv(EXIT_TEMP, "event", "read", "error", strerror(errno),
		       (char *)0);
	if (r == HDR_TOOBIG)
		die_kv(EXIT_PERM, "event", "header_too_large", "max",
		       fmt_u(buf, x->h.max), (char *)0);
	if (r == HDR_TOOMANY)
		die_kv(EXIT_PERM, "event", "too_many_header_fields", "max",
		       fmt_u(buf, x->h.maxfields), (char *)0);
}

/* The message: new header, then the body streamed from fd 0. */
static void send_message(struct inject *x)
{
	struct str head = STR_ZERO;
	ssize_t n;

	header_build(x, &head);
	qq_put(&x->q, head.s, head.len);
	str_free(&head);
	x->b.dot = x->o.dot;
	x->b.bol = 1;
	body_put(&x->b, &x->q, x->h.text.s + x->h.len, x->h.text.len - x->h.len);
	while (!x->b.done && !x->q.failed) {
		if (!rd_avail(&x->in)) {
			n = rd_fill(&x->in);
			if (n == 0)
				break;
			if (n < 0) {
				qq_abort(&x->q);
				die_kv(EXIT_TEMP, "event", "read", "error",
				       strerror(errno), (char *)0);
			}
		}
		body_put(&x->b, &x->q, x->in.buf + x->in.pos, rd_avail(&x->in));
		x->in.pos = x->in.end;
	}
	body_end(&x->b, &x->q);
}

/* A caller (cron, a daemon) may start us with fd 1 or 2 closed; the
 * queue's pipes must not land there, nor log lines in them. */
static void fds_ensure(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 && fd <= 2)
		if (fcntl(fd, F_SETFD, 0) < 0)
			_exit(EXIT_TEMP);
	if (fd < 0)
		_exit(EXIT_TEMP);
	close(fd);
}

int main(int argc, char **argv)
{
	static struct inject x;
	struct str env = STR_ZERO, text = STR_ZERO;
	int i, r;

	fds_ensure();
	log_init("quail-inject");
	signal(SIGPIPE, SIG_IGN);
	opts_parse(&x.o, argc, argv);
	ident_load(&x.id, &x.o);
	x.now = time(0);

	read_header(&x);
	for (i = 0; i < x.o.nrcpt; i++)
		rcpt_addlist(&x, x.o.rcpt[i], strlen(x.o.rcpt[i]), "argument");
	if (x.o.headers)
		rcpt_fromheader(&x);
	if (!x.nrcpt)
		die_kv(EXIT_PERM, "event", "no_recipients", "hint",
		       x.o.headers ? "no_To_Cc_or_Bcc_in_the_header" :
		       "give_addresses_or_-t", (char *)0);
	envelope(&x, &env);

	if (qq_start(&x.q) < 0)
		die_kv(EXIT_TEMP, "event", "queue_start", "error",
		       strerror(errno), (char *)0);
	send_message(&x);
	r = qq_finish(&x.q, &env, &text);
	/* exit 0 from a queue program that did not read the whole message
	 * queued something else: temporary, as qmail.c has it */
	if (r == QQ_R_OK && x.q.failed)
		die_kv(EXIT_TEMP, "event", "queue_failed", "result", "temporary",
		       "reason", "queue_program_exited_before_reading_the_message",
		       (char *)0);
	if (r == QQ_R_OK)
		return EXIT_OK;
	die_kv(r == QQ_R_PERM ? EXIT_PERM : EXIT_TEMP, "event", "queue_failed",
	       "result", r == QQ_R_PERM ? "permanent" : "temporary",
	       "reason", text.s, (char *)0);
}
