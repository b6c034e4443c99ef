/* The line reader of the floor servers (bench/smtp-floor.c,
 * bench/pop3-floor.c): buffered reads of fd 0, nothing else. */
#ifndef QUAIL_BENCH_FLOOR_H
#define QUAIL_BENCH_FLOOR_H

#include <unistd.h>

static char floor_in[65536];
static size_t floor_len, floor_pos;

/* The next line's first max - 1 bytes into l (NUL-terminated, LF
 * included when it fits); -1 at EOF. */
static int line_get(char *l, size_t max)
{
	size_t n = 0;
	ssize_t r;
	char c;

	for (;;) {
		if (floor_pos == floor_len) {
			r = read(0, floor_in, sizeof floor_in);
			if (r <= 0)
				return -1;
			floor_len = (size_t)r;
			floor_pos = 0;
		}
		c = floor_in[floor_pos++];
		if (n < max - 1)
			l[n++] = c;
		if (c == '\n') {
			l[n] = 0;
			return 0;
		}
	}
}

#endif
