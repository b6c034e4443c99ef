/* pop3-floor: the least a POP3 server started per connection by
 * tcpserver can do for bench/pop3's client. It takes any USER and PASS,
 * lists COUNT messages of SIZE octets and answers every RETR with the
 * same canned message: no password hash, no Maildir, no file opened, a
 * static binary with nothing to load. bench/pop3 times it under the same
 * tcpserver as quail, so its figures are the ceiling of the
 * process-per-connection model and of the loopback round trip on this
 * machine.
 *
 * Usage: pop3-floor COUNT SIZE. fd 0/1: the client, as tcpserver gives
 * it. Exit 0 at QUIT or EOF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floor.h"

static char *msg;
static size_t msglen;

static void put(const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(1, p, n);
		if (w <= 0)
			exit(0);
		p += w;
		n -= (size_t)w;
	}
}

/* The scan listing of LIST or UIDL, in one write. */
static void listing(unsigned long count, unsigned long size, int uidl)
{
	size_t cap = 32 + count * 48, n;
	char *b = malloc(cap);
	unsigned long i;

	if (!b)
		exit(111);
	n = (size_t)snprintf(b, cap, "+OK\r\n");
	for (i = 1; i <= count; i++)
		n += (size_t)(uidl ?
		              snprintf(b + n, cap - n, "%lu u%lu\r\n", i, i) :
		              snprintf(b + n, cap - n, "%lu %lu\r\n", i, size));
	n += (size_t)snprintf(b + n, cap - n, ".\r\n");
	put(b, n);
	free(b);
}

int main(int argc, char **argv)
{
	unsigned long count, size, i;
	char l[64];

	if (argc != 3)
		return 100;
	count = strtoul(argv[1], 0, 10);
	size = strtoul(argv[2], 0, 10);
	/* "+OK" line, SIZE octets of 64-byte lines, the final "." */
	msg = malloc(size + 64);
	if (!msg)
		return 111;
	msglen = (size_t)snprintf(msg, 64, "+OK %lu octets\r\n", size);
	for (i = 0; i < size; i++)
		msg[msglen + i] = i % 64 >= 62 ? "\r\n"[i % 64 - 62] : 'x';
	msglen += size;
	memcpy(msg + msglen, "\r\n.\r\n", 5);
	msglen += 5;
	put("+OK floor\r\n", 11);
	while (line_get(l, sizeof l) == 0) {
		if (strncmp(l, "LIST", 4) == 0)
			listing(count, size, 0);
		else if (strncmp(l, "UIDL", 4) == 0)
			listing(count, size, 1);
		else if (strncmp(l, "RETR", 4) == 0)
			put(msg, msglen);
		else if (strncmp(l, "QUIT", 4) == 0) {
			put("+OK bye\r\n", 9);
			return 0;
		} else
			put("+OK\r\n", 5);
	}
	return 0;
}
