"""Shared fixtures for the integration tests (tests/itest.py runs them).

A Fixture is one test's world: a temp dir holding control/ and a queue,
the servers it started and a list of cleanups. Servers run under tcpserver
as the real thing would: `tcpserver -v -H -R -l mx.test.quail 127.0.0.1
PORT ./smtpd/quail-smtpd`, each in its own process group so cleanup can
kill tcpserver, every quail-smtpd it forked and every quail-queue those
started, whatever state the test left them in. tcpserver runs with -v
(not -q) so its "end PID status WSTAT" lines tell how each quail-smtpd
exited; they go to the same log as the programs' own lines.

Queue files are read two ways: through quail-qread (what an operator
sees) and straight from env/ and mess/ (what the scheduler sees), using
the layout in lib/qfile.h.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMTPD = os.path.join(ROOT, "smtpd", "quail-smtpd")
QUEUE_PROG = os.path.join(ROOT, "queue", "quail-queue")
QREAD = os.path.join(ROOT, "queue", "quail-qread")
QSTAT = os.path.join(ROOT, "queue", "quail-qstat")
QCHECK = os.path.join(ROOT, "queue", "quail-qcheck")

ME = "mx.test.quail"
QUEUE_SPLIT = 32
RCPTHOSTS = ["example.test", ".wild.test", "other.example.test"]
MORERCPTHOSTS = ["more.test"]
CMD_TIMEOUT = 15          # seconds a client waits for one reply
START_TIMEOUT = 5         # seconds for tcpserver to accept connections


class Skip(Exception):
	"""Raised by a test that does not apply here; the runner says why."""


class TestFailure(AssertionError):
	pass


def check(cond, why):
	if not cond:
		raise TestFailure(why)


def need_root():
	if os.geteuid() != 0:
		raise Skip("not root")


def crlf(text):
	"""Text with any line ending turned into CRLF, as bytes."""
	if isinstance(text, str):
		text = text.encode()
	return re.sub(rb"\r?\n", b"\r\n", text)


def stuff(data):
	"""Dot-stuffs CRLF data (bytes) and adds the end-of-data marker."""
	if data and not data.endswith(b"\r\n"):
		data += b"\r\n"
	out = re.sub(rb"(^|\r\n)\.", rb"\1..", data)
	return out + b".\r\n"


def stored_form(data):
	"""What quail-queue should keep of CRLF data: LF line endings."""
	if data and not data.endswith(b"\r\n"):
		data += b"\r\n"
	return data.replace(b"\r\n", b"\n")


def free_port():
	s = socket.socket()
	s.bind(("127.0.0.1", 0))
	port = s.getsockname()[1]
	s.close()
	return port


# -- SMTP replies -------------------------------------------------------

class Reply:
	"""One SMTP reply: code (int), lines (text after "NNN-"/"NNN ")."""

	def __init__(self, code, lines):
		self.code = code
		self.lines = lines

	@property
	def text(self):
		return "\n".join(self.lines)

	def enhanced(self):
		"""The RFC 2034 code of the last line, or None."""
		m = re.match(r"([245])\.(\d{1,3})\.(\d{1,3})( |$)", self.lines[-1])
		return m.group(0).strip() if m else None

	def __repr__(self):
		return "%d %s" % (self.code, " | ".join(self.lines))


class Closed(Exception):
	"""The server closed the connection while a reply was expected."""


class Client:
	"""A raw SMTP client over a socket: bytes in, Reply objects out.

	Every reply it reads (except the greeting, the EHLO/HELO lines and
	354, which RFC 2034 leaves alone) must carry an enhanced status code
	whose class matches the reply code; checking that here means every
	test checks it."""

	def __init__(self, port, timeout=CMD_TIMEOUT):
		self.sock = socket.create_connection(("127.0.0.1", port), timeout)
		self.buf = b""
		self.log = []

	def close(self):
		try:
			self.sock.close()
		except OSError:
			pass

	def send(self, data):
		if isinstance(data, str):
			data = data.encode()
		self.sock.sendall(data)

	def _line(self):
		while b"\n" not in self.buf:
			chunk = self.sock.recv(65536)
			if not chunk:
				raise Closed("connection closed; got so far: %r" % self.log[-5:])
			self.buf += chunk
		line, self.buf = self.buf.split(b"\n", 1)
		return line.rstrip(b"\r").decode("latin-1")

	def reply(self, enhanced=True):
		lines = []
		while True:
			line = self._line()
			m = re.match(r"(\d{3})([- ]?)(.*)", line)
			check(m, "malformed reply line %r" % line)
			lines.append(m.group(3))
			if m.group(2) != "-":
				break
		r = Reply(int(m.group(1)), lines)
		self.log.append(r)
		if enhanced:
			e = r.enhanced()
			check(e is not None and e[0] == str(r.code)[0],
			      "reply without a matching enhanced status code: %r" % r)
		return r

	def cmd(self, line, code=None, enh=None):
		"""Sends one command line; checks the reply when code is given."""
		self.send(line.encode("latin-1") + b"\r\n" if isinstance(line, str)
		          else line + b"\r\n")
		r = self.reply(enhanced=not _exempt(line))
		if code is not None:
			expect(r, code, enh, "after %r" % _short(line))
		return r

	def greet(self):
		r = self.reply(enhanced=False)
		expect(r, 220, None, "greeting")
		return r

	def ehlo(self, name="client.test"):
		self.greet()
		return self.cmd("EHLO " + name, 250)

	def expect_eof(self, timeout=5):
		"""Waits for the server to close; returns any bytes it sent first."""
		self.sock.settimeout(timeout)
		got = self.buf
		self.buf = b""
		try:
			while True:
				chunk = self.sock.recv(65536)
				if not chunk:
					return got
				got += chunk
		except socket.timeout:
			raise TestFailure("server did not close the connection; "
			                  "sent %r" % got[-200:])
		except ConnectionResetError:
			return got

	def transaction(self, sender, rcpts, data):
		"""MAIL, RCPT..., DATA, body (CRLF bytes, unstuffed); returns the
		final Reply. Expects every command to succeed."""
		self.cmd("MAIL FROM:<%s>" % sender, 250)
		for r in rcpts:
			self.cmd("RCPT TO:<%s>" % r, 250)
		self.cmd("DATA", 354)
		self.send(stuff(data))
		return self.reply()


def _exempt(line):
	word = (line if isinstance(line, str) else line.decode("latin-1"))
	word = word.split(" ", 1)[0].upper()
	return word in ("EHLO", "HELO", "DATA")


def _short(line):
	return line if len(line) < 80 else line[:60] + "...(%d bytes)" % len(line)


def expect(r, code, enh=None, where=""):
	ok = r.code == code if isinstance(code, int) else r.code in code
	if ok and enh is not None:
		e = r.enhanced()
		ok = e == enh if isinstance(enh, str) else e in enh
	check(ok, "%s: expected %s %s, got %r" % (where, code, enh or "", r))


ACCEPT_RE = re.compile(r"^2\.0\.0 ok (\d+)\b")


def accepted_id(r):
	"""The queue ID from "250 2.0.0 ok ID"; fails the test otherwise."""
	m = ACCEPT_RE.match(r.lines[-1]) if r.code == 250 else None
	check(m, "expected '250 2.0.0 ok ID', got %r" % r)
	return int(m.group(1))


# -- The queue on disk --------------------------------------------------

class Envelope:
	"""One env/NN/ID file, parsed as lib/qfile.h describes."""

	def __init__(self, qid, text):
		self.id = qid
		self.raw = text
		lines = text.split(b"\n")
		check(text.endswith(b"\n"), "env %d: no final LF" % qid)
		lines.pop()
		check(len(lines) >= 3, "env %d: too short: %r" % (qid, text[:200]))
		m = re.match(rb"^Q(\d+) (\d+) (\d+)$", lines[0])
		check(m, "env %d: bad Q line %r" % (qid, lines[0]))
		self.birth, self.bytes = int(m.group(1)), int(m.group(2))
		check(int(m.group(3)) == len(lines) - 2,
		      "env %d: Q line says %s recipients, file has %d" %
		      (qid, m.group(3).decode(), len(lines) - 2))
		check(lines[1].startswith(b"F"), "env %d: bad F line" % qid)
		self.sender = lines[1][1:].decode("latin-1")
		self.rcpts = []
		for line in lines[2:]:
			check(line[:1] == b"T" and line[1:2] in (b"-", b"D", b"B"),
			      "env %d: bad line %r" % (qid, line))
			self.rcpts.append((chr(line[1]), line[2:].decode("latin-1")))


class QMessage:
	"""One message as quail-qread lists it."""

	def __init__(self, qid, date, size, sender):
		self.id = qid
		self.date = date
		self.bytes = size
		self.sender = sender
		self.rcpts = []          # (state, address)

	def addrs(self, state=None):
		return [a for s, a in self.rcpts if state is None or s == state]

	def __repr__(self):
		return "<%d %s -> %r>" % (self.id, self.sender, self.rcpts)


QREAD_HEAD = re.compile(
	r"^(\d+) <?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: UTC)?)>? (\d+) <?(.*?)>?$")
QREAD_RCPT = re.compile(r"^\s+(pending|done|bounced) <?(.*?)>?$")


def parse_qread(text):
	msgs = []
	for line in text.splitlines():
		if not line.strip():
			continue
		m = QREAD_HEAD.match(line)
		if m:
			msgs.append(QMessage(int(m.group(1)), m.group(2),
			                     int(m.group(3)), m.group(4)))
			continue
		m = QREAD_RCPT.match(line)
		check(m and msgs, "quail-qread: unexpected line %r" % line)
		msgs[-1].rcpts.append((m.group(1), m.group(2)))
	return msgs


class Queue:
	def __init__(self, path):
		self.path = path

	def create(self):
		run([QCHECK, "-q", self.path], check_rc=0)
		for d in ("tmp", "mess", "env"):
			check(os.path.isdir(os.path.join(self.path, d)),
			      "quail-qcheck -q did not make %s/" % d)

	def file(self, kind, qid):
		return os.path.join(self.path, kind, "%02d" % (qid % QUEUE_SPLIT),
		                    str(qid))

	def ids(self, kind):
		"""IDs (ints) of the files under mess/ or env/; names that are
		not decimal IDs or sit in the wrong NN fail the test."""
		out = set()
		top = os.path.join(self.path, kind)
		for nn in sorted(os.listdir(top)):
			for name in os.listdir(os.path.join(top, nn)):
				check(name.isdigit(), "%s/%s/%s: not an ID" % (kind, nn, name))
				check("%02d" % (int(name) % QUEUE_SPLIT) == nn,
				      "%s/%s/%s: wrong subdirectory" % (kind, nn, name))
				out.add(int(name))
		return out

	def tmp_files(self):
		return sorted(os.listdir(os.path.join(self.path, "tmp")))

	def envelope(self, qid):
		with open(self.file("env", qid), "rb") as f:
			return Envelope(qid, f.read())

	def message(self, qid):
		"""The stored message file, whole."""
		with open(self.file("mess", qid), "rb") as f:
			return f.read()

	def body(self, qid):
		"""The stored message without the leading Received: field(s)
		that quail-smtpd adds; this is what the client sent, with LF
		line endings and dots unstuffed."""
		return strip_received(self.message(qid))

	def qread(self):
		out = run([QREAD, "-q", self.path], check_rc=0)
		return parse_qread(out.decode("latin-1"))

	def qread_one(self, qid):
		for m in self.qread():
			if m.id == qid:
				return m
		raise TestFailure("quail-qread does not list message %d" % qid)

	def snapshot(self):
		return (self.ids("mess"), self.ids("env"), self.tmp_files())


def strip_received(msg):
	lines = msg.split(b"\n")
	i = 0
	check(lines and lines[0].startswith(b"Received:"),
	      "stored message does not start with Received: %r" % msg[:120])
	while i < len(lines) and (lines[i].startswith(b"Received:") or
	                          (i > 0 and lines[i][:1] in (b" ", b"\t"))):
		i += 1
	return b"\n".join(lines[i:])


def received_header(msg):
	return msg[:len(msg) - len(strip_received(msg))]


# -- Processes ----------------------------------------------------------

def run(argv, check_rc=None, timeout=60, env=None, input=None):
	"""Runs a program to completion in its own process group; returns
	its stdout. check_rc: the exit code it must give, or None."""
	p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
	                   stderr=subprocess.PIPE, timeout=timeout, env=env,
	                   start_new_session=True, cwd=ROOT)
	if check_rc is not None:
		check(p.returncode == check_rc,
		      "%s exited %d (wanted %d): %s" %
		      (" ".join(argv[:3]), p.returncode, check_rc,
		       p.stderr.decode("latin-1").strip()[-300:]))
	return p.stdout


class Server:
	"""tcpserver running quail-smtpd, with its log file."""

	def __init__(self, fx, env, concurrency, name):
		self.fx = fx
		self.log_path = os.path.join(fx.dir, name + ".log")
		self.skip = 0
		for attempt in range(5):
			self.port = free_port()
			self.proc = self._spawn(env, concurrency)
			if self._wait_up():
				self._skip_probe()
				return
			self.stop()
		raise TestFailure("tcpserver did not start; log: %s" % self.log())

	def _spawn(self, env, concurrency):
		argv = ["tcpserver", "-v", "-H", "-R", "-l", ME,
		        "-c", str(concurrency), "127.0.0.1", str(self.port), SMTPD]
		logf = open(self.log_path, "ab")
		try:
			return subprocess.Popen(argv, stdin=subprocess.DEVNULL,
			                        stdout=subprocess.DEVNULL, stderr=logf,
			                        env=env, cwd=self.fx.dir,
			                        start_new_session=True)
		finally:
			logf.close()

	def _wait_up(self):
		end = time.time() + START_TIMEOUT
		while time.time() < end:
			if self.proc.poll() is not None:
				return False
			try:
				socket.create_connection(("127.0.0.1", self.port), 1).close()
				return True
			except OSError:
				time.sleep(0.05)
		return False

	def _skip_probe(self):
		"""The connection _wait_up made is a session too; leave it out
		of exits() once tcpserver has seen it end."""
		self.skip = 0
		end = time.time() + START_TIMEOUT
		while not self.exits() and time.time() < end:
			time.sleep(0.02)
		self.skip = len(self.exits())

	def stop(self):
		kill_group(self.proc)

	def log(self):
		try:
			with open(self.log_path, "rb") as f:
				return f.read().decode("latin-1")
		except FileNotFoundError:
			return ""

	def exits(self):
		"""(pid, wait status) for every child tcpserver saw end."""
		return [(int(p), int(s)) for p, s in
		        re.findall(r"^tcpserver: end (\d+) status (\d+)$",
		                   self.log(), re.M)][self.skip:]

	def wait_idle(self, sessions, timeout=10):
		"""Waits until tcpserver has seen `sessions` children end."""
		end = time.time() + timeout
		while len(self.exits()) < sessions and time.time() < end:
			time.sleep(0.05)
		return self.exits()

	def wait_all_ended(self, timeout=10):
		"""Waits until every session tcpserver started has ended."""
		def done():
			log = self.log()
			return (len(re.findall(r"^tcpserver: pid \d+ from", log, re.M))
			        == len(re.findall(r"^tcpserver: end \d+", log, re.M)))
		check(wait_for(done, timeout), "sessions still running after %ds"
		      % timeout)

	def check_clean(self, allow_fatal=()):
		"""No quail-smtpd died by a signal or dumped core, and no fatal
		log line except those matching a pattern in allow_fatal."""
		for pid, st in self.exits():
			check(st & 0x7f == 0,
			      "quail-smtpd %d died by signal %d%s" %
			      (pid, st & 0x7f, " (core dumped)" if st & 0x80 else ""))
		for line in self.log().splitlines():
			if ": fatal:" in line and not any(re.search(p, line)
			                                  for p in allow_fatal):
				raise TestFailure("unexpected log line: %s" % line)
		cores = [n for n in os.listdir(self.fx.dir) if n.startswith("core")]
		check(not cores, "core files in %s: %s" % (self.fx.dir, cores))


def kill_group(proc):
	if proc.poll() is None:
		try:
			os.killpg(proc.pid, signal.SIGKILL)
		except ProcessLookupError:
			pass
	else:
		# tcpserver gone: its children may linger in the group.
		try:
			os.killpg(proc.pid, signal.SIGKILL)
		except ProcessLookupError:
			pass
	try:
		proc.wait(timeout=5)
	except subprocess.TimeoutExpired:
		pass


class Fixture:
	"""A test's temp dir, control files, queue and servers."""

	def __init__(self, name):
		self.name = name
		self.dir = tempfile.mkdtemp(prefix="quail-itest-%s-" % name)
		self.control = os.path.join(self.dir, "control")
		os.mkdir(self.control)
		self.queue = Queue(os.path.join(self.dir, "queue"))
		self.servers = []
		self.cleanups = []
		self.write_control("me", ME)
		self.write_control("rcpthosts", "\n".join(RCPTHOSTS))
		self.write_control("morercpthosts", "\n".join(MORERCPTHOSTS))
		run(["cdb", "-c", "-m", os.path.join(self.control, "morercpthosts.cdb"),
		     os.path.join(self.control, "morercpthosts")], check_rc=0)

	def write_control(self, name, text):
		if isinstance(text, str):
			text = text.encode()
		if text and not text.endswith(b"\n"):
			text += b"\n"
		with open(os.path.join(self.control, name), "wb") as f:
			f.write(text)

	def env(self, **extra):
		env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
		       "QUAIL_CONTROL": self.control,
		       "QUAIL_QUEUE": self.queue.path,
		       "QUAILQUEUE": QUEUE_PROG}
		env.update(extra)
		return env

	def smtpd(self, concurrency=40, name="smtpd", **env):
		"""Starts tcpserver + quail-smtpd (making the queue first if it
		does not exist yet); returns the Server. Extra keyword arguments
		go into its environment (RELAYCLIENT="" and so on)."""
		if not os.path.isdir(os.path.join(self.queue.path, "mess")):
			self.queue.create()
		s = Server(self, self.env(**env), concurrency,
		           "%s%d" % (name, len(self.servers)))
		self.servers.append(s)
		return s

	def client(self, server, ehlo=True):
		c = Client(server.port)
		self.cleanups.append(c.close)
		if ehlo:
			c.ehlo()
		return c

	def at_exit(self, fn):
		self.cleanups.append(fn)

	def logs(self):
		return "".join(s.log() for s in self.servers)

	def close(self, keep=False):
		for s in self.servers:
			s.stop()
		errors = []
		for fn in reversed(self.cleanups):
			try:
				fn()
			except Exception as e:          # keep cleaning up
				errors.append(e)
		if not keep:
			shutil.rmtree(self.dir, ignore_errors=True)
		return errors


def text_message(subject, body_lines, extra_headers=()):
	"""A small CRLF message with a unique Message-Id."""
	mid = "<%s.%d@client.test>" % (subject.replace(" ", "-"),
	                               random.getrandbits(48))
	head = ["From: <sender@client.test>", "To: <rcpt@example.test>",
	        "Subject: " + subject, "Message-Id: " + mid] + list(extra_headers)
	text = "\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body_lines) + "\r\n"
	return text.encode("latin-1")


def check_queued(fx, qid, sender, rcpts, data):
	"""Message qid is scheduled with this envelope, as both quail-qread
	and the env/ file say, and its body is data (CRLF bytes as sent,
	before stuffing) with LF line endings after the Received field."""
	q = fx.queue
	check(os.path.exists(q.file("mess", qid)), "mess/ file of %d missing" % qid)
	env = q.envelope(qid)
	check(env.sender == sender, "env %d: sender %r, wanted %r" %
	      (qid, env.sender, sender))
	check(sorted(a for s, a in env.rcpts) == sorted(rcpts),
	      "env %d: recipients %r, wanted %r" % (qid, env.rcpts, rcpts))
	check(all(s == "-" for s, a in env.rcpts),
	      "env %d: recipients not all pending: %r" % (qid, env.rcpts))
	size = os.path.getsize(q.file("mess", qid))
	check(env.bytes == size, "env %d says %d bytes, mess/ file has %d" %
	      (qid, env.bytes, size))
	m = q.qread_one(qid)
	check(m.sender == sender, "quail-qread %d: sender %r, wanted %r" %
	      (qid, m.sender, sender))
	check(sorted(m.addrs("pending")) == sorted(rcpts),
	      "quail-qread %d: recipients %r, wanted %r" % (qid, m.rcpts, rcpts))
	body = q.body(qid)
	want = stored_form(data)
	if body != want:
		raise TestFailure("body of %d differs from what was sent: %s" %
		                  (qid, first_difference(body, want)))


def first_difference(got, want):
	n = min(len(got), len(want))
	i = next((k for k in range(n) if got[k] != want[k]), n)
	return ("lengths %d vs %d wanted; first difference at byte %d: "
	        "got %r, wanted %r" % (len(got), len(want), i,
	                               got[max(0, i - 20):i + 20],
	                               want[max(0, i - 20):i + 20]))


def wait_for(pred, timeout=5, step=0.05):
	"""Polls pred() until true or timeout; returns its last value."""
	end = time.time() + timeout
	while True:
		v = pred()
		if v or time.time() >= end:
			return v
		time.sleep(step)


# -- Power cuts ------------------------------------------------------------
#
# A scratch ext4 on a loop device that writes straight to its image file
# (direct I/O): what has not reached the image is what a power cut would
# lose. Stop every writer (Stopped), copy the image (mount_copy) and the
# copy is the disk as a power cut at that moment would leave it, short of
# the kernel's writeback of pages dirty for 30 s, which a short test does
# not have.

def sh(argv, what):
	p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
	                   timeout=60)
	check(p.returncode == 0, "%s: %s exited %d: %s" %
	      (what, argv[0], p.returncode, p.stdout.decode("latin-1")[-300:]))
	return p.stdout.decode("latin-1").strip()


def _loop_mount(fx, image, mnt, opts=()):
	dev = sh(["losetup", "--direct-io=on", "-f", "--show", image], "losetup")
	fx.at_exit(lambda: subprocess.run(["losetup", "-d", dev], timeout=30))
	return dev, lambda: (sh(["mount"] + list(opts) + [dev, mnt], "mount"),
	                     fx.at_exit(lambda: _umount(mnt)))


def _umount(mnt):
	if subprocess.run(["umount", mnt], stderr=subprocess.DEVNULL,
	                  timeout=30).returncode:
		subprocess.run(["umount", "-l", mnt], timeout=30)


def scratch_disk(fx, name, size=96 << 20, journal=False):
	"""(image, mount point) of a new ext4 on a loop device, mounted under
	the test dir; without a journal unless asked (as this machine's
	root: nothing then orders metadata writes for the program under
	test)."""
	need_root()
	image = os.path.join(fx.dir, name + ".img")
	mnt = os.path.join(fx.dir, name)
	os.mkdir(mnt)
	with open(image, "wb") as f:
		f.truncate(size)
	dev, mount = _loop_mount(fx, image, mnt)
	sh(["mkfs.ext4", "-q", "-F", "-O", "%shas_journal,^metadata_csum" %
	    ("" if journal else "^"), dev], "mkfs")
	mount()
	os.chmod(mnt, 0o755)
	return image, mnt


def mount_copy(fx, image, name):
	"""Copies image (holes stay holes) and mounts the copy read-only;
	returns its mount point."""
	copy = os.path.join(fx.dir, name + ".img")
	mnt = os.path.join(fx.dir, name)
	os.mkdir(mnt)
	with open(image, "rb") as src, open(copy, "wb") as dst:
		while True:
			b = src.read(1 << 20)
			if not b:
				break
			if b.count(0) == len(b):
				dst.seek(len(b), 1)
			else:
				dst.write(b)
		dst.truncate()
	_, mount = _loop_mount(fx, copy, mnt, ["-o", "ro"])
	mount()
	return mnt


def _proc_stat(pid):
	"""(state, process group) of pid, or None when it is gone."""
	try:
		with open("/proc/%d/stat" % pid) as f:
			fields = f.read().rsplit(")", 1)[1].split()
	except OSError:
		return None
	return fields[0], int(fields[2])


def group_pids(pgid):
	"""The processes of process group pgid."""
	out = []
	for name in os.listdir("/proc"):
		if name.isdigit():
			st = _proc_stat(int(name))
			if st and st[1] == pgid:
				out.append(int(name))
	return out


class Stopped:
	"""with Stopped(pids): every process pids() names is stopped
	(SIGSTOP; one inside a system call stops when it returns) for the
	body, and continued after. A process that will not stop (one in
	vfork, its child stopped before the exec, waits in state D) makes
	it let them all go a moment and try again."""

	def __init__(self, pids):
		self.pids = pids
		self.stopped = set()

	def _signal(self, pids, sig):
		for pid in pids:
			try:
				os.kill(pid, sig)
			except ProcessLookupError:
				pass

	def _all_stopped(self):
		pids = self.pids()
		self._signal(set(pids) - self.stopped, signal.SIGSTOP)
		self.stopped.update(pids)
		return all((_proc_stat(p) or ("T",))[0] in "TZX" for p in pids)

	def __enter__(self):
		for _ in range(50):
			if wait_for(self._all_stopped, 1):
				return self
			self._signal(self.stopped, signal.SIGCONT)
			self.stopped = set()
			time.sleep(random.uniform(0.001, 0.02))
		raise TestFailure("the servers did not stop")

	def __exit__(self, *exc):
		self._signal(self.stopped, signal.SIGCONT)
		return False


def power_cut(fx, send, ready, pids, images, what, timeout=60):
	"""Runs send(stop) in a thread (it must return once the Event stop
	is set) until ready() holds, then cuts the power: the processes
	pids() names are stopped, what() says what the test knew at that
	moment, and each image is copied and mounted. Returns what()'s value
	and the copies' mount points, in the order of images."""
	stop = threading.Event()
	t = threading.Thread(target=send, args=(stop,), daemon=True)
	t.start()
	try:
		check(wait_for(ready, timeout), "not ready for the cut in %d s" %
		      timeout)
		with Stopped(pids):
			known = what()
			mnts = [mount_copy(fx, img, "copy%d" % i)
			        for i, img in enumerate(images)]
	finally:
		stop.set()
		t.join(60)
	check(not t.is_alive(), "the sender did not stop")
	return known, mnts
