#ifndef QUAIL_CONTROL_H
#define QUAIL_CONTROL_H

#include "str.h"

/* Control files: one setting per file in the control directory, which is
 * $QUAIL_CONTROL or, when that is unset, CONTROLDIR from the build. Blank
 * lines and lines starting with # are skipped; trailing white space is
 * trimmed. Each call returns 1 when the file gave the value, 0 when it is
 * missing (the default was used) and -1 on error with errno set. */
const char *control_dir(void);
int control_line(const char *name, struct str *out, const char *def);
int control_ulong(const char *name, unsigned long long *out,
                  unsigned long long def);
/* All lines, each NUL-terminated, one after the other in out. */
int control_lines(const char *name, struct str *out);

/* A setting from the environment when set there, else from the control
 * file, else def: 1, 0 or -1 as above; -1 with errno EINVAL for a value
 * that is not a number. */
int setting_ulong(const char *envname, const char *name,
                  unsigned long long *out, unsigned long long def);

#endif
