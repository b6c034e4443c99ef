/* quail-send's message table: hash by ID, heap by due time. */
#include <stdlib.h>

#include "log.h"
#include "msgs.h"

#define HASH_SIZE 65536

static struct msg *hash[HASH_SIZE];
static struct msg **heap;
static size_t nheap, heapcap, nmsg;

static void heap_swap(size_t i, size_t j)
{
	struct msg *t = heap[i];

	heap[i] = heap[j];
	heap[j] = t;
	heap[i]->heap = (long)i;
	heap[j]->heap = (long)j;
}

static void heap_up(size_t i)
{
	while (i && heap[(i - 1) / 2]->next > heap[i]->next) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, s = i;

		if (l < nheap && heap[l]->next < heap[s]->next)
			s = l;
		if (r < nheap && heap[r]->next < heap[s]->next)
			s = r;
		if (s == i)
			return;
		heap_swap(i, s);
		i = s;
	}
}

void msgs_push(struct msg *m)
{
	if (nheap == heapcap) {
		size_t cap = heapcap ? heapcap * 2 : 1024;
		struct msg **h = realloc(heap, cap * sizeof *h);

		if (!h)
			die_nomem();
		heap = h;
		heapcap = cap;
	}
	heap[nheap] = m;
	m->heap = (long)nheap++;
	heap_up(nheap - 1);
}

struct msg *msgs_pop(void)
{
	struct msg *m = heap[0];

	heap_swap(0, --nheap);
	heap_down(0);
	m->heap = -1;
	return m;
}

static struct msg **hash_slot(unsigned long long id)
{
	struct msg **p = &hash[(id * 0x9e3779b97f4a7c15ULL) >> 48];

	while (*p && (*p)->id != id)
		p = &(*p)->hnext;
	return p;
}

void msgs_add(unsigned long long id, long long due)
{
	struct msg **p = hash_slot(id), *m;

	if (*p)
		return;
	m = calloc(1, sizeof *m);
	if (!m)
		die_nomem();
	m->id = id;
	m->next = due;
	*p = m;
	nmsg++;
	msgs_push(m);
}

void msgs_forget(struct msg *m)
{
	struct msg **p = hash_slot(m->id);

	*p = m->hnext;
	nmsg--;
	free(m);
}

struct msg *msgs_top(void)
{
	return nheap ? heap[0] : 0;
}

void msgs_all_due(void)
{
	size_t i;

	for (i = 0; i < nheap; i++)
		heap[i]->next = 0;
}

size_t msgs_count(void)
{
	return nmsg;
}

size_t msgs_waiting(void)
{
	return nheap;
}
