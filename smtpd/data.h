#ifndef QUAIL_SMTPD_DATA_H
#define QUAIL_SMTPD_DATA_H

#include <stddef.h>

/* The DATA phase (RFC 5321 4.1.1.4, 4.5.2) as a state machine without
 * I/O: raw bytes from the client in, the message as stored out (LF line
 * endings, dot-unstuffed). Data ends only at CRLF "." CRLF where the first
 * CRLF ended a line (or the DATA command itself): "\n.\n", "\r.\r",
 * "\r\n.\n" and "\n.\r\n" are content, so no other reader of the same
 * bytes can find a different end (SMTP smuggling). A bare CR or LF, a line
 * over the line limit or a message over the size limit sets a flag; the
 * machine keeps going to the real end so the session stays in step, and
 * the caller rejects the message. Any split of the input into chunks
 * gives the same output, flags and end. */

enum {
	DATA_BARE_LF = 1,
	DATA_BARE_CR = 2,
	DATA_LONG_LINE = 4,     /* a line over maxline bytes, CRLF included */
	DATA_TOO_BIG = 8        /* over maxbytes stored bytes */
};

struct data {
	int state;
	int flags;              /* DATA_ */
	size_t linelen;         /* bytes of the current line on the wire */
	size_t maxline;         /* 0 is unlimited */
	unsigned long long bytes;       /* stored so far */
	unsigned long long maxbytes;    /* 0 is unlimited */
};

void data_init(struct data *, size_t maxline, unsigned long long maxbytes);

/* Consumes in[0..n) up to and including the end of data, writes what is to
 * be stored to out and its length to *outlen, and returns the number of
 * bytes consumed. Never writes more than it consumes, so out may be in
 * (the conversion is then in place); otherwise out needs n bytes. */
size_t data_feed(struct data *, const char *in, size_t n, char *out,
                 size_t *outlen);

/* 1 once the end of data has been consumed. */
int data_done(const struct data *);

#endif
