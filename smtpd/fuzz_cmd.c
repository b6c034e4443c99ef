/* libFuzzer target for the SMTP command-line parser: the input is one
 * command line as read; its verb, and MAIL and RCPT arguments, are taken
 * apart whatever they hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a heap copy of exactly size bytes, so ASan sees any overread */
	char *line = malloc(size ? size : 1);
	struct cmd_path p = CMD_PATH_ZERO;
	struct cmd c;
	size_t len = size;

	if (!line)
		return 0;
	memcpy(line, data, size);
	if (cmd_line(line, size, &len) != CMD_OK)
		len = size;
	if (len > size)
		abort();
	cmd_parse(line, len, &c);
	if (c.arg < line || c.arglen > len || c.arg + c.arglen > line + len)
		abort();
	if (cmd_mail(c.arg, c.arglen, &p) == CMD_OK && p.addr.len > len)
		abort();
	if (cmd_rcpt(c.arg, c.arglen, &p) == CMD_OK && p.addr.len == 0)
		abort();
	/* the raw bytes as an argument too, NULs and all */
	cmd_mail(line, size, &p);
	cmd_rcpt(line, size, &p);
	str_free(&p.addr);
	free(line);
	return 0;
}
