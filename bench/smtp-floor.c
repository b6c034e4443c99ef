/* smtp-floor: the least a server started per connection by tcpserver can
 * do for smtp-source. It answers every command with a canned reply and
 * throws the message away: no parsing beyond the verb, no queue, no
 * fsync, a static binary with nothing to load. bench/smtp-accept times
 * it under the same tcpserver as quail-smtpd, so its rate is the ceiling
 * of the process-per-connection model itself on this machine.
 *
 * fd 0/1: the client, as tcpserver gives it. Exit 0 at QUIT or EOF. */
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "floor.h"

static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(1);
}

int main(void)
{
	char l[1024];

	say("220 floor ESMTP\r\n");
	while (line_get(l, sizeof l) == 0) {
		if (!strncasecmp(l, "EHLO", 4)) {
			say("250-floor\r\n250 PIPELINING\r\n");
		} else if (!strncasecmp(l, "DATA", 4)) {
			say("354 go ahead\r\n");
			while (line_get(l, sizeof l) == 0 && strcmp(l, ".\r\n"))
				;
			say("250 ok\r\n");
		} else if (!strncasecmp(l, "QUIT", 4)) {
			say("221 bye\r\n");
			return 0;
		} else {
			say("250 ok\r\n");
		}
	}
	return 0;
}
