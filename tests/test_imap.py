"""Integration tests for quail-imapd: the login stage under tcpserver with
the real quail-checkpassword and a users cdb built by quail-users, the
session stage it execs as the mailbox owner, and the Maildir on disk.
Clients are python's imaplib and, for the parser, a raw socket.

The test_imap_tls_* tests put the real quail-tlsd in front (STARTTLS with
quail-tlsd -n and UCSPITLS="", implicit TLS as on port 993), with the
test CA and certificates test_tls makes with openssl; clients verify
the server's certificate against that CA.
"""

import email
import email.policy
import imaplib
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import deliver_harness
import harness
from harness import ROOT, TestFailure, check, run
import test_tls as tls

IMAPD = os.path.join(ROOT, "imapd", "quail-imapd")
CKPW = os.path.join(ROOT, "auth", "quail-checkpassword")
USERS = os.path.join(ROOT, "auth", "quail-users")
DOMAIN = "example.test"
PASSWORD = "correct horse"
_HASH = []


def pw_hash():
	if not _HASH:
		out = run([USERS, "-p"], check_rc=0, input=PASSWORD.encode() + b"\n")
		_HASH.append(out.decode().strip())
	return _HASH[0]


class ImapServer(harness.Server):
	def _spawn(self, env, concurrency):
		argv = ["tcpserver", "-v", "-H", "-R", "-l", harness.ME,
		        "-c", str(concurrency), "127.0.0.1", str(self.port),
		        IMAPD, "imap.test", CKPW, IMAPD]
		logf = open(self.log_path, "ab")
		try:
			return subprocess.Popen(argv, stdin=subprocess.DEVNULL,
			                        stdout=subprocess.DEVNULL, stderr=logf,
			                        env=env, cwd=self.fx.dir,
			                        start_new_session=True)
		finally:
			logf.close()


class World:
	"""Users alice and bob, their homes owned by the test user, the
	users cdb, and a running quail-imapd."""

	def __init__(self, fx, env=None, users=("alice", "bob"), serve=True):
		harness.need_root()
		for p in (IMAPD, CKPW, USERS):
			check(os.access(p, os.X_OK), "%s is not built" % p)
		self.fx = fx
		self.clients = []
		del RAW[:]
		self.uid, self.gid = deliver_harness.test_user()
		os.chmod(fx.dir, 0o711)
		self.homes = os.path.join(fx.dir, "home")
		os.mkdir(self.homes, 0o711)
		lines = []
		for u in users:
			home = os.path.join(self.homes, u)
			os.mkdir(home, 0o700)
			os.chown(home, self.uid, self.gid)
			lines.append("%s@%s:%s:%d:%d:%s" % (u, DOMAIN, pw_hash(),
			                                    self.uid, self.gid, home))
		src = os.path.join(fx.dir, "users.txt")
		with open(src, "w") as f:
			f.write("\n".join(lines) + "\n")
		self.userdb = os.path.join(fx.dir, "users.cdb")
		run([USERS, "-o", self.userdb, src], check_rc=0)
		fx.write_control("authdelay", "0")
		self.seq = 0
		if not serve:
			return
		e = {"AUTHPLAINTEXT": "1"}
		e.update(env or {})
		self.server = ImapServer(fx, fx.env(QUAIL_USERDB=self.userdb, **e),
		                         20, "imapd")
		fx.servers.append(self.server)

	def maildir(self, user="alice"):
		return os.path.join(self.homes, user, "Maildir")

	def client(self, user="alice", select=None):
		c = imaplib.IMAP4("127.0.0.1", self.server.port, timeout=15)
		self.fx.at_exit(lambda: safe_logout(c))
		self.clients.append(c)
		typ, _ = c.login("%s@%s" % (user, DOMAIN), PASSWORD)
		check(typ == "OK", "login failed")
		if select:
			typ, _ = c.select(select)
			check(typ == "OK", "select %s failed" % select)
		return c

	def deliver(self, data, user="alice", folder=""):
		"""Drops data (LF bytes) into new/ as quail-local would."""
		md = self.maildir(user)
		if folder:
			md = os.path.join(md, "." + folder)
		for d in ("", "tmp", "new", "cur"):
			p = os.path.join(md, d)
			if not os.path.isdir(p):
				os.makedirs(p, 0o700)
				os.chown(p, self.uid, self.gid)
		self.seq += 1
		now = time.time()
		base = "%d.M%06dP%dQ%d.test,S=%d,W=%d" % (
			int(now), int(now * 1e6) % 1000000, os.getpid(), self.seq,
			len(data), len(data) + data.count(b"\n"))
		tmp = os.path.join(md, "tmp", base)
		with open(tmp, "wb") as f:
			f.write(data)
		os.chown(tmp, self.uid, self.gid)
		os.rename(tmp, os.path.join(md, "new", base))
		return base

	def names(self, user="alice", sub="cur"):
		return sorted(os.listdir(os.path.join(self.maildir(user), sub)))

	def check_clean(self):
		"""At the end of a test: every connection it opened is closed
		(imaplib clients logged out, raw sockets shut), every session's
		end is in tcpserver's log, and then no session died badly."""
		for c in self.clients:
			safe_logout(c)
		for s, f in RAW:
			f.close()
			s.close()
		del RAW[:]
		self.server.wait_all_ended()
		self.server.check_clean()


def safe_logout(c):
	try:
		c.logout()
	except Exception:
		pass


def message(subject, body="hello\nworld\n", extra=""):
	return ("From: Ann Example <ann@client.test>\nTo: alice@example.test, "
	        "\"Bob, B.\" <bob@example.test>\nSubject: %s\nDate: Mon, 2 Mar "
	        "2026 10:00:00 +0000\nMessage-ID: <%s@client.test>\n%s\n%s" %
	        (subject, subject.replace(" ", "."), extra, body)).encode()


def crlf(b):
	return b.replace(b"\n", b"\r\n")


def fetch1(c, seq, item, uid=False):
	"""The bytes of one FETCH item (a literal) for one message."""
	typ, data = (c.uid("FETCH", seq, item) if uid else c.fetch(seq, item))
	check(typ == "OK", "FETCH %s %s: %r" % (seq, item, data))
	for d in data:
		if isinstance(d, tuple):
			return d[1]
	raise TestFailure("no literal in FETCH %s %s: %r" % (seq, item, data))


# The raw connections the running test opened, for World.check_clean.
RAW = []


def raw(port):
	s = socket.create_connection(("127.0.0.1", port), 15)
	f = s.makefile("rb")
	RAW.append((s, f))
	return s, f


def raw_login(w):
	s, f = raw(w.server.port)
	greet = f.readline()
	check(greet.startswith(b"* OK [CAPABILITY "), "greeting %r" % greet)
	s.sendall(b"L LOGIN alice@example.test \"%s\"\r\n" % PASSWORD.encode())
	line = f.readline()
	check(line.startswith(b"L OK"), "login: %r" % line)
	return s, f


def until_tagged(f, tag):
	lines = []
	while True:
		line = f.readline()
		check(line, "connection closed; got %r" % lines)
		lines.append(line)
		if line.startswith(tag + b" "):
			return lines


# -- login stage --------------------------------------------------------

def test_login(fx):
	w = World(fx)
	s, f = raw(w.server.port)
	greet = f.readline()
	check(b"AUTH=PLAIN" in greet and b"IMAP4rev1" in greet and
	      b"LOGINDISABLED" not in greet, "greeting %r" % greet)
	s.sendall(b"a CAPABILITY\r\nb NOOP\r\nc ID NIL\r\n")
	got = until_tagged(f, b"c")
	check(any(l.startswith(b"a OK") for l in got), "capability: %r" % got)
	check(any(l.startswith(b"* ID") for l in got), "id: %r" % got)
	# commands of the session stage are refused before login
	s.sendall(b"d SELECT INBOX\r\n")
	check(f.readline().startswith(b"d BAD"), "SELECT before login")
	# a wrong password, then the right one as a literal
	s.sendall(b"e LOGIN alice@example.test wrong\r\n")
	check(f.readline().startswith(b"e NO [AUTHENTICATIONFAILED]"), "bad pw")
	s.sendall(b"f LOGIN {18}\r\n")
	check(f.readline().startswith(b"+"), "continuation")
	s.sendall(b"alice@example.test {%d+}\r\n%s\r\n" %
	          (len(PASSWORD), PASSWORD.encode()))
	line = f.readline()
	check(line.startswith(b"f OK [CAPABILITY IMAP4rev1") and b"UIDPLUS" in line,
	      "login: %r" % line)
	s.sendall(b"g SELECT INBOX\r\nh LOGOUT\r\n")
	got = until_tagged(f, b"h")
	check(any(l.startswith(b"g OK [READ-WRITE]") for l in got), "%r" % got)
	check(any(l.startswith(b"* BYE") for l in got), "%r" % got)
	s.close()
	# SASL PLAIN with an initial response, and without
	c = imaplib.IMAP4("127.0.0.1", w.server.port, timeout=15)
	typ, _ = c.authenticate("PLAIN", lambda _: b"\0alice@example.test\0" +
	                        PASSWORD.encode())
	check(typ == "OK", "AUTHENTICATE PLAIN")
	c.logout()
	s, f = raw(w.server.port)
	f.readline()
	s.sendall(b"a AUTHENTICATE PLAIN\r\n")
	check(f.readline().startswith(b"+"), "SASL continuation")
	s.sendall(b"*\r\n")
	check(f.readline().startswith(b"a BAD"), "SASL cancel")
	s.sendall(b"b AUTHENTICATE PLAIN !!!\r\n")
	check(f.readline().startswith(b"b BAD"), "malformed base64")
	import base64
	ir = base64.b64encode(b"\0alice@example.test\0" + PASSWORD.encode())
	s.sendall(b"c AUTHENTICATE PLAIN " + ir + b"\r\n")
	check(f.readline().startswith(b"c OK"), "SASL-IR")
	s.close()
	w.check_clean()


def test_login_failures_limit(fx):
	w = World(fx)
	s, f = raw(w.server.port)
	f.readline()
	for i in range(3):
		s.sendall(b"t%d LOGIN alice@example.test nope\r\n" % i)
		check(f.readline().startswith(b"t%d NO" % i), "failure %d" % i)
	check(f.readline().startswith(b"* BYE"), "BYE after 3 failures")
	check(f.readline() == b"", "connection closed")
	# an unknown user fails the same way
	s, f = raw(w.server.port)
	f.readline()
	s.sendall(b"a LOGIN nobody@example.test x\r\n")
	check(f.readline().startswith(b"a NO [AUTHENTICATIONFAILED]"), "unknown")
	s.close()
	w.check_clean()


def test_logindisabled_without_tls(fx):
	w = World(fx, env={"AUTHPLAINTEXT": ""})
	# AUTHPLAINTEXT="" is still set: plaintext allowed; unset it instead
	fx.servers.remove(w.server)
	w.server.stop()
	env = fx.env(QUAIL_USERDB=w.userdb)
	w.server = ImapServer(fx, env, 5, "imapd-notls")
	fx.servers.append(w.server)
	s, f = raw(w.server.port)
	greet = f.readline()
	check(b"LOGINDISABLED" in greet and b"AUTH=PLAIN" not in greet,
	      "greeting %r" % greet)
	s.sendall(b"a LOGIN alice@example.test \"%s\"\r\n" % PASSWORD.encode())
	check(f.readline().startswith(b"a NO [PRIVACYREQUIRED]"), "LOGIN refused")
	s.sendall(b"b STARTTLS\r\n")
	check(f.readline().startswith(b"b BAD"), "no STARTTLS without UCSPI-TLS")
	s.close()


# -- the parser ----------------------------------------------------------

def test_parser_bad_input(fx):
	w = World(fx)
	s, f = raw_login(w)
	bad = [b"x SELECT (INBOX\r\n", b"x SELECT INBOX)\r\n",
	       b"x  NOOP\r\n", b"x NOOP \r\n", b"x FETCH 1 (FLAGS\r\n",
	       b"x SELECT \"unterminated\r\n", b"x SELECT \"bad\\q\"\r\n",
	       b"x FETCH 0 FLAGS\r\n", b"x FROBNICATE\r\n",
	       b"x UID FROB 1\r\n", b"x FETCH 1:2:3 FLAGS\r\n",
	       b"x STORE 1 FLAGS (\\Bogus)\r\n",
	       b"x SEARCH FROM\r\n", b"x SEARCH (\r\n",
	       b"x LIST ((\r\n",
	       b"x NOOP " + b"(" * 40 + b")" * 40 + b"\r\n"]
	s.sendall(b"s SELECT INBOX\r\n")
	until_tagged(f, b"s")
	for cmd in bad:
		s.sendall(cmd)
		line = f.readline()
		while line.startswith(b"* "):
			line = f.readline()
		check(line.startswith(b"x BAD"), "%r got %r" % (cmd, line))
	for cmd in [b"\r\n", b"+ NOOP\r\n", b"*\r\n"]:
		s.sendall(cmd)
		line = f.readline()
		check(line.startswith(b"* BAD"), "%r got %r" % (cmd, line))
	# a literal over the limit is refused without a continuation
	s.sendall(b"y SELECT {999999999}\r\n")
	line = f.readline()
	check(line.startswith(b"* NO [TOOBIG]") or line.startswith(b"y "),
	      "big literal: %r" % line)
	s.sendall(b"z NOOP\r\n")
	check(until_tagged(f, b"z")[-1].startswith(b"z OK"), "alive after")
	# an over-long line ends the session
	s.sendall(b"l NOOP " + b"a" * 70000 + b"\r\n")
	line = f.readline()
	check(line.startswith(b"* BYE"), "long line: %r" % line)
	s.close()
	w.check_clean()


# -- messages -------------------------------------------------------------

MULTI = b"""From: Ann <ann@client.test>
To: alice@example.test
Subject: multi
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

preamble
--XX
Content-Type: text/plain; charset=utf-8

part one
--XX
Content-Type: message/rfc822

From: inner@client.test
Subject: inner

inner body
--XX
Content-Type: application/octet-stream; name="a.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="a.bin"

AAEC
--XX--
epilogue
"""


def test_fetch_bytes(fx):
	w = World(fx)
	data = message("fetch me", body="line 1\n.\nline 3\n")
	w.deliver(data)
	w.deliver(MULTI)
	c = w.client(select="INBOX")
	check(fetch1(c, "1", "BODY.PEEK[]") == crlf(data), "BODY[] bytes")
	typ, d = c.fetch("1", "(RFC822.SIZE FLAGS)")
	check(b"RFC822.SIZE %d" % len(crlf(data)) in d[0], "size: %r" % d)
	check(b"\\Seen" not in d[0], "PEEK set \\Seen: %r" % d)
	head, body = crlf(data).split(b"\r\n\r\n", 1)
	check(fetch1(c, "1", "BODY.PEEK[HEADER]") == head + b"\r\n\r\n", "HEADER")
	check(fetch1(c, "1", "BODY.PEEK[TEXT]") == body, "TEXT")
	check(fetch1(c, "1", "BODY.PEEK[HEADER.FIELDS (Subject FROM)]") ==
	      b"From: Ann Example <ann@client.test>\r\nSubject: fetch me\r\n\r\n",
	      "HEADER.FIELDS")
	check(b"Subject" not in fetch1(c, "1",
	                                "BODY.PEEK[HEADER.FIELDS.NOT (Subject)]"),
	      "HEADER.FIELDS.NOT")
	check(fetch1(c, "1", "BODY.PEEK[]<5.10>") == crlf(data)[5:15], "partial")
	check(fetch1(c, "1", "RFC822.HEADER") == head + b"\r\n\r\n", "RFC822.HEADER")
	typ, d = c.fetch("1", "ENVELOPE")
	env = d[0].decode()
	check('"fetch me"' in env and '("Ann Example" NIL "ann" "client.test")'
	      in env and '("Bob, B." NIL "bob" "example.test")' in env and
	      '"<fetch.me@client.test>"' in env, "ENVELOPE %s" % env)
	# BODY[] without PEEK sets \Seen and says so
	typ, d = c.fetch("1", "BODY[]")
	check(b"\\Seen" in b"".join(x[0] if isinstance(x, tuple) else x for x in d),
	      "no FLAGS after BODY[]: %r" % d)
	# MIME: structure and sections, against python's email package
	m = email.message_from_bytes(MULTI, policy=email.policy.compat32)
	parts = m.get_payload()
	typ, d = c.fetch("2", "BODYSTRUCTURE")
	bs = d[0].decode()
	check('"mixed"' in bs.lower() and '"octet-stream"' in bs and
	      '("name" "a.bin")' in bs and '"attachment"' in bs and
	      '"rfc822"' in bs and '"inner"' in bs, "BODYSTRUCTURE %s" % bs)
	check(fetch1(c, "2", "BODY.PEEK[1]") ==
	      crlf(parts[0].get_payload().encode()).rstrip(b"\r\n"), "part 1")
	check(fetch1(c, "2", "BODY.PEEK[2.HEADER]") ==
	      b"From: inner@client.test\r\nSubject: inner\r\n\r\n", "2.HEADER")
	check(fetch1(c, "2", "BODY.PEEK[2.TEXT]") == b"inner body", "2.TEXT")
	check(fetch1(c, "2", "BODY.PEEK[3]") == b"AAEC", "part 3")
	check(fetch1(c, "2", "BODY.PEEK[3.MIME]").startswith(
	      b"Content-Type: application/octet-stream"), "3.MIME")
	check(fetch1(c, "2", "BODY.PEEK[9]") == b"", "no such part")
	typ, d = c.fetch("1:2", "(UID INTERNALDATE)")
	check(typ == "OK" and len(d) == 2, "INTERNALDATE %r" % d)
	w.check_clean()


def test_flags_and_uids_persist(fx):
	w = World(fx)
	for i in range(5):
		w.deliver(message("m%d" % i))
	c = w.client(select="INBOX")
	typ, d = c.uid("SEARCH", "ALL")
	uids = d[0].split()
	check(len(uids) == 5, "uids %r" % d)
	typ, d = c.response("UIDVALIDITY")
	validity = d[0]
	c.store("2", "+FLAGS", "(\\Flagged \\Answered)")
	c.store("3", "+FLAGS", "(\\Deleted)")
	c.store("4", "+FLAGS.SILENT", "(\\Seen \\Draft)")
	c.store("4", "-FLAGS", "(\\Draft)")
	typ, d = c.expunge()
	check(d == [b"3"], "EXPUNGE %r" % d)
	c.logout()
	# names on disk carry the Maildir letters
	names = w.names()
	check(len(names) == 4 and not w.names(sub="new"), "files %r" % names)
	check(sum(n.endswith(":2,FR") for n in names) == 1 and
	      sum(n.endswith(":2,S") for n in names) == 1, "letters %r" % names)
	c = w.client(select="INBOX")
	check(c.response("UIDVALIDITY")[1][0] == validity, "UIDVALIDITY changed")
	typ, d = c.uid("SEARCH", "ALL")
	check(d[0].split() == [uids[0], uids[1], uids[3], uids[4]], "uids %r" % d)
	typ, d = c.fetch("2", "FLAGS")
	check(b"\\Flagged" in d[0] and b"\\Answered" in d[0], "flags %r" % d)
	typ, d = c.fetch("3", "FLAGS")
	check(b"\\Seen" in d[0] and b"\\Draft" not in d[0], "flags %r" % d)
	# expunge the last one; a new message never reuses its UID
	c.store("4", "+FLAGS", "(\\Deleted)")
	c.expunge()
	w.deliver(message("new"))
	typ, d = c.noop()
	typ, d = c.uid("SEARCH", "ALL")
	got = [int(x) for x in d[0].split()]
	check(got[-1] > int(uids[4]), "UID reused: %r after %r" % (got, uids))
	typ, d = c.uid("EXPUNGE", uids[0].decode())
	check(typ == "OK", "UID EXPUNGE of an undeleted message")
	c.logout()
	w.check_clean()


def test_two_sessions(fx):
	w = World(fx)
	for i in range(3):
		w.deliver(message("m%d" % i))
	a = w.client(select="INBOX")
	b = w.client(select="INBOX")
	a.store("2", "+FLAGS", "(\\Deleted)")
	a.expunge()
	typ, d = b.noop()
	check(b.response("EXPUNGE")[1] == [b"2"], "B did not see the expunge")
	a.store("1", "+FLAGS", "(\\Flagged)")
	b.noop()
	typ, d = b.response("FETCH")
	check(d and b"\\Flagged" in d[0], "B did not see the flag: %r" % d)
	# B appends while A has the folder selected: A sees EXISTS
	b.append("INBOX", None, None, crlf(message("appended")))
	a.noop()
	check(a.response("EXISTS")[1][-1] == b"3", "A EXISTS")
	w.check_clean()


def test_idle_sees_delivery(fx):
	w = World(fx)
	w.deliver(message("first"))
	s, f = raw_login(w)
	s.sendall(b"a SELECT INBOX\r\n")
	until_tagged(f, b"a")
	s.sendall(b"b IDLE\r\n")
	check(f.readline().startswith(b"+"), "IDLE continuation")
	t0 = time.time()
	w.deliver(message("second"))
	line = f.readline()
	check(line == b"* 2 EXISTS\r\n", "IDLE got %r" % line)
	check(time.time() - t0 < 3, "IDLE took %.1fs" % (time.time() - t0))
	s.sendall(b"DONE\r\n")
	got = until_tagged(f, b"b")
	check(got[-1].startswith(b"b OK"), "DONE: %r" % got)
	s.close()
	w.check_clean()


def test_append(fx):
	w = World(fx)
	c = w.client()
	msg = crlf(message("appended", body="x\n"))
	typ, d = c.append("INBOX", "(\\Seen \\Flagged)",
	                  imaplib.Time2Internaldate(1700000000), msg)
	check(typ == "OK", "APPEND %r" % d)
	m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", d[0])
	check(m, "no APPENDUID: %r" % d)
	c.select("INBOX")
	typ, d = c.uid("FETCH", m.group(2).decode(), "(FLAGS INTERNALDATE BODY.PEEK[])")
	check(d[0][1] == msg, "APPEND then FETCH bytes")
	check(b"\\Seen" in d[0][0] and b"\\Flagged" in d[0][0], "flags %r" % d)
	check(b'"14-Nov-2023 22:13:20 +0000"' in d[0][0], "date %r" % d)
	# the file is stored with LF line ends and its sizes in the name
	names = w.names()
	check(len(names) == 1 and ",S=%d,W=%d" % (len(msg) - msg.count(b"\n"),
	                                         len(msg)) in names[0], "%r" % names)
	typ, d = c.append("Nonexistent", None, None, msg)
	check(typ == "NO" and b"TRYCREATE" in d[0], "APPEND to missing: %r" % d)
	typ, d = c.status("INBOX", "(MESSAGES UIDNEXT UNSEEN RECENT UIDVALIDITY)")
	check(typ == "OK" and b"MESSAGES 1" in d[0] and b"UNSEEN 0" in d[0],
	      "STATUS %r" % d)
	w.check_clean()


def test_folders(fx):
	w = World(fx)
	c = w.client()
	typ, d = c.list()
	names = [x.decode() for x in d]
	for sp in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
		check(any(('"%s"' % sp) in n and ("\\" + sp) in n for n in names),
		      "no special-use %s: %r" % (sp, names))
	check(c.create("Work")[0] == "OK", "CREATE")
	check(c.create("Work")[0] == "NO", "CREATE again")
	check(c.create("Work.Sub")[0] == "OK", "CREATE child")
	typ, d = c.list('""', "Work*")
	check(len(d) == 2 and b"\\HasChildren" in d[0], "LIST %r" % d)
	typ, d = c.list('""', "%")
	check(not any(b"Work.Sub" in x for x in d), "%% matched a child: %r" % d)
	check(c.rename("Work", "Play")[0] == "OK", "RENAME")
	typ, d = c.list('""', "Play*")
	check(len(d) == 2 and any(b'"Play.Sub"' in x for x in d), "%r" % d)
	check(c.subscribe("Play")[0] == "OK", "SUBSCRIBE")
	typ, d = c.lsub('""', "*")
	check(any(b'"Play"' in x for x in d), "LSUB %r" % d)
	check(c.unsubscribe("Play")[0] == "OK", "UNSUBSCRIBE")
	check(c.delete("Play.Sub")[0] == "OK", "DELETE")
	check(c.delete("Play.Sub")[0] == "NO", "DELETE again")
	check(c.delete("INBOX")[0] == "NO", "DELETE INBOX")
	check(c.select("Nope")[0] == "NO", "SELECT missing")
	# COPY and MOVE with UIDPLUS
	w.deliver(message("a"))
	w.deliver(message("b"))
	c.select("INBOX")
	typ, d = c.copy("1:2", "Play")
	check(typ == "OK" and b"COPYUID" in d[0], "COPY %r" % d)
	typ, d = c._simple_command("MOVE", "1", "Trash")
	check(typ == "OK", "MOVE %r" % d)
	check(c.response("EXPUNGE")[1] == [b"1"], "MOVE expunge")
	typ, d = c.status("Play", "(MESSAGES)")
	check(b"MESSAGES 2" in d[0], "STATUS Play %r" % d)
	typ, d = c.status("Trash", "(MESSAGES)")
	check(b"MESSAGES 1" in d[0], "STATUS Trash %r" % d)
	typ, d = c._simple_command("NAMESPACE")
	check(typ == "OK", "NAMESPACE")
	check(c._simple_command("UNSELECT")[0] == "OK", "UNSELECT")
	c.logout()
	s, f = raw_login(w)
	s.sendall(b"a EXAMINE Play\r\nb STORE 1 +FLAGS (\\Seen)\r\n"
	          b"c EXPUNGE\r\nd CLOSE\r\ne FETCH 1 FLAGS\r\n")
	got = until_tagged(f, b"e")
	tagged = [l for l in got if not l.startswith(b"*")]
	check(tagged[0].startswith(b"a OK [READ-ONLY]") and
	      tagged[1].startswith(b"b NO [READ-ONLY]") and
	      tagged[2].startswith(b"c NO [READ-ONLY]") and
	      tagged[3].startswith(b"d OK") and tagged[4].startswith(b"e BAD"),
	      "EXAMINE: %r" % got)
	s.close()
	w.check_clean()



def test_list_extended(fx):
	"""LIST-EXTENDED (RFC 5258) and SPECIAL-USE (RFC 6154) selection and
	return options, multiple patterns, \\NonExistent subscriptions,
	CHILDINFO, and BAD for what the grammar does not allow."""
	w = World(fx)
	c = w.client()
	typ, caps = c.capability()
	check(b"LIST-EXTENDED" in caps[0], "no LIST-EXTENDED in %r" % caps)
	for box in ("Work", "Work.Sub", "Play"):
		check(c.create(box)[0] == "OK", "CREATE " + box)
	check(c.subscribe("Work.Sub")[0] == "OK", "SUBSCRIBE Work.Sub")
	check(c.subscribe("Play")[0] == "OK", "SUBSCRIBE Play")
	check(c.delete("Play")[0] == "OK", "DELETE Play")

	def listing(args):
		typ, d = c._simple_command("LIST", *args)
		check(typ == "OK", "LIST %s: %s %r" % (" ".join(args), typ, d))
		out = {}
		for line in c.untagged_responses.pop("LIST", []):
			if isinstance(line, tuple):
				line = line[0]
			m = re.match(rb'\(([^)]*)\) "\." "?([^" ]+)"?( .*)?$', line)
			check(m, "LIST line %r" % line)
			out[m.group(2).decode()] = (m.group(1).decode().split(),
			                            (m.group(3) or b"").decode())
		return out

	# two patterns in one command, each mailbox once
	got = listing(['""', '("Work*" "INBOX")'])
	check(sorted(got) == ["INBOX", "Work", "Work.Sub"], "patterns: %r" % got)
	# selection SUBSCRIBED: only subscribed ones, a deleted one as
	# \NonExistent, each marked \Subscribed
	got = listing(['(SUBSCRIBED)', '""', '"*"'])
	check("Work.Sub" in got and "\\Subscribed" in got["Work.Sub"][0],
	      "SUBSCRIBED: %r" % got)
	check("Play" in got and "\\NonExistent" in got["Play"][0],
	      "deleted subscription: %r" % got)
	check("Work" not in got, "unsubscribed Work selected: %r" % got)
	# RECURSIVEMATCH: the parent comes with CHILDINFO
	got = listing(['(SUBSCRIBED RECURSIVEMATCH)', '""', '"%"'])
	check("Work" in got and "CHILDINFO" in got["Work"][1] and
	      "\\Subscribed" not in got["Work"][0], "RECURSIVEMATCH: %r" % got)
	# RETURN (SUBSCRIBED CHILDREN): attributes without changing the set
	got = listing(['""', '"Work*"', "RETURN", "(SUBSCRIBED CHILDREN)"])
	check(sorted(got) == ["Work", "Work.Sub"] and
	      "\\HasChildren" in got["Work"][0] and
	      "\\Subscribed" in got["Work.Sub"][0] and
	      "\\Subscribed" not in got["Work"][0], "RETURN: %r" % got)
	# SPECIAL-USE selection: just the special folders
	got = listing(['(SPECIAL-USE)', '""', '"*"', "RETURN", "(SPECIAL-USE)"])
	check(sorted(got) == ["Archive", "Drafts", "Junk", "Sent", "Trash"] and
	      "\\Sent" in got["Sent"][0], "SPECIAL-USE: %r" % got)
	# the grammar: RECURSIVEMATCH alone, unknown options, stray words
	for bad in ([b'(RECURSIVEMATCH)', b'""', b'"*"'],
	            [b'(BOGUS)', b'""', b'"*"'],
	            [b'""', b'"*"', b"RETURN", b"(BOGUS)"],
	            [b'""', b'"*"', b"RETURN"],
	            [b'""', b'()'],
	            [b'""', b'"*"', b"EXTRA"]):
		s, f = raw_login(w)
		s.sendall(b"x LIST " + b" ".join(bad) + b"\r\n")
		got = until_tagged(f, b"x")
		check(got[-1].startswith(b"x BAD"), "LIST %r: %r" % (bad, got))
		s.close()
	c.logout()
	w.check_clean()

def test_examine_leaves_new(fx):
	"""EXAMINE shows new/ messages (\\Recent) without moving them or
	setting \\Seen; the SELECT that follows takes them and they keep
	their UIDs and stay \\Recent for it; STATUS counts them in place."""
	w = World(fx)
	w.deliver(message("one"))
	w.deliver(message("two"))
	c = w.client()
	typ, d = c.status("INBOX", "(MESSAGES RECENT UNSEEN UIDNEXT)")
	check(b"MESSAGES 2" in d[0] and b"RECENT 2" in d[0] and
	      b"UNSEEN 2" in d[0] and b"UIDNEXT 3" in d[0], "STATUS %r" % d)
	typ, d = c.select("INBOX", readonly=True)
	check(typ == "OK" and d == [b"2"], "EXAMINE %r" % d)
	check(c.response("RECENT")[1] == [b"2"], "EXAMINE RECENT")
	typ, d = c.uid("SEARCH", "ALL")
	uids = d[0].split()
	check(len(uids) == 2, "uids %r" % d)
	check(fetch1(c, "1", "BODY[]") == crlf(message("one")), "FETCH in new/")
	typ, d = c.fetch("1:2", "FLAGS")
	check(all(b"\\Recent" in x and b"\\Seen" not in x for x in d),
	      "flags %r" % d)
	check(len(w.names(sub="new")) == 2 and not w.names(), "EXAMINE moved "
	      "files: new %r cur %r" % (w.names(sub="new"), w.names()))
	# another session selects: it takes them, same UIDs, \Recent there
	b = w.client()
	typ, d = b.select("INBOX")
	check(b.response("RECENT")[1] == [b"2"], "SELECT RECENT after EXAMINE")
	typ, d = b.uid("SEARCH", "ALL")
	check(d[0].split() == uids, "UIDs %r, were %r" % (d, uids))
	check(not w.names(sub="new") and len(w.names()) == 2, "not taken")
	b.store("1", "+FLAGS", "(\\Seen)")
	# the read-only view follows the rename into cur/
	c.noop()
	check(fetch1(c, "2", "BODY.PEEK[]") == crlf(message("two")),
	      "FETCH after the move to cur/")
	typ, d = c.fetch("1", "FLAGS")
	check(b"\\Seen" in d[0], "flags after move %r" % d)
	c.logout()
	b.logout()
	w.check_clean()


def test_keywords(fx):
	"""Keywords are Maildir letters a-z named in dovecot-keywords: STORE,
	FETCH, SEARCH KEYWORD/UNKEYWORD, APPEND, COPY into a folder with
	other letters, another session sees them, 26 at most."""
	w = World(fx)
	w.deliver(message("one"))
	w.deliver(message("two"))
	c = w.client()
	typ, d = c.select("INBOX")
	pf = c.response("PERMANENTFLAGS")[1]
	check(pf and b"\\*" in pf[0], "PERMANENTFLAGS %r" % pf)
	other = w.client(select="INBOX")
	typ, d = c.store("1", "+FLAGS", "($Forwarded Work)")
	check(typ == "OK" and b"$Forwarded" in d[0] and b"Work" in d[0],
	      "STORE %r" % d)
	fl = c.response("FLAGS")[1]
	check(fl and b"$Forwarded Work" in fl[-1], "untagged FLAGS %r" % fl)
	kwf = os.path.join(w.maildir(), "dovecot-keywords")
	check(open(kwf).read() == "0 $Forwarded\n1 Work\n", "keyword file")
	check(any(n.endswith(":2,ab") for n in w.names()), "letters %r" %
	      w.names())
	typ, d = c.fetch("1", "FLAGS")
	check(b"(FLAGS ($Forwarded Work" in d[0], "FETCH %r" % d)
	# case-insensitive, no second letter
	c.store("2", "+FLAGS", "(work)")
	check(open(kwf).read() == "0 $Forwarded\n1 Work\n", "keyword file")

	def srch(*crit):
		typ, d = c.search(None, *crit)
		check(typ == "OK", "SEARCH %r %r" % (crit, d))
		return d[0].split()
	check(srch("KEYWORD", "Work") == [b"1", b"2"], "KEYWORD")
	check(srch("KEYWORD", "$forwarded") == [b"1"], "KEYWORD ci")
	check(srch("UNKEYWORD", "$Forwarded") == [b"2"], "UNKEYWORD")
	check(srch("KEYWORD", "Never") == [], "KEYWORD unknown")
	check(srch("UNKEYWORD", "Never") == [b"1", b"2"], "UNKEYWORD unknown")
	c.store("1", "-FLAGS", "(Work)")
	check(srch("KEYWORD", "Work") == [b"2"], "after -FLAGS")
	# the other session learns the names and sees the flags
	other.noop()
	typ, d = other.fetch("1:2", "FLAGS")
	check(b"$Forwarded" in d[0] and b"Work" in d[1], "other %r" % d)
	# COPY into a folder whose letters differ
	check(c.create("Play")[0] == "OK", "CREATE")
	typ, d = c.append("Play", "(Junk \\Seen)", None, crlf(message("ap")))
	check(typ == "OK", "APPEND %r" % d)
	typ, d = c.copy("1", "Play")
	check(typ == "OK", "COPY %r" % d)
	pkw = os.path.join(w.maildir(), ".Play", "dovecot-keywords")
	check(open(pkw).read() == "0 Junk\n1 $Forwarded\n", "Play keywords %r"
	      % open(pkw).read())
	c.select("Play")
	typ, d = c.fetch("1:2", "FLAGS")
	check(b"Junk" in d[0] and b"\\Seen" in d[0] and
	      b"$Forwarded" in d[1] and b"Junk" not in d[1], "Play %r" % d)
	# 26 letters, then NO [LIMIT]
	many = " ".join("k%d" % i for i in range(24))
	typ, d = c.store("1", "+FLAGS.SILENT", "(%s)" % many)
	check(typ == "OK", "24 more %r" % d)
	typ, d = c.store("1", "+FLAGS", "(onetoomany)")
	check(typ == "NO" and b"[LIMIT]" in d[0], "27th %r" % d)
	typ, d = c.store("1", "+FLAGS", "(k3 \\Flagged)")
	check(typ == "OK", "known keyword when full %r" % d)
	typ, d = c.select("Play")
	pf = c.response("PERMANENTFLAGS")[1]
	check(pf and b"\\*" not in pf[0] and b"k23" in pf[0], "full %r" % pf)
	c.logout()
	other.logout()
	w.check_clean()


def test_quota(fx):
	"""Maildir++ quota from maildirsize's quota line (or $QUOTA):
	GETQUOTAROOT/GETQUOTA report it, APPEND, COPY and MOVE past it get
	NO [OVERQUOTA], Trash is not counted."""
	w = World(fx)
	msgs = [message("q%d" % i) for i in range(2)]
	for m in msgs:
		w.deliver(m)
	size = sum(len(m) for m in msgs)
	with open(os.path.join(w.maildir(), "maildirsize"), "w") as f:
		f.write("100000S,3C\n%d 2\n" % size)
	os.chown(os.path.join(w.maildir(), "maildirsize"), w.uid, w.gid)
	c = w.client()
	typ, d = c.capability()
	check(b" QUOTA " in d[0] and b"QUOTA=RES-STORAGE" in d[0] and
	      b"QUOTA=RES-MESSAGE" in d[0], "CAPABILITY %r" % d)
	typ, d = c.getquotaroot("INBOX")
	check(typ == "OK" and d[0] == [b'"INBOX" ""'] and
	      d[1] == [b'"" (STORAGE %d 97 MESSAGE 2 3)' % ((size + 1023) // 1024)],
	      "GETQUOTAROOT %r" % d)
	typ, d = c.append("INBOX", None, None, crlf(message("fits")))
	check(typ == "OK", "APPEND within quota %r" % d)
	typ, d = c.append("INBOX", None, None, crlf(message("over")))
	check(typ == "NO" and b"[OVERQUOTA]" in d[0], "APPEND over %r" % d)
	typ, d = c.getquota('""')
	check(typ == "OK" and b"MESSAGE 3 3" in d[0], "GETQUOTA %r" % d)
	check(c.getquota("nope")[0] == "NO", "GETQUOTA of an unknown root")
	check(c._simple_command("SETQUOTA", '""', "(STORAGE 1)")[0] == "NO",
	      "SETQUOTA")
	check(c.create("Play")[0] == "OK", "CREATE")
	c.select("INBOX")
	typ, d = c.copy("1", "Play")
	check(typ == "NO" and b"[OVERQUOTA]" in d[0], "COPY over %r" % d)
	typ, d = c.copy("1", "Trash")
	check(typ == "OK", "COPY to Trash %r" % d)
	c.select("Trash")
	typ, d = c._simple_command("MOVE", "1", "INBOX")
	check(typ == "NO", "MOVE out of Trash over quota %r" % d)
	typ, d = c.getquotaroot("Nope")
	check(typ == "NO", "GETQUOTAROOT of a missing folder")
	c.logout()
	# no quota: no root, no limit
	os.unlink(os.path.join(w.maildir(), "maildirsize"))
	c = w.client()
	typ, d = c.getquotaroot("INBOX")
	check(typ == "OK" and d[0] == [b'"INBOX"'], "no quota %r" % d)
	typ, d = c.append("INBOX", None, None, crlf(message("free")))
	check(typ == "OK", "APPEND without quota %r" % d)
	c.logout()
	w.check_clean()


def test_quota_env(fx):
	"""$QUOTA wins over the file's quota line."""
	w = World(fx, env={"QUOTA": "2C"})
	w.deliver(message("a"))
	w.deliver(message("b"))
	c = w.client()
	typ, d = c.getquotaroot("INBOX")
	check(typ == "OK" and d[1] == [b'"" (MESSAGE 2 2)'], "QUOTA %r" % d)
	typ, d = c.append("INBOX", None, None, crlf(message("over")))
	check(typ == "NO" and b"[OVERQUOTA]" in d[0], "APPEND over %r" % d)
	c.logout()
	w.check_clean()


def test_search(fx):
	w = World(fx)
	w.deliver(message("alpha news", body="the quick brown fox\n"))
	w.deliver(message("beta", body="lazy dog\n", extra="X-Tag: blue\n"))
	w.deliver(b"Subject: big\n\n" + b"z" * 5000 + b"\n")
	c = w.client(select="INBOX")
	c.store("2", "+FLAGS", "(\\Flagged)")

	def s(*crit):
		typ, d = c.search(None, *crit)
		check(typ == "OK", "SEARCH %r: %r" % (crit, d))
		return d[0].split()
	check(s("ALL") == [b"1", b"2", b"3"], "ALL")
	check(s("SUBJECT", "ALPHA") == [b"1"], "SUBJECT")
	check(s("FROM", "ann@client") == [b"1", b"2"], "FROM")
	check(s("BODY", "lazy") == [b"2"], "BODY")
	check(s("TEXT", "X-Tag") == [b"2"], "TEXT")
	check(s("HEADER", "X-Tag", "blue") == [b"2"], "HEADER")
	check(s("FLAGGED") == [b"2"], "FLAGGED")
	check(s("UNFLAGGED") == [b"1", b"3"], "UNFLAGGED")
	check(s("NOT", "FLAGGED", "SMALLER", "1000") == [b"1"], "NOT")
	check(s("OR", "FLAGGED", "LARGER", "4000") == [b"2", b"3"], "OR")
	check(s("SINCE", "1-Jan-2000") == [b"1", b"2", b"3"], "SINCE")
	check(s("BEFORE", "1-Jan-2000") == [], "BEFORE")
	check(s("2:3", "UNSEEN") == [b"2", b"3"], "set")
	typ, d = c.uid("SEARCH", "UID", "1:*")
	check(len(d[0].split()) == 3, "UID SEARCH")
	typ, d = c.search("UTF-8", "SUBJECT", "beta")
	check(d[0] == b"2", "CHARSET UTF-8")
	w.check_clean()



def test_search_decoded(fx):
	"""SEARCH compares decoded text (RFC 3501 6.4.4): encoded words in
	headers, quoted-printable and base64 bodies, 8-bit charsets as UTF-8,
	case ignored for Latin letters too; attachments that are not text are
	not searched."""
	w = World(fx)
	w.deliver(b"Subject: =?iso-8859-1?q?R=E9union_=E0_Paris?=\n"
	          b"From: ann@client.test\n"
	          b"Content-Type: text/plain; charset=iso-8859-1\n"
	          b"Content-Transfer-Encoding: quoted-printable\n\n"
	          b"Un caf=E9 cr=E8me, soft=\nbreak.\n")
	w.deliver(b"Subject: =?utf-8?b?w4l0w6kgMjAyNg==?=\n"
	          b"From: bob@client.test\n"
	          b"Content-Type: multipart/mixed; boundary=b\n\n"
	          b"--b\nContent-Type: text/plain; charset=utf-8\n"
	          b"Content-Transfer-Encoding: base64\n\n"
	          b"bGUgZ3LDom5kIGNow6J0ZWF1\n"
	          b"--b\nContent-Type: application/octet-stream\n"
	          b"Content-Transfer-Encoding: base64\n\n"
	          b"c2VjcmV0IHdvcmQ=\n--b--\n")
	w.deliver(b"Subject: plain\n\nnothing encoded: =?utf-8?q?caf=C3=A9?=\n")
	c = w.client(select="INBOX")

	def s(key, value):
		c.literal = value.encode()
		typ, d = c.search("UTF-8", key)
		check(typ == "OK", "SEARCH %s %r: %r" % (key, value, d))
		return d[0].split()
	check(s("SUBJECT", "réunion à") == [b"1"], "encoded word, Latin-1")
	check(s("SUBJECT", "RÉUNION") == [b"1"], "case of É")
	check(s("SUBJECT", "été") == [b"2"], "encoded word, UTF-8 base64")
	check(s("BODY", "café crème") == [b"1"], "quoted-printable Latin-1")
	check(s("BODY", "café") == [b"1"],
	      "an encoded word in a body is text, not decoded (message 3)")
	check(s("BODY", "softbreak") == [b"1"], "soft line break")
	check(s("BODY", "grând château") == [b"2"], "base64 UTF-8 part")
	check(s("BODY", "secret") == [], "non-text attachment searched")
	check(s("TEXT", "réunion") == [b"1"], "TEXT sees decoded headers")
	check(s("BODY", "caf=E9") == [], "raw quoted-printable matched")
	w.check_clean()

def test_search_sent(fx):
	"""SENTBEFORE/SENTON/SENTSINCE go by the Date field's date, its time
	and zone disregarded; without a usable Date, by INTERNALDATE."""
	w = World(fx)
	w.deliver(b"Date: Mon, 2 Mar 2026 23:30:00 -0800\nSubject: a\n\nx\n")
	w.deliver(b"Date:  5 jan 99 10:00 GMT\nSubject: b\n\nx\n")
	w.deliver(b"Subject: c\n\nno date\n")
	w.deliver(b"Date: whenever\nSubject: d\n\nx\n")
	c = w.client(select="INBOX")
	today = time.strftime("%d-%b-%Y", time.gmtime())

	def srch(*crit):
		typ, d = c.search(None, *crit)
		check(typ == "OK", "SEARCH %r: %r" % (crit, d))
		return d[0].split()
	check(srch("SENTON", "2-Mar-2026") == [b"1"], "SENTON")
	check(srch("SENTON", "05-Jan-1999") == [b"2"], "SENTON 2-digit year")
	check(srch("SENTBEFORE", "2-Mar-2026") == [b"2"], "SENTBEFORE")
	check(srch("SENTSINCE", "2-Mar-2026") == [b"1", b"3", b"4"], "SENTSINCE")
	check(srch("SENTON", today) == [b"3", b"4"], "no Date: INTERNALDATE")
	check(srch("NOT", "SENTSINCE", "1-Jan-2000") == [b"2"], "NOT")
	check(bad_of(c, "SEARCH", "SENTON", "2-Foo-2026"), "bad date not BAD")
	w.check_clean()


def test_mutt_reads(fx):
	if not os.access("/usr/bin/mutt", os.X_OK):
		raise harness.Skip("mutt is not installed")
	w = World(fx)
	w.deliver(message("for mutt", body="mutt was here\n"))
	rc = os.path.join(fx.dir, "muttrc")
	with open(rc, "w") as f:
		f.write('set imap_user="alice@example.test"\nset imap_pass="%s"\n'
		        'set ssl_starttls=no\nset ssl_force_tls=no\n'
		        'set folder="imap://127.0.0.1:%d/"\nset spoolfile="+INBOX"\n'
		        'set header_cache=""\nset message_cachedir=""\n'
		        'set wait_key=no\nset quit=yes\nset pipe_decode=no\n' %
		        (PASSWORD, w.server.port))
	out = os.path.join(fx.dir, "saved")
	# mutt wants a terminal: script(1) gives it one
	cmd = ("mutt -n -F %s -f imap://127.0.0.1:%d/INBOX -e "
	       "\"push '<pipe-message>cat > %s<enter><quit>'\"" %
	       (rc, w.server.port, out))
	p = subprocess.run(["script", "-qec", cmd, "/dev/null"],
	                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
	                   stderr=subprocess.PIPE, timeout=30,
	                   env={"TERM": "vt100", "HOME": fx.dir,
	                        "PATH": os.environ.get("PATH", "")})
	check(os.path.exists(out), "mutt saved nothing: %r %r" %
	      (p.stdout[-300:], p.stderr[-300:]))
	with open(out, "rb") as f:
		check(b"mutt was here" in f.read(), "saved message body")


# -- TLS: the real quail-tlsd in front -------------------------------------

TLS_NAME = tls.NAMES[0]         # the certificate's name, sent as SNI
HANDSHAKE_TIMEOUT = 5           # quail-tlsd -t for these tests
QUIET = 1.0                     # seconds of silence that mean "no reply"


def tls_world(fx):
	"""Users and their cdb (no plaintext server), the PKI and the TLS
	user."""
	check(os.access(tls.TLSD, os.X_OK), "%s is not built" % tls.TLSD)
	w = World(fx, serve=False)
	tls.setup(fx)
	tls.tls_user()
	return w


def tls_server(fx, w, starttls=True, session=IMAPD, **env):
	"""tcpserver -> quail-tlsd [-n] -> quail-imapd imap.test
	quail-checkpassword quail-imapd, AUTHPLAINTEXT unset; UCSPITLS=""
	with -n."""
	e = {"QUAIL_USERDB": w.userdb}
	if starttls:
		e["UCSPITLS"] = ""
	e.update(env)
	opts = (["-n"] if starttls else []) + ["-t", str(HANDSHAKE_TIMEOUT)]
	return tls.TlsServer(fx, opts, [IMAPD, "imap.test", CKPW, session], env=e,
	                     name="imaptls" if starttls else "imaps")


class IMAP4(imaplib.IMAP4):
	"""imaplib.IMAP4 to 127.0.0.1 that verifies the certificate for the
	host name it was given (TLS_NAME does not resolve)."""

	def _create_socket(self, timeout):
		return socket.create_connection(("127.0.0.1", self.port), timeout)


class IMAP4_SSL(imaplib.IMAP4_SSL):
	def _create_socket(self, timeout):
		s = socket.create_connection(("127.0.0.1", self.port), timeout)
		return self.ssl_context.wrap_socket(s, server_hostname=self.host)


def tls_client(fx, cls, srv, **kw):
	c = cls(TLS_NAME, srv.port, timeout=15, **kw)
	fx.at_exit(lambda: safe_logout(c))
	return c


def no_more_plaintext(sock, seconds=QUIET):
	"""Nothing more arrives on the socket for a while."""
	sock.settimeout(seconds)
	try:
		got = sock.recv(4096, socket.MSG_PEEK)
	except (socket.timeout, ConnectionResetError):
		return
	finally:
		sock.settimeout(15)
	check(not got, "plaintext after the OK to STARTTLS: %r" % got)


def tls_readline(sock):
	buf = b""
	while not buf.endswith(b"\n"):
		b = sock.recv(1)
		if not b:
			break
		buf += b
	return buf


def tls_until_tagged(sock, tag):
	lines = []
	while True:
		line = tls_readline(sock)
		check(line, "connection closed; got %r" % lines)
		lines.append(line)
		if line.startswith(tag + b" "):
			return lines


def bad_of(c, *cmd):
	"""Whether imaplib's command got a tagged BAD."""
	try:
		c._simple_command(*cmd)
	except imaplib.IMAP4.error as e:
		return " BAD " in str(e)
	return False


def tls_check_clean(srv, sessions):
	"""sessions sessions ended, all with status 0, no fatal line, nothing
	left below tcpserver."""
	exits = srv.wait_sessions(sessions)
	check(exits == [0] * sessions, "exits %r; log:\n%s" % (exits, srv.log()))
	for line in srv.log().splitlines():
		check(": fatal:" not in line, "unexpected log line: %s" % line)
	srv.no_leftovers()


def test_imap_tls_starttls(fx):
	"""UCSPITLS="": the greeting and CAPABILITY offer STARTTLS and say
	LOGINDISABLED (no AUTH=PLAIN), LOGIN is refused; after a verified
	STARTTLS the capabilities drop STARTTLS and LOGINDISABLED and offer
	AUTH=PLAIN, LOGIN works, and FETCH serves the message exactly,
	a large one too (through quail-tlsd's relay)."""
	w = tls_world(fx)
	small = message("over starttls", body="tls body\n")
	big = message("big one", body="".join("line %06d %s\n" % (i, "x" * 60)
	                                      for i in range(5000)))
	w.deliver(small)
	w.deliver(big)
	srv = tls_server(fx, w)

	s, f = raw(srv.port)
	greet = f.readline()
	check(greet.startswith(b"* OK [CAPABILITY ") and b" STARTTLS" in greet
	      and b"LOGINDISABLED" in greet and b"AUTH=PLAIN" not in greet,
	      "greeting %r" % greet)
	s.sendall(b"a CAPABILITY\r\n")
	got = until_tagged(f, b"a")
	check(got[-1].startswith(b"a OK") and any(
	      l.startswith(b"* CAPABILITY ") and b" STARTTLS" in l and
	      b"LOGINDISABLED" in l for l in got), "CAPABILITY %r" % got)
	s.sendall(b"b LOGIN alice@example.test \"%s\"\r\n" % PASSWORD.encode())
	check(f.readline().startswith(b"b NO [PRIVACYREQUIRED]"),
	      "LOGIN before STARTTLS")
	s.sendall(b"c AUTHENTICATE PLAIN\r\n")
	line = f.readline()
	check(line.startswith(b"c NO") or line.startswith(b"c BAD"),
	      "AUTHENTICATE before STARTTLS: %r" % line)
	s.sendall(b"d LOGOUT\r\n")
	until_tagged(f, b"d")
	s.close()

	c = tls_client(fx, IMAP4, srv)
	check("STARTTLS" in c.capabilities and "LOGINDISABLED" in c.capabilities,
	      "capabilities %r" % (c.capabilities,))
	typ, d = c.starttls(ssl_context=tls.client_ctx(fx))
	check(typ == "OK", "STARTTLS %r" % d)
	check(c.sock.version() in ("TLSv1.2", "TLSv1.3"), c.sock.version())
	cert = dict(x[0] for x in c.sock.getpeercert()["subject"])
	check(cert["commonName"] == TLS_NAME, "certificate %r" % cert)
	check("STARTTLS" not in c.capabilities and
	      "LOGINDISABLED" not in c.capabilities and
	      "AUTH=PLAIN" in c.capabilities,
	      "capabilities in TLS %r" % (c.capabilities,))
	check(bad_of(c, "STARTTLS"), "a second STARTTLS is not BAD")
	typ, _ = c.login("alice@" + DOMAIN, PASSWORD)
	check(typ == "OK", "LOGIN in TLS")
	typ, d = c.select("INBOX")
	check(typ == "OK" and d == [b"2"], "SELECT %r" % d)
	check(fetch1(c, "1", "BODY.PEEK[]") == crlf(small), "BODY[] over TLS")
	check(fetch1(c, "2", "BODY.PEEK[]") == crlf(big), "big BODY[] over TLS")
	typ, d = c.search(None, "SUBJECT", "starttls")
	check(d == [b"1"], "SEARCH %r" % d)
	c.logout()

	# AUTHENTICATE PLAIN after STARTTLS
	c = tls_client(fx, IMAP4, srv)
	c.starttls(ssl_context=tls.client_ctx(fx))
	typ, _ = c.authenticate("PLAIN", lambda _: b"\0alice@example.test\0" +
	                        PASSWORD.encode())
	check(typ == "OK", "AUTHENTICATE PLAIN in TLS")
	c.logout()

	tls_check_clean(srv, 3)
	ok = srv.lines("tls")
	check(len(ok) == 2 and all("result=ok" in l for l in ok),
	      "quail-tlsd lines %r" % ok)


test_imap_tls_starttls.timeout = 60


def test_imap_tls_env_cleared(fx):
	"""After STARTTLS the login stage drops SSLCTLFD, SSLREADFD,
	SSLWRITEFD and UCSPITLS: the session stage never sees descriptors
	that are no longer what the names say."""
	w = tls_world(fx)
	out = os.path.join(w.homes, "alice", "session.env")
	wrap = os.path.join(fx.dir, "session-wrap")
	with open(wrap, "w") as f:
		f.write("#!/bin/sh\nenv > %s\nexec %s\n" % (out, IMAPD))
	os.chmod(wrap, 0o755)
	srv = tls_server(fx, w, session=wrap)
	c = tls_client(fx, IMAP4, srv)
	typ, d = c.starttls(ssl_context=tls.client_ctx(fx))
	check(typ == "OK", "STARTTLS %r" % d)
	typ, _ = c.login("alice@" + DOMAIN, PASSWORD)
	check(typ == "OK", "LOGIN in TLS")
	c.logout()
	with open(out) as f:
		names = [l.split("=", 1)[0] for l in f.read().splitlines()]
	check("QUAIL_IMAP_TAG" in names, "wrapper env %r" % names)
	for n in ("SSLCTLFD", "SSLREADFD", "SSLWRITEFD", "UCSPITLS"):
		check(n not in names, "%s left in the session's environment" % n)
	tls_check_clean(srv, 1)


test_imap_tls_env_cleared.timeout = 60


def test_imap_tls_injection(fx):
	"""CVE-2011-0411: "a STARTTLS\r\nb NOOP\r\n" in one write: b is
	answered neither in plaintext nor inside TLS (quail-imapd read it and
	discards it, or left it for quail-tlsd, which then fails the
	handshake). The same with a LOGIN injected: no session is logged in
	after the handshake. And bytes sent after the OK, before the
	handshake, are taken by quail-tlsd as a bad ClientHello."""
	w = tls_world(fx)
	srv = tls_server(fx, w)
	login = b"b LOGIN alice@example.test \"%s\"\r\n" % PASSWORD.encode()
	refused = 0
	for injected in (b"b NOOP\r\n", login,
	                 b"b NOOP\r\n" + login.replace(b"b ", b"x ")):
		# byte by byte, so nothing after the OK is read here
		s = socket.create_connection(("127.0.0.1", srv.port), 15)
		tls_readline(s)
		s.sendall(b"a STARTTLS\r\n" + injected)
		line = tls_readline(s)
		check(line.startswith(b"a OK"), "STARTTLS: %r" % line)
		no_more_plaintext(s)
		try:
			t = tls.client_ctx(fx).wrap_socket(s, server_hostname=TLS_NAME)
		except (ssl.SSLError, ConnectionResetError):
			# safe too: the bytes went to quail-tlsd as its ClientHello
			refused += 1
			s.close()
			continue
		fx.at_exit(t.close)
		# the first tagged reply must be c's: a b line is the injected one
		t.sendall(b"c NOOP\r\nd SELECT INBOX\r\n")
		got = tls_until_tagged(t, b"d")
		check(not any(l.startswith(b"b ") or l.startswith(b"x ")
		              for l in got), "injected command answered: %r" % got)
		check(got[0].startswith(b"c OK") and got[-1].startswith(b"d BAD"),
		      "after STARTTLS (not logged in): %r" % got)
		t.sendall(b"e LOGOUT\r\n")
		tls_until_tagged(t, b"e")
		t.close()

	# bytes after the OK, before the handshake: only quail-tlsd reads them
	s = socket.create_connection(("127.0.0.1", srv.port), 15)
	tls_readline(s)
	s.sendall(b"a STARTTLS\r\n")
	check(tls_readline(s).startswith(b"a OK"), "STARTTLS")
	s.sendall(b"b NOOP\r\n")
	no_more_plaintext(s)
	try:
		t = tls.client_ctx(fx).wrap_socket(s, server_hostname=TLS_NAME)
		t.sendall(b"c NOOP\r\n")
		raise TestFailure("handshake after a plaintext NOOP: %r" %
		                  t.recv(200))
	except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
		pass
	s.close()

	tls_check_clean(srv, 4)
	fails = srv.lines("handshake")
	check(len(fails) == refused + 1 and
	      all("result=fail" in l for l in fails),
	      "quail-tlsd handshake lines: %r" % fails)
	check("event=session" not in srv.log(), "an injected LOGIN logged in: %s"
	      % srv.log())


test_imap_tls_injection.timeout = 60


def test_imap_tls_implicit(fx):
	"""quail-tlsd without -n (port 993): IMAP4_SSL verifying against the
	test CA; the greeting offers AUTH=PLAIN and neither STARTTLS nor
	LOGINDISABLED; STARTTLS is refused; LOGIN and FETCH work. A client
	that trusts other CAs refuses the certificate."""
	w = tls_world(fx)
	data = message("over imaps", body="implicit\n")
	w.deliver(data)
	srv = tls_server(fx, w, starttls=False)
	c = tls_client(fx, IMAP4_SSL, srv, ssl_context=tls.client_ctx(fx))
	check(c.sock.version() in ("TLSv1.2", "TLSv1.3"), c.sock.version())
	check("AUTH=PLAIN" in c.capabilities and
	      "STARTTLS" not in c.capabilities and
	      "LOGINDISABLED" not in c.capabilities,
	      "capabilities %r" % (c.capabilities,))
	check(bad_of(c, "STARTTLS"), "STARTTLS on imaps is not BAD")
	typ, _ = c.login("alice@" + DOMAIN, PASSWORD)
	check(typ == "OK", "LOGIN")
	c.select("INBOX")
	check(fetch1(c, "1", "BODY.PEEK[]") == crlf(data), "BODY[] over imaps")
	c.logout()

	other = ssl.create_default_context()     # the system CAs only
	try:
		IMAP4_SSL(TLS_NAME, srv.port, timeout=15, ssl_context=other)
		raise TestFailure("the test certificate verified without its CA")
	except ssl.SSLCertVerificationError:
		pass
	srv.wait_sessions(2)
	check(srv.exits()[0] == 0, "exits %r" % srv.exits())
	check(len(srv.lines("tls")) == 1 and "result=ok" in srv.lines("tls")[0],
	      "quail-tlsd: %r" % srv.lines("tls"))
	for line in srv.log().splitlines():
		check(": fatal:" not in line, "unexpected log line: %s" % line)
	srv.no_leftovers()


test_imap_tls_implicit.timeout = 60


# -- the uid list, version 3 (imapd/uidmap.h) ------------------------------
# Owned by the uid-list work: the binary file is read in place, keeps
# UIDs from a version 2 file, and keeps a modseq per message.

UIDLIST_MAGIC = b"QUAIL-UIDLIST 3\n"


def uidlist_v3(path):
	"""(head, {uid: (name, modseq, flags)}) of a version 3 quail-uidlist,
	checked for shape as the server checks it."""
	import struct
	with open(path, "rb") as f:
		b = f.read()
	check(b.startswith(UIDLIST_MAGIC), "not version 3: %r" % b[:20])
	(hsize, rsize, validity, nxt, hms, n, nnew, unseen, first, nameslen,
	 zero) = struct.unpack_from("<IIIIQIIIIII", b, 16)
	check(hsize == 160 and rsize == 24 and zero == 0 and
	      len(b) == hsize + rsize * n + nameslen, "uidlist sizes")
	names = b[hsize + rsize * n:]
	recs, last, seen = {}, 0, 0
	for i in range(n):
		uid, off, nl, bl, fl, ms = struct.unpack_from("<IIHHIQ", b,
		                                              hsize + rsize * i)
		check(last < uid < nxt and 1 <= ms <= hms and 0 < bl <= nl and
		      names[off + nl:off + nl + 1] == b"\0", "uidlist record %d" % i)
		recs[uid] = (names[off:off + nl], ms, fl)
		seen += bool(fl & 8)
		last = uid
	check(n - seen == unseen, "uidlist unseen count")
	head = {"validity": validity, "uidnext": nxt, "modseq": hms, "n": n,
	        "new": nnew, "unseen": unseen, "first": first}
	return head, recs


def age_folder(md, secs=100):
	"""new/ and cur/ last changed secs ago, so their stamp is trusted."""
	t = time.time() - secs
	for d in ("new", "cur"):
		os.utime(os.path.join(md, d), (t, t))


def test_uidlist_v3_modseq(fx):
	"""SELECT writes the binary uid list; an idle folder is served from it
	without a rewrite; STORE and EXPUNGE raise the modseqs; STATUS counts
	come from its header."""
	w = World(fx)
	for i in range(4):
		w.deliver(message("v3 %d" % i))
	md = w.maildir()
	path = os.path.join(md, "quail-uidlist")
	c = w.client(select="INBOX")
	validity = int(c.response("UIDVALIDITY")[1][0])
	typ, d = c.uid("SEARCH", "ALL")
	uids = [int(x) for x in d[0].split()]
	c.logout()
	age_folder(md)
	c = w.client(select="INBOX")        # trusted now: written once more
	c.logout()
	head, recs = uidlist_v3(path)
	check(head["validity"] == validity and sorted(recs) == uids and
	      head["unseen"] == 4 and head["first"] == 1 and head["new"] == 0,
	      "uidlist %r %r" % (head, sorted(recs)))
	st = os.stat(path)
	c = w.client(select="INBOX")
	check(int(c.response("UIDVALIDITY")[1][0]) == validity, "UIDVALIDITY")
	typ, d = c.uid("SEARCH", "ALL")
	check([int(x) for x in d[0].split()] == uids, "uids %r" % d)
	st2 = os.stat(path)
	check((st.st_ino, st.st_mtime_ns) == (st2.st_ino, st2.st_mtime_ns),
	      "an unchanged folder's uid list was rewritten")
	# a flag change moves that message's modseq above the old highest
	top = head["modseq"]
	c.uid("STORE", str(uids[1]), "+FLAGS", "(\\Seen)")
	c.noop()
	head, recs = uidlist_v3(path)
	check(recs[uids[1]][1] == top + 1 and head["modseq"] == top + 1 and
	      recs[uids[0]][1] <= top and head["unseen"] == 3 and
	      head["first"] == 1, "after STORE %r %r" % (head, recs))
	# an expunge raises the highest
	c.uid("STORE", str(uids[2]), "+FLAGS", "(\\Deleted)")
	c.expunge()
	head, recs = uidlist_v3(path)
	check(uids[2] not in recs and head["modseq"] > top + 1,
	      "after EXPUNGE %r" % head)
	w.deliver(message("v3 late"))
	other = w.client()
	typ, d = other.status("INBOX", "(MESSAGES UNSEEN RECENT UIDNEXT)")
	check(typ == "OK" and b"MESSAGES 4 " in d[0] and b"UNSEEN 3 " in d[0] and
	      b"RECENT 1 " in d[0], "STATUS %r" % d)
	other.logout()
	c.logout()
	w.check_clean()


def test_uidlist_upgrade_v2(fx):
	"""A version 2 text file keeps its UIDVALIDITY and UIDs."""
	w = World(fx)
	names = [w.deliver(message("old %d" % i)) for i in range(3)]
	md = w.maildir()
	for n in names:
		os.rename(os.path.join(md, "new", n),
		          os.path.join(md, "cur", n + ":2,S"))
	path = os.path.join(md, "quail-uidlist")
	text = b"QUAIL-UIDLIST 2 4242 60" + b" 0" * 12 + b"\n"
	for uid, n in zip((10, 20, 30), names):
		text += b"%d %s:2,S\n" % (uid, n.encode())
	with open(path, "wb") as f:
		f.write(text)
	os.chown(path, w.uid, w.gid)
	age_folder(md)
	c = w.client(select="INBOX")
	check(c.response("UIDVALIDITY")[1][0] == b"4242", "UIDVALIDITY lost")
	check(c.response("UIDNEXT")[1][0] == b"60", "UIDNEXT")
	typ, d = c.uid("SEARCH", "ALL")
	check(d[0].split() == [b"10", b"20", b"30"], "uids %r" % d)
	c.logout()
	head, recs = uidlist_v3(path)
	check(head["validity"] == 4242 and sorted(recs) == [10, 20, 30] and
	      head["modseq"] == 1 and head["unseen"] == 0, "upgraded %r" % head)
	w.check_clean()


def test_uidlist_damaged_v3(fx):
	"""A damaged version 3 file (cut short, an offset out of bounds) is a
	lost map: a new UIDVALIDITY, and the session carries on."""
	w = World(fx)
	for i in range(3):
		w.deliver(message("dmg %d" % i))
	md = w.maildir()
	path = os.path.join(md, "quail-uidlist")
	c = w.client(select="INBOX")
	validity = int(c.response("UIDVALIDITY")[1][0])
	c.logout()
	with open(path, "rb") as f:
		good = f.read()
	bad = bytearray(good)
	bad[160 + 4:160 + 8] = b"\xff\xff\xff\x7f"     # first name's offset
	for blob in (good[:len(good) - 1], bytes(bad), UIDLIST_MAGIC + b"x" * 200):
		with open(path, "wb") as f:
			f.write(blob)
		time.sleep(1.1)     # a different time() for the new UIDVALIDITY
		c = w.client(select="INBOX")
		v = int(c.response("UIDVALIDITY")[1][0])
		check(v != validity, "damaged file kept UIDVALIDITY %d" % v)
		check(c.response("EXISTS")[1][-1] == b"3", "EXISTS")
		check(fetch1(c, "1", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]").strip()
		      == b"Subject: dmg 0", "FETCH after a damaged uid list")
		c.logout()
		validity = v
	# records damaged behind a sound header, in an idle folder: SELECT
	# answers from the header; the first command that reads the records
	# finds the damage and ends the session with BYE [UIDVALIDITY]
	age_folder(md)
	c = w.client(select="INBOX")        # writes a trusted stamp
	c.logout()
	with open(path, "rb") as f:
		bad = bytearray(f.read())
	bad[160 + 16:160 + 24] = b"\0" * 8       # first record's modseq 0
	with open(path, "wb") as f:
		f.write(bytes(bad))
	c = w.client(select="INBOX")
	check(int(c.response("UIDVALIDITY")[1][0]) == validity, "header")
	try:
		c.fetch("1", "(FLAGS)")
		raise TestFailure("FETCH read damaged records")
	except imaplib.IMAP4.abort as e:
		check("UIDVALIDITY" in str(e), "BYE %s" % e)
	time.sleep(1.1)
	c = w.client(select="INBOX")
	check(int(c.response("UIDVALIDITY")[1][0]) != validity, "kept")
	check(c.response("EXISTS")[1][-1] == b"3", "EXISTS after the loss")
	c.logout()
	w.check_clean()
