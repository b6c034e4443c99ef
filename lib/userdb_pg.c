/* The user database, PostgreSQL backend (userdb.h): single keys answered
 * by two prepared queries over one libpq connection per process. Every
 * wait, connecting included, is bounded by the lookup's deadline, and any
 * failure is -1 (temporary), never "no such key". */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "userdb.h"

/* libpq is loaded when the pgsql backend is first used, not linked: it
 * pulls in OpenSSL, Kerberos and LDAP (some 25 libraries), which would
 * cost every quail-smtpd connection milliseconds and put OpenSSL into
 * programs that parse network input even where the userdb is a cdb.
 * libpq-fe.h gives only the types and prototypes. */
#define PQ_FUNCS(X) \
	X(pg_encoding_to_char) \
	X(PQcancel) \
	X(PQclear) \
	X(PQclientEncoding) \
	X(PQconnectPoll) \
	X(PQconnectStart) \
	X(PQconsumeInput) \
	X(PQerrorMessage) \
	X(PQfinish) \
	X(PQflush) \
	X(PQfreeCancel) \
	X(PQgetCancel) \
	X(PQgetResult) \
	X(PQgetisnull) \
	X(PQgetlength) \
	X(PQgetvalue) \
	X(PQhost) \
	X(PQisBusy) \
	X(PQnfields) \
	X(PQntuples) \
	X(PQresultErrorMessage) \
	X(PQresultStatus) \
	X(PQsendPrepare) \
	X(PQsendQueryParams) \
	X(PQsendQueryPrepared) \
	X(PQsetNoticeProcessor) \
	X(PQsetnonblocking) \
	X(PQsocket) \
	X(PQstatus)

#define PQ_POINTER(f) static __typeof__(f) *p_##f;
PQ_FUNCS(PQ_POINTER)
#define PQ_LIBRARY "libpq.so.5"

static int pq_load(void)
{
	static void *lib;

	if (lib)
		return 0;
	lib = dlopen(PQ_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		log_kv("warn", "event", "pgsql", "what", "load", "error",
		       dlerror(), (char *)0);
		errno = ELIBACC;
		return -1;
	}
#define PQ_SYMBOL(f) \
	if (!(p_##f = (__typeof__(p_##f))dlsym(lib, #f))) { \
		log_kv("warn", "event", "pgsql", "what", "load", "error", \
		       #f, (char *)0); \
		dlclose(lib); \
		lib = 0; \
		errno = ELIBACC; \
		return -1; \
	}
	PQ_FUNCS(PQ_SYMBOL)
	return 0;
}

/* from here on, every PQ call goes through the loaded library */
#define pg_encoding_to_char p_pg_encoding_to_char
#define PQcancel p_PQcancel
#define PQclear p_PQclear
#define PQclientEncoding p_PQclientEncoding
#define PQconnectPoll p_PQconnectPoll
#define PQconnectStart p_PQconnectStart
#define PQconsumeInput p_PQconsumeInput
#define PQerrorMessage p_PQerrorMessage
#define PQfinish p_PQfinish
#define PQflush p_PQflush
#define PQfreeCancel p_PQfreeCancel
#define PQgetCancel p_PQgetCancel
#define PQgetResult p_PQgetResult
#define PQgetisnull p_PQgetisnull
#define PQgetlength p_PQgetlength
#define PQgetvalue p_PQgetvalue
#define PQhost p_PQhost
#define PQisBusy p_PQisBusy
#define PQnfields p_PQnfields
#define PQntuples p_PQntuples
#define PQresultErrorMessage p_PQresultErrorMessage
#define PQresultStatus p_PQresultStatus
#define PQsendPrepare p_PQsendPrepare
#define PQsendQueryParams p_PQsendQueryParams
#define PQsendQueryPrepared p_PQsendQueryPrepared
#define PQsetNoticeProcessor p_PQsetNoticeProcessor
#define PQsetnonblocking p_PQsetnonblocking
#define PQsocket p_PQsocket
#define PQstatus p_PQstatus

#define STMT_USER "quail_user"
#define STMT_DOMAIN "quail_domain"
#define USER_COLUMNS 7          /* uid gid home maildir quota flags hash */
#define CANCEL_ERR_MAX 256

/* The connection is a per-process cache, like a stdio buffer: made on
 * first use, kept between lookups, made again after a failure. */
static struct {
	PGconn *conn;
	pid_t pid;              /* the process that made conn */
	long long timeout;      /* ms per lookup, read with each connection */
	long long deadline;     /* io_now_ms() by which this lookup ends */
	int fresh;              /* conn was made during this lookup */
	struct str val;         /* the last record, as a userdb value */
} pg;

/* One line per failure; libpq's messages may run to several lines, the
 * first says what happened. */
static void pg_log(const char *what, const char *msg)
{
	struct str m = STR_ZERO;
	size_t n = msg ? strlen(msg) : 0;

	if (!str_catb(&m, msg ? msg : "", byte_chr(msg ? msg : "", n, '\n')) ||
	    !str_0(&m)) {
		str_free(&m);
		return;
	}
	log_kv("warn", "event", "pgsql", "what", what, "error", m.s, (char *)0);
	str_free(&m);
}

static void pg_quiet(void *arg, const char *message)
{
	/* notices would break the one-event-per-line log */
	(void)arg;
	(void)message;
}

/* 1 when the server is reached through a unix socket, where PQcancel's
 * own connect cannot hang: over TCP it has no timeout, and a host gone
 * from the network would hold the lookup for minutes. */
static int pg_local(void)
{
	const char *h = PQhost(pg.conn);

	return !h || !*h || h[0] == '/' || h[0] == '@';
}

static void pg_drop(int cancel)
{
	char err[CANCEL_ERR_MAX];
	PGcancel *c;
	int saved = errno;

	if (!pg.conn)
		return;
	if (cancel && pg_local()) {
		c = PQgetCancel(pg.conn);
		if (c) {
			if (!PQcancel(c, err, sizeof err))
				pg_log("cancel", err);
			PQfreeCancel(c);
		}
	}
	PQfinish(pg.conn);
	pg.conn = 0;
	errno = saved;
}

/* A connection inherited across fork() belongs to the parent: the child
 * must neither talk on it nor say goodbye on it, so its copy of the
 * socket becomes /dev/null before libpq frees the rest. If that fails
 * the memory is left, which a child about to exec can afford. */
static void pg_abandon(void)
{
	int saved = errno, s = PQsocket(pg.conn);
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd >= 0 && s >= 0 && dup3(fd, s, O_CLOEXEC) >= 0)
		PQfinish(pg.conn);
	if (fd >= 0)
		close(fd);
	pg.conn = 0;
	errno = saved;
}

/* Waits for the socket until the deadline: 0 ready, -1 with errno. */
static int pg_wait(short events)
{
	int s = PQsocket(pg.conn), r;

	if (s < 0) {
		errno = EIO;
		return -1;
	}
	r = io_wait(s, events, -1, pg.deadline);
	if (r == 0)
		errno = ETIMEDOUT;
	return r > 0 ? 0 : -1;
}

static int pg_fail(const char *what)
{
	pg_log(what, errno == ETIMEDOUT ? "timeout" : PQerrorMessage(pg.conn));
	if (errno != ETIMEDOUT)
		errno = EIO;
	return -1;
}

/* Sends what libpq has buffered (the socket is non-blocking). */
static int pg_flush(void)
{
	int r;

	while ((r = PQflush(pg.conn)) != 0) {
		if (r < 0)
			return pg_fail("send");
		if (pg_wait(POLLIN | POLLOUT) < 0)
			return pg_fail("send");
		/* the server may be talking too; read it, or both block */
		if (!PQconsumeInput(pg.conn))
			return pg_fail("send");
	}
	return 0;
}

/* Reads every result of the command sent; keeps the first, which must
 * have status want. 0, or -1 with errno. */
static int pg_results(ExecStatusType want, PGresult **out)
{
	PGresult *res, *first = 0;

	for (;;) {
		while (PQisBusy(pg.conn)) {
			if (pg_wait(POLLIN) < 0 || !PQconsumeInput(pg.conn)) {
				PQclear(first);
				return pg_fail("result");
			}
		}
		res = PQgetResult(pg.conn);
		if (!res)
			break;
		if (first)
			PQclear(res);
		else
			first = res;
	}
	if (!first || PQresultStatus(first) != want) {
		pg_log("result", first ? PQresultErrorMessage(first)
		       : "no_result");
		PQclear(first);
		errno = EIO;
		return -1;
	}
	*out = first;
	return 0;
}

static int pg_prepare(const char *name, const struct str *query)
{
	PGresult *res;

	if (!PQsendPrepare(pg.conn, name, query->s, 1, 0))
		return pg_fail("prepare");
	if (pg_flush() < 0 || pg_results(PGRES_COMMAND_OK, &res) < 0)
		return -1;
	PQclear(res);
	return 0;
}

/* A query from its control file, its lines joined by spaces, or def:
 * 0 ok, -1 with errno. */
static int pg_query_text(const char *name, struct str *out, const char *def)
{
	size_t i;
	int r = control_lines(name, out);

	if (r < 0)
		return -1;
	if (r == 0 || out->len == 0) {
		if (!str_copys(out, def) || !str_0(out)) {
			errno = ENOMEM;
			return -1;
		}
		return 0;
	}
	out->len--;             /* the last line's NUL ends the string */
	for (i = 0; i < out->len; i++)
		if (out->s[i] == 0)
			out->s[i] = ' ';
	if (out->len > USERDB_PG_QUERY_MAX) {
		log_kv("warn", "event", "pgsql", "what", "config", "error",
		       "query_too_long", "file", name, (char *)0);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Polls the connection made by PQconnectStart until it is up. */
static int pg_establish(void)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (PQstatus(pg.conn) == CONNECTION_BAD)
		return pg_fail("connect");
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			return pg_fail("connect");
		if (pg_wait(st == PGRES_POLLING_READING ? POLLIN : POLLOUT) < 0)
			return pg_fail("connect");
		st = PQconnectPoll(pg.conn);
	}
	if (PQsetnonblocking(pg.conn, 1) < 0)
		return pg_fail("connect");
	return 0;
}

/* The server gives up on a query by itself too, after the timeout: a
 * query we stopped waiting for stops there as well, even where PQcancel
 * is not used. Parameters, like every query here. */
static int pg_statement_timeout(void)
{
	const char *param[2];
	char ms[FMT_ULONG];
	PGresult *res;

	param[0] = "statement_timeout";
	param[1] = fmt_u(ms, (unsigned long long)pg.timeout);
	if (!PQsendQueryParams(pg.conn,
	                       "SELECT pg_catalog.set_config($1, $2, false)",
	                       2, 0, param, 0, 0, 0))
		return pg_fail("setup");
	if (pg_flush() < 0 || pg_results(PGRES_TUPLES_OK, &res) < 0)
		return -1;
	PQclear(res);
	return 0;
}

/* The conninfo and both queries from their control files: 0, or -1. */
static int pg_config(struct str *info, struct str *uq, struct str *dq)
{
	if (control_line("pgsql", info, 0) < 0) {
		pg_log("config", strerror(errno));
		return -1;
	}
	if (info->len == 0) {
		pg_log("config", "no_conninfo");
		errno = ENOENT;
		return -1;
	}
	if (pg_query_text("pgsql_user_query", uq, USERDB_PG_USER_QUERY) < 0 ||
	    pg_query_text("pgsql_domain_query", dq, USERDB_PG_DOMAIN_QUERY) < 0)
		return -1;
	return 0;
}

static int pg_connect(void)
{
	struct str info = STR_ZERO, uq = STR_ZERO, dq = STR_ZERO;
	int r = pq_load();

	if (r == 0)
		r = pg_config(&info, &uq, &dq);
	if (r == 0) {
		pg.conn = PQconnectStart(info.s);
		if (!pg.conn) {
			errno = ENOMEM;
			r = -1;
		}
	}
	if (r == 0) {
		PQsetNoticeProcessor(pg.conn, pg_quiet, 0);
		pg.pid = getpid();
		r = pg_establish();
		if (r == 0)
			r = pg_prepare(STMT_USER, &uq);
		if (r == 0)
			r = pg_prepare(STMT_DOMAIN, &dq);
		if (r == 0)
			r = pg_statement_timeout();
		/* no cancel: nothing of ours runs there that needs one, and a
		 * server too stuck to answer would not answer PQcancel either */
		if (r < 0)
			pg_drop(0);
	}
	str_free(&info);
	str_free(&uq);
	str_free(&dq);
	pg.fresh = r == 0;
	return r;
}

static int pg_send(const char *stmt, const char *param, PGresult **out)
{
	if (!PQsendQueryPrepared(pg.conn, stmt, 1, &param, 0, 0, 0))
		return pg_fail("query");
	if (pg_flush() < 0)
		return -1;
	return pg_results(PGRES_TUPLES_OK, out);
}

/* Runs a prepared statement. A connection kept from an earlier lookup may
 * have died meanwhile (a database restart): that earns one new connection
 * and one more try, within the same deadline. */
static int pg_run(const char *stmt, const char *param, PGresult **out)
{
	int r;

	if (!pg.conn && pg_connect() < 0)
		return -1;
	r = pg_send(stmt, param, out);
	if (r < 0 && !pg.fresh && errno != ETIMEDOUT) {
		pg_drop(0);
		if (pg_connect() < 0)
			return -1;
		r = pg_send(stmt, param, out);
	}
	if (r < 0)
		pg_drop(errno == ETIMEDOUT);
	return r;
}

/* 1 when p[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * values past U+10FFFF). */
static int utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0, k, more;
	unsigned long c;

	while (i < n) {
		c = p[i++];
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			more = 1, c &= 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2, c &= 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3, c &= 0x07;
		else
			return 0;
		if (n - i < more)
			return 0;
		for (k = 0; k < more; k++, i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i] & 0x3f);
		}
		if ((more == 2 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
		    (more == 3 && (c < 0x10000 || c > 0x10ffff)))
			return 0;
	}
	return 1;
}

/* A key the server would refuse to take (bytes that are not UTF-8 where
 * the client encoding is UTF-8) cannot be stored there either: it is no
 * key, rather than an error that would defer the mail forever. */
static int pg_storable(const char *key, size_t n)
{
	if (strcmp(pg_encoding_to_char(PQclientEncoding(pg.conn)), "UTF8"))
		return 1;
	return utf8_valid((const unsigned char *)key, n);
}

static int pg_bad_record(const char *why)
{
	log_kv("warn", "event", "pgsql", "what", "record", "error", why,
	       (char *)0);
	errno = EBADMSG;
	return -1;
}

/* The row as a userdb value "uid:gid:home:maildir:quota:flags:hash", so
 * it meets the same checks as a cdb record: 1, 0 no row, -1. */
static int pg_record(const PGresult *res)
{
	const char *p;
	size_t n;
	int i, last;

	if (PQntuples(res) == 0)
		return 0;
	if (PQntuples(res) > 1)
		return pg_bad_record("more_than_one_row");
	if (PQnfields(res) != USER_COLUMNS)
		return pg_bad_record("not_7_columns");
	pg.val.len = 0;
	for (i = 0; i < USER_COLUMNS; i++) {
		last = i == USER_COLUMNS - 1;
		p = PQgetisnull(res, 0, i) ? "" : PQgetvalue(res, 0, i);
		n = PQgetisnull(res, 0, i) ? 0 : (size_t)PQgetlength(res, 0, i);
		/* only the hash, last, may hold the separator */
		if (!last && byte_chr(p, n, ':') != n)
			return pg_bad_record("colon_in_column");
		if (!str_catb(&pg.val, p, n) ||
		    (!last && !str_catc(&pg.val, ':'))) {
			errno = ENOMEM;
			return -1;
		}
	}
	return 1;
}

static int pg_begin(void)
{
	unsigned long long t;

	pg.fresh = 0;
	if (pg.conn && pg.pid != getpid())
		pg_abandon();
	if (!pg.conn) {
		if (control_ulong("pgsql_timeout", &t, USERDB_PG_TIMEOUT) < 0 ||
		    t == 0 || t > USERDB_PG_TIMEOUT_MAX) {
			log_kv("warn", "event", "pgsql", "what", "config",
			       "error", "bad_pgsql_timeout", (char *)0);
			errno = EINVAL;
			return -1;
		}
		pg.timeout = (long long)t * 1000;
	}
	pg.deadline = io_now_ms() + pg.timeout;
	return 0;
}

static int pg_get(const char *key, size_t n, const char **v, size_t *vn)
{
	PGresult *res;
	int r;

	if (!pg.conn && pg_connect() < 0)
		return -1;
	if (!pg_storable(key, n))
		return 0;
	if (pg_run(STMT_USER, key, &res) < 0)
		return -1;
	r = pg_record(res);
	PQclear(res);
	*v = pg.val.s;
	*vn = pg.val.len;
	return r;
}

static int pg_domain(const char *d, size_t n)
{
	PGresult *res;
	int r;

	if (!pg.conn && pg_connect() < 0)
		return -1;
	if (!pg_storable(d, n))
		return 0;
	if (pg_run(STMT_DOMAIN, d, &res) < 0)
		return -1;
	r = PQntuples(res) > 0;
	PQclear(res);
	return r;
}

static void pg_end(void)
{
	/* the connection stays for the next lookup */
}

const struct userdb_backend userdb_pgsql = {
	"pgsql", pg_begin, pg_get, pg_domain, pg_end
};
