#ifndef QUAIL_SMTPD_AUTH_H
#define QUAIL_SMTPD_AUTH_H

#include <stddef.h>

#include "str.h"

/* SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms,
 * the credential check through a checkpassword program, and the userdb
 * checks quail-smtpd makes for recipients and senders.
 *
 * The SASL exchange is a machine without I/O, so it can be fuzzed: the
 * session hands auth_begin the argument of AUTH and auth_response each
 * line the client sends after a 334 challenge (without its CRLF), and
 * acts on the AUTH_ result. On AUTH_CHECK the credentials are in user
 * and pass; the session runs auth_run and then auth_wipe, which zeroes
 * every byte that held the password. */

#define AUTH_LINE_MAX 12288     /* bytes in an AUTH command or a response,
                                 * CRLF included (RFC 4954 4: at least
                                 * 12288 for the initial response) */
#define AUTH_CRED_MAX 512       /* "login\0password\0\0" on fd 3: the
                                 * checkpassword interface's limit */
#define AUTH_TIMEOUT 60         /* seconds a checkpassword run may take */
#define AUTH_MAXFAIL 3          /* failed attempts in a session, then 421 */
#define AUTH_RECEIVED_MAX 100   /* bytes of the user in a Received field */

/* quail-smtpd's settings for AUTH, submission and recipient checks. */
struct auth_cfg {
	char **checkpw;         /* argv of the checkpassword program, or NULL */
	int plaintext;          /* $AUTHPLAINTEXT: AUTH offered without TLS */
	int submission;         /* $SMTPAUTH starts with '!': AUTH before MAIL */
	unsigned long long maxauthfail;         /* MAXAUTHFAIL, maxauthfail */
	unsigned long long timeout;             /* TIMEOUTAUTH, timeoutauth */
	unsigned long long senderauth;          /* SENDERAUTH, senderauth */
	unsigned long long rcptcheck;           /* RCPTCHECK, rcptcheck */
};

/* Fills c from argv (quail-smtpd's: a program from argv[1] on), the
 * environment and the control files: 1 ok, 0 when a control file could
 * not be read or a setting is no number (*bad names it, errno is set). */
int auth_config(struct auth_cfg *c, int argc, char **argv, const char **bad);

/* What the session does next. */
enum {
	AUTH_NOMEM = -1,
	AUTH_CHALLENGE = 1,     /* "334 " + challenge; then auth_response */
	AUTH_CHECK,             /* credentials in user, pass: auth_run */
	AUTH_CANCEL,            /* "*": 501 5.0.0 */
	AUTH_BASE64,            /* not base64: 501 5.5.2 */
	AUTH_SYNTAX,            /* no mechanism: 501 5.5.4 */
	AUTH_MECH,              /* a mechanism we lack: 504 5.5.4 */
	AUTH_MALFORMED,         /* base64, but not a PLAIN message: 501 5.5.2 */
	AUTH_TOOLONG,           /* a line over AUTH_LINE_MAX: 500 5.5.6 */
	AUTH_REFUSED,           /* refused unasked (see reason): 535 5.7.8,
	                         * counted as a failed attempt */
	/* the results of auth_run */
	AUTH_OK,                /* 235 2.7.0 */
	AUTH_FAIL,              /* 535 5.7.8, counted */
	AUTH_TEMP               /* 454 4.7.0 */
};

/* The reply to a result other than AUTH_CHALLENGE and AUTH_CHECK: code
 * ("501 5.0.0") and text. */
void auth_reply(int r, const char **code, const char **text);

/* Appends " (authenticated as USER)" for a Received field: user[0..n)
 * cut at AUTH_RECEIVED_MAX, with bytes that could end the comment or the
 * line made '?': 1 ok, 0 no memory. */
int auth_received(struct str *h, const char *user, size_t n);

struct auth {
	int state;              /* AUTH_S_ in auth.c; 0 between exchanges */
	const char *mech;       /* "PLAIN" or "LOGIN", for log lines */
	const char *challenge;  /* base64 text after "334 " */
	const char *reason;     /* why, on AUTH_REFUSED and from auth_run */
	struct str user;        /* the authcid, NUL-terminated on AUTH_CHECK */
	struct str pass;        /* secret */
	struct str dec;         /* a decoded response: secret */
};

#define AUTH_ZERO { 0, 0, 0, 0, STR_ZERO, STR_ZERO, STR_ZERO }

/* Sizes the buffers once, so a secret is never moved by realloc and left
 * behind in freed memory: 1 ok, 0 no memory. */
int auth_init(struct auth *);
/* arg[0..n) is "mechanism [initial-response]", as after the verb. */
int auth_begin(struct auth *, const char *arg, size_t n);
/* line[0..n) is the client's answer to a challenge, without its CRLF. */
int auth_response(struct auth *, const char *line, size_t n);
/* 1 while an exchange waits for a response. */
int auth_waiting(const struct auth *);
/* Ends any exchange and zeroes pass and dec (user is kept). */
void auth_wipe(struct auth *);
void auth_free(struct auth *);

/* Runs argv (a checkpassword program and its arguments) with a pipe on
 * fd 3 holding "user\0pass\0\0", fd 0 and 1 on /dev/null, fd 2 shared
 * and QUAIL_SERVICE=smtp, and waits at most timeout seconds (then kills
 * it; 0 waits for ever). Exit 0 is AUTH_OK, 1 AUTH_FAIL; any other exit,
 * a signal, a timeout or a failure to start is AUTH_TEMP, with a->reason
 * set. */
int auth_run(char *const *argv, struct auth *a, unsigned timeout);

/* SENDERAUTH: 1 when sender[0..n) may be used by login[0..ln): they are
 * the same address, the domain compared without regard to case. */
int auth_sender_ok(const char *login, size_t ln, const char *sender,
                   size_t n);

/* The userdb's say on recipient addr[0..n) with domain dom[0..dn)
 * (lower case): AUTH_RCPT_NOTOURS when the domain is not in the userdb,
 * AUTH_RCPT_OK for a known user (or when check is 0: any local part),
 * AUTH_RCPT_UNKNOWN, or AUTH_RCPT_TEMP with errno set. One domain
 * lookup per call. */
enum { AUTH_RCPT_TEMP = -1, AUTH_RCPT_NOTOURS, AUTH_RCPT_OK,
       AUTH_RCPT_UNKNOWN };
int auth_rcpt(const char *addr, size_t n, const char *dom, size_t dn,
              int check);

#endif
