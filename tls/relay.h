#ifndef QUAIL_TLS_RELAY_H
#define QUAIL_TLS_RELAY_H

/* Moves bytes between a TLS session and the application's pipes until
 * both directions are closed, the application has exited, the network
 * fails or nothing moves for the idle time. */

#include <openssl/ssl.h>

/* Bytes held per direction: one TLS record. While they wait to be
 * written, that direction reads nothing more. */
#define RELAY_BUF 16384

struct relay {
	SSL *ssl;
	int net_rfd, net_wfd;      /* the connection, non-blocking */
	int app_rfd;               /* the application's output */
	int app_wfd;               /* the application's input */
	int exit_fd;               /* readable once the application exited */
	int idle_ms;
	unsigned long long bytes_in;    /* plaintext, client to app */
	unsigned long long bytes_out;   /* plaintext, app to client */
	const char *error;         /* why it ended early, or NULL */
	char errbuf[120];
};

/* Sets app_rfd and app_wfd non-blocking and relays; closes both (and
 * sets them to -1) before it returns. 0 when the session ended cleanly,
 * -1 with error set otherwise. */
int relay_run(struct relay *);

#endif
