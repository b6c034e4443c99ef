#ifndef QUAIL_EXITCODE_H
#define QUAIL_EXITCODE_H

/* Exit codes. 0 only once the work is durable. */
#define EXIT_OK 0
#define EXIT_PERM 100           /* will never work: bad usage, bad input */
#define EXIT_TEMP 111           /* try again: no memory, I/O, timeout */

/* qmail-queue(8); 11-40 are permanent, everything else temporary. */
#define QQ_OK 0
#define QQ_ADDR_TOOLONG 11
#define QQ_PERM_REFUSED 31
#define QQ_NOMEM 51
#define QQ_TIMEOUT 52
#define QQ_WRITE 53             /* write error or disk full */
#define QQ_READ 54              /* unable to read message or envelope */
#define QQ_CONFIG 55
#define QQ_HOMEDIR 61
#define QQ_QUEUEDIR 62
#define QQ_TEMP_REFUSED 71
#define QQ_CUSTOM 82            /* text on fd 6: D... permanent, Z... temporary */
#define QQ_BUG 81
#define QQ_ENVELOPE 91

/* 1 when errno describes a condition that may pass (retry later). */
int errno_temporary(int);

#endif
