#ifndef QUAIL_IMAPD_LOGIN_H
#define QUAIL_IMAPD_LOGIN_H

#include <stddef.h>

#include "str.h"

/* The login stage: everything before a successful LOGIN or
 * AUTHENTICATE. Returns the exit code for main. */
int login_main(const char *host, char **prog);

/* The environment the login stage hands the session stage. */
#define ENV_TAG "QUAIL_IMAP_TAG"        /* the tag to answer OK to */
#define ENV_STATUSFD "QUAIL_IMAP_STATUSFD" /* write a byte once started */
#define ENV_TLS "QUAIL_IMAP_TLS"        /* STARTTLS was done */
#define ENV_PENDING "QUAIL_IMAP_PENDING" /* hex of input read ahead */
#define LOGIN_STATUSFD 5
#define LOGIN_PENDING_MAX 16384         /* input passed on, bytes */
#define LOGIN_FAILS_MAX 3               /* failed logins before BYE */
#define LOGIN_CRED_MAX 512              /* checkpassword's fd 3 limit */
#define LOGIN_SASL_MAX 2048             /* a SASL response line */
#define LOGIN_TIMEOUT 60                /* s of silence before login */

/* SASL PLAIN (RFC 4616): "authzid\0authcid\0passwd". 1 ok with the
 * login and password pointing into msg; 0 malformed, or an authzid
 * other than empty or the login itself (no proxy logins). */
int login_sasl_plain(const char *msg, size_t n, const char **user,
                     size_t *un, const char **pass, size_t *pn);

/* Hex coding of the read-ahead passed in ENV_PENDING. */
int login_hex_encode(struct str *out, const char *p, size_t n);
int login_hex_decode(struct str *out, const char *p, size_t n);

#endif
