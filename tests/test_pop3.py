"""POP3 integration tests: tcpserver + quail-popup + quail-checkpassword +
quail-pop3d, driven with python poplib and raw sockets, and with
fetchmail and getmail6.

Users come from a users file built by auth/quail-users (hashes from
quail-users -p); mailboxes belong to the unprivileged test user. Messages
are dropped into new/ with the names quail-local writes
("<time>.M<usec>P<pid>Q<n>.<host>,S=<bytes>,W=<CRLF bytes>"), and one
test delivers end to end through quail-smtpd and quail-send.
"""

import os
import poplib
import re
import shutil
import socket
import subprocess
import sys
import time

import harness
from harness import ROOT, check, run, Closed
import deliver_harness as dh

POPUP = os.path.join(ROOT, "popd", "quail-popup")
POP3D = os.path.join(ROOT, "popd", "quail-pop3d")
CKPW = os.path.join(ROOT, "auth", "quail-checkpassword")
USERS = os.path.join(ROOT, "auth", "quail-users")
HOST = "pop.test.quail"
PASSWORD = "s3cret pass"
DOMAIN = dh.DOMAIN

_hash_cache = {}


def pw_hash(pw):
	if pw not in _hash_cache:
		out = run([USERS, "-p"], input=(pw + "\n").encode(), check_rc=0)
		_hash_cache[pw] = out.decode().strip()
	return _hash_cache[pw]


class PopServer(harness.Server):
	"""tcpserver running quail-popup ... quail-pop3d Maildir."""

	def __init__(self, fx, env, argv, name):
		self.argv = argv
		super().__init__(fx, env, 40, name)

	def _spawn(self, env, concurrency):
		argv = ["tcpserver", "-v", "-H", "-R", "-l", harness.ME,
		        "-c", str(concurrency), "127.0.0.1", str(self.port)] + self.argv
		logf = open(self.log_path, "ab")
		try:
			return subprocess.Popen(argv, stdin=subprocess.DEVNULL,
			                        stdout=subprocess.DEVNULL, stderr=logf,
			                        env=env, cwd=self.fx.dir,
			                        start_new_session=True)
		finally:
			logf.close()


class PopWorld:
	"""Users, mailboxes and a POP3 server for one test."""

	def __init__(self, fx):
		dh.need_programs(POPUP, POP3D, CKPW, USERS)
		harness.need_root()
		self.fx = fx
		self.uid, self.gid = dh.test_user()
		os.chmod(fx.dir, 0o711)
		self.homes = os.path.join(fx.dir, "home")
		os.mkdir(self.homes, 0o711)
		self.userdb = os.path.join(fx.dir, "users.cdb")
		self.lines = []
		self.seq = 0
		fx.write_control("authdelay", "0")

	def add_user(self, name, flags="", password=PASSWORD):
		addr = "%s@%s" % (name, DOMAIN)
		home = os.path.join(self.homes, name)
		os.mkdir(home, 0o700)
		md = os.path.join(home, "Maildir")
		for d in ("", "/tmp", "/new", "/cur"):
			os.mkdir(md + d, 0o700)
		for d in (home, md, md + "/tmp", md + "/new", md + "/cur"):
			os.chown(d, self.uid, self.gid)
		line = "%s:%s:%d:%d:%s" % (addr, pw_hash(password), self.uid,
		                           self.gid, home)
		if flags:
			line += ":./Maildir/::" + flags
		self.lines.append(line)
		return dh.Mailbox(name, addr, home, md + "/")

	def write_users(self):
		src = os.path.join(self.fx.dir, "users.txt")
		with open(src, "w") as f:
			f.write("\n".join(self.lines) + "\n")
		run([USERS, "-o", self.userdb, src], check_rc=0)

	def env(self, **extra):
		e = self.fx.env(QUAIL_USERDB=self.userdb, AUTHPLAINTEXT="1")
		e.update(extra)
		for k, v in list(e.items()):
			if v is None:
				del e[k]
		return e

	def server(self, argv=None, **env):
		argv = argv or [POPUP, HOST, CKPW, POP3D, "Maildir"]
		s = PopServer(self.fx, self.env(**env), argv,
		              "pop%d" % len(self.fx.servers))
		self.fx.servers.append(s)
		return s

	def drop(self, box, data, when=None, sub="new", info=""):
		"""A message file as quail-local names it; returns the name."""
		self.seq += 1
		when = when or 1700000000 + self.seq
		name = "%d.M%dP%dQ%d.test,S=%d,W=%d%s" % (
			when, self.seq, os.getpid(), self.seq, len(data),
			len(data) + data.count(b"\n"), info)
		path = os.path.join(box.maildir, sub, name)
		with open(path, "wb") as f:
			f.write(data)
		os.chown(path, self.uid, self.gid)
		return name

	def many(self, box, n, size=300):
		"""n distinct messages; returns [(name, data)]."""
		out = []
		for i in range(n):
			data = message(i, size)
			out.append((self.drop(box, data), data))
		return out


def message(i, size=300):
	head = ("From: sender@client.test\nTo: alice@%s\nSubject: message %d\n"
	        "Message-Id: <m%d.%d@client.test>\n\n" % (DOMAIN, i, i,
	                                                   os.getpid()))
	body = "".join("line %d of message %d %s\n" % (k, i, "x" * (k % 50))
	               for k in range(size // 40 + 1))
	return (head + body).encode()


def crlf_form(data):
	return data.replace(b"\n", b"\r\n")


def pop(server, user="alice", password=PASSWORD, timeout=15):
	p = poplib.POP3("127.0.0.1", server.port, timeout=timeout)
	if user is not None:
		p.user("%s@%s" % (user, DOMAIN))
		p.pass_(password)
	return p


def err_of(fn, *args):
	"""The -ERR text fn raised, or fails the test."""
	try:
		r = fn(*args)
	except poplib.error_proto as e:
		return e.args[0].decode("latin-1")
	raise harness.TestFailure("%s%r: expected -ERR, got %r" %
	                          (fn.__name__, args, r))


class Raw:
	"""A raw POP3 client: lines out, bytes in."""

	def __init__(self, port, timeout=15):
		self.c = harness.Client(port, timeout)

	def line(self):
		return self.c._line()

	def send(self, data):
		self.c.send(data)

	def cmd(self, line):
		self.send(line if isinstance(line, bytes) else line.encode() + b"\r\n")
		return self.line()

	def multi(self):
		"""Raw bytes of a multi-line body through ".\r\n"."""
		buf = self.c.buf
		while not (buf.endswith(b"\r\n.\r\n") or buf == b".\r\n"):
			chunk = self.c.sock.recv(65536)
			if not chunk:
				raise Closed("closed in a multi-line reply")
			buf += chunk
		self.c.buf = b""
		return buf

	def close(self):
		self.c.close()


def login_raw(server, user="alice"):
	r = Raw(server.port)
	check(r.line().startswith("+OK <"), "greeting")
	check(r.cmd("USER %s@%s" % (user, DOMAIN)).startswith("+OK"), "USER")
	check(r.cmd("PASS " + PASSWORD).startswith("+OK"), "PASS")
	return r


def setup(fx, n=0, **env):
	w = PopWorld(fx)
	box = w.add_user("alice")
	w.write_users()
	msgs = w.many(box, n) if n else []
	return w, box, msgs, w.server(**env)


LOG_LINE = re.compile(r"^([a-z0-9-]+): ([a-z]+):((?: [A-Za-z0-9_-]+=\S*)*)$")


def pop_log(server):
	"""[{prog, level, key: value...}] of the server's log lines."""
	out = []
	for line in server.log().splitlines():
		m = LOG_LINE.match(line)
		if m:
			ev = {"prog": m.group(1), "level": m.group(2)}
			for kv in m.group(3).split():
				k, v = kv.split("=", 1)
				ev[k] = dh.unescape(v)
			out.append(ev)
	return out


# -- the commands --------------------------------------------------------

def test_commands(fx):
	"""Every TRANSACTION command on a small mailbox; new/ moves to cur/."""
	w, box, msgs, s = setup(fx, 3)
	p = pop(s)
	check(p.getwelcome().startswith(b"+OK <") and HOST.encode() in
	      p.getwelcome(), "greeting %r" % p.getwelcome())
	sizes = [len(crlf_form(d)) for n, d in msgs]
	check(p.stat() == (3, sum(sizes)), "STAT %r" % (p.stat(),))
	resp, lines, _ = p.list()
	check(lines == [b"%d %d" % (i + 1, sizes[i]) for i in range(3)],
	      "LIST %r" % lines)
	check(p.list(2) == b"+OK 2 %d" % sizes[1], "LIST 2")
	resp, lines, _ = p.uidl()
	want = [n.split(",")[0] for n, d in msgs]
	check(lines == [b"%d %s" % (i + 1, want[i].encode()) for i in range(3)],
	      "UIDL %r vs %r" % (lines, want))
	check(p.uidl(3) == b"+OK 3 " + want[2].encode(), "UIDL 3")
	for i in range(3):
		resp, lines, octets = p.retr(i + 1)
		check(b"\r\n".join(lines) + b"\r\n" == crlf_form(msgs[i][1]),
		      "RETR %d content" % (i + 1))
		check(resp.startswith(b"+OK %d octets" % sizes[i]), "RETR %r" % resp)
	resp, lines, _ = p.top(1, 0)
	head = msgs[0][1].split(b"\n\n")[0].split(b"\n")
	check(lines == head + [b""], "TOP 1 0 %r" % lines)
	resp, lines, _ = p.top(1, 2)
	body = msgs[0][1].split(b"\n\n", 1)[1].split(b"\n")
	check(lines == head + [b""] + body[:2], "TOP 1 2 %r" % lines)
	check(p.noop().startswith(b"+OK"), "NOOP")
	caps = p.capa()
	for c in ("TOP", "UIDL", "PIPELINING", "RESP-CODES"):
		check(c in caps, "CAPA lacks %s: %r" % (c, caps))
	check(p.rset().startswith(b"+OK"), "RSET")
	check(p.quit().startswith(b"+OK"), "QUIT")
	check(sorted(os.listdir(box.sub("new"))) == [], "new/ not emptied")
	cur = sorted(os.listdir(box.sub("cur")))
	check(cur == sorted(n + ":2," for n, d in msgs), "cur/ %r" % cur)
	s.wait_all_ended()      # the logout line is written after +OK
	evs = pop_log(s)
	login = [e for e in evs if e.get("event") == "login" and
	         e["prog"] == "quail-pop3d"]
	logout = [e for e in evs if e.get("event") == "logout"]
	check(login and login[0]["user"] == box.addr and
	      login[0]["ip"] == "127.0.0.1" and login[0]["tls"] == "no",
	      "login log line: %r" % login)
	check(logout and logout[0]["retrieved"] == "3" and
	      logout[0]["deleted"] == "0" and logout[0]["end"] == "quit",
	      "logout log line: %r" % logout)
	check(PASSWORD not in s.log(), "the password is in the log")
	s.check_clean()


def test_retr_exact_stuffing(fx):
	"""RETR's raw bytes: LF -> CRLF, leading dots doubled, ".\r\n" end;
	a file without ,W= is sized by reading it."""
	w, box, msgs, s = setup(fx)
	data = b"Subject: dots\n\n.\n..\n.x\nx.\n \n.\n"
	w.drop(box, data)
	plain = os.path.join(box.maildir, "new", "1700009999.nosize.test")
	with open(plain, "wb") as f:
		f.write(b"A: b\n\nno size\n")
	os.chown(plain, w.uid, w.gid)
	r = login_raw(s)
	check(r.cmd("STAT") == "+OK 2 %d" % (len(data) + data.count(b"\n") + 17),
	      "STAT")
	check(r.cmd("RETR 1") == "+OK %d octets" %
	      (len(data) + data.count(b"\n")), "RETR 1")
	got = r.multi()
	want = b"Subject: dots\r\n\r\n..\r\n...\r\n..x\r\nx.\r\n \r\n..\r\n.\r\n"
	check(got == want, "RETR bytes %r" % got)
	check(r.cmd("RETR 2") == "+OK 17 octets", "RETR 2")
	check(r.multi() == b"A: b\r\n\r\nno size\r\n.\r\n", "RETR 2 bytes")
	check(r.cmd("UIDL 2") == "+OK 2 1700009999.nosize.test", "UIDL 2")
	r.cmd("QUIT")


def retr_form(data):
	"""RETR's bytes for data: CRLF lines, leading dots doubled, a CRLF
	after a last line without one, then ".\r\n"."""
	lines = data.split(b"\n")
	if lines[-1] == b"":
		lines.pop()
	return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
	                for l in lines) + b".\r\n"


def test_retr_read_ahead(fx):
	"""RETRs in order (the next message is read ahead while the client
	takes the last) give every message exactly: after a TOP, a DELE and a
	RETR out of order, for a message too big to be read ahead, and for
	one renamed (new flags) after it was read ahead. A TOP of the message
	read ahead is still a TOP, and the log counts the same octets."""
	w, box, _, s = setup(fx)
	datas = [message(1), b"Subject: dots\n\n.\n..\n.x\nlast line",
	         message(3, 90000), message(4), message(5), b"A: b\n\n",
	         message(7), message(8)]
	names = [w.drop(box, d) for d in datas]
	r = login_raw(s)
	sent = []

	def retr(i):
		check(r.cmd("RETR %d" % i).startswith("+OK"), "RETR %d" % i)
		got = r.multi()
		check(got == retr_form(datas[i - 1]),
		      "RETR %d bytes %r" % (i, got[:100]))
		sent.append(got)

	for i in (1, 2, 3, 4):          # 3 is too big for a read-ahead
		retr(i)
	check(r.cmd("TOP 5 0").startswith("+OK"), "TOP 5 0")
	top = r.multi()
	check(top == retr_form(datas[4].split(b"\n\n")[0] + b"\n\n"),
	      "TOP 5 0 bytes %r" % top)
	sent.append(top)
	retr(5)
	check(r.cmd("DELE 6") == "+OK", "DELE 6")
	check(r.cmd("RETR 6").startswith("-ERR"), "RETR 6 after DELE")
	retr(7)
	retr(1)                         # out of order; 8 was read ahead
	cur = box.sub("cur")
	os.rename(os.path.join(cur, names[1] + ":2,"),
	          os.path.join(cur, names[1] + ":2,S"))
	retr(2)                         # read ahead, then renamed
	retr(8)
	check(r.cmd("QUIT").startswith("+OK"), "QUIT")
	s.wait_all_ended()
	out = [e for e in pop_log(s) if e.get("event") == "logout"]
	check(len(out) == 1 and out[0]["retrieved"] == "9" and
	      out[0]["bytes"] == str(sum(len(b) for b in sent)),
	      "logout %r, wanted retrieved=9 bytes=%d" %
	      (out, sum(len(b) for b in sent)))
	s.check_clean()


def test_bad_paths(fx):
	"""Bad numbers, deleted messages, wrong arguments, wrong state."""
	w, box, msgs, s = setup(fx, 2, MAXPOPERRORS="100")
	p = pop(s, user=None)
	for cmd in ("STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "NOOP"):
		check("authenticate first" in err_of(p._shortcmd, cmd),
		      "%s before login" % cmd)
	check("USER first" in err_of(p.pass_, PASSWORD), "PASS before USER")
	check("APOP" in err_of(p._shortcmd, "APOP a b"), "APOP")
	p.user(box.addr)
	p.pass_(PASSWORD)
	for cmd in ("RETR 0", "RETR 3", "RETR x", "RETR -1", "LIST 9",
	            "UIDL 0", "DELE 3", "TOP 1", "TOP 1 x", "TOP 3 1",
	            "RETR", "DELE", "STAT 1", "QUIT 1", "BOGUS",
	            "USER x", "PASS y", "AUTH PLAIN", "STLS", ""):
		err_of(p._shortcmd, cmd)
	check(p.dele(1).startswith(b"+OK"), "DELE 1")
	check("deleted" in err_of(p.dele, 1), "DELE 1 twice")
	check("deleted" in err_of(p.retr, 1), "RETR deleted")
	check("deleted" in err_of(p.list, 1), "LIST deleted")
	resp, lines, _ = p.list()
	check(lines == [b"2 %d" % len(crlf_form(msgs[1][1]))], "LIST %r" % lines)
	check(p.stat()[0] == 1, "STAT after DELE")
	p.rset()
	check(p.stat()[0] == 2, "STAT after RSET")
	p.quit()
	check(len(os.listdir(box.sub("cur"))) == 2, "RSET kept both")
	s.wait_all_ended()      # an exit after +OK counts too
	s.check_clean()


def test_dele_quit_removes(fx):
	w, box, msgs, s = setup(fx, 4)
	p = pop(s)
	p.dele(1)
	p.dele(3)
	p.quit()
	left = sorted(n.split(":")[0] for n in os.listdir(box.sub("cur")))
	check(left == sorted([msgs[1][0], msgs[3][0]]), "left %r" % left)
	p = pop(s)
	check(p.stat()[0] == 2, "next session STAT")
	p.quit()
	s.wait_all_ended()
	logout = [e for e in pop_log(s) if e.get("event") == "logout"]
	check(logout[0]["deleted"] == "2", "logout %r" % logout[0])


def test_dele_without_quit_keeps(fx):
	"""DELE then RSET, and DELE then a dropped connection: nothing goes."""
	w, box, msgs, s = setup(fx, 3)
	p = pop(s)
	p.dele(1)
	p.dele(2)
	p.rset()
	p.quit()
	p = pop(s)
	p.dele(1)
	p.file.close()
	p.sock.close()
	s.wait_all_ended()
	check(len(os.listdir(box.sub("cur"))) == 3, "a message was removed")


def test_uidl_stable(fx):
	"""The same UIDLs in three sessions, across the new/->cur/ move and a
	flag change by another reader."""
	w, box, msgs, s = setup(fx, 5)
	first = pop(s).uidl()[1]
	second = pop(s).uidl()[1]
	cur = os.listdir(box.sub("cur"))
	name = sorted(cur)[0]
	os.rename(os.path.join(box.sub("cur"), name),
	          os.path.join(box.sub("cur"), name + "RS"))
	third = pop(s).uidl()[1]
	check(first == second == third, "UIDLs changed: %r %r %r" %
	      (first, second, third))
	check(len(set(first)) == 5, "UIDLs not unique")


def test_bad_password(fx):
	"""-ERR for a wrong password; the third failure closes."""
	w, box, msgs, s = setup(fx, 1)
	p = pop(s, user=None)
	for i in range(2):
		p.user(box.addr)
		check("[AUTH]" in err_of(p.pass_, "wrong"), "wrong password %d" % i)
	p.user("nosuch@" + DOMAIN)
	err_of(p.pass_, "wrong")
	check(p.file.read() == b"", "still open after 3 failures")
	fails = [e for e in pop_log(s) if e.get("event") == "auth"]
	check(len(fails) == 3 and all(e["result"] == "fail" for e in fails),
	      "auth log lines %r" % fails)
	check("wrong" not in s.log(), "a password in the log")
	# a good login still works in a new connection
	pop(s).quit()


def test_maxauthfail_control(fx):
	w, box, msgs, s = setup(fx, 1, MAXAUTHFAIL="1")
	p = pop(s, user=None)
	p.user(box.addr)
	err_of(p.pass_, "wrong")
	check(p.file.read() == b"", "still open after 1 failure")


def test_refused_users(fx):
	"""nopop and disabled users, and an unknown user, are refused."""
	w = PopWorld(fx)
	w.add_user("alice")
	w.add_user("bob", flags="nopop")
	w.add_user("carol", flags="disabled")
	w.add_user("dave", flags="noimap")
	w.write_users()
	s = w.server()
	for u in ("bob", "carol"):
		p = pop(s, user=None)
		p.user("%s@%s" % (u, DOMAIN))
		err_of(p.pass_, PASSWORD)
		p.quit()
	pop(s, user="dave").quit()


def test_plaintext_refused(fx):
	"""Without AUTHPLAINTEXT and without TLS no login is possible, and
	CAPA says so."""
	w, box, msgs, s = setup(fx, 1, AUTHPLAINTEXT=None)
	p = pop(s, user=None)
	caps = p.capa()
	check("USER" not in caps and "SASL" not in caps and "STLS" not in caps,
	      "CAPA %r" % caps)
	check("STLS" in err_of(p.user, box.addr), "USER")
	check("STLS" in err_of(p._shortcmd, "AUTH PLAIN " +
	                       b64("\0%s\0%s" % (box.addr, PASSWORD))), "AUTH")
	p.quit()


def b64(text):
	import base64
	return base64.b64encode(text.encode()).decode()


def test_auth_plain(fx):
	"""AUTH PLAIN with and without an initial response, cancel, bad
	base64, a foreign authzid."""
	w, box, msgs, s = setup(fx, 2)
	cred = b64("\0%s\0%s" % (box.addr, PASSWORD))
	r = Raw(s.port)
	r.line()
	check(r.cmd("AUTH") == "+OK", "AUTH list")
	check(r.multi() == b"PLAIN\r\n.\r\n", "AUTH list body")
	check(r.cmd("AUTH CRAM-MD5").startswith("-ERR"), "unknown mechanism")
	check(r.cmd("AUTH PLAIN") == "+ ", "continuation")
	check(r.cmd("*").startswith("-ERR"), "cancel")
	check(r.cmd("AUTH PLAIN !!!!").startswith("-ERR"), "bad base64")
	check(r.cmd("AUTH PLAIN =").startswith("-ERR"), "empty")
	check(r.cmd("AUTH PLAIN " + b64("bob\0%s\0%s" % (box.addr, PASSWORD)))
	      .startswith("-ERR"), "authzid")
	check(r.cmd("AUTH PLAIN") == "+ ", "continuation")
	check(r.cmd(cred).startswith("+OK 2 messages"), "AUTH PLAIN")
	check(r.cmd("STAT").startswith("+OK 2 "), "STAT")
	r.cmd("QUIT")
	r = Raw(s.port)
	r.line()
	check(r.cmd("AUTH PLAIN " + cred).startswith("+OK"), "initial response")
	r.cmd("QUIT")


def test_pipelining(fx):
	"""A whole session in one write: login, commands, QUIT."""
	w, box, msgs, s = setup(fx, 2)
	r = Raw(s.port)
	r.line()
	r.send(("USER %s\r\nPASS %s\r\nSTAT\r\nUIDL 1\r\nDELE 1\r\nQUIT\r\n" %
	        (box.addr, PASSWORD)).encode())
	got = [r.line() for _ in range(6)]
	check(all(g.startswith("+OK") for g in got), "replies %r" % got)
	check(len(os.listdir(box.sub("cur"))) == 1, "DELE 1 not done")


def test_overlong_and_garbage(fx):
	"""Overlong lines, NULs, bare CRs and high bytes: -ERR, no crash;
	too many of them close the session."""
	w, box, msgs, s = setup(fx, 1, MAXPOPERRORS="5")
	r = Raw(s.port)
	r.line()
	check(r.cmd(b"USER " + b"a" * 5000 + b"\r\n").startswith("-ERR"),
	      "overlong before login")
	check(r.cmd(b"US\0ER x\r\n").startswith("-ERR"), "NUL")
	check(r.cmd(b"\xff\xfe\x80garbage\r\n").startswith("-ERR"), "binary")
	check(r.cmd("CAPA").startswith("+OK"), "still alive")
	r.multi()
	r.close()
	r = login_raw(s)
	check(r.cmd(b"LIST " + b"1" * 300 + b"\r\n").startswith("-ERR"),
	      "overlong after login")
	check(r.cmd(b"ST\rAT\r\n").startswith("-ERR"), "bare CR")
	check(r.cmd(b"\x00\x01\x02\r\n").startswith("-ERR"), "binary")
	check(r.cmd("STAT").startswith("+OK"), "still alive")
	r.send(b"XX\r\nYY\r\nZZ\r\n")
	got = r.c.expect_eof()
	check(b"too many errors" in got, "not closed after errors: %r" % got)
	s.wait_all_ended()
	s.check_clean()
	os.urandom(1)
	r = Raw(s.port)
	r.line()
	r.send(os.urandom(20000))
	r.c.expect_eof(10)
	s.wait_all_ended()
	s.check_clean()


def test_idle_timeout(fx):
	"""timeoutpop closes an idle client before and after login."""
	w, box, msgs, s = setup(fx, 1, TIMEOUTPOP="1")
	r = Raw(s.port)
	r.line()
	t0 = time.time()
	got = r.c.expect_eof(10)
	check(b"timeout" in got and time.time() - t0 < 5, "pre-login %r" % got)
	r = login_raw(s)
	t0 = time.time()
	got = r.c.expect_eof(10)
	check(b"timeout" in got and time.time() - t0 < 5, "post-login %r" % got)
	s.wait_all_ended()
	ends = [e.get("end") for e in pop_log(s) if e.get("event") == "logout"]
	check(ends == ["timeout"], "logout %r" % ends)


def test_missing_maildir(fx):
	"""A user without a Maildir gets -ERR [SYS/TEMP], not a hang."""
	w, box, msgs, s = setup(fx)
	shutil.rmtree(box.maildir)
	p = pop(s, user=None)
	p.user(box.addr)
	check("SYS/TEMP" in err_of(p.pass_, PASSWORD), "missing Maildir")
	p.quit()


# A mailbox server of another make: it tells the client the timeouts
# it found on its socket, in ms.
FOREIGN = """#!%s
import socket, struct
s = socket.socket(fileno=1)
t = [struct.unpack("ll", s.getsockopt(socket.SOL_SOCKET, o, 16))
     for o in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO)]
s.detach()
print("+OK rcv=%%d snd=%%d" %% tuple(a * 1000 + b // 1000 for a, b in t),
      end="\\r\\n", flush=True)
"""


def test_socket_as_tcpserver_gave_it(fx):
	"""The program quail-popup runs (through checkpassword) finds the
	socket without the timeouts quail-popup put on it, as tcpserver gave
	it, also after a failed login (after which quail-popup put its own
	back: lib/io_test checks the calls)."""
	w, box, msgs, s0 = setup(fx)
	prog = os.path.join(fx.dir, "foreign")
	with open(prog, "w") as f:
		f.write(FOREIGN % "/usr/bin/python3")
	os.chmod(prog, 0o755)
	s = w.server(argv=[POPUP, HOST, CKPW, prog])
	r = Raw(s.port)
	check(r.line().startswith("+OK <"), "greeting")
	check(r.cmd("USER " + box.addr).startswith("+OK"), "USER")
	check(r.cmd("PASS wrong").startswith("-ERR"), "bad PASS")
	check(r.cmd("USER " + box.addr).startswith("+OK"), "USER again")
	got = r.cmd("PASS " + PASSWORD)
	check(got == "+OK rcv=0 snd=0", "the program found %r" % got)
	r.close()
	s.wait_all_ended()
	s.check_clean()


# -- concurrency ---------------------------------------------------------

def test_delivery_during_session(fx):
	"""A message delivered during a session shows in the next one."""
	w, box, msgs, s = setup(fx, 2)
	p = pop(s)
	w.drop(box, message(99))
	check(p.stat()[0] == 2, "STAT changed mid-session")
	p.dele(1)
	p.quit()
	p = pop(s)
	check(p.stat()[0] == 2, "next session: %r" % (p.stat(),))
	resp, lines, _ = p.retr(2)
	check(b"Subject: message 99" in lines, "new message not last")
	p.quit()


def test_two_sessions(fx):
	"""Two sessions on one maildrop delete overlapping sets: both QUIT
	cleanly and exactly the union is gone."""
	w, box, msgs, s = setup(fx, 10)
	a = pop(s)
	b = pop(s)
	check(a.stat() == b.stat(), "different views")
	for i in (1, 2, 3):
		a.dele(i)
	for i in (3, 4, 5):
		b.dele(i)
	resp, lines, _ = b.retr(1)
	check(b"\r\n".join(lines) + b"\r\n" == crlf_form(msgs[0][1]), "RETR")
	check(a.quit().startswith(b"+OK"), "first QUIT")
	check("gone" in err_of(b.retr, 2), "RETR of a file the other removed")
	check(b.quit().startswith(b"+OK"), "second QUIT")
	left = sorted(n.split(":")[0] for n in os.listdir(box.sub("cur")))
	check(left == sorted(n for n, d in msgs[5:]), "left %r" % left)
	s.wait_all_ended()
	s.check_clean()


def test_vanished_file(fx):
	"""A file removed behind the session's back: -ERR for it, the rest
	works; one renamed (flags) is still found."""
	w, box, msgs, s = setup(fx, 3)
	p = pop(s)
	cur = box.sub("cur")
	names = {n.split(":")[0]: n for n in os.listdir(cur)}
	os.unlink(os.path.join(cur, names[msgs[0][0]]))
	os.rename(os.path.join(cur, names[msgs[1][0]]),
	          os.path.join(cur, msgs[1][0] + ":2,S"))
	check("gone" in err_of(p.retr, 1), "RETR vanished")
	check("gone" in err_of(p.top, 1, 0), "TOP vanished")
	resp, lines, _ = p.retr(2)
	check(b"\r\n".join(lines) + b"\r\n" == crlf_form(msgs[1][1]),
	      "renamed message")
	p.dele(1)
	p.dele(2)
	check(p.quit().startswith(b"+OK"), "QUIT")
	check(os.listdir(cur) == [names[msgs[2][0]]], "left %r" % os.listdir(cur))
	s.wait_all_ended()
	s.check_clean()


# -- end to end ----------------------------------------------------------

def test_end_to_end_smtp(fx):
	"""A message through quail-smtpd, quail-send and quail-local comes
	out of RETR as the delivered file in CRLF form."""
	mw = dh.MailWorld(fx)
	box = mw.add_user("erin")
	mw.records[box.addr] += pw_hash(PASSWORD)
	mw.write_userdb()
	smtp = mw.smtpd()
	mw.start_send()
	body = harness.text_message("pop e2e", ["hello", ".dot", "..two", ""])
	c = fx.client(smtp)
	c.transaction("sender@client.test", [box.addr], body)
	c.cmd("QUIT", 221)
	end = time.time() + 30
	while not box.messages() and time.time() < end:
		time.sleep(0.1)
	got = box.messages()
	check(len(got) == 1, "delivered %d" % len(got))
	name, data = got[0]
	fx.write_control("authdelay", "0")
	env = mw.env(AUTHPLAINTEXT="1")
	s = PopServer(fx, env, [POPUP, HOST, CKPW, POP3D, "-"], "pope2e")
	fx.servers.append(s)
	r = Raw(s.port)
	r.line()
	r.cmd("USER " + box.addr)
	check(r.cmd("PASS " + PASSWORD).startswith("+OK 1 "), "login")
	check(r.cmd("RETR 1") == "+OK %d octets" %
	      (len(data) + data.count(b"\n")), "size")
	raw = r.multi()
	check(raw == re.sub(rb"(?m)^\.", b"..", crlf_form(data)) + b".\r\n",
	      "RETR %r vs %r" % (raw[-80:], data[-80:]))
	check(b"\r\n..dot\r\n...two\r\n" in raw, "stuffing")
	r.cmd("QUIT")


# -- TLS through a stand-in UCSPI-TLS helper -----------------------------

FAKE_TLS = r'''
import os, select, sys
# A stand-in for an UCSPI-TLS helper: the app gets SSLCTLFD and a pair
# of pipes; after 'y' on the control pipe the helper expects the
# "handshake" line HELLO\r\n from the client (anything else is what an
# attacker injected in plaintext: the helper logs it and closes) and
# then relays the socket to and from the pipes.
ctl_r, ctl_w = os.pipe()
in_r, in_w = os.pipe()
out_r, out_w = os.pipe()
pid = os.fork()
if pid == 0:
	os.close(ctl_r); os.close(in_w); os.close(out_r)
	os.environ.update(SSLCTLFD=str(ctl_w), SSLREADFD=str(in_r),
	                  SSLWRITEFD=str(out_w))
	os.set_inheritable(ctl_w, True); os.set_inheritable(in_r, True)
	os.set_inheritable(out_w, True)
	os.execv(sys.argv[1], sys.argv[1:])
os.close(ctl_w); os.close(in_r); os.close(out_w)
if os.read(ctl_r, 1) != b"y":
	os.waitpid(pid, 0); sys.exit(0)
hello = b""
while not hello.endswith(b"\n"):
	c = os.read(0, 1)
	if not c:
		break
	hello += c
if hello != b"HELLO\r\n":
	sys.stderr.write("faketls: injected=%r\n" % hello)
	sys.exit(0)
os.write(1, b"WELCOME\r\n")
fds = {0: in_w, out_r: 1}
while fds:
	r, _, _ = select.select(list(fds), [], [], 30)
	if not r:
		break
	for f in r:
		d = os.read(f, 65536)
		if not d:
			if f == out_r:
				sys.exit(0)
			os.close(fds.pop(f))
			continue
		os.write(fds[f], d)
'''


def tls_server(w, mode):
	path = os.path.join(w.fx.dir, "faketls.py")
	with open(path, "w") as f:
		f.write(FAKE_TLS)
	return w.server(argv=[sys.executable, path, POPUP, HOST, CKPW, POP3D,
	                      "Maildir"], UCSPITLS=mode, AUTHPLAINTEXT=None)


def test_stls(fx):
	"""UCSPITLS=!: STLS offered, logins only after it; after the switch
	the session works over the helper's descriptors, and pop3d logs
	tls=yes."""
	w, box, msgs, s0 = setup(fx, 2)
	s = tls_server(w, "!")
	r = Raw(s.port)
	r.line()
	check(r.cmd("CAPA") == "+OK", "CAPA")
	caps = r.multi()
	check(b"STLS" in caps and b"USER" not in caps, "CAPA %r" % caps)
	check("STLS" in r.cmd("USER " + box.addr), "USER before STLS")
	check(r.cmd("STLS").startswith("+OK"), "STLS")
	check(r.cmd("HELLO") == "WELCOME", "handshake")
	check(r.cmd("CAPA") == "+OK", "CAPA after")
	caps = r.multi()
	check(b"STLS" not in caps and b"USER" in caps, "CAPA after %r" % caps)
	check(r.cmd("STLS").startswith("-ERR"), "STLS twice")
	r.cmd("USER " + box.addr)
	check(r.cmd("PASS " + PASSWORD).startswith("+OK 2 "), "login")
	check(r.cmd("QUIT").startswith("+OK"), "QUIT")
	s.wait_all_ended()
	logins = [e for e in pop_log(s) if e.get("event") == "login" and
	          e["prog"] == "quail-pop3d"]
	check(logins and logins[0]["tls"] == "yes", "login %r" % logins)


def test_stls_injection(fx):
	"""Commands pipelined after STLS in plaintext never run: they reach
	the TLS helper (CVE-2011-0411)."""
	w, box, msgs, s0 = setup(fx, 1)
	s = tls_server(w, "")
	r = Raw(s.port)
	r.line()
	r.send(("STLS\r\nUSER %s\r\nPASS %s\r\n" % (box.addr, PASSWORD))
	       .encode())
	check(r.line().startswith("+OK"), "STLS")
	got = r.c.expect_eof(10)
	check(got == b"", "the injected commands were answered: %r" % got)
	s.wait_all_ended()
	check("faketls: injected=b'USER" in s.log(), "helper log: %s" % s.log())
	check(not [e for e in pop_log(s) if e.get("event") == "login"],
	      "an injected login happened")


def test_no_stls_without_ucspitls(fx):
	w, box, msgs, s = setup(fx, 1)
	p = pop(s, user=None)
	check("STLS" not in p.capa(), "STLS offered")
	err_of(p._shortcmd, "STLS")
	p.quit()


# -- other clients -------------------------------------------------------

def need(prog):
	if not shutil.which(prog):
		raise harness.TestFailure("%s is not installed (rc/deps)" % prog)


def check_fetched(msgs, got, who):
	check(len(got) == len(msgs), "%s fetched %d of %d" %
	      (who, len(got), len(msgs)))
	want = {d for n, d in msgs}
	found = 0
	for data in got:
		data = data.replace(b"\r\n", b"\n")
		for d in (d for d in want if data.endswith(d)):
			want.discard(d)
			found += 1
			break
	check(found == len(msgs), "%s: %d messages differ" %
	      (who, len(msgs) - found))


def test_fetchmail(fx):
	"""fetchmail --keep fetches 500 messages once; a second run with
	its UIDL file fetches nothing."""
	need("fetchmail")
	w, box, msgs, s = setup(fx, 500)
	out = os.path.join(fx.dir, "fetched")
	os.mkdir(out)
	mda = os.path.join(fx.dir, "mda.sh")
	with open(mda, "w") as f:
		f.write('#!/bin/sh\nexec cat > "%s/$(date +%%s%%N).$$"\n' % out)
	os.chmod(mda, 0o755)
	rc = os.path.join(fx.dir, "fetchmailrc")
	with open(rc, "w") as f:
		f.write("set no syslog\npoll 127.0.0.1 port %d protocol pop3 uidl\n"
		        "  user '%s' password '%s' keep mda '%s'\n  sslproto ''\n" %
		        (s.port, box.addr, PASSWORD, mda))
	os.chmod(rc, 0o600)
	env = dict(os.environ, HOME=fx.dir)

	def fetch():
		return subprocess.run(
			["fetchmail", "-f", rc, "-i", os.path.join(fx.dir, "ids"),
			 "--nosyslog", "-N", "--pidfile", os.path.join(fx.dir, "pid")],
			stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
			timeout=120)
	p = fetch()
	check(p.returncode == 0, "fetchmail exited %d: %s" %
	      (p.returncode, p.stdout.decode()[-500:]))
	got = []
	for n in os.listdir(out):
		with open(os.path.join(out, n), "rb") as f:
			got.append(f.read())
	check_fetched(msgs, got, "fetchmail")
	p = fetch()
	check(p.returncode == 1 and len(os.listdir(out)) == 500,
	      "second fetchmail run: exit %d, %d files: %s" %
	      (p.returncode, len(os.listdir(out)), p.stdout.decode()[-300:]))
	check(len(os.listdir(box.sub("cur"))) == 500, "kept on the server")
test_fetchmail.timeout = 240


def test_getmail(fx):
	"""getmail6 fetches 500 messages into a Maildir once; a second run
	(read_all = false) fetches nothing."""
	need("getmail")
	w, box, msgs, s = setup(fx, 500)
	gdir = os.path.join(fx.dir, "getmail")
	dest = os.path.join(fx.dir, "dest") + "/"
	for d in (gdir, dest, dest + "new", dest + "cur", dest + "tmp"):
		os.mkdir(d)
		os.chown(d, w.uid, w.gid)
	with open(os.path.join(gdir, "rc"), "w") as f:
		f.write("[retriever]\ntype = SimplePOP3Retriever\nserver = "
		        "127.0.0.1\nport = %d\nusername = %s\npassword = %s\n\n"
		        "[destination]\ntype = Maildir\npath = %s\n\n[options]\n"
		        "read_all = false\ndelete = false\nverbose = 0\n" %
		        (s.port, box.addr, PASSWORD, dest))

	def as_user():
		os.setgid(w.gid)
		os.setuid(w.uid)

	def get():
		# getmail refuses to deliver as root
		return subprocess.run(
			["getmail", "--getmaildir", gdir, "--rcfile", "rc"],
			stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
			preexec_fn=as_user, env=dict(os.environ, HOME=gdir), cwd=gdir)
	p = get()
	check(p.returncode == 0, "getmail exited %d: %s" %
	      (p.returncode, p.stdout.decode()[-500:]))
	got = []
	for n in os.listdir(dest + "new"):
		with open(os.path.join(dest, "new", n), "rb") as f:
			got.append(f.read())
	check_fetched(msgs, got, "getmail")
	p = get()
	check(p.returncode == 0 and len(os.listdir(dest + "new")) == 500,
	      "second getmail run: exit %d, %d files: %s" %
	      (p.returncode, len(os.listdir(dest + "new")),
	       p.stdout.decode()[-300:]))
test_getmail.timeout = 240


def test_large_mailbox_list(fx):
	"""20,000 messages with ,W=: the first session (moving new/ to cur/)
	and a second LIST are quick."""
	w, box, msgs, s = setup(fx)
	new = box.sub("new")
	data = b"Subject: x\n\nbody\n"
	for i in range(20000):
		name = "%d.M%dP1Q%d.test,S=%d,W=%d" % (1700000000 + i, i, i,
		                                       len(data), len(data) + 3)
		with open(os.path.join(new, name), "wb") as f:
			f.write(data)
	subprocess.run(["chown", "-R", "%d:%d" % (w.uid, w.gid), box.maildir],
	               check=True)
	t0 = time.time()
	p = pop(s, timeout=60)
	check(p.stat() == (20000, 20000 * (len(data) + 3)), "STAT")
	p.quit()
	t1 = time.time()
	p = pop(s, timeout=60)
	lines = p.list()[1]
	uidls = p.uidl()[1]
	p.quit()
	t2 = time.time()
	check(len(lines) == 20000 and len(uidls) == 20000, "LIST/UIDL count")
	check(uidls[0].endswith(b" 1700000000.M0P1Q0.test") and
	      uidls[-1].startswith(b"20000 1700019999."), "order")
	check(t2 - t1 < 5, "LIST+UIDL of 20,000 took %.1f s" % (t2 - t1))
	check(t1 - t0 < 20, "first session took %.1f s" % (t1 - t0))
test_large_mailbox_list.timeout = 180
