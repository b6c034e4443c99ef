"""Crash safety of the queue: quail-queue is SIGKILLed at random moments
while a client sends mail through quail-smtpd.

The promise under test (DESIGN.md, lib/qfile.h): a 250 means the message
is durable. So every message the client saw 250 for is in the queue,
envelope and byte-exact body; and whatever the scheduler can see (env/)
is whole: its mess/ file exists, has the size the envelope says and is
one of the messages sent, intact. A message queued without the client
seeing 250 is allowed (the kill came after the commit; the client will
retry and the recipient may get it twice, as with qmail); a 250'd message
missing or damaged is not, nor a broken envelope.
"""

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import (QCHECK, Client, Closed, TestFailure, accepted_id, check,
                     stored_form, stuff, wait_for)

SENDER = "crash@client.test"
SEND_SECONDS = 15       # how long the client keeps sending
MAX_MESSAGES = 300


def queue_pids(queue_path):
	"""quail-queue processes working on our queue, found through /proc:
	argv[0] or exe ends in quail-queue and QUAIL_QUEUE is our queue."""
	want = b"QUAIL_QUEUE=" + queue_path.encode() + b"\0"
	pids = []
	for name in os.listdir("/proc"):
		if not name.isdigit():
			continue
		try:
			with open("/proc/%s/cmdline" % name, "rb") as f:
				argv0 = f.read().split(b"\0", 1)[0]
			if not argv0.endswith(b"quail-queue"):
				continue
			with open("/proc/%s/environ" % name, "rb") as f:
				if want not in f.read() + b"\0":
					continue
		except OSError:
			continue
		pids.append(int(name))
	return pids


class Killer(threading.Thread):
	def __init__(self, queue_path, seed):
		super().__init__(daemon=True)
		self.queue_path = queue_path
		self.rnd = random.Random(seed)
		self.stop = threading.Event()
		self.kills = 0

	def run(self):
		while not self.stop.is_set():
			time.sleep(self.rnd.uniform(0, 0.04))
			for pid in queue_pids(self.queue_path):
				if self.rnd.random() < 0.5:
					try:
						os.kill(pid, signal.SIGKILL)
						self.kills += 1
					except ProcessLookupError:
						pass


def make_message(n, rnd):
	size = rnd.choice([200, 3000, 40000, 300000, 900000])
	line = b"".join(b"%c" % rnd.randrange(33, 127) for _ in range(70))
	body = [b"Subject: crash %d" % n,
	        b"Message-Id: <crash.%d.%d@client.test>" % (n, rnd.getrandbits(40)),
	        b""]
	total = 0
	i = 0
	while total < size:
		l = b"%d " % i + line[i % 50:]
		if i % 17 == 0:
			l = b"." + l
		body.append(l)
		total += len(l) + 2
		i += 1
	return b"\r\n".join(body) + b"\r\n"


def marker(stored):
	m = re.search(rb"^Message-Id: <(crash\.\d+\.\d+)@", stored, re.M)
	return m.group(1) if m else None


def send_chunked(c, data, rnd):
	"""Sends stuffed data in pieces with short pauses, so quail-queue is
	alive (and killable) in the middle of the message too."""
	wire = stuff(data)
	if rnd.random() < 0.5 or len(wire) < 20000:
		c.send(wire)
		return
	pos = 0
	while pos < len(wire):
		n = rnd.randrange(10000, 200000)
		c.send(wire[pos:pos + n])
		pos += n
		time.sleep(rnd.uniform(0, 0.01))


def client_loop(port, rnd, sent, deadline):
	"""Sends messages until the deadline; sent maps marker -> (data,
	rcpt, outcome) with outcome the queue ID on 250, else the reply or
	the error seen."""
	n = 0
	while time.time() < deadline and n < MAX_MESSAGES:
		c = Client(port, timeout=30)
		try:
			c.ehlo()
			for _ in range(rnd.randrange(1, 4)):
				data = make_message(n, rnd)
				rcpt = "c%d@example.test" % n
				key = marker(stored_form(data))
				sent[key] = (data, rcpt, "not sent")
				n += 1
				c.cmd("MAIL FROM:<%s>" % SENDER, 250)
				c.cmd("RCPT TO:<%s>" % rcpt, 250)
				c.cmd("DATA", 354)
				send_chunked(c, data, rnd)
				sent[key] = (data, rcpt, "no reply")
				r = c.reply()
				sent[key] = (data, rcpt, accepted_id(r) if r.code == 250
				             else r)
				check(r.code == 250 or r.code // 100 == 4,
				      "message %d: a kill must give a temporary error, "
				      "got %r" % (n - 1, r))
			c.cmd("QUIT", 221)
		except (Closed, ConnectionError, socket.timeout) as e:
			# Recorded as not accepted; the check below decides
			# whether the server may close on us.
			sent.setdefault("errors", []).append(repr(e))
		finally:
			c.close()
	return n


def test_kill_quail_queue(fx):
	s = fx.smtpd()
	rnd = random.Random(4242)
	killer = Killer(fx.queue.path, 99)
	sent = {}
	killer.start()
	try:
		client_loop(s.port, rnd, sent, time.time() + SEND_SECONDS)
	finally:
		killer.stop.set()
		killer.join(5)
	errors = sent.pop("errors", [])
	check(not errors, "client sessions broke: %s; quail-smtpd wait "
	      "statuses other than 0: %s" %
	      (errors[:3], [st for pid, st in s.exits() if st][:10]))
	s.wait_all_ended()
	check(wait_for(lambda: not queue_pids(fx.queue.path), 10),
	      "quail-queue processes still running")
	s.check_clean(allow_fatal=[r"."])

	outcomes = [v[2] for v in sent.values()]
	accepted = [o for o in outcomes if isinstance(o, int)]
	check(killer.kills > 0, "the killer never hit a quail-queue")
	check(accepted, "no message accepted at all")
	check(len(accepted) < len(outcomes), "no message was refused: the "
	      "kills (%d) all missed" % killer.kills)

	q = fx.queue
	env_ids = q.ids("env")
	mess_ids = q.ids("mess")
	# 1. Every 250 is there, whole.
	for key, (data, rcpt, outcome) in sent.items():
		if not isinstance(outcome, int):
			continue
		check(outcome in env_ids, "message %s got 250 (ID %d) but has no "
		      "envelope" % (key, outcome))
		check_whole(q, outcome, sent, mess_ids, s.log())
	# 2. Everything scheduled is whole, whether or not it got a 250.
	for qid in env_ids:
		check_whole(q, qid, sent, mess_ids, s.log())
	# 3. quail-qcheck, report only (-n), finds no damaged envelope.
	p = subprocess.run([QCHECK, "-n", "-q", q.path], stdout=subprocess.PIPE,
	                   stderr=subprocess.PIPE, timeout=60)
	report = (p.stdout + p.stderr).decode("latin-1")
	check(p.returncode == 0 and "damaged_envelope" not in report and
	      re.search(r"damaged envelopes: 0\b", report),
	      "quail-qcheck -n exited %d:\n%s" % (p.returncode, report[-800:]))
test_kill_quail_queue.timeout = 90


def check_whole(q, qid, sent, mess_ids, log=""):
	if qid not in mess_ids:
		said = [k for k, v in sent.items() if v[2] == qid]
		lines = [l for l in log.splitlines() if str(qid) in l]
		raise TestFailure("env/ %d has no mess/ file (client %s); log: %s" %
		                  (qid, "got 250 for it" if said else
		                   "did not get 250 for it", " | ".join(lines)))
	env = q.envelope(qid)
	size = os.path.getsize(q.file("mess", qid))
	check(env.bytes == size, "env/ %d says %d bytes, mess/ has %d" %
	      (qid, env.bytes, size))
	stored = q.message(qid)
	key = marker(stored)
	check(key in sent, "queued message %d is none of those sent" % qid)
	data, rcpt, outcome = sent[key]
	check(q.body(qid) == stored_form(data), "message %d (%s) damaged" %
	      (qid, key))
	check(env.sender == SENDER and env.rcpts == [("-", rcpt)],
	      "envelope %d: %r %r" % (qid, env.sender, env.rcpts))
	if isinstance(outcome, int):
		check(outcome == qid, "message %s is queued as %d but its 250 "
		      "said %d" % (key, qid, outcome))


def queue_one(fx, argv, body, rcpt):
	"""Runs argv (ending in quail-queue) with body on fd 0 and a
	one-recipient envelope on fd 1; returns the new queue ID."""
	r, w = os.pipe()
	os.write(w, b"F" + SENDER.encode() + b"\0T" + rcpt + b"\0\0")
	os.close(w)
	env = dict(os.environ, QUAIL_QUEUE=fx.queue.path)
	before = fx.queue.ids("env")
	try:
		p = subprocess.run(argv, input=body, stdout=r, stderr=subprocess.PIPE,
		                   env=env, timeout=30)
	finally:
		os.close(r)
	check(p.returncode == 0, "%s exited %d: %s" %
	      (argv[0], p.returncode, p.stderr.decode("latin-1")[-300:]))
	new = fx.queue.ids("env") - before
	check(len(new) == 1, "queued %d envelopes, wanted 1" % len(new))
	return new.pop()


def test_maildir_without_proc(fx):
	"""Maildir deliveries make unnamed files and link them into new/;
	without /proc they fall back to tmp/<unique> and a link. The unit
	tests check both: here they run again in a mount namespace without
	/proc (test_deliver_in_flight then expects the named file)."""
	harness.need_root()
	prog = os.path.join(harness.ROOT, "lib", "maildir_test")
	r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh",
	                    "-c", 'umount -l /proc && exec "$0"', prog],
	                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
	                   timeout=120)
	out = r.stdout.decode("latin-1")
	check(r.returncode == 0 and "FAIL" not in out and
	      "PASS test_deliver_in_flight" in out,
	      "maildir_test without /proc: exit %d\n%s" % (r.returncode, out))


def test_queue_files_both_ways(fx):
	"""quail-queue makes its files unnamed (O_TMPFILE) and links them in;
	without /proc (a chroot, a mount namespace) it cannot name such a
	file and must fall back to named files in tmp/ and renames. Both ways
	give the same queue and leave tmp/ empty."""
	harness.need_root()
	fx.queue.create()
	body = b"Subject: both ways\n\nthe same bytes\n"
	ways = [("unnamed", [harness.QUEUE_PROG]),
	        ("named", ["unshare", "-m", "--propagation", "private", "sh",
	                   "-c", 'umount -l /proc && exec "$0"',
	                   harness.QUEUE_PROG])]
	for way, argv in ways:
		qid = queue_one(fx, argv, body, b"both@example.test")
		check(fx.queue.message(qid) == body, "%s: message differs" % way)
		check(fx.queue.ids("mess") >= {qid}, "%s: no mess file" % way)
		check(fx.queue.tmp_files() == [], "%s: tmp/ left %s" %
		      (way, fx.queue.tmp_files()))
		mode = os.stat(fx.queue.file("mess", qid)).st_mode & 0o777
		check(mode == 0o640, "%s: message mode %o" % (way, mode))


def sender(port, rnd, sent, stop):
	"""Sends messages, one session after another, until stop is set;
	sent maps marker -> (data, rcpt, outcome) as client_loop's does."""
	n = 0
	while not stop.is_set():
		c = Client(port, timeout=30)
		try:
			c.ehlo()
			data = make_message(n, rnd)
			rcpt = "c%d@example.test" % n
			key = marker(stored_form(data))
			n += 1
			sent[key] = (data, rcpt, "no reply")
			c.cmd("MAIL FROM:<%s>" % SENDER, 250)
			c.cmd("RCPT TO:<%s>" % rcpt, 250)
			c.cmd("DATA", 354)
			c.send(stuff(data))
			r = c.reply()
			sent[key] = (data, rcpt, accepted_id(r) if r.code == 250 else r)
			c.cmd("QUIT", 221)
		finally:
			c.close()


def test_power_cut(fx):
	"""A power cut, as near as a test can make one. The queue sits on an
	ext4 without a journal (as this machine's root) on a loop device
	that writes straight to its image file, and the image is copied
	while the client is still sending, with no sync first. What has not
	reached the image when the copy starts is what a power cut would
	lose: file data and directory blocks still in the page cache. The
	servers are stopped (SIGSTOP) while the copy is made, so it is one
	moment's image; nothing else writes to the filesystem then, short of
	the kernel's writeback of pages dirty for 30 s, which a test this
	short does not have. The copy is mounted and checked: every message
	the client saw 250 for before the cut is in it, whole, and whatever
	the scheduler would see there is whole too. A quail-queue that said
	250 before fsyncing the files and the directories naming them fails
	here; a kill -9 cannot show that, as the page cache outlives a killed
	process."""
	image, mnt = harness.scratch_disk(fx, "disk")
	fx.queue.path = os.path.join(mnt, "queue")
	s = fx.smtpd()
	rnd = random.Random(7)
	sent = {}

	def acked_now():
		return {k: v for k, v in list(sent.items()) if isinstance(v[2], int)}
	acked, (mnt2,) = harness.power_cut(
		fx, lambda stop: sender(s.port, rnd, sent, stop),
		lambda: len(acked_now()) >= 40,
		lambda: harness.group_pids(s.proc.pid), [image], acked_now)
	q = harness.Queue(os.path.join(mnt2, "queue"))
	try:
		env_ids = q.ids("env")
		mess_ids = q.ids("mess")
		for key, (data, rcpt, qid) in acked.items():
			check(qid in env_ids, "message %s got 250 (ID %d) before the "
			      "power cut, but the disk has no envelope for it" %
			      (key, qid))
			check_whole(q, qid, sent, mess_ids)
		acked_ids = {v[2] for v in acked.values()}
		for qid in env_ids - acked_ids:
			try:
				q.envelope(qid)
				os.stat(q.file("mess", qid))
			except OSError:
				# in flight at the cut: its name reached the disk
				# (another fsync wrote the directory) before its
				# inode did; fsck removes such names
				continue
			check_whole(q, qid, sent, mess_ids)
	except OSError as e:
		raise TestFailure("the queue after the power cut: %s" % e)
	print("  power cut: %d messages acknowledged before the cut, %d "
	      "envelopes on the disk" % (len(acked), len(env_ids)))
	s.wait_all_ended()
	s.check_clean()
test_power_cut.timeout = 120
