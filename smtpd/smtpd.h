#ifndef QUAIL_SMTPD_H
#define QUAIL_SMTPD_H

/* What quail-smtpd.c (the session) and message.c (DATA and the queue
 * child) share. */

#include "auth.h"
#include "cmd.h"
#include "io.h"
#include "qq.h"
#include "str.h"

#define REPLY_TEXT_MAX 200      /* of the queue's text, relayed */
#define RECEIVED_FIELD_MAX 100  /* of a client-given name in Received */
#define SID_MAX 32

/* Settings, fixed before any input is read. */
struct smtpd_cfg {
	struct str me, greeting;
	struct str rcpthosts;   /* NUL-terminated lines, lower case */
	struct str badmailfrom, badrcptto;
	struct str mrh;         /* path of morercpthosts.cdb */
	unsigned long long databytes, timeout, session, maxrcpt, maxerrors;
	unsigned long long maxcmdline, maxdataline;
	const char *relayclient;        /* NULL when unset */
	const char *queue;
	const char *remoteip, *remotehost;
	struct auth_cfg auth;
	int tlsctl, tlsrd, tlswr;        /* UCSPI-TLS descriptors, -1 when none */
	int tlsoffer, tlsrequire;       /* UCSPITLS "" and "!" */
};
extern struct smtpd_cfg cfg;

struct session {
	struct rd in;
	struct wr out;
	char sid[SID_MAX];
	struct str line;
	struct str helo;        /* empty until HELO or EHLO */
	int esmtp;
	int tls;                /* STARTTLS done, or implicit TLS */
	struct str tlsinfo;     /* "TLSv1.3 TLS_AES_256_GCM_SHA384", for Received */
	struct str auth_user;   /* AUTH done when non-empty */
	struct auth auth;
	unsigned long long authfail;
	int in_mail;
	struct str sender;
	struct str env;         /* "F<sender>\0T<rcpt>\0..." (lib/qq.h) */
	unsigned long long rcpts, errors, msgs;
	struct cmd_path path;
	struct str tmp, from, qtext;
	struct qq qq;           /* pid < 0 when no message is on its way */
};


void out_put(struct session *, const char *, size_t);
void out_puts(struct session *, const char *);
void out_flush(struct session *);
void reply(struct session *, const char *code, const char *text);
void reply_err(struct session *, const char *code, const char *text);
void session_fill(struct session *);
void mail_reset(struct session *);
const char *log_from(struct session *);
void session_exit(struct session *, int) __attribute__((noreturn));

/* STARTTLS (starttls.c): settings from the environment, the TLS
 * description for Received, and the command itself. */
void tls_config(void);
void tls_info(struct session *, const char *proto, const char *cipher);
void smtp_starttls(struct session *);

/* DATA: receives the message, queues it and replies (message.c). */
void smtp_data(struct session *);

#endif
