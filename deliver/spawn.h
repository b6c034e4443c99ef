#ifndef QUAIL_SPAWN_H
#define QUAIL_SPAWN_H

/* The spawn protocol between quail-send and the delivery spawners,
 * quail-lspawn (local) and quail-rspawn (remote). quail-send starts each
 * spawner with two pipes: the spawner reads requests on fd 0 and writes
 * replies on fd 1.
 *
 * Request:  JOB \0 MESSPATH \0 SENDER \0 RCPT \0 [RCPT \0 ...] \0
 *   JOB       decimal job number chosen by quail-send, echoed in the reply
 *   MESSPATH  the message file relative to the queue directory, which is
 *             the spawner's working directory ("mess/05/123456")
 *   SENDER    the envelope sender, empty for <>
 *   RCPT      one recipient for quail-lspawn; one or more recipients at
 *             one domain for quail-rspawn (one SMTP transaction)
 *
 * Reply:    JOB \0 RESULT \0 [RESULT \0 ...]
 *   one RESULT per recipient, in request order: a status byte, then
 *   human-readable text (no NUL, at most SPAWN_TEXT_MAX bytes):
 *   'K' delivered, 'Z' temporary failure (retry), 'D' permanent failure
 *   (bounce). The text goes into the log and into bounces.
 *
 * A spawner starts the delivery for a request at once (quail-send keeps
 * the concurrency limits) and replies when it finishes, so replies come in
 * any order. A delivery that dies or cannot be run is reported as 'Z'. On
 * EOF on fd 0 the spawner waits for its deliveries, replies, and exits 0.
 * A malformed request is a bug in the caller: the spawner exits 111.
 */

#define SPAWN_TEXT_MAX 3000     /* bytes of result text, as qmail-lspawn */
#define SPAWN_RCPT_MAX 100      /* recipients in one remote request */

/* The event loop both spawners share (spawn.c). It reads requests from
 * fd 0 as they arrive, opens each MESSPATH, forks one child per request,
 * collects the child's fd 1, reaps it (SIGCHLD self-pipe), kills it after
 * the spawner's timeout, and writes the replies to fd 1 without blocking
 * on a slow reader. A spawner fills a struct spawner and calls spawn_run.
 *
 * Before the child callback runs, fd 0 is the message (read-only, at
 * offset 0), fd 1 a pipe to the spawner, fd 2 the spawner's stderr, SIGPIPE
 * and SIGCHLD have their default actions, and the child leads its own
 * process group (so a timeout kills what it started too). */

#include <sys/types.h>

#include "str.h"

#define SPAWN_FIELD_MAX 2048    /* bytes in one request field */
#define SPAWN_READ_MAX 65536    /* bytes read from one fd at a time */

/* One request. The strings are NUL-terminated and stay valid until the
 * reply is written. */
struct spawn_req {
	const char *job;
	const char *mess;
	const char *sender;
	const char *rcpt[SPAWN_RCPT_MAX];
	size_t nrcpt;
};

struct spawner {
	size_t rcpt_max;        /* recipients in one request, 1..SPAWN_RCPT_MAX */
	size_t out_max;         /* bytes of a child's output kept */
	unsigned long timeout;  /* seconds before a delivery is killed */
	/* In the spawner, before the child starts: 1 go on, 0 the request
	 * is malformed. May be NULL. */
	int (*check)(const struct spawn_req *);
	/* In the child: sets up and execs, or writes its answer to fd 1
	 * and exits (spawn_child_exit). Never returns. */
	void (*child)(const struct spawn_req *) __attribute__((noreturn));
	/* In the spawner, once the child has exited: appends one RESULT per
	 * recipient to reply with spawn_result. status is the wait status,
	 * out[0..len) what the child wrote, at most out_max bytes. */
	void (*finish)(const struct spawn_req *, int status, const char *out,
	               size_t len, struct str *reply);
};

/* Runs until EOF on fd 0 and every delivery has been answered. Returns
 * the exit code: 0, or 111 after a malformed request or when fd 1 failed
 * (the deliveries under way are still waited for). */
int spawn_run(const struct spawner *);

/* Appends one RESULT: code, then text[0..len) with NULs dropped, white
 * space trimmed at both ends and cut at SPAWN_TEXT_MAX bytes, then a NUL.
 * Out of memory: exits 111. */
void spawn_result(struct str *reply, char code, const char *text,
                  size_t len);

/* For the child callback: writes p[0..n) to fd 1 and _exits with code. */
void spawn_child_exit(const char *p, size_t n, int code)
	__attribute__((noreturn));

#define SPAWN_TIMEOUT_LOCAL 86400UL   /* s: the Maildir spec's 24 hours */
#define SPAWN_TIMEOUT_REMOTE 3600UL

/* The start of a spawner's main(): logs as name, takes no arguments
 * (exit 100 otherwise), and sets sp->timeout from the environment
 * variable envname or the control file ctl (exit 111 when unreadable).
 * Returns the delivery program: $progenv, else def. */
const char *spawn_init(struct spawner *sp, const char *name, int argc,
                       const char *envname, const char *ctl,
                       const char *progenv, const char *def);

#endif
