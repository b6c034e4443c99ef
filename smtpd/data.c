/* The DATA phase state machine: wire bytes in, stored bytes out. No I/O. */
#include <string.h>

#include "data.h"

enum {
	S_BOL,                  /* at the start of a line that followed CRLF */
	S_MID,                  /* inside a line */
	S_CR,                   /* after a CR inside a line */
	S_DOT,                  /* after a "." at S_BOL */
	S_DOTCR,                /* after "." CR at S_BOL */
	S_DONE
};

void data_init(struct data *d, size_t maxline, unsigned long long maxbytes)
{
	/* The CRLF ending the DATA command counts as the first CRLF of
	 * CRLF "." CRLF, so an empty message is just ".\r\n". */
	d->state = S_BOL;
	d->flags = 0;
	d->linelen = 0;
	d->maxline = maxline;
	d->bytes = 0;
	d->maxbytes = maxbytes;
}

int data_done(const struct data *d)
{
	return d->state == S_DONE;
}

static void wire(struct data *d, size_t k)
{
	if (__builtin_add_overflow(d->linelen, k, &d->linelen))
		d->linelen = (size_t)-1;
	if (d->maxline && d->linelen > d->maxline)
		d->flags |= DATA_LONG_LINE;
}

static void stored(struct data *d, size_t k)
{
	if (__builtin_add_overflow(d->bytes, k, &d->bytes))
		d->bytes = (unsigned long long)-1;
	if (d->maxbytes && d->bytes > d->maxbytes)
		d->flags |= DATA_TOO_BIG;
}

/* A byte inside a line; returns the number of bytes written to *p. */
static size_t mid(struct data *d, char c, char *p)
{
	if (c == '\r') {
		d->state = S_CR;
		return 0;
	}
	d->state = S_MID;
	if (c == '\n') {
		/* Stored as a line end, but never part of an end of data. */
		d->flags |= DATA_BARE_LF;
		d->linelen = 0;
	}
	*p = c;
	stored(d, 1);
	return 1;
}

static size_t plain_run(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n')
			break;
	return i;
}

/* One byte in state d->state; the byte has been counted on the wire. */
static size_t step(struct data *d, char c, char *p)
{
	switch (d->state) {
	case S_BOL:
		if (c == '.') {
			d->state = S_DOT;  /* the leading dot is never stored */
			return 0;
		}
		return mid(d, c, p);
	case S_CR:
		if (c == '\n') {
			*p = '\n';
			stored(d, 1);
			d->state = S_BOL;
			d->linelen = 0;
			return 1;
		}
		d->flags |= DATA_BARE_CR;
		return mid(d, c, p);
	case S_DOT:
		if (c == '\r') {
			d->state = S_DOTCR;
			return 0;
		}
		return mid(d, c, p);
	case S_DOTCR:
		if (c == '\n') {
			d->state = S_DONE;
			return 0;
		}
		d->flags |= DATA_BARE_CR;
		return mid(d, c, p);
	default:
		return mid(d, c, p);
	}
}

size_t data_feed(struct data *d, const char *in, size_t n, char *out,
                 size_t *outlen)
{
	size_t i = 0, o = 0, run;

	/* o <= i throughout, and in[i] is read before out[o] is written, so
	 * in and out may be the same buffer. */
	while (i < n && d->state != S_DONE) {
		if (d->state == S_MID) {
			run = plain_run(in + i, n - i);
			if (run) {
				wire(d, run);
				stored(d, run);
				memmove(out + o, in + i, run);
				o += run;
				i += run;
				continue;
			}
		}
		wire(d, 1);
		o += step(d, in[i], out + o);
		i++;
	}
	*outlen = o;
	return i;
}
