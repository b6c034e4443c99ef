"""quail-smtpd under tcpserver, driven over real sockets: replies and
their enhanced status codes, limits, the DATA transparency rules, and
what lands in the queue (envelope and byte-exact body).

Clients: raw sockets (harness.Client) where byte-level control matters
(pipelining, smuggling, garbage), smtplib for ordinary sessions, swaks
for a few end-to-end cases."""

import random
import re
import smtplib
import subprocess
import threading
import time

from harness import (Closed, TestFailure, accepted_id, check, check_queued,
                     expect, stuff, text_message, wait_for)

SENDER = "sender@client.test"


# -- helpers ------------------------------------------------------------

def smtp(server):
	s = smtplib.SMTP("127.0.0.1", server.port, local_hostname="client.test",
	                 timeout=15)
	code, msg = s.ehlo()
	check(code == 250, "EHLO: %d %r" % (code, msg))
	return s


def sm_expect(got, code, enh, where):
	c, msg = got
	msg = msg.decode("latin-1") if isinstance(msg, bytes) else msg
	last = msg.splitlines()[-1] if msg else ""
	ok = c == code if isinstance(code, int) else c in code
	if enh is not None:
		ok = ok and (last.startswith(enh + " ") or last == enh) if isinstance(
			enh, str) else ok and any(last.startswith(e + " ") for e in enh)
	check(ok, "%s: expected %s %s, got %d %s" % (where, code, enh or "", c, msg))


def nothing_queued(fx, before=None):
	mess, env, tmp = fx.queue.snapshot()
	if before is None:
		before = (set(), set(), [])
	check(env == before[1], "new envelopes in env/: %s" % (env - before[1]))
	check(mess == before[0], "new files in mess/: %s" % (mess - before[0]))
	# quail-queue may still be cleaning up after its caller gave up.
	check(wait_for(lambda: fx.queue.tmp_files() == before[2], 5),
	      "leftovers in tmp/: %s" % fx.queue.tmp_files())


def send_one(fx, server, rcpts=("rcpt@example.test",), data=None,
             sender=SENDER):
	c = fx.client(server)
	data = data or text_message("one", ["hello"])
	r = c.transaction(sender, rcpts, data)
	qid = accepted_id(r)
	c.cmd("QUIT", 221)
	return qid, data


# -- greeting, EHLO, command order -------------------------------------

def test_greeting_and_ehlo(fx):
	s = fx.smtpd()
	c = fx.client(s, ehlo=False)
	g = c.greet()
	check("mx.test.quail" in g.text, "greeting does not name me: %r" % g)
	r = c.cmd("EHLO client.test", 250)
	words = [l.split()[0].upper() for l in r.lines[1:] if l.split()]
	for ext in ("PIPELINING", "8BITMIME", "SIZE", "ENHANCEDSTATUSCODES"):
		check(ext in words, "EHLO does not list %s: %r" % (ext, r))
	c.cmd("NOOP", 250)
	c.cmd("QUIT", 221)
	c.expect_eof()


def test_helo(fx):
	s = fx.smtpd()
	c = fx.client(s, ehlo=False)
	c.greet()
	c.cmd("HELO client.test", 250)
	qid = accepted_id(c.transaction(SENDER, ["a@example.test"],
	                                text_message("helo", ["x"])))
	check(qid in fx.queue.ids("env"), "message not in env/")


def test_command_order(fx):
	s = fx.smtpd()
	c = fx.client(s, ehlo=False)
	c.greet()
	c.cmd("MAIL FROM:<%s>" % SENDER, 503, "5.5.1")
	c.cmd("EHLO client.test", 250)
	c.cmd("RCPT TO:<a@example.test>", 503, "5.5.1")
	c.cmd("DATA", (503, 554), "5.5.1")
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("MAIL FROM:<%s>" % SENDER, 503, "5.5.1")
	c.cmd("DATA", (503, 554), "5.5.1")
	c.cmd("XYZZY", 500, "5.5.2")
	c.cmd("RCPT TO:<a@example.test>", 250)
	c.cmd("QUIT", 221)
	c.expect_eof()
	check(not fx.queue.ids("env"), "something was queued")


def test_rset(fx):
	s = fx.smtpd()
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<a@example.test>", 250)
	c.cmd("RSET", 250)
	c.cmd("RCPT TO:<b@example.test>", 503, "5.5.1")
	c.cmd("DATA", (503, 554), "5.5.1")
	data = text_message("after rset", ["x"])
	qid = accepted_id(c.transaction(SENDER, ["c@example.test"], data))
	check_queued(fx, qid, SENDER, ["c@example.test"], data)


def test_quit_and_clean_exit(fx):
	s = fx.smtpd()
	c = fx.client(s)
	r = c.cmd("QUIT", 221)
	check(r.enhanced() == "2.0.0", "QUIT: %r" % r)
	c.expect_eof()
	# A client that just goes away mid-transaction.
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.close()
	s.wait_idle(2)
	check(len(s.exits()) == 2, "sessions did not end: %s" % s.log())
	for pid, st in s.exits():
		check(st == 0, "quail-smtpd %d wait status %d, wanted exit 0" %
		      (pid, st))
	s.check_clean()


# -- recipients and senders ---------------------------------------------

def test_rcpthosts(fx):
	s = fx.smtpd()
	c = smtp(s)
	sm_expect(c.mail(SENDER), 250, "2.1.0", "MAIL")
	for good in ("a@example.test", "b@sub.wild.test", "c@deep.sub.wild.test",
	             "d@more.test", "e@other.example.test", "F@EXAMPLE.TEST"):
		sm_expect(c.rcpt(good), 250, "2.1.5", "RCPT " + good)
	for bad in ("a@elsewhere.test", "b@wild.test.evil", "c@evilexample.test",
	            "d@example.test.evil", "e@notwild.test", "f@sub.more.test"):
		sm_expect(c.rcpt(bad), 553, "5.7.1", "RCPT " + bad)
	code, msg = c.data(text_message("hosts", ["x"]))
	check(code == 250, "DATA: %d %r" % (code, msg))
	qid = int(re.match(rb"2\.0\.0 ok (\d+)", msg).group(1))
	env = fx.queue.envelope(qid)
	check(len(env.rcpts) == 6, "envelope: %r" % env.rcpts)
	c.quit()


def test_wild_parent_not_matched(fx):
	# ".wild.test" in rcpthosts covers subdomains only, as in qmail.
	s = fx.smtpd()
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<x@wild.test>", 553, "5.7.1")


def test_relayclient(fx):
	plain = fx.smtpd()
	relay = fx.smtpd(RELAYCLIENT="")
	c = fx.client(plain)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<far@elsewhere.test>", 553, "5.7.1")
	c = fx.client(relay)
	data = text_message("relayed", ["x"])
	qid = accepted_id(c.transaction(SENDER, ["far@elsewhere.test",
	                                          "near@example.test"], data))
	check_queued(fx, qid, SENDER, ["far@elsewhere.test", "near@example.test"],
	             data)


def test_badrcptto(fx):
	fx.write_control("badrcptto", "bad@example.test\n")
	s = fx.smtpd()
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<bad@example.test>", 550, "5.1.1")
	c.cmd("RCPT TO:<Bad@Example.Test>", 550, "5.1.1")
	c.cmd("RCPT TO:<good@example.test>", 250)
	data = text_message("badrcpt", ["x"])
	c.cmd("DATA", 354)
	c.send(stuff(data))
	qid = accepted_id(c.reply())
	check_queued(fx, qid, SENDER, ["good@example.test"], data)


def badmailfrom_rejected(c, sender):
	"""badmailfrom may bite at MAIL or at each RCPT; either is fine, as
	long as no recipient is taken."""
	r = c.cmd("MAIL FROM:<%s>" % sender)
	if r.code == 550:
		expect(r, 550, "5.7.1", "MAIL FROM:<%s>" % sender)
		return
	expect(r, 250, None, "MAIL FROM:<%s>" % sender)
	c.cmd("RCPT TO:<a@example.test>", 550, "5.7.1")
	c.cmd("RCPT TO:<b@example.test>", 550, "5.7.1")
	c.cmd("RSET", 250)


def test_badmailfrom(fx):
	fx.write_control("badmailfrom", "spammer@bad.test\n@evil.test\n")
	s = fx.smtpd()
	c = fx.client(s)
	badmailfrom_rejected(c, "spammer@bad.test")
	badmailfrom_rejected(c, "anyone@evil.test")
	c.cmd("MAIL FROM:<fine@bad.test>", 250)
	c.cmd("RCPT TO:<a@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(stuff(text_message("fine", ["x"])))
	accepted_id(c.reply())
	check(len(fx.queue.ids("env")) == 1, "queue: %s" % fx.queue.ids("env"))


def test_bad_address_syntax(fx):
	s = fx.smtpd()
	c = fx.client(s)
	for line in ("MAIL FROM:<unterminated@client.test",
	             "MAIL FROM:no-brackets@client.test",
	             "MAIL FROM:",
	             "MAIL FROM:<a b@client.test>",
	             "MAIL FROM:<a@@client.test>",
	             "MAIL FROM:<a@[1.2.3]>"):
		r = c.cmd(line)
		check(r.code == 501 and r.enhanced().startswith("5."),
		      "%r: expected 501 5.x.x, got %r" % (line, r))
	c.cmd("MAIL FROM:<ok@client.test>", 250)
	for line, codes in (("RCPT TO:<unterminated@example.test", (501,)),
	                    ("RCPT TO:x@example.test", (501,)),
	                    ("RCPT TO:<>", (501,)),
	                    ("RCPT TO:<a@b@example.test>", (501,)),
	                    ("RCPT TO:<%s@example.test>" % ("x" * 300),
	                     (501, 553))):
		r = c.cmd(line)
		check(r.code in codes and r.enhanced().startswith("5."),
		      "%r: expected %s 5.x.x, got %r" % (_short(line), codes, r))
	c.cmd("RCPT TO:<ok@example.test>", 250)


def _short(line):
	return line if len(line) < 80 else line[:60] + "..."


def test_null_sender(fx):
	s = fx.smtpd()
	c = fx.client(s)
	data = text_message("bounce", ["a bounce"])
	qid = accepted_id(c.transaction("", ["x@example.test"], data))
	check_queued(fx, qid, "", ["x@example.test"], data)


# -- limits ---------------------------------------------------------------

def rcpt_limit(fx, limit):
	s = fx.smtpd()
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	rcpts = ["r%d@example.test" % i for i in range(limit)]
	for r in rcpts:
		c.cmd("RCPT TO:<%s>" % r, 250)
	c.cmd("RCPT TO:<over@example.test>", 452, "4.5.3")
	c.cmd("RCPT TO:<over2@example.test>", 452, "4.5.3")
	data = text_message("many", ["x"])
	c.cmd("DATA", 354)
	c.send(stuff(data))
	qid = accepted_id(c.reply())
	check_queued(fx, qid, SENDER, rcpts, data)


def test_maxrcpt_default(fx):
	rcpt_limit(fx, 100)


def test_maxrcpt_control(fx):
	fx.write_control("maxrcpt", "5")
	rcpt_limit(fx, 5)


def test_size_parameter(fx):
	fx.write_control("databytes", "1000")
	s = fx.smtpd()
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s> SIZE=2000" % SENDER, 552, "5.3.4")
	c.cmd("MAIL FROM:<%s> SIZE=99999999999999999999999" % SENDER,
	      (501, 552), ("5.3.4", "5.5.4"))
	c.cmd("MAIL FROM:<%s> SIZE=500 BODY=8BITMIME" % SENDER, 250)
	c.cmd("RCPT TO:<a@example.test>", 250)


def test_databytes(fx):
	fx.write_control("databytes", "1000")
	s = fx.smtpd()
	c = fx.client(s)
	big = text_message("big", ["y" * 70] * 70)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<a@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(stuff(big))
	expect(c.reply(), 552, "5.3.4", "over databytes")
	# The session goes on, and a small message still fits.
	small = text_message("small", ["z"])
	qid = accepted_id(c.transaction(SENDER, ["b@example.test"], small))
	c.cmd("QUIT", 221)
	check(fx.queue.ids("env") == {qid}, "queue: %s" % fx.queue.ids("env"))
	check_queued(fx, qid, SENDER, ["b@example.test"], small)
	check(wait_for(lambda: not fx.queue.tmp_files()),
	      "tmp/ leftovers: %s" % fx.queue.tmp_files())


def test_long_command_line(fx):
	s = fx.smtpd()
	c = fx.client(s)
	c.cmd("NOOP " + "x" * 600, 500, "5.5.2")
	c.cmd("NOOP", 250)
	c.cmd("MAIL FROM:<%s@client.test>" % ("a" * 600), (500, 501))
	c.cmd("NOOP", 250)
	c.cmd("NOOP " + "y" * 65536, 500, "5.5.2")
	c.cmd("NOOP", 250)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("QUIT", 221)
	c.expect_eof()
	s.wait_idle(1)
	s.check_clean()


def test_maxerrors(fx):
	s = fx.smtpd()
	c = fx.client(s)
	errors = 0
	for i in range(20):
		try:
			r = c.cmd("BOGUS%d" % i)
		except Closed:
			raise TestFailure("closed without 421 after %d errors" % errors)
		if r.code == 421:
			break
		expect(r, 500, "5.5.2", "unknown command %d" % i)
		errors += 1
	else:
		raise TestFailure("no 421 after 20 unknown commands")
	check(errors == 10, "421 after %d errors, wanted 10" % errors)
	c.expect_eof()
	s.wait_idle(1)
	s.check_clean()


def test_nul_in_command(fx):
	s = fx.smtpd()
	c = fx.client(s)
	c.cmd(b"NO\x00OP", 500)
	c.cmd(b"MAIL FROM:<a\x00b@client.test>", (500, 501))
	c.cmd(b"\x00", 500)
	c.cmd("NOOP", 250)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)


def test_binary_garbage(fx):
	s = fx.smtpd()
	rnd = random.Random(1234)
	for session in range(3):
		c = fx.client(s, ehlo=session != 0)
		if session == 0:
			c.greet()
		got421 = False
		for i in range(15):
			n = rnd.randrange(1, 700)
			line = bytes(rnd.choice(b"\x00\x01\x7f\x80\xff\xfe\x1b\x08\t ."
			                        b"\xc3\xa9<>@:") for _ in range(n))
			try:
				r = c.cmd(line)
			except Closed:
				break
			if r.code == 421:
				got421 = True
				break
			check(500 <= r.code < 600, "garbage line %d: %r" % (i, r))
		check(got421, "no 421 after 15 garbage lines")
		c.expect_eof()
	s.wait_idle(3)
	check(len(s.exits()) == 3, "sessions did not end: %s" % s.exits())
	s.check_clean()


def test_idle_timeout(fx):
	fx.write_control("timeoutsmtpd", "2")
	s = fx.smtpd()
	c = fx.client(s)
	t0 = time.time()
	r = c.reply()
	took = time.time() - t0
	expect(r, 421, "4.4.2", "idle")
	check(1.5 <= took <= 6, "421 after %.1fs, wanted about 2s" % took)
	c.expect_eof()
	# A timeout inside DATA as well.
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<a@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(b"Subject: half\r\n\r\nstarted")
	expect(c.reply(), 421, "4.4.2", "idle in DATA")
	c.expect_eof()
	nothing_queued(fx)
test_idle_timeout.timeout = 30


# -- accepted messages --------------------------------------------------

def test_accept_and_envelope(fx):
	s = fx.smtpd()
	data = text_message("envelope", ["line one", "line two"])
	qid, _ = send_one(fx, s, ["x@example.test", "y@sub.wild.test"], data)
	check_queued(fx, qid, SENDER, ["x@example.test", "y@sub.wild.test"], data)
	rec = fx.queue.message(qid)[:300].decode("latin-1")
	check("127.0.0.1" in rec and "mx.test.quail" in rec,
	      "Received field lacks the client IP or our name: %r" % rec)
	check("\r" not in fx.queue.message(qid).decode("latin-1"),
	      "stored message has CR bytes")
	s.wait_idle(1)
	s.check_clean()


def test_several_messages_per_session(fx):
	s = fx.smtpd()
	c = fx.client(s)
	ids = []
	sent = []
	for i in range(5):
		data = text_message("msg %d" % i, ["body %d" % i])
		rcpt = "n%d@example.test" % i
		if i == 2:
			c.cmd("MAIL FROM:<%s>" % SENDER, 250)
			c.cmd("RCPT TO:<zz@example.test>", 250)
			c.cmd("RSET", 250)
		ids.append(accepted_id(c.transaction(SENDER, [rcpt], data)))
		sent.append((rcpt, data))
	c.cmd("QUIT", 221)
	check(len(set(ids)) == 5, "IDs not distinct: %s" % ids)
	check(fx.queue.ids("env") == set(ids), "queue: %s vs %s" %
	      (fx.queue.ids("env"), ids))
	for qid, (rcpt, data) in zip(ids, sent):
		check_queued(fx, qid, SENDER, [rcpt], data)


def test_dot_unstuffing(fx):
	s = fx.smtpd()
	body = ["..", ".", "...", ".x", "..x", " .", "a.", "", ".", "end."]
	data = text_message("dots", body)
	qid, _ = send_one(fx, s, data=data)
	check_queued(fx, qid, SENDER, ["rcpt@example.test"], data)
	# And by hand, so the test does not lean on stuff(): ".." -> ".",
	# "..." -> "..", ".x" (unstuffed by a sloppy client) -> ".x".
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<r@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(b"Subject: raw\r\n\r\n..\r\n...\r\n.x\r\n..y\r\n.\r\n")
	qid = accepted_id(c.reply())
	check(fx.queue.body(qid) == b"Subject: raw\n\n.\n..\nx\n.y\n" or
	      fx.queue.body(qid) == b"Subject: raw\n\n.\n..\n.x\n.y\n",
	      "unstuffed body: %r" % fx.queue.body(qid))


def test_8bit_body(fx):
	s = fx.smtpd()
	allbytes = bytes(b for b in range(1, 256) if b not in (10, 13))
	data = (b"Subject: 8bit \xe9\xe8\r\nContent-Type: text/plain; "
	        b"charset=iso-8859-1\r\n\r\n" + allbytes + b"\r\n" +
	        bytes(range(128, 256)) * 3 + b"\r\n\xff\xfe\r\n")
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s> BODY=8BITMIME" % SENDER, 250)
	c.cmd("RCPT TO:<r@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(stuff(data))
	qid = accepted_id(c.reply())
	check_queued(fx, qid, SENDER, ["r@example.test"], data)


def big_body(size, seed):
	rnd = random.Random(seed)
	chars = bytes(range(32, 127)) + b"\xe4\xf6\xfc"
	lines = [b"Subject: big", b"Message-Id: <big.%d@client.test>" % seed, b""]
	total = 0
	while total < size:
		n = rnd.randrange(0, 200)
		line = bytes(rnd.choice(chars) for _ in range(min(n, 8))) * (n // 8 + 1)
		line = line[:n]
		if rnd.random() < 0.05:
			line = b"." + line
		lines.append(line)
		total += len(line) + 2
	return b"\r\n".join(lines) + b"\r\n"


def test_10mb_message(fx):
	s = fx.smtpd()
	data = big_body(10 << 20, 10)
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, len(data)), 250)
	c.cmd("RCPT TO:<big@example.test>", 250)
	c.cmd("DATA", 354)
	c.sock.settimeout(60)
	c.send(stuff(data))
	qid = accepted_id(c.reply())
	check_queued(fx, qid, SENDER, ["big@example.test"], data)
test_10mb_message.timeout = 120


def test_50_recipients_smtplib(fx):
	s = fx.smtpd()
	rcpts = ["u%02d@example.test" % i for i in range(50)]
	data = text_message("fifty", ["hello all"])
	c = smtp(s)
	refused = c.sendmail(SENDER, rcpts, data)
	check(not refused, "refused: %r" % refused)
	c.quit()
	ids = fx.queue.ids("env")
	check(len(ids) == 1, "queue: %s" % ids)
	check_queued(fx, ids.pop(), SENDER, rcpts, data)


# -- pipelining -----------------------------------------------------------

def test_pipelining(fx):
	s = fx.smtpd()
	c = fx.client(s)
	c.send("MAIL FROM:<%s>\r\nRCPT TO:<p1@example.test>\r\n"
	       "RCPT TO:<p2@example.test>\r\nDATA\r\n" % SENDER)
	expect(c.reply(), 250, "2.1.0", "MAIL")
	expect(c.reply(), 250, "2.1.5", "RCPT 1")
	expect(c.reply(), 250, "2.1.5", "RCPT 2")
	expect(c.reply(enhanced=False), 354, None, "DATA")
	data = text_message("piped", ["x"])
	c.send(stuff(data))
	qid = accepted_id(c.reply())
	check_queued(fx, qid, SENDER, ["p1@example.test", "p2@example.test"], data)


def test_pipelining_whole_session(fx):
	"""Everything in one write, a refused recipient in the middle and two
	messages: replies come in order and only good recipients are taken."""
	s = fx.smtpd()
	c = fx.client(s, ehlo=False)
	d1 = text_message("first", ["one"])
	d2 = text_message("second", ["two"])
	c.send(b"EHLO client.test\r\n"
	       b"MAIL FROM:<" + SENDER.encode() + b">\r\n"
	       b"RCPT TO:<a@example.test>\r\n"
	       b"RCPT TO:<x@elsewhere.test>\r\n"
	       b"RCPT TO:<b@example.test>\r\n"
	       b"DATA\r\n" + stuff(d1) +
	       b"MAIL FROM:<" + SENDER.encode() + b">\r\n"
	       b"RCPT TO:<c@example.test>\r\n"
	       b"DATA\r\n" + stuff(d2) +
	       b"QUIT\r\n")
	expect(c.reply(enhanced=False), 220, None, "greeting")
	expect(c.reply(enhanced=False), 250, None, "EHLO")
	expect(c.reply(), 250, None, "MAIL")
	expect(c.reply(), 250, None, "RCPT a")
	expect(c.reply(), 553, "5.7.1", "RCPT x")
	expect(c.reply(), 250, None, "RCPT b")
	expect(c.reply(enhanced=False), 354, None, "DATA")
	q1 = accepted_id(c.reply())
	expect(c.reply(), 250, None, "MAIL 2")
	expect(c.reply(), 250, None, "RCPT c")
	expect(c.reply(enhanced=False), 354, None, "DATA 2")
	q2 = accepted_id(c.reply())
	expect(c.reply(), 221, None, "QUIT")
	c.expect_eof()
	check_queued(fx, q1, SENDER, ["a@example.test", "b@example.test"], d1)
	check_queued(fx, q2, SENDER, ["c@example.test"], d2)


# -- DATA transparency and smuggling -----------------------------------

SMUGGLE_TAIL = (b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<v@example.test>\r\n"
                b"DATA\r\nsmuggled\r\n.\r\n")


def smuggle(fx, separator):
	"""Sends one message whose body holds separator + a second SMTP
	transaction, then QUIT, all in one write. The server must see one
	message (rejected for its bare CR or LF), never a second one."""
	s = fx.smtpd()
	c = fx.client(s)
	c.send(b"MAIL FROM:<" + SENDER.encode() + b">\r\n"
	       b"RCPT TO:<u@example.test>\r\nDATA\r\n"
	       b"Subject: smuggle\r\n\r\nhello" + separator + SMUGGLE_TAIL +
	       b"QUIT\r\n")
	replies = []
	try:
		while True:
			replies.append(c.reply(enhanced=False))
	except Closed:
		pass
	codes = [r.code for r in replies]
	s.wait_idle(1)
	for qid in fx.queue.ids("env"):
		env = fx.queue.envelope(qid)
		check("v@example.test" not in [a for st, a in env.rcpts],
		      "smuggled recipient queued: %r" % env.rcpts)
		check(not fx.queue.body(qid).startswith(b"smuggled"),
		      "smuggled message queued as its own message")
	check(codes.count(354) == 1, "server went into DATA %d times: %r" %
	      (codes.count(354), replies))
	check(codes[:3] == [250, 250, 354] and len(codes) == 5 and
	      codes[4] == 221, "replies: %r" % replies)
	expect(replies[3], 554, "5.6.0", "bare CR/LF in message")
	nothing_queued(fx)


def test_smuggle_lf_dot_lf(fx):
	smuggle(fx, b"\n.\n")


def test_smuggle_cr_dot_cr(fx):
	smuggle(fx, b"\r.\r")


def test_smuggle_crlf_dot_lf(fx):
	smuggle(fx, b"\r\n.\n")


def test_smuggle_lf_dot_crlf(fx):
	smuggle(fx, b"\n.\r\n")


def test_smuggle_cr_dot_crlf(fx):
	smuggle(fx, b"\r.\r\n")


def test_bare_lf_rejected(fx):
	s = fx.smtpd()
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<a@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(b"Subject: lf\r\n\r\nline\nother\r\n.\r\n")
	expect(c.reply(), 554, "5.6.0", "bare LF")
	# The session survives and the next message is fine.
	data = text_message("after lf", ["ok"])
	qid = accepted_id(c.transaction(SENDER, ["b@example.test"], data))
	check(fx.queue.ids("env") == {qid}, "queue: %s" % fx.queue.ids("env"))


def test_long_body_line(fx):
	s = fx.smtpd()
	c = fx.client(s)
	ok = text_message("998", ["a" * 998])
	qid = accepted_id(c.transaction(SENDER, ["a@example.test"], ok))
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<b@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(stuff(text_message("long", ["b" * 2000, "short"])))
	expect(c.reply(), 554, "5.6.0", "2000-byte line")
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<b@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(stuff(text_message("huge", ["c" * 300000])))
	expect(c.reply(), 554, "5.6.0", "300000-byte line")
	c.cmd("QUIT", 221)
	check(fx.queue.ids("env") == {qid}, "queue: %s" % fx.queue.ids("env"))
	check_queued(fx, qid, SENDER, ["a@example.test"], ok)


def test_client_gone_in_data(fx):
	s = fx.smtpd()
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<a@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(b"Subject: cut\r\n\r\n" + b"x" * 70000 + b"\r\npartial")
	c.close()
	s.wait_idle(1)
	check(s.exits(), "session did not end")
	nothing_queued(fx)
	# quail-queue saw its input end before the envelope: it must give up.
	s.check_clean(allow_fatal=[r"^quail-queue: fatal: event=envelope_eof"])


def test_parallel_clients(fx):
	s = fx.smtpd()
	results = []
	errors = []

	def worker(n):
		try:
			for i in range(4):
				data = text_message("par %d %d" % (n, i), ["p"] * n)
				rcpt = "w%d-%d@example.test" % (n, i)
				c = smtp(s)
				code, msg = c.mail(SENDER)
				c.rcpt(rcpt)
				code, msg = c.data(data)
				c.quit()
				m = re.match(rb"2\.0\.0 ok (\d+)", msg)
				results.append((int(m.group(1)) if code == 250 and m else
				                None, rcpt, data, code, msg))
		except Exception as e:
			errors.append(e)

	threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(60)
	check(not errors, "client errors: %r" % errors)
	check(len(results) == 32 and all(r[0] for r in results),
	      "not all accepted: %r" % [r[3:] for r in results if not r[0]])
	ids = [r[0] for r in results]
	check(len(set(ids)) == 32, "duplicate IDs: %s" % sorted(ids))
	for qid, rcpt, data, code, msg in results:
		check_queued(fx, qid, SENDER, [rcpt], data)


# -- swaks ----------------------------------------------------------------

def swaks(server, *args, data=None):
	argv = ["swaks", "--server", "127.0.0.1:%d" % server.port,
	        "--helo", "client.test", "--timeout", "15"] + list(args)
	if data is not None:
		argv += ["--data", data]
	p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
	                   timeout=60, start_new_session=True)
	return p.returncode, p.stdout.decode("latin-1")


def swaks_id(out):
	m = re.search(r"^<[-~]\s+250 2\.0\.0 ok (\d+)", out, re.M)
	check(m, "no '250 2.0.0 ok ID' in swaks output:\n" + out[-800:])
	return int(m.group(1))


def test_swaks_basic(fx):
	s = fx.smtpd()
	data = "Subject: swaks\nMessage-Id: <swaks.1@client.test>\n\nhello\n..dot\n"
	rc, out = swaks(s, "--to", "x@example.test", "--from", "y@z.test",
	                data=data)
	check(rc == 0, "swaks exited %d:\n%s" % (rc, out[-800:]))
	qid = swaks_id(out)
	env = fx.queue.envelope(qid)
	check(env.sender == "y@z.test" and env.rcpts == [("-", "x@example.test")],
	      "envelope: %r %r" % (env.sender, env.rcpts))
	check(b"\nhello\n" in fx.queue.body(qid), "body: %r" % fx.queue.body(qid))


def test_swaks_pipeline(fx):
	s = fx.smtpd()
	rc, out = swaks(s, "--pipeline", "--to", "a@example.test,b@more.test",
	                "--from", "y@z.test",
	                data="Subject: piped swaks\n\nbody\n")
	check(rc == 0, "swaks --pipeline exited %d:\n%s" % (rc, out[-800:]))
	qid = swaks_id(out)
	env = fx.queue.envelope(qid)
	check(sorted(a for st, a in env.rcpts) == ["a@example.test", "b@more.test"],
	      "envelope: %r" % env.rcpts)


def test_swaks_relay_denied(fx):
	s = fx.smtpd()
	rc, out = swaks(s, "--to", "x@elsewhere.test", "--from", "y@z.test",
	                data="Subject: no\n\nno\n")
	check(rc == 24, "swaks exited %d, wanted 24 (RCPT refused):\n%s" %
	      (rc, out[-800:]))
	check(re.search(r"^<\*\* 553 5\.7\.1", out, re.M), "output:\n" + out)
	nothing_queued(fx)


def test_swaks_databytes(fx):
	fx.write_control("databytes", "2000")
	s = fx.smtpd()
	rc, out = swaks(s, "--to", "x@example.test", "--from", "y@z.test",
	                data="Subject: big\n\n" + ("z" * 60 + "\n") * 100)
	check(rc != 0, "swaks succeeded with an oversized message:\n" + out)
	check(re.search(r"^<\*\* 552 5\.3\.4", out, re.M), "output:\n" + out)
	nothing_queued(fx)
