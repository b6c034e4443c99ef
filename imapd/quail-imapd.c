/* quail-imapd: an IMAP4rev1 server over Maildir, in two stages.
 *
 *	quail-imapd HOSTNAME checkpassword ... quail-imapd
 *
 * With arguments it is the login stage: it greets the client on fd 0/1
 * (under tcpserver, or behind quail-tlsd with UCSPI-TLS: SSLCTLFD,
 * SSLREADFD, SSLWRITEFD, UCSPITLS; SSL_PROTOCOL set means implicit TLS),
 * takes LOGIN or AUTHENTICATE PLAIN, and runs the checkpassword program
 * with "user\0password\0\0" on fd 3, QUAIL_SERVICE=imap and the pending
 * tag in QUAIL_IMAP_TAG. It runs as whatever user tcpserver gives it: the
 * virtual mailbox owner, or root when checkpassword must switch users.
 *
 * Without arguments it is the session stage, which checkpassword runs as
 * the mailbox owner in its home directory: it answers the pending tag
 * (or says PREAUTH when there is none, as over ssh) and serves $MAILDIR,
 * else ./Maildir/. It writes a byte on the fd in QUAIL_IMAP_STATUSFD at
 * once, so the login stage knows the login went through.
 *
 * Files: the Maildir, its Maildir++ folders, quail-uidlist (persistent
 * UIDs) in each folder, quail-subscriptions at the top, maildirsize.
 * Control files: maxauthfail, timeoutimaplogin, timeoutimap.
 * Exit: 0 after LOGOUT, EOF or a timeout; 100 bad usage; 111 temporary
 * failure (no memory, unusable Maildir). */
#include <signal.h>

#include "exitcode.h"
#include "log.h"
#include "login.h"
#include "session.h"

int main(int argc, char **argv)
{
	log_init("quail-imapd");
	/* a client that hangs up must give EPIPE, not a silent death */
	signal(SIGPIPE, SIG_IGN);
	if (argc == 1)
		return session_main();
	if (argc < 3)
		die_kv(EXIT_PERM, "event", "usage", "usage",
		       "quail-imapd HOSTNAME checkpassword ... quail-imapd", NULL);
	return login_main(argv[1], argv + 2);
}
