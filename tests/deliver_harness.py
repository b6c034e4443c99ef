"""Fixtures for the delivery tests (tests/test_deliver.py), on top of
harness.py: a MailWorld adds to a harness.Fixture the local domain, a
users cdb, home directories owned by an unprivileged test user, and a
quail-send scheduler (with its quail-lspawn, quail-rspawn and the
quail-local processes they start) whose log lines can be waited for.

Every process a MailWorld starts carries QUAIL_ITEST_TAG=<unique> in its
environment, which quail-send passes to the spawners, quail-lspawn to
quail-local and quail-local to |programs. Cleanup finds them by that tag
in /proc and SIGKILLs them by pid, so a delivery that outlived its
scheduler (each runs in its own process group) is not left behind.
"""

import os
import pwd
import random
import re
import signal
import subprocess
import time

import harness
from harness import ROOT, TestFailure, check, run

SEND = os.path.join(ROOT, "queue", "quail-send")
LSPAWN = os.path.join(ROOT, "deliver", "quail-lspawn")
RSPAWN = os.path.join(ROOT, "deliver", "quail-rspawn")
LOCAL = os.path.join(ROOT, "deliver", "quail-local")
INJECT = os.path.join(ROOT, "queue", "quail-inject")
SENDMAIL = os.path.join(ROOT, "queue", "sendmail")

DOMAIN = "example.test"         # in harness.RCPTHOSTS, so smtpd takes it
TEST_USER = "quailtest"         # owns every test mailbox
START_TIMEOUT = 10              # s for quail-send to log event=start
DELIVERY_PROGRAMS = ("quail-send", "quail-lspawn", "quail-rspawn",
                     "quail-local")

TRACE_FIELDS = (b"return-path", b"delivered-to", b"received")


def need_programs(*paths):
	"""Fails (not skips) when a program under test is not built: a
	missing program is a missing feature."""
	for p in paths:
		check(os.access(p, os.X_OK), "%s is not built (make %s)" %
		      (os.path.relpath(p, ROOT), os.path.relpath(p, ROOT)))


def test_user():
	"""(uid, gid) of the mailbox owner, made once when missing."""
	try:
		pw = pwd.getpwnam(TEST_USER)
	except KeyError:
		run(["useradd", "--system", "--no-create-home", "--shell",
		     "/usr/sbin/nologin", TEST_USER], check_rc=0)
		pw = pwd.getpwnam(TEST_USER)
	check(pw.pw_uid != 0, "%s has uid 0" % TEST_USER)
	return pw.pw_uid, pw.pw_gid


# -- Messages -----------------------------------------------------------

def strip_trace(msg):
	"""msg (LF bytes) without the trace fields delivery and smtpd put on
	top: leading Return-Path, Delivered-To and Received fields with
	their continuation lines."""
	lines = msg.split(b"\n")
	i = 0
	while i < len(lines):
		name = lines[i].split(b":", 1)[0].strip().lower()
		if b":" not in lines[i] or name not in TRACE_FIELDS:
			break
		i += 1
		while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
			i += 1
	return b"\n".join(lines[i:])


def trace_fields(msg):
	"""The leading trace fields of msg, [(name lower-case, value)]."""
	head = msg[:len(msg) - len(strip_trace(msg))]
	out = []
	for line in head.split(b"\n"):
		if line[:1] in (b" ", b"\t") and out:
			out[-1] = (out[-1][0], out[-1][1] + b" " + line.strip())
		elif line:
			k, v = line.split(b":", 1)
			out.append((k.strip().lower().decode(), v.strip()))
	return out


def header_value(msg, name):
	"""The first value of header field name (bytes) in msg, or None."""
	head = msg.split(b"\n\n", 1)[0]
	m = re.search(rb"(?im)^" + re.escape(name) + rb":[ \t]*(.*)$", head)
	return m.group(1).strip() if m else None


MAILDIR_NAME = re.compile(r"^[^.][^/]*,S=(\d+),W=(\d+)(:2,[A-Za-z]*)?$")


def check_maildir_name(name, data):
	"""The Maildir file name carries ,S=<bytes>,W=<CRLF bytes> that
	match the file."""
	m = MAILDIR_NAME.match(name)
	check(m, "Maildir file name %r has no ,S=N,W=N" % name)
	s, w = int(m.group(1)), int(m.group(2))
	check(s == len(data), "%s: S=%d but the file has %d bytes" %
	      (name, s, len(data)))
	want = len(data) + data.count(b"\n")
	check(w == want, "%s: W=%d but the CRLF size is %d" % (name, w, want))


# -- Mailboxes ----------------------------------------------------------

class Mailbox:
	"""One user of the userdb and the Maildir it delivers to."""

	def __init__(self, name, addr, home, maildir):
		self.name = name
		self.addr = addr
		self.home = home
		self.maildir = maildir        # absolute, ends with '/'

	def sub(self, d):
		return os.path.join(self.maildir, d)

	def names(self, subs=("new", "cur")):
		"""[(subdir, file name)] of the delivered messages."""
		out = []
		for d in subs:
			try:
				out += [(d, n) for n in sorted(os.listdir(self.sub(d)))]
			except FileNotFoundError:
				pass
		return out

	def count(self):
		return len(self.names())

	def tmp_files(self):
		try:
			return sorted(os.listdir(self.sub("tmp")))
		except FileNotFoundError:
			return []

	def messages(self, check_names=True):
		"""[(file name, bytes)] of new/ and cur/, names checked."""
		out = []
		for d, n in self.names():
			with open(os.path.join(self.sub(d), n), "rb") as f:
				data = f.read()
			if check_names:
				check_maildir_name(n, data)
			out.append((n, data))
		return out


# -- Processes ----------------------------------------------------------

def proc_environ(pid):
	try:
		with open("/proc/%d/environ" % pid, "rb") as f:
			return f.read().split(b"\0")
	except OSError:
		return []


def proc_comm(pid):
	try:
		with open("/proc/%d/comm" % pid, "rb") as f:
			return f.read().strip().decode("latin-1")
	except OSError:
		return ""


def pids_tagged(tag, names=None):
	"""Pids of live processes whose environment holds tag (and whose
	command name is in names, when given)."""
	want = ("QUAIL_ITEST_TAG=" + tag).encode()
	out = []
	for d in os.listdir("/proc"):
		if not d.isdigit() or int(d) == os.getpid():
			continue
		pid = int(d)
		if names is not None and proc_comm(pid) not in names:
			continue
		if want in proc_environ(pid):
			out.append(pid)
	return out


def kill_pids(pids, sig=signal.SIGKILL):
	for pid in pids:
		try:
			os.kill(pid, sig)
		except ProcessLookupError:
			pass


LOG_LINE = re.compile(r"^([a-z-]+): ([a-z]+):((?: [A-Za-z0-9_-]+=\S*)*)$")


def unescape(v):
	return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), v)


def parse_log(text):
	"""[{prog, level, key: value...}] for each well-formed line."""
	out = []
	for line in text.splitlines():
		m = LOG_LINE.match(line)
		if not m:
			continue
		ev = {"prog": m.group(1), "level": m.group(2), "line": line}
		for kv in m.group(3).split():
			k, v = kv.split("=", 1)
			ev[k] = unescape(v)
		out.append(ev)
	return out


class MailWorld:
	"""The local-delivery half of a test world (see module doc)."""

	def __init__(self, fx, conc_local=10, retrybase=60, lifetime=604800):
		need_programs(SEND, LSPAWN, RSPAWN, LOCAL, harness.QUEUE_PROG,
		              harness.QCHECK, harness.QSTAT, harness.QREAD)
		harness.need_root()
		self.fx = fx
		self.uid, self.gid = test_user()
		self.tag = "%s-%d-%d" % (fx.name, os.getpid(), random.getrandbits(32))
		self.users = {}               # lower-case address -> Mailbox
		self.records = {}             # userdb key -> value
		self.userdb = os.path.join(fx.dir, "users.cdb")
		self.log_path = os.path.join(fx.dir, "send.log")
		self.send_proc = None
		self.send_procs = []
		self.mounts = []
		fx.at_exit(self.close)
		# the mailbox owner must pass through the test's temp dir
		os.chmod(fx.dir, 0o711)
		self.homes = os.path.join(fx.dir, "home")
		os.mkdir(self.homes, 0o711)
		fx.write_control("locals", DOMAIN)
		fx.write_control("concurrencylocal", str(conc_local))
		fx.write_control("concurrencyremote", "2")
		fx.write_control("retrybase", str(retrybase))
		fx.write_control("queuelifetime", str(lifetime))
		fx.write_control("doublebounceto", "postmaster")
		fx.write_control("doublebouncehost", DOMAIN)
		if not os.path.isdir(os.path.join(fx.queue.path, "mess")):
			fx.queue.create()
		self.write_userdb()

	# users

	def add_user(self, name, home=None, maildir="./Maildir/", quota="",
	             flags="", make_home=True):
		"""A user name@DOMAIN owned by the test user; returns its Mailbox.
		The Maildir is left for quail-local to create."""
		addr = "%s@%s" % (name, DOMAIN)
		home = home or os.path.join(self.homes, name)
		if make_home and not os.path.isdir(home):
			os.mkdir(home, 0o700)
		if make_home:
			os.chown(home, self.uid, self.gid)
		self.records[addr.lower()] = "%d:%d:%s:%s:%s:%s:" % (
			self.uid, self.gid, home, maildir, quota, flags)
		md = maildir if maildir.startswith("/") else \
			os.path.join(home, maildir[2:])
		box = Mailbox(name, addr, home, md)
		self.users[addr.lower()] = box
		return box

	def write_userdb(self):
		src = self.userdb + ".in"
		with open(src, "w") as f:
			for k, v in sorted(self.records.items()):
				f.write("%s %s\n" % (k, v))
		tmp = self.userdb + ".tmp"
		run(["cdb", "-c", "-m", "-t", tmp, self.userdb, src], check_rc=0)
		os.chmod(self.userdb, 0o644)

	def user_file(self, box, name, text, mode=0o600):
		"""Writes a file in box's home, owned by the test user."""
		path = os.path.join(box.home, name)
		with open(path, "w") as f:
			f.write(text)
		os.chmod(path, mode)
		os.chown(path, self.uid, self.gid)
		return path

	def dot_qmail(self, box, text, ext=""):
		return self.user_file(box, ".qmail" + ("-" + ext if ext else ""),
		                      text, 0o600)

	def script(self, name, text):
		"""An executable shell script in the test dir (for |programs);
		the test user can run it and write beside it in state/."""
		state = os.path.join(self.fx.dir, "state")
		if not os.path.isdir(state):
			os.mkdir(state, 0o755)
			os.chown(state, self.uid, self.gid)
		path = os.path.join(self.fx.dir, name)
		with open(path, "w") as f:
			f.write("#!/bin/sh\n" + text)
		os.chmod(path, 0o755)
		return path

	def state_file(self, name):
		return os.path.join(self.fx.dir, "state", name)

	# environment and processes

	def env(self, **extra):
		e = self.fx.env(QUAILLSPAWN=LSPAWN, QUAILRSPAWN=RSPAWN,
		                QUAILLOCAL=LOCAL, QUAIL_USERDB=self.userdb,
		                QUAIL_ITEST_TAG=self.tag, QUAILINJECT=INJECT)
		e.update(extra)
		return e

	def smtpd(self, concurrency=40):
		return self.fx.smtpd(concurrency=concurrency,
		                     QUAIL_ITEST_TAG=self.tag,
		                     QUAIL_USERDB=self.userdb)

	def start_send(self):
		"""Starts quail-send and waits for its event=start line."""
		check(self.send_proc is None or self.send_proc.poll() is not None,
		      "quail-send already running")
		before = len(self.events("start"))
		logf = open(self.log_path, "ab")
		try:
			p = subprocess.Popen([SEND], stdin=subprocess.DEVNULL,
			                     stdout=subprocess.DEVNULL, stderr=logf,
			                     env=self.env(), cwd=self.fx.dir,
			                     start_new_session=True)
		finally:
			logf.close()
		self.send_proc = p
		self.send_procs.append(p)
		end = time.time() + START_TIMEOUT
		while len(self.events("start")) <= before:
			if p.poll() is not None:
				raise TestFailure("quail-send exited %d at start: %s" %
				                  (p.returncode, self.log()[-500:]))
			check(time.time() < end, "quail-send did not log event=start")
			time.sleep(0.05)
		return p

	def signal_send(self, sig):
		check(self.send_proc is not None and self.send_proc.poll() is None,
		      "quail-send is not running")
		os.kill(self.send_proc.pid, sig)

	def stop_send(self, timeout=30):
		"""SIGTERM; waits for a clean exit 0."""
		p = self.send_proc
		if p is None or p.poll() is not None:
			return
		os.kill(p.pid, signal.SIGTERM)
		try:
			rc = p.wait(timeout=timeout)
		except subprocess.TimeoutExpired:
			raise TestFailure("quail-send did not stop %d s after TERM" %
			                  timeout)
		check(rc == 0, "quail-send exited %d after TERM" % rc)

	def crash_send(self):
		"""SIGKILLs quail-send, then every quail-local still running
		(as a power cut would); returns how many locals died."""
		p = self.send_proc
		if p is not None and p.poll() is None:
			os.kill(p.pid, signal.SIGKILL)
			p.wait(timeout=10)
		locals_ = pids_tagged(self.tag, ("quail-local",))
		kill_pids(locals_)
		return len(locals_)

	def delivery_pids(self):
		return pids_tagged(self.tag, DELIVERY_PROGRAMS)

	def kill_all(self):
		"""SIGKILLs every process that carries the tag, until none is
		left (a dying spawner may still fork)."""
		for p in self.send_procs:
			if p.poll() is None:
				try:
					os.killpg(p.pid, signal.SIGKILL)
				except ProcessLookupError:
					pass
		for _ in range(50):
			pids = pids_tagged(self.tag)
			if not pids:
				break
			kill_pids(pids)
			time.sleep(0.05)
		for p in self.send_procs:
			try:
				p.wait(timeout=5)
			except subprocess.TimeoutExpired:
				pass

	def mount_tmpfs(self, path, size):
		"""A small tmpfs at path (made), unmounted at cleanup."""
		os.makedirs(path, exist_ok=True)
		r = subprocess.run(["mount", "-t", "tmpfs", "-o",
		                    "size=%s,mode=0755" % size, "tmpfs", path],
		                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
		if r.returncode != 0:
			raise harness.Skip("cannot mount a tmpfs here: %s" %
			                   r.stderr.decode("latin-1").strip())
		self.mounts.append(path)

	def close(self):
		self.kill_all()
		for m in reversed(self.mounts):
			subprocess.run(["umount", "-l", m], stdout=subprocess.DEVNULL,
			               stderr=subprocess.DEVNULL)
		self.mounts = []

	# the log

	def log(self):
		try:
			with open(self.log_path, "rb") as f:
				return f.read().decode("latin-1")
		except FileNotFoundError:
			return ""

	def mark(self):
		"""A place in the log: events(since=mark) looks only after it.
		Queue IDs are inode numbers, so a later message may get the ID
		of one already gone; a mark keeps their lines apart."""
		return len(self.log().splitlines())

	def events(self, event=None, since=0, **fields):
		"""quail-send's (and the spawners') log lines, parsed, that have
		event=event and every key=value in fields."""
		out = []
		lines = self.log().splitlines()[since:]
		for ev in parse_log("\n".join(lines)):
			if event is not None and ev.get("event") != event:
				continue
			if all(ev.get(k) == v for k, v in fields.items()):
				out.append(ev)
		return out

	def wait_events(self, n, event, timeout, since=0, **fields):
		"""Waits until at least n matching events are logged; returns
		them, or fails saying what was seen."""
		end = time.time() + timeout
		while True:
			evs = self.events(event, since=since, **fields)
			if len(evs) >= n:
				return evs
			if self.send_proc is not None and self.send_proc.poll() is not None:
				raise TestFailure("quail-send exited %d; log tail: %s" %
				                  (self.send_proc.returncode,
				                   self.log_tail()))
			if time.time() >= end:
				raise TestFailure(
					"waited %d s for %d event=%s %r, saw %d; log tail: %s" %
					(timeout, n, event, fields, len(evs), self.log_tail()))
			time.sleep(0.1)

	def log_tail(self, n=8):
		return " | ".join(self.log().splitlines()[-n:])

	def check_log_clean(self):
		"""No fatal line and no unparsable line from the delivery side."""
		for line in self.log().splitlines():
			check(": fatal:" not in line, "fatal log line: %s" % line)

	# the queue

	def inject(self, sender, rcpts, data):
		"""Queues data (bytes, LF) through quail-queue as an application
		would; returns the queue ID (read from fd 6)."""
		env_r, env_w = os.pipe()
		id_r, id_w = os.pipe()
		envelope = b"F" + sender.encode() + b"\0" + b"".join(
			b"T" + r.encode() + b"\0" for r in rcpts) + b"\0"
		check(len(envelope) < 60000, "envelope too big for one pipe write")
		os.write(env_w, envelope)
		os.close(env_w)

		def fds():
			os.dup2(id_w, 6)
		try:
			p = subprocess.run([harness.QUEUE_PROG], input=data,
			                   stdout=env_r, stderr=subprocess.PIPE,
			                   env=self.env(), preexec_fn=fds,
			                   pass_fds=(id_w,), timeout=60)
		finally:
			os.close(env_r)
			os.close(id_w)
		got = os.read(id_r, 100)
		os.close(id_r)
		check(p.returncode == 0, "quail-queue exited %d: %s" %
		      (p.returncode, p.stderr.decode("latin-1").strip()))
		m = re.match(rb"^K(\d+)$", got)
		check(m, "quail-queue wrote %r on fd 6, not K<ID>" % got)
		return int(m.group(1))

	def qstat(self):
		"""quail-qstat -q as {label: count} ("messages", "recipients
		pending", "orphans", "broken", "tmp"), and its text."""
		out = run([harness.QSTAT, "-q", self.fx.queue.path], check_rc=0,
		          env=self.env()).decode("latin-1")
		counts = {}
		for line in out.splitlines():
			m = re.match(r"^([a-z ]+): (\d+)$", line)
			check(m, "quail-qstat: unexpected line %r" % line)
			counts[m.group(1)] = int(m.group(2))
		for k in ("messages", "recipients pending", "broken"):
			check(k in counts, "quail-qstat does not say %r: %r" % (k, out))
		return counts, " ".join(out.split())

	def wait_queue_empty(self, timeout, allow=()):
		"""Waits until quail-qstat counts nothing (but the labels in
		allow); returns its text."""
		end = time.time() + timeout
		while True:
			counts, out = self.qstat()
			if all(n == 0 for k, n in counts.items() if k not in allow):
				return out
			if time.time() >= end:
				raise TestFailure("queue not empty after %d s: quail-qstat "
				                  "says %r; log tail: %s" %
				                  (timeout, out, self.log_tail()))
			time.sleep(0.2)
