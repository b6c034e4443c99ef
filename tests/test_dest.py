"""quail-send's remote destinations: at most concurrencydomain deliveries
run to one domain, other domains keep their slots, and a domain whose
attempts all failed rests (its other messages are deferred without a
connection). The real quail-send and quail-rspawn run a stand-in
quail-remote (QUAILREMOTE) that records what it was asked to do."""

import os
import time

from deliver_harness import MailWorld
from harness import check

SENDER = "sender@example.test"

# Sleeps a while for slow.test, fails at once for dead.test (every
# recipient deferred), succeeds for the rest; logs "start DOMAIN" and
# "end DOMAIN" lines with a timestamp.
REMOTE = r"""#!/bin/sh
host=$1
echo "start $host $(date +%s.%N)" >>"LOGFILE"
case $host in
slow.test) sleep 2 ;;
esac
shift 2
for r in "$@"; do
	case $host in
	dead.test) printf 's%s\0' "dead.test: cannot connect: refused" ;;
	*) printf 'r%s\0' "accepted" ;;
	esac
done
case $host in
dead.test) printf 'Z%s\0' "dead.test: cannot connect: refused" ;;
*) printf 'K%s\0' "ok" ;;
esac
echo "end $host $(date +%s.%N)" >>"LOGFILE"
"""


class World(MailWorld):
	def __init__(self, fx):
		super().__init__(fx)
		self.rlog = os.path.join(fx.dir, "remote.log")
		self.remote = os.path.join(fx.dir, "fake-remote")
		with open(self.remote, "w") as f:
			f.write(REMOTE.replace("LOGFILE", self.rlog))
		os.chmod(self.remote, 0o755)
		open(self.rlog, "w").close()
		os.chmod(self.rlog, 0o666)

	def env(self, **extra):
		e = super().env(**extra)
		e["QUAILREMOTE"] = self.remote
		return e

	def lines(self):
		with open(self.rlog) as f:
			return [l.split() for l in f if l.strip()]


def max_parallel(lines, host):
	"""The most deliveries to host that were running at once."""
	now = best = 0
	for kind, h, _ in sorted(lines, key=lambda l: float(l[2])):
		if h != host:
			continue
		now += 1 if kind == "start" else -1
		best = max(best, now)
	return best


def test_dest_concurrency_per_domain(fx):
	"""Six messages to slow.test with concurrencydomain 2 and
	concurrencyremote 4: never more than 2 at once to slow.test, while
	fast.test messages are delivered alongside."""
	w = World(fx)
	fx.write_control("concurrencyremote", "4")
	fx.write_control("concurrencydomain", "2")
	w.start_send()
	for i in range(6):
		w.inject(SENDER, ["u%d@slow.test" % i], b"Subject: s\n\ns\n")
	for i in range(4):
		w.inject(SENDER, ["u%d@fast.test" % i], b"Subject: f\n\nf\n")
	w.wait_events(10, "delivery", 60, result="ok")
	lines = w.lines()
	slow = max_parallel(lines, "slow.test")
	check(slow == 2, "deliveries to slow.test at once: %d, wanted 2" % slow)
	# fast.test did not wait for slow.test to drain
	fast_end = max(float(l[2]) for l in lines
	               if l[0] == "end" and l[1] == "fast.test")
	slow_end = max(float(l[2]) for l in lines
	               if l[0] == "end" and l[1] == "slow.test")
	check(fast_end < slow_end - 1, "fast.test finished at %.1f, slow.test "
	      "at %.1f: fast.test waited" % (fast_end, slow_end))
	w.stop_send()


def test_dest_resting_domain(fx):
	"""After an attempt at dead.test fails for every recipient, its other
	messages are deferred without a connection while it rests, and other
	domains are unaffected."""
	w = World(fx)
	fx.write_control("concurrencyremote", "1")
	w.start_send()
	first = w.inject(SENDER, ["a@dead.test"], b"Subject: d\n\nd\n")
	w.wait_events(1, "delivery", 20, id=str(first), result="deferred")
	later = [w.inject(SENDER, ["b%d@dead.test" % i], b"Subject: d\n\nd\n")
	         for i in range(3)]
	ok = w.inject(SENDER, ["c@fast.test"], b"Subject: f\n\nf\n")
	w.wait_events(1, "delivery", 20, id=str(ok), result="ok")
	for qid in later:
		ev = w.wait_events(1, "delivery", 20, id=str(qid))[0]
		check(ev["result"] == "deferred" and "resting" in ev.get("text", ""),
		      "message to a resting domain: %s" % ev["line"])
	tries = [l for l in w.lines() if l[0] == "start" and l[1] == "dead.test"]
	check(len(tries) == 1, "dead.test was tried %d times, wanted once while "
	      "it rests" % len(tries))
	w.stop_send()
