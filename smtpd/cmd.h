#ifndef QUAIL_SMTPD_CMD_H
#define QUAIL_SMTPD_CMD_H

#include <stddef.h>

#include "str.h"

/* SMTP command lines (RFC 5321 4.1), parsed without any I/O so the parser
 * can be fuzzed. The caller reads one line through its LF; cmd_line checks
 * its ending and bytes, cmd_parse finds the verb, cmd_mail and cmd_rcpt
 * take the arguments of MAIL and RCPT apart. */

enum {
	CMD_UNKNOWN = 0,
	CMD_HELO,
	CMD_EHLO,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_RSET,
	CMD_NOOP,
	CMD_VRFY,
	CMD_HELP,
	CMD_QUIT,
	CMD_AUTH,               /* RFC 4954; the session says if offered */
	CMD_STARTTLS            /* RFC 3207; likewise */
	/* STARTTLS goes here when the session offers it. */
};

/* Results of cmd_line, cmd_parse, cmd_mail and cmd_rcpt. */
enum {
	CMD_OK = 0,
	CMD_E_NOLF,             /* no LF at the end: a partial line */
	CMD_E_BYTES,            /* a NUL or a CR that does not end the line */
	CMD_E_SYNTAX,           /* 501 5.5.4 */
	CMD_E_ARGS,             /* arguments where none are allowed */
	CMD_E_PATH,             /* the path is bad; see addr_err */
	CMD_E_PARAM,            /* unknown parameter or value: 555 5.5.4 */
	CMD_E_NOMEM
};

struct cmd {
	int verb;
	const char *arg;        /* after the verb and its spaces, trailing */
	size_t arglen;          /* white space cut; points into the line */
};

enum { CMD_BODY_NONE = 0, CMD_BODY_7BIT, CMD_BODY_8BITMIME };

struct cmd_path {
	struct str addr;        /* local@domain, empty for <> */
	int has_domain;
	int addr_err;           /* ADDR_ code when CMD_E_PATH */
	int has_size;
	unsigned long long size;        /* SIZE=; ULLONG_MAX when it overflows */
	int body;               /* CMD_BODY_ */
};

#define CMD_PATH_ZERO { STR_ZERO, 0, 0, 0, 0, CMD_BODY_NONE }

/* line[0..n) is one line as read, through its LF. Sets *len to the length
 * without the CRLF (or bare LF, which commands may end with). */
int cmd_line(const char *line, size_t n, size_t *len);

/* Splits line[0..n) (without its ending) into verb and argument. Verbs
 * are matched without regard to case. Returns CMD_OK or CMD_E_ARGS for a
 * verb that takes no argument but got one. */
int cmd_parse(const char *line, size_t n, struct cmd *out);

/* The argument of MAIL ("FROM:<path> params") and RCPT ("TO:<path>").
 * MAIL knows SIZE=<digits> and BODY=7BIT|8BITMIME; RCPT takes no
 * parameters. */
int cmd_mail(const char *arg, size_t n, struct cmd_path *out);
int cmd_rcpt(const char *arg, size_t n, struct cmd_path *out);

#endif
