"""Local delivery end to end: a message accepted by quail-smtpd or handed
in by an application lands in the recipient's Maildir.

Each test builds a MailWorld (deliver_harness.py): the local domain
example.test, a users cdb whose mailboxes belong to an unprivileged test
user, and quail-send with the tree's quail-lspawn, quail-rspawn and
quail-local. The tests drive the real programs and check the Maildirs on
disk, quail-send's log lines and the queue (quail-qstat, quail-qread).

Knobs: E2E_MESSAGES (default 10000) messages in the end-to-end test,
CRASH_MESSAGES (default 2000) in the crash test.
"""

import email
import email.policy
import mailbox
import os
import pty
import random
import re
import select
import shutil
import signal
import smtplib
import subprocess
import threading
import time

import harness
from deliver_harness import (DOMAIN, INJECT, SENDMAIL, MailWorld,
                             header_value, need_programs, strip_trace,
                             trace_fields)
from harness import TestFailure, check, first_difference, stored_form, \
	wait_for

E2E_USERS = 100
E2E_SESSIONS = 8                # parallel SMTP clients
E2E_PER_CONNECTION = 250        # messages before a client reconnects
E2E_CONC_LOCAL = 20
CRASH_SESSIONS = 4
CRASH_CONC_LOCAL = 10
CRASH_USERS = 20
SENDER = "e2e@client.test"


def knob(name, default):
	v = os.environ.get(name, "")
	return int(v) if v.isdigit() and int(v) > 0 else default


# -- Messages -----------------------------------------------------------

def body_lines(rng, i):
	"""Body lines that exercise transparency: leading dots, a lone dot,
	"From " lines, 8-bit bytes, trailing blanks, empty lines, long
	lines (under smtpd's 1000-byte limit after dot-stuffing)."""
	lines = [b"Message %d." % i]
	kinds = [b".", b"..", b".leading dot", b"From the start", b">From x",
	         b"caf\xe9 na\xefve \xff\xfe", b"trailing blanks   \t", b"",
	         b"=?utf-8?q?not_a_header?=", b"Subject: not a header either"]
	n = rng.choice((1, 3, 10, 40, 120))
	for k in range(n):
		r = rng.random()
		if r < 0.25:
			lines.append(rng.choice(kinds))
		elif r < 0.30:
			lines.append(b"x" * rng.randint(500, 900))
		else:
			lines.append(b"line %d of %d: %s" % (
				k, i, b"abcdefghij" * rng.randint(0, 7)))
	if i % 97 == 0:                 # a big one now and then
		lines += [b"%06d " % k + b"y" * 70 for k in range(1500)]
	return lines


def make_message(i, rcpts, rng, tag="e2e"):
	"""A CRLF message whose X-Test-Id names it."""
	head = [b"From: Sender <%s>" % SENDER.encode(),
	        b"To: " + b", ".join(b"<%s>" % r.encode() for r in rcpts),
	        b"Subject: %s message %d" % (tag.encode(), i),
	        b"Message-Id: <%s.%d.%d@client.test>" % (
	        	tag.encode(), i, rng.getrandbits(40)),
	        b"X-Test-Id: %s-%d" % (tag.encode(), i),
	        b"MIME-Version: 1.0",
	        b"Content-Type: text/plain; charset=iso-8859-1",
	        b"Content-Transfer-Encoding: 8bit"]
	if i % 5 == 0:
		head.append(b"X-Folded: first part\r\n\tsecond part")
	text = b"\r\n".join(head) + b"\r\n\r\n" + b"\r\n".join(body_lines(rng, i))
	if i % 7 != 0:
		text += b"\r\n"         # else smtpd adds the final CRLF
	return text


TEST_ID = re.compile(rb"(?im)^X-Test-Id: (\S+)$")


def message_test_id(msg):
	head = strip_trace(msg).split(b"\n\n", 1)[0]
	m = TEST_ID.search(head)
	return m.group(1).decode() if m else None


# -- SMTP clients -------------------------------------------------------

class SmtpSender:
	"""Sends jobs [(key, rcpts, data)] over parallel smtplib sessions;
	ids[key] = the queue ID quail-smtpd gave."""

	def __init__(self, port, jobs, sessions, per_conn=E2E_PER_CONNECTION):
		self.port = port
		self.ids = {}
		self.errors = []
		self.stop = False
		self.threads = []
		for k in range(sessions):
			t = threading.Thread(target=self._run, daemon=True,
			                     args=(jobs[k::sessions], per_conn))
			self.threads.append(t)

	def start(self):
		for t in self.threads:
			t.start()
		return self

	def _connect(self):
		s = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test",
		                 timeout=120)
		code, _ = s.ehlo()
		if code != 250:
			raise TestFailure("EHLO got %d" % code)
		return s

	def _one(self, s, key, rcpts, data):
		opts = ["BODY=8BITMIME"] if s.has_extn("8bitmime") else []
		code, resp = s.mail(SENDER, opts)
		if code != 250:
			raise TestFailure("MAIL got %d %r" % (code, resp))
		for r in rcpts:
			code, resp = s.rcpt(r)
			if code != 250:
				raise TestFailure("RCPT %s got %d %r" % (r, code, resp))
		code, resp = s.data(data)
		m = re.match(rb"2\.0\.0 ok (\d+)", resp)
		if code != 250 or not m:
			raise TestFailure("DATA of %s got %d %r" % (key, code, resp))
		self.ids[key] = int(m.group(1))

	def _run(self, jobs, per_conn):
		s = None
		try:
			for n, (key, rcpts, data) in enumerate(jobs):
				if self.stop:
					break
				if n % per_conn == 0:
					if s is not None:
						s.quit()
					s = self._connect()
				self._one(s, key, rcpts, data)
			if s is not None:
				s.quit()
		except Exception as e:
			self.errors.append("%s: %s" % (type(e).__name__, e))
			if s is not None:
				s.close()

	def alive(self):
		return any(t.is_alive() for t in self.threads)

	def wait(self, timeout):
		end = time.time() + timeout
		for t in self.threads:
			while t.is_alive() and time.time() < end:
				t.join(0.5)
		if self.alive():
			self.stop = True
			raise TestFailure("SMTP clients still sending after %d s" % timeout)
		check(not self.errors, "SMTP client failed: %s" % self.errors[:3])


# -- Checking Maildirs ----------------------------------------------------

def collect_deliveries(w, boxes):
	"""{test id: [(address, message bytes)]} over every Maildir."""
	got = {}
	for box in boxes:
		for name, data in box.messages():
			tid = message_test_id(data)
			check(tid is not None, "%s: %s has no X-Test-Id: %r" %
			      (box.addr, name, data[:300]))
			got.setdefault(tid, []).append((box.addr, data))
	return got


def check_delivered(box, data, sender, want_body, received=True):
	"""One delivered copy: trace fields in qmail-local's order and the
	rest byte-for-byte what was queued."""
	fields = trace_fields(data)
	names = [k for k, v in fields]
	check(names[:2] == ["return-path", "delivered-to"],
	      "%s: trace fields %r, wanted Return-Path, Delivered-To first" %
	      (box.addr, names))
	check(fields[0][1] == b"<%s>" % sender.encode(),
	      "%s: Return-Path %r, wanted <%s>" % (box.addr, fields[0][1], sender))
	check(fields[1][1].lower() == box.addr.lower().encode(),
	      "%s: Delivered-To %r" % (box.addr, fields[1][1]))
	if received:
		check("received" in names, "%s: no Received field" % box.addr)
	body = strip_trace(data)
	if body != want_body:
		raise TestFailure("%s: delivered message differs from what was "
		                  "sent: %s" % (box.addr,
		                                first_difference(body, want_body)))


def wait_delivered(w, boxes, total, timeout, what):
	"""Waits until the Maildirs hold total messages (or more)."""
	end = time.time() + timeout
	while True:
		n = sum(b.count() for b in boxes)
		if n >= total:
			return n
		if w.send_proc is not None and w.send_proc.poll() is not None:
			raise TestFailure("quail-send exited %d with %d of %d %s "
			                  "delivered; log: %s" %
			                  (w.send_proc.returncode, n, total, what,
			                   w.log_tail()))
		if time.time() >= end:
			raise TestFailure("%d of %d %s delivered after %d s; log: %s" %
			                  (n, total, what, timeout, w.log_tail()))
		time.sleep(0.5)


# -- 1. End to end --------------------------------------------------------

def test_e2e_smtp_to_maildir(fx):
	"""E2E_MESSAGES messages through quail-smtpd to 100 users: each
	arrives exactly once in each recipient's Maildir, byte-for-byte as
	sent below the trace fields, and the queue ends empty."""
	n = knob("E2E_MESSAGES", 10000)
	w = MailWorld(fx, conc_local=E2E_CONC_LOCAL)
	boxes = [w.add_user("u%03d" % k) for k in range(E2E_USERS)]
	w.write_userdb()
	server = w.smtpd(concurrency=2 * E2E_SESSIONS)
	w.start_send()
	rng = random.Random(1)
	jobs, want = [], {}
	for i in range(n):
		k = 3 if i % 10 == 0 else 1     # some with several recipients
		rcpts = [b.addr for b in rng.sample(boxes, k)]
		data = make_message(i, rcpts, rng)
		jobs.append(("e2e-%d" % i, rcpts, data))
		want["e2e-%d" % i] = (sorted(r.lower() for r in rcpts),
		                      stored_form(data))
	total = sum(len(r) for r, d in want.values())
	t0 = time.time()
	client = SmtpSender(server.port, jobs, E2E_SESSIONS).start()
	client.wait(240)
	t1 = time.time()
	wait_delivered(w, boxes, total, max(60, 300 - (t1 - t0)), "deliveries")
	t2 = time.time()
	qstat = w.wait_queue_empty(30)
	got = collect_deliveries(w, boxes)
	byaddr = {b.addr.lower(): b for b in boxes}
	for key, (rcpts, body) in want.items():
		copies = got.pop(key, [])
		addrs = sorted(a.lower() for a, d in copies)
		check(addrs == rcpts, "%s: delivered to %r, wanted %r" %
		      (key, addrs, rcpts))
		for addr, data in copies:
			check_delivered(byaddr[addr], data, SENDER, body)
	check(not got, "unexpected messages in the Maildirs: %r" %
	      sorted(got)[:5])
	for b in boxes:
		check(not b.tmp_files(), "%s: files left in tmp/: %r" %
		      (b.addr, b.tmp_files()[:3]))
	bad = [e["line"] for e in w.events("delivery") if e.get("result") != "ok"]
	check(not bad, "%d deliveries not ok, first: %s" % (len(bad), bad[:1]))
	w.stop_send()
	server.wait_all_ended()
	server.check_clean()
	w.check_log_clean()
	print("  e2e: %d messages, %d deliveries to %d users; smtp %.1fs, "
	      "all delivered %.1fs after start; qstat: %s" %
	      (n, total, E2E_USERS, t1 - t0, t2 - t0, " ".join(qstat.split())))


test_e2e_smtp_to_maildir.timeout = 360


# -- 2. Crash -------------------------------------------------------------

def test_crash_send_restart(fx):
	"""quail-send and its running quail-local processes are SIGKILLed
	at random moments while CRASH_MESSAGES messages come in; quail-send
	is restarted each time. Every message arrives, none is lost, and the
	duplicates are few: at most one per delivery under way at a kill."""
	n = knob("CRASH_MESSAGES", 2000)
	w = MailWorld(fx, conc_local=CRASH_CONC_LOCAL)
	boxes = [w.add_user("c%02d" % k) for k in range(CRASH_USERS)]
	w.write_userdb()
	server = w.smtpd(concurrency=2 * CRASH_SESSIONS)
	w.start_send()
	rng = random.Random(2)
	jobs, want = [], {}
	for i in range(n):
		rcpt = rng.choice(boxes).addr
		data = make_message(i, [rcpt], rng, tag="crash")
		jobs.append(("crash-%d" % i, [rcpt], data))
		want["crash-%d" % i] = (rcpt.lower(), stored_form(data))
	client = SmtpSender(server.port, jobs, CRASH_SESSIONS).start()
	kills = locals_killed = 0
	end = time.time() + 200
	# kill while mail comes in, and a few times after
	while (client.alive() or kills < 5) and time.time() < end:
		time.sleep(rng.uniform(0.2, 1.5))
		locals_killed += w.crash_send()
		kills += 1
		time.sleep(rng.uniform(0, 0.3))
		w.start_send()
	client.wait(30)
	wait_delivered(w, boxes, n, 120, "messages")
	# a kill between removing an envelope and its message leaves an
	# orphan message file; quail-qcheck removes those, as designed
	w.wait_queue_empty(60, allow=("orphans", "tmp"))
	got = collect_deliveries(w, boxes)
	byaddr = {b.addr.lower(): b for b in boxes}
	dups = 0
	for key, (rcpt, body) in want.items():
		copies = got.pop(key, [])
		check(copies, "%s lost: in no Maildir" % key)
		for addr, data in copies:
			check(addr.lower() == rcpt, "%s delivered to %s, wanted %s" %
			      (key, addr, rcpt))
			check_delivered(byaddr[addr.lower()], data, SENDER, body)
		dups += len(copies) - 1
	check(not got, "unexpected messages: %r" % sorted(got)[:5])
	counts, qstat = w.qstat()
	limit = kills * CRASH_CONC_LOCAL
	print("  crash: %d messages, %d kills of quail-send (%d quail-local "
	      "killed), %d duplicates (limit %d); qstat: %s" %
	      (n, kills, locals_killed, dups, limit, " ".join(qstat.split())))
	check(dups <= limit, "%d duplicates after %d kills, more than %d" %
	      (dups, kills, limit))
	w.stop_send()
	server.wait_all_ended()
	server.check_clean()


test_crash_send_restart.timeout = 330


# -- 3. Retry and bounces -------------------------------------------------

FLAKY = """\
# exits 111 (try again) the first 2 times, then 0; counts in a file
f=%s
n=$(cat "$f" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$f"
if [ "$n" -le 2 ]; then
	echo "not yet, attempt $n"
	exit 111
fi
exit 0
"""


def parse_dsn(data):
	"""Checks data is an RFC 3464 report; returns (message,
	per-recipient blocks, rfc822-headers text)."""
	msg = email.message_from_bytes(strip_trace(data),
	                               policy=email.policy.compat32)
	check(msg.get_content_type() == "multipart/report",
	      "bounce is %s, not multipart/report" % msg.get_content_type())
	check(msg.get_param("report-type") == "delivery-status",
	      "report-type is %r" % msg.get_param("report-type"))
	parts = msg.get_payload()
	types = [p.get_content_type() for p in parts]
	check(len(parts) == 3 and types[1:] == ["message/delivery-status",
	                                         "text/rfc822-headers"],
	      "bounce parts are %r" % types)
	check(types[0] == "text/plain", "first part is %s" % types[0])
	blocks = parts[1].get_payload()
	check(isinstance(blocks, list) and len(blocks) >= 2,
	      "delivery-status part has %d blocks" % len(blocks or []))
	check(blocks[0].get("Reporting-MTA"), "no Reporting-MTA")
	return msg, blocks[1:], parts[2].get_payload()


def check_failed_rcpt(block, addr):
	fr = block.get("Final-Recipient", "")
	check(re.match(r"(?i)^rfc822;\s*" + re.escape(addr) + r"$", fr),
	      "Final-Recipient %r, wanted rfc822; %s" % (fr, addr))
	check(block.get("Action", "").lower() == "failed",
	      "Action %r" % block.get("Action"))
	st = block.get("Status", "")
	check(re.match(r"^5\.\d{1,3}\.\d{1,3}$", st), "Status %r is not 5.x.x" % st)


def test_retry_and_bounce(fx):
	"""A .qmail program exiting 111 twice is retried at birth+1 s and +4 s
	(retrybase 1) and delivered; one exiting 100 gives exactly one RFC
	3464 bounce to the (local) sender; when that sender does not exist
	either, the bounce fails and a double bounce reaches the postmaster."""
	w = MailWorld(fx, retrybase=1)
	sender = w.add_user("sender")
	flaky = w.add_user("flaky")
	hard = w.add_user("hard")
	post = w.add_user("postmaster")
	w.write_userdb()
	script = w.script("flaky.sh", FLAKY % w.state_file("flaky.count"))
	w.dot_qmail(flaky, "|%s\n./Maildir/\n" % script)
	w.dot_qmail(hard, "|echo 'this recipient never works'; exit 100\n")
	w.start_send()
	m1 = b"From: sender@example.test\nSubject: flaky\nMessage-Id: <f@t>\n\nhi\n"
	m2 = b"From: sender@example.test\nSubject: hard\nMessage-Id: <h@t>\n\nno\n"
	m3 = b"From: nobody\nSubject: double\nMessage-Id: <d@t>\n\ndouble\n"
	id1 = w.inject(sender.addr, [flaky.addr], m1)
	id2 = w.inject(sender.addr, [hard.addr], m2)
	id3 = w.inject("unknown-user@" + DOMAIN, [hard.addr], m3)

	# the flaky one: deferred at attempts 1 and 2, delivered at 3
	ok = w.wait_events(1, "delivery", 20, id=str(id1), rcpt=flaky.addr,
	                   result="ok")[0]
	evs = w.events("delivery", id=str(id1), rcpt=flaky.addr)
	seen = [(e["result"], e["attempts"]) for e in evs]
	check(seen == [("deferred", "1"), ("deferred", "2"), ("ok", "3")],
	      "flaky deliveries %r, wanted deferred 1, deferred 2, ok 3" % seen)
	check(4 <= int(ok["delay"]) <= 8,
	      "third attempt after %s s, wanted about 4 (retrybase 1)" %
	      ok["delay"])
	check(1 <= int(evs[1]["delay"]) <= 3,
	      "second attempt after %s s, wanted about 1" % evs[1]["delay"])
	with open(w.state_file("flaky.count")) as f:
		check(f.read().strip() == "3", "flaky program did not run 3 times")
	msgs = flaky.messages()
	check(len(msgs) == 1, "flaky has %d messages, wanted 1" % len(msgs))
	check_delivered(flaky, msgs[0][1], sender.addr, m1, received=False)

	# the hard one: one bounce in the sender's Maildir, and once the
	# queue is empty no second one can come
	w.wait_events(1, "bounce", 10, id=str(id2), to=sender.addr)
	w.wait_events(1, "done", 20, id=str(id3))
	w.wait_queue_empty(30)
	msgs = sender.messages()
	check(len(msgs) == 1, "sender got %d messages, wanted 1 bounce" %
	      len(msgs))
	data = msgs[0][1]
	check(trace_fields(data)[0] == ("return-path", b"<>"),
	      "bounce Return-Path %r, wanted <>" % trace_fields(data)[:1])
	msg, rcpts, headers = parse_dsn(data)
	check(len(rcpts) == 1, "bounce reports %d recipients" % len(rcpts))
	check_failed_rcpt(rcpts[0], hard.addr)
	check("<h@t>" in headers and "Subject: hard" in headers,
	      "text/rfc822-headers part lacks the original header: %r" %
	      headers[:200])

	# the double bounce
	msgs = post.messages()
	check(len(msgs) == 1, "postmaster got %d messages, wanted 1 double "
	      "bounce" % len(msgs))
	data = msgs[0][1]
	check(trace_fields(data)[0] == ("return-path", b"<#@[]>"),
	      "double bounce Return-Path %r, wanted <#@[]>" %
	      trace_fields(data)[:1])
	msg, rcpts, headers = parse_dsn(data)
	check_failed_rcpt(rcpts[0], "unknown-user@" + DOMAIN)
	failed = w.events("delivery", rcpt="unknown-user@" + DOMAIN)
	check([e["result"] for e in failed] == ["failed"],
	      "bounce to unknown-user: %r" % [e["line"] for e in failed])
	check(sender.count() == 1, "sender got another message")
	w.wait_queue_empty(10)
	w.stop_send()
	w.check_log_clean()


test_retry_and_bounce.timeout = 90


# -- 4. Reading the Maildir back ------------------------------------------

MUTT_SETTINGS = ("set confirmcreate=no confirmappend=no quit=yes "
                 "mbox_type=Maildir wait_key=no auto_tag=yes "
                 "mark_old=no move=no")


def mutt_copy(maildir, out, timeout=30):
	"""Has mutt open maildir on a pty and copy every message to the
	Maildir out (a Maildir, not an mbox: mutt neither quotes "From "
	lines in mbox nor ends MMDF entries cleanly after a last line
	without LF, so neither reads back reliably).
	Returns mutt's exit code and its screen output."""
	# a $folder that exists, or mutt asks whether to create ~/Mail
	# and eats the pushed keys as the answer
	home = out + ".home"
	os.makedirs(os.path.join(home, "Mail"), exist_ok=True)
	master, slave = pty.openpty()
	cmd = ["mutt", "-n", "-F", "/dev/null", "-f", maildir,
	       "-e", MUTT_SETTINGS,
	       "-e", "push '<tag-pattern>~A<enter><copy-message>%s<enter>"
	             "<quit>'" % out]
	env = {"PATH": "/usr/bin:/bin", "TERM": "vt100", "LINES": "40",
	       "COLUMNS": "120", "HOME": home}
	p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
	                     env=env, start_new_session=True)
	os.close(slave)
	screen = b""
	end = time.time() + timeout
	try:
		while time.time() < end and p.poll() is None:
			r, _, _ = select.select([master], [], [], 0.2)
			if r:
				try:
					screen += os.read(master, 65536)
				except OSError:         # EIO: mutt closed the pty
					break
		try:
			return p.wait(timeout=3), screen
		except subprocess.TimeoutExpired:
			raise TestFailure("mutt did not finish in %d s: %r" %
			                  (timeout, screen_text(screen)))
	finally:
		if p.poll() is None:
			os.killpg(p.pid, signal.SIGKILL)
			p.wait()
		os.close(master)


def screen_text(out, n=400):
	"""The end of what mutt drew, without escape sequences."""
	text = re.sub(rb"\x1b[\[>=(][0-9;?]*[A-Za-z]?", b" ", out)
	return " ".join(text.decode("latin-1").split())[-n:]


def test_maildir_readers(fx):
	"""What quail-local writes reads back with Python's mailbox.Maildir
	and with mutt: every message parses and the counts match."""
	w = MailWorld(fx)
	box = w.add_user("reader")
	w.write_userdb()
	w.start_send()
	rng = random.Random(4)
	want = {}
	for i in range(40):
		data = make_message(i, [box.addr], rng, tag="read").replace(b"\r\n",
		                                                            b"\n")
		if i % 10 == 3:
			data = mime_message(i)
		w.inject(SENDER, [box.addr], data)
		want["read-%d" % i] = data
	# and one bounce, for its multipart/report
	w.inject(box.addr, ["nobody@" + DOMAIN], b"Subject: x\n\nx\n")
	wait_delivered(w, [box], len(want) + 1, 30, "messages")
	w.wait_queue_empty(10)
	w.stop_send()

	md = mailbox.Maildir(box.maildir, factory=None, create=False)
	keys = md.keys()
	check(len(keys) == len(want) + 1, "mailbox.Maildir sees %d messages, "
	      "wanted %d" % (len(keys), len(want) + 1))
	ids = set()
	for k in keys:
		m = md.get_message(k)
		check(m.get("Delivered-To") == box.addr,
		      "%s: Delivered-To %r" % (k, m.get("Delivered-To")))
		check(m["Message-Id"], "%s: no Message-Id" % k)
		ids.add(m["Message-Id"])
		if m.get("X-Test-Id"):
			tid = m["X-Test-Id"]
			check(tid in want, "unknown X-Test-Id %r" % tid)
			check(strip_trace(md.get_bytes(k)) == want[tid],
			      "%s: differs when read back" % tid)
		for part in m.walk():          # every part decodes
			part.get_payload(decode=True)
	check(len(ids) == len(keys), "duplicate Message-Ids read back")

	if not shutil.which("mutt"):
		raise harness.Skip("mutt not installed; mailbox.Maildir read "
		                   "%d messages" % len(keys))
	out = os.path.join(fx.dir, "mutt-copy")
	rc, screen = mutt_copy(box.maildir, out)
	check(rc == 0, "mutt exited %d: %r" % (rc, screen[-300:]))
	check(os.path.isdir(out), "mutt copied nothing: %r" % screen[-300:])
	copy = mailbox.Maildir(out, factory=None, create=False)
	got = set(m["Message-Id"] for m in copy)
	check(len(copy) == len(keys) and got == ids,
	      "mutt copied %d messages, wanted %d; missing %r; screen: %r" %
	      (len(copy), len(keys), sorted(ids - got)[:3], screen_text(screen)))


MIME_MESSAGE = b"""\
From: Sender <e2e@client.test>
To: reader@example.test
Subject: mime %d
Message-Id: <mime.%d@client.test>
X-Test-Id: read-%d
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b0"

--b0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

caf=C3=A9
--b0
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQFBgcICQ==
--b0--
"""


def mime_message(i):
	return MIME_MESSAGE.replace(b"%d", str(i).encode())


test_maildir_readers.timeout = 90


# -- 5. Disk full -----------------------------------------------------------

FILL_CHUNK = 65536


def fill_disk(path):
	"""Writes path until the filesystem is full; returns bytes written."""
	n = 0
	with open(path, "wb", buffering=0) as f:
		for size in (FILL_CHUNK, 4096, 1):
			while True:
				try:
					n += f.write(b"\0" * size)
				except OSError as e:
					check(e.errno == 28, "filling the disk: %s" % e)
					break
	return n


def test_disk_full(fx):
	"""A Maildir on a full tmpfs: the delivery is deferred, nothing
	partial shows in new/ and tmp/ is empty; once there is room again
	and quail-send gets SIGALRM, the message arrives whole."""
	w = MailWorld(fx, retrybase=3600)
	mnt = os.path.join(fx.dir, "small")
	w.mount_tmpfs(mnt, "1m")
	home = os.path.join(mnt, "full")
	os.mkdir(home, 0o700)
	os.chown(home, w.uid, w.gid)
	box = w.add_user("full", home=home)
	w.write_userdb()
	w.start_send()
	first = b"Subject: first\n\nfits\n"
	id0 = w.inject(SENDER, [box.addr], first)
	w.wait_events(1, "delivery", 10, id=str(id0), result="ok")
	filler = os.path.join(mnt, "filler")
	fill_disk(filler)
	mark = w.mark()
	big = b"Subject: big\nX-Test-Id: big\n\n" + b"".join(
		b"%05d %s\n" % (k, b"z" * 90) for k in range(3000))
	qid = w.inject(SENDER, [box.addr], big)
	ev = w.wait_events(1, "delivery", 15, since=mark, id=str(qid))[0]
	check(ev["result"] == "deferred", "delivery on a full disk: %s" %
	      ev["line"])
	names = box.names()
	check(len(names) == 1, "new/ and cur/ hold %r after the failed "
	      "delivery, wanted only the first message" % names)
	check(box.tmp_files() == [], "tmp/ holds %r after the failed delivery" %
	      box.tmp_files())
	os.unlink(filler)
	w.signal_send(signal.SIGALRM)
	ok = w.wait_events(1, "delivery", 15, since=mark, id=str(qid),
	                   result="ok")
	check(ok, "not delivered after SIGALRM")
	msgs = [d for n, d in box.messages() if b"X-Test-Id: big" in d]
	check(len(msgs) == 1, "big message delivered %d times" % len(msgs))
	check_delivered(box, msgs[0], SENDER, big, received=False)
	check(box.tmp_files() == [], "tmp/ not empty: %r" % box.tmp_files())
	w.wait_queue_empty(10)
	w.stop_send()


test_disk_full.timeout = 90


# -- 6. sendmail -t -i from a script ----------------------------------------

PHP_SCRIPT = """\
# as PHP's mail() does it: popen("/usr/sbin/sendmail -t -i", "w")
"$SENDMAIL" -t -i <<'EOF'
To: Alice <alice@example.test>
Cc: carol@example.test
Bcc: bob@example.test
Subject: from a script
X-Mailer: PHP/8.2

Hello from a script.
.
The line above is a lone dot, kept because of -i.
EOF
"""


def test_sendmail_script(fx):
	"""sendmail -t -i run from a shell script: To, Cc and Bcc recipients
	each get the message in their Maildir, with Bcc: removed and the
	lone-dot line kept."""
	need_programs(SENDMAIL, INJECT)
	w = MailWorld(fx)
	boxes = [w.add_user(n) for n in ("alice", "bob", "carol")]
	w.write_userdb()
	w.start_send()
	script = w.script("php.sh", PHP_SCRIPT)
	p = subprocess.run(["/bin/sh", script], stdout=subprocess.PIPE,
	                   stderr=subprocess.PIPE, timeout=30,
	                   env=w.env(SENDMAIL=SENDMAIL), cwd=fx.dir)
	check(p.returncode == 0, "sendmail -t -i exited %d: %s" %
	      (p.returncode, p.stderr.decode("latin-1").strip()))
	wait_delivered(w, boxes, 3, 15, "copies")
	for b in boxes:
		msgs = b.messages()
		check(len(msgs) == 1, "%s got %d messages" % (b.addr, len(msgs)))
		data = strip_trace(msgs[0][1])
		head, body = data.split(b"\n\n", 1)
		check(not re.search(rb"(?im)^bcc:", head),
		      "%s: Bcc: not removed: %r" % (b.addr, head))
		check(header_value(data, b"To") == b"Alice <alice@example.test>",
		      "%s: To: %r" % (b.addr, header_value(data, b"To")))
		check(header_value(data, b"Subject") == b"from a script",
		      "%s: Subject %r" % (b.addr, header_value(data, b"Subject")))
		check(header_value(data, b"From") and header_value(data, b"Date"),
		      "%s: no From: or Date: added: %r" % (b.addr, head))
		want = (b"Hello from a script.\n.\nThe line above is a lone dot, "
		        b"kept because of -i.\n")
		check(body == want, "%s: body %r, wanted %r" % (b.addr, body, want))
	w.wait_queue_empty(10)
	w.stop_send()


test_sendmail_script.timeout = 60


# -- 7. quail-qread while deferred ------------------------------------------

def test_qread_deferred(fx):
	"""While one recipient's delivery keeps failing temporarily,
	quail-qread lists it pending and the delivered one done."""
	w = MailWorld(fx, retrybase=3600)
	stuck = w.add_user("stuck")
	fine = w.add_user("fine")
	w.write_userdb()
	w.dot_qmail(stuck, "|echo 'mailbox busy, try later'; exit 111\n")
	w.start_send()
	qid = w.inject(SENDER, [stuck.addr, fine.addr], b"Subject: q\n\nq\n")
	ev = w.wait_events(1, "delivery", 10, id=str(qid), rcpt=stuck.addr)[0]
	check(ev["result"] == "deferred", "stuck delivery: %s" % ev["line"])
	check("mailbox busy" in ev.get("text", ""),
	      "the program's text is not in the log: %s" % ev["line"])
	w.wait_events(1, "delivery", 10, id=str(qid), rcpt=fine.addr,
	              result="ok")
	m = fx.queue.qread_one(qid)
	check(m.sender == SENDER, "quail-qread sender %r" % m.sender)
	check(m.addrs("pending") == [stuck.addr] and
	      m.addrs("done") == [fine.addr],
	      "quail-qread shows %r, wanted %s pending and %s done" %
	      (m.rcpts, stuck.addr, fine.addr))
	counts, out = w.qstat()
	check(counts["messages"] == 1 and counts["recipients pending"] == 1,
	      "quail-qstat says %r, wanted 1 message, 1 recipient pending" % out)
	check(stuck.count() == 0 and fine.count() == 1, "Maildir counts "
	      "%d, %d" % (stuck.count(), fine.count()))
	w.stop_send()
	# still there after a restart, and still pending
	w.start_send()
	time.sleep(1)
	check(fx.queue.qread_one(qid).addrs("pending") == [stuck.addr],
	      "pending recipient lost over a restart")
	w.stop_send()


def power_cut_sender(port, boxes, rnd, sent, stop):
	"""Sends one message per session to a random box until stop is set;
	sent maps Message-Id -> (data, rcpt, queue ID on 250 else None)."""
	n = 0
	while not stop.is_set():
		box = rnd.choice(boxes)
		mid = b"cut.%d.%d@client.test" % (n, rnd.getrandbits(32))
		data = b"Subject: cut %d\r\nMessage-Id: <%s>\r\n\r\n" % (n, mid) + \
			b"".join(b"%d %s\r\n" % (k, b"x" * 70) for k in range(
				rnd.choice([3, 40, 400])))
		n += 1
		sent[mid] = (data, box.addr, None)
		c = harness.Client(port, timeout=30)
		try:
			c.ehlo()
			c.cmd("MAIL FROM:<%s>" % SENDER, 250)
			c.cmd("RCPT TO:<%s>" % box.addr, 250)
			c.cmd("DATA", 354)
			c.send(harness.stuff(data))
			r = c.reply()
			if r.code == 250:
				sent[mid] = (data, box.addr, harness.accepted_id(r))
			c.cmd("QUIT", 221)
		finally:
			c.close()


def readable(q, qid):
	"""Both files of queue ID qid can be read (a name can reach a disk
	without a journal before its inode does)."""
	try:
		q.envelope(qid)
		if os.path.lexists(q.file("mess", qid)):
			os.stat(q.file("mess", qid))
		return True
	except OSError:
		return False


def test_power_cut_delivery(fx):
	"""A power cut (harness.Stopped and mount_copy) while mail flows
	from quail-smtpd through quail-send and quail-local into Maildirs
	that the first deliveries make, queue and homes on one scratch disk
	without a journal. On the disk as the cut leaves it:
	- every message quail-send logged as delivered is in its Maildir,
	  whole (without the fsyncs of a new Maildir's directories, or of a
	  delivered file once new/ names it, they are lost);
	- every message the client saw 250 for is there or still queued;
	- every envelope still queued comes with a message file holding the
	  bytes sent to its recipient. Delivered messages whose removal was
	  not yet on disk come back, and are delivered again; without
	  gone.h's held files their inodes, so their IDs, would by then hold
	  newer files (a Maildir's directory, another message), and the
	  scheduler would deliver those."""
	image, mnt = harness.scratch_disk(fx, "disk")
	fx.queue.path = os.path.join(mnt, "queue")
	w = MailWorld(fx, conc_local=10)
	homes = os.path.join(mnt, "home")
	os.mkdir(homes, 0o711)
	boxes = [w.add_user("cut%d" % i, home=os.path.join(homes, "cut%d" % i))
	         for i in range(5)]
	w.write_userdb()
	w.start_send()
	s = w.smtpd()
	rnd = random.Random(11)
	sent = {}

	def at_cut():
		return ([(int(e["id"]), e["rcpt"]) for e in
		         w.events("delivery", result="ok")],
		        {k: v for k, v in list(sent.items()) if v[2]})
	(delivered, acked), (mnt2,) = harness.power_cut(
		fx, lambda stop: power_cut_sender(s.port, boxes, rnd, sent, stop),
		lambda: len(w.events("delivery", result="ok")) >= 40,
		lambda: w.delivery_pids() + harness.group_pids(s.proc.pid),
		[image], at_cut)
	q = harness.Queue(os.path.join(mnt2, "queue"))
	try:
		queued = {}
		done = {qid for qid, rcpt in delivered}
		undelivered = {v[2] for v in acked.values()} - done
		for qid in q.ids("env"):
			path = q.file("mess", qid)
			if not readable(q, qid):
				# A name can reach a disk without a journal before or
				# after its inode: another fsync wrote the directory
				# block. So for a message in flight at the cut (its
				# link count not yet written), or being removed after
				# its delivery (its link count 0 written with some
				# other inode's); fsck mends such names. Never for
				# one that was acknowledged and not yet delivered.
				check(qid not in undelivered, "ID %d was acknowledged "
				      "and not delivered before the cut; after it, its "
				      "queue files cannot be read" % qid)
				continue
			if not os.path.lexists(path):
				# removed after delivery, the envelope's removal not
				# yet on disk: an envelope without its message, which
				# quail-qcheck removes (lib/qfile.h)
				continue
			check(os.path.isfile(path) and not os.path.islink(path),
			      "env/ %d is queued after the cut, but mess/ %d is no "
			      "message file" % (qid, qid))
			msg = q.message(qid)
			m = re.search(rb"^Message-Id: <([^>]*)>", msg, re.M)
			check(m and m.group(1) in sent, "queued message %d after the "
			      "cut is none of those sent" % qid)
			data, rcpt = sent[m.group(1)][:2]
			env = q.envelope(qid)
			check(env.rcpts and env.rcpts[0][1] == rcpt and
			      q.body(qid) == stored_form(data),
			      "queued message %d after the cut: its envelope (%r) "
			      "and bytes are not those sent together" %
			      (qid, env.rcpts))
			queued[m.group(1)] = qid
		stored = {}
		for box in boxes:
			copy_box = os.path.join(mnt2, os.path.relpath(box.maildir, mnt))
			for d in ("new", "cur"):
				path = os.path.join(copy_box, d)
				for name in os.listdir(path) if os.path.isdir(path) else ():
					with open(os.path.join(path, name), "rb") as f:
						msg = f.read()
					m = re.search(rb"^Message-Id: <([^>]*)>", msg, re.M)
					check(m, "%s/%s: no Message-Id" % (path, name))
					stored[m.group(1)] = (box.addr, msg)
	except OSError as e:
		raise TestFailure("the disk after the power cut: %s" % e)
	for mid, (data, rcpt, qid) in acked.items():
		if mid in stored:
			addr, msg = stored[mid]
			check(addr == rcpt, "%s delivered to %s, sent to %s" %
			      (mid, addr, rcpt))
			check(strip_trace(msg) == stored_form(data),
			      "%s is damaged in the Maildir after the cut" % mid)
		else:
			check(mid in queued, "%s got 250 (ID %d) before the cut and "
			      "is neither in %s's Maildir nor queued" % (mid, qid, rcpt))
	for qid, rcpt in delivered:
		mids = [mid for mid, v in acked.items() if v[2] == qid and
		        v[1] == rcpt]
		check(any(mid in stored for mid in mids),
		      "ID %d was logged delivered to %s before the cut; it is not "
		      "in the Maildir after it" % (qid, rcpt))
	print("  power cut: %d acknowledged, %d logged delivered, %d in "
	      "Maildirs, %d still queued" % (len(acked), len(delivered),
	                                      len(stored), len(queued)))
test_power_cut_delivery.timeout = 120
