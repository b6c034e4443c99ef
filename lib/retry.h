#ifndef QUAIL_RETRY_H
#define QUAIL_RETRY_H

/* The retry schedule, a pure function of a message's birth time, so it
 * needs no state on disk and survives restarts: attempts happen at
 * birth + base * n^2 (n = 0, 1, 2, ...): with base 60 s, after 1, 4, 9,
 * 16 ... minutes, about 100 attempts in 7 days. Returns the first such
 * time after now. */
static inline long long retry_next(long long birth, long long now,
                                   long long base)
{
	long long age = now - birth, n = 0;

	if (base < 1)
		base = 1;
	if (age < 0)
		return now;
	while (base * n * n <= age)
		n++;
	return birth + base * n * n;
}

#endif
