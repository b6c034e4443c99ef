"""Integration tests for quail-imapd with real sync clients and crashes:
mbsync (isync) and offlineimap keep a local Maildir in step with a
1,000-message mailbox in two folders (two-way flags, deletions, no
duplicates over repeated runs), and a session stage killed with SIGKILL
in the middle of APPEND, MOVE and EXPUNGE bursts leaves folders that the
next session reads consistently (UIDVALIDITY kept, no UID reused, every
message exactly once).

The server is the one test_imap sets up: quail-imapd under tcpserver
with quail-checkpassword and a users cdb, plaintext login allowed.
mutt's batch read is test_imap.test_mutt_reads.
"""

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import harness
from harness import TestFailure, check
from test_imap import DOMAIN, PASSWORD, World, message

USER = "alice@" + DOMAIN
FOLDERS = ("INBOX", "Sub")
PER_FOLDER = 500                # 1,000 messages in all
SYNC_TIMEOUT = 240              # seconds one sync run may take
MID_RE = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.I | re.M)


# -- both sides of a sync ------------------------------------------------

def populate(w, per_folder=PER_FOLDER):
	"""INBOX and Sub with per_folder messages each; returns the
	Message-IDs expected in each folder."""
	c = w.client()
	typ, d = c.create("Sub")
	check(typ == "OK", "CREATE Sub: %r" % d)
	c.logout()
	want = {}
	for folder in FOLDERS:
		want[folder] = set()
		for i in range(per_folder):
			subj = "%s-%d" % (folder.lower(), i)
			w.deliver(message(subj, body="message %d of %s\n" % (i, folder)),
			          folder="" if folder == "INBOX" else folder)
			want[folder].add(("<%s@client.test>" % subj).encode())
	return want


def server_index(c, folder):
	"""{Message-ID: [(uid, flags bytes)]} of folder, read over IMAP."""
	typ, d = c.select(folder)
	check(typ == "OK", "SELECT %s: %r" % (folder, d))
	# an empty folder's SELECT lacking "* 0 EXISTS" is test_select_empty's
	# failure; count it as 0 here so the other checks still run
	exists = int(d[0] or 0)
	if exists == 0:
		return {}
	typ, data = c.uid("FETCH", "1:*",
	                  "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
	check(typ == "OK", "UID FETCH in %s: %r" % (folder, data[:3]))
	recs = []
	for part in data:
		if isinstance(part, tuple):
			recs.append([part[0], part[1]])
		elif recs and isinstance(part, bytes):
			recs[-1][0] += part
	check(len(recs) == exists, "%s: %d EXISTS but %d FETCH responses" %
	      (folder, exists, len(recs)))
	out = {}
	for text, lit in recs:
		uid = re.search(rb"UID (\d+)", text)
		flags = re.search(rb"FLAGS \(([^)]*)\)", text)
		mid = MID_RE.search(lit)
		check(uid and flags and mid, "FETCH response %r %r" % (text, lit))
		out.setdefault(mid.group(1), []).append((int(uid.group(1)),
		                                         flags.group(1)))
	return out


def server_files(w, folder):
	md = w.maildir()
	if folder != "INBOX":
		md = os.path.join(md, "." + folder)
	return sum(len(os.listdir(os.path.join(md, s))) for s in ("cur", "new"))


def local_index(path):
	"""{Message-ID: [file path]} of a local Maildir."""
	out = {}
	for sub in ("cur", "new"):
		d = os.path.join(path, sub)
		for n in os.listdir(d):
			p = os.path.join(d, n)
			with open(p, "rb") as f:
				head = f.read(8192).split(b"\n\n", 1)[0]
			mid = MID_RE.search(head)
			check(mid, "no Message-ID in %s" % p)
			out.setdefault(mid.group(1), []).append(p)
	return out


def info_letters(path):
	name = os.path.basename(path)
	return name.split(":2,", 1)[1] if ":2," in name else ""


def set_local_flags(path, letters):
	"""Renames a local Maildir file to carry letters too."""
	d, name = os.path.split(path)
	base, _, info = name.partition(":2,")
	info = "".join(sorted(set(info) | set(letters)))
	to = os.path.join(os.path.dirname(d), "cur", base + ":2," + info)
	os.rename(path, to)
	return to


def verify(w, local_dirs, want):
	"""Both sides hold exactly the Message-IDs in want, each once, and
	the server's EXISTS matches its files."""
	c = w.client()
	try:
		srv = {}
		for folder in FOLDERS:
			srv[folder] = server_index(c, folder)
	finally:
		c.logout()
	for folder in FOLDERS:
		loc = local_index(local_dirs[folder])
		s = srv[folder]
		sdup = [m for m, v in s.items() if len(v) > 1]
		ldup = [m for m, v in loc.items() if len(v) > 1]
		check(not sdup, "%s: duplicates on the server: %r" % (folder, sdup[:5]))
		check(not ldup, "%s: duplicates locally: %r" % (folder, ldup[:5]))
		check(set(s) == want[folder],
		      "%s: server has %d messages, wanted %d (missing %r, extra %r)" %
		      (folder, len(s), len(want[folder]),
		       sorted(want[folder] - set(s))[:5],
		       sorted(set(s) - want[folder])[:5]))
		check(set(loc) == want[folder],
		      "%s: local has %d messages, wanted %d (missing %r, extra %r)" %
		      (folder, len(loc), len(want[folder]),
		       sorted(want[folder] - set(loc))[:5],
		       sorted(set(loc) - want[folder])[:5]))
		n = server_files(w, folder)
		check(n == len(s), "%s: %d files on the server, %d messages over IMAP"
		      % (folder, n, len(s)))
	return srv


def two_way(w, sync, local_dirs):
	"""The common scenario: two full syncs, flags both ways, deletions
	both ways, and a last sync that changes nothing."""
	want = populate(w)
	sync()
	sync()
	verify(w, local_dirs, want)

	# flags set locally reach the server
	loc = {f: local_index(local_dirs[f]) for f in FOLDERS}
	mine = {"INBOX": sorted(want["INBOX"])[:3], "Sub": sorted(want["Sub"])[:2]}
	for folder, mids in mine.items():
		for m in mids:
			set_local_flags(loc[folder][m][0], "FS")
	# flags set on the server reach the local files
	theirs = {"INBOX": sorted(want["INBOX"])[10:13],
	          "Sub": sorted(want["Sub"])[10:12]}
	c = w.client()
	for folder, mids in theirs.items():
		idx = server_index(c, folder)
		uids = ",".join(str(idx[m][0][0]) for m in mids)
		typ, d = c.uid("STORE", uids, "+FLAGS", "(\\Seen \\Flagged)")
		check(typ == "OK", "STORE %s: %r" % (uids, d))
	c.logout()
	sync()
	srv = verify(w, local_dirs, want)
	for folder in FOLDERS:
		loc = local_index(local_dirs[folder])
		for m in mine[folder] + theirs[folder]:
			flags = srv[folder][m][0][1]
			check(b"\\Seen" in flags and b"\\Flagged" in flags,
			      "%s %s: server flags %r" % (folder, m, flags))
			letters = info_letters(loc[m][0])
			check("S" in letters and "F" in letters,
			      "%s %s: local file %s" % (folder, m, loc[m][0]))
		# and nothing else got flagged
		other = [m for m in want[folder] if m not in mine[folder] +
		         theirs[folder] and b"\\Flagged" in srv[folder][m][0][1]]
		check(not other, "%s: flagged unasked: %r" % (folder, other[:5]))

	# a message deleted locally goes from the server, and one expunged
	# on the server goes from the local Maildir
	loc = local_index(local_dirs["INBOX"])
	gone_here = sorted(want["INBOX"])[20]
	os.unlink(loc[gone_here][0])
	gone_there = sorted(want["Sub"])[20]
	c = w.client()
	idx = server_index(c, "Sub")
	typ, d = c.uid("STORE", str(idx[gone_there][0][0]), "+FLAGS.SILENT",
	               "(\\Deleted)")
	check(typ == "OK", "STORE \\Deleted: %r" % d)
	typ, d = c.expunge()
	check(typ == "OK" and len(d) == 1 and d[0], "EXPUNGE: %r" % d)
	c.logout()
	want["INBOX"].discard(gone_here)
	want["Sub"].discard(gone_there)
	sync()
	verify(w, local_dirs, want)
	sync()
	verify(w, local_dirs, want)
	w.check_clean()


# plaintext login is what these tests ask for
CLEARTEXT_OK = r"Password is being sent in the clear"


def run_client(argv, env, what):
	p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
	                   stderr=subprocess.STDOUT, timeout=SYNC_TIMEOUT, env=env,
	                   start_new_session=True)
	out = p.stdout.decode("latin-1")
	check(p.returncode == 0, "%s exited %d: %s" % (what, p.returncode,
	                                              out.strip()[-800:]))
	bad = [l for l in out.splitlines()
	       if re.search(r"\b(error|warning)\b", l, re.I) and
	       not re.search(CLEARTEXT_OK, l)]
	check(not bad, "%s complained: %r" % (what, bad[:5]))
	return out


def client_env(fx):
	return {"HOME": fx.dir, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
	        "LANG": "C.UTF-8"}


def test_select_empty(fx):
	"""RFC 3501 6.3.1: SELECT and EXAMINE answer EXISTS and RECENT even
	for an empty folder (sync clients take the count from them)."""
	w = World(fx)
	s = socket.create_connection(("127.0.0.1", w.server.port), 15)
	fx.at_exit(s.close)
	f = s.makefile("rb")
	f.readline()

	def command(line):
		s.sendall(line + b"\r\n")
		got = []
		while not got or got[-1][:2] != line[:2]:
			got.append(f.readline())
			check(got[-1], "connection closed after %r" % got)
		check(got[-1][2:4] == b"OK", "%r: %r" % (line, got))
		return got
	command(b"L LOGIN %s \"%s\"" % (USER.encode(), PASSWORD.encode()))
	for cmd in (b"a SELECT INBOX", b"b EXAMINE INBOX"):
		got = command(cmd)
		check(b"* 0 EXISTS\r\n" in got and b"* 0 RECENT\r\n" in got,
		      "%s of an empty INBOX without EXISTS/RECENT: %r" % (cmd, got))


# -- mbsync --------------------------------------------------------------

def test_mbsync(fx):
	if not shutil.which("mbsync"):
		raise harness.Skip("mbsync (isync) is not installed")
	w = World(fx)
	local = os.path.join(fx.dir, "mbsync")
	os.mkdir(local)
	cfg = os.path.join(fx.dir, "mbsyncrc")
	with open(cfg, "w") as f:
		f.write("IMAPAccount quail\nHost 127.0.0.1\nPort %d\nUser %s\n"
		        "Pass \"%s\"\nSSLType None\nAuthMechs LOGIN\n\n"
		        "IMAPStore far\nAccount quail\n\n"
		        "MaildirStore near\nPath %s/\nInbox %s/INBOX\n"
		        "SubFolders Verbatim\n\n"
		        "Channel sync\nFar :far:\nNear :near:\nPatterns INBOX Sub\n"
		        "Create Both\nExpunge Both\nSyncState *\nSync All\n" %
		        (w.server.port, USER, PASSWORD, local, local))
	dirs = {"INBOX": os.path.join(local, "INBOX"),
	        "Sub": os.path.join(local, "Sub")}

	def sync():
		run_client(["mbsync", "-c", cfg, "-a"], client_env(fx), "mbsync")
	two_way(w, sync, dirs)


test_mbsync.timeout = 600


# -- offlineimap ---------------------------------------------------------

def test_offlineimap(fx):
	if not shutil.which("offlineimap"):
		raise harness.Skip("offlineimap is not installed "
		                   "(apt-get install offlineimap)")
	w = World(fx)
	local = os.path.join(fx.dir, "oimap")
	meta = os.path.join(fx.dir, "oimeta")
	os.mkdir(local)
	cfg = os.path.join(fx.dir, "offlineimaprc")
	with open(cfg, "w") as f:
		f.write("[general]\naccounts = quail\nmetadata = %s\n"
		        "ui = basic\n\n"
		        "[Account quail]\nlocalrepository = near\n"
		        "remoterepository = far\n\n"
		        "[Repository near]\ntype = Maildir\nlocalfolders = %s\n\n"
		        "[Repository far]\ntype = IMAP\nremotehost = 127.0.0.1\n"
		        "remoteport = %d\nremoteuser = %s\nremotepass = %s\n"
		        "ssl = no\nstarttls = no\nauth_mechanisms = LOGIN\n"
		        "folderfilter = lambda f: f in ['INBOX', 'Sub']\n" %
		        (meta, local, w.server.port, USER, PASSWORD))
	dirs = {"INBOX": os.path.join(local, "INBOX"),
	        "Sub": os.path.join(local, "Sub")}

	def sync():
		run_client(["offlineimap", "-c", cfg, "-o", "-u", "basic"],
		           client_env(fx), "offlineimap")
	two_way(w, sync, dirs)


test_offlineimap.timeout = 600


# -- crashes ---------------------------------------------------------------

CRASH_ROUNDS = 4                # rounds of (APPEND, MOVE, EXPUNGE) kills
BURST = 400                     # messages per burst
# How long a burst runs before the kill, in seconds, drawn uniformly:
# a 400-message APPEND burst takes about 3 s here (an fsync each), a MOVE
# or EXPUNGE of as many some 40 ms.
KILL_AFTER = {"APPEND": (0.02, 1.5), "MOVE": (0.0, 0.04),
              "EXPUNGE": (0.0, 0.04)}


def session_pids(w):
	"""Session-stage processes (quail-imapd without arguments) under the
	test's tcpserver."""
	out = []
	for d in os.listdir("/proc"):
		if not d.isdigit():
			continue
		try:
			with open("/proc/%s/cmdline" % d, "rb") as f:
				argv = f.read().split(b"\0")[:-1]
			if os.getpgid(int(d)) != w.server.proc.pid:
				continue
		except OSError:
			continue
		if len(argv) == 1 and os.path.basename(argv[0]) == b"quail-imapd":
			out.append(int(d))
	return out


class Raw:
	def __init__(self, w):
		self.s = socket.create_connection(("127.0.0.1", w.server.port), 15)
		self.buf = b""
		w.fx.at_exit(self.close)
		check(self.line().startswith(b"* OK"), "greeting")
		self.s.sendall(b"L LOGIN %s \"%s\"\r\n" % (USER.encode(),
		                                          PASSWORD.encode()))
		line = self.line()
		check(line.startswith(b"L OK"), "login: %r" % line)
		end = time.time() + 5
		self.pid = None
		while time.time() < end and self.pid is None:
			pids = session_pids(w)
			if len(pids) == 1:
				self.pid = pids[0]
			else:
				time.sleep(0.01)
		check(self.pid, "no single session stage: %r" % session_pids(w))

	def line(self):
		while b"\n" not in self.buf:
			d = self.s.recv(65536)
			check(d, "connection closed")
			self.buf += d
		line, _, self.buf = self.buf.partition(b"\n")
		return line + b"\n"

	def until(self, tag):
		lines = []
		while True:
			lines.append(self.line())
			if lines[-1].startswith(tag + b" "):
				return lines

	def drain_for(self, seconds):
		"""What arrives within seconds, without blocking past them."""
		end = time.time() + seconds
		while True:
			left = end - time.time()
			if left <= 0:
				break
			self.s.settimeout(left)
			try:
				d = self.s.recv(65536)
			except socket.timeout:
				break
			if not d:
				break
			self.buf += d
		self.s.settimeout(15)
		return self.buf

	def close(self):
		try:
			self.s.close()
		except OSError:
			pass


def uidlist(w, folder):
	"""(uidvalidity, uidnext, {uid: key}) from the folder's quail-uidlist,
	checked for shape: UIDs ascending, below uidnext, keys unique."""
	md = w.maildir()
	if folder != "INBOX":
		md = os.path.join(md, "." + folder)
	with open(os.path.join(md, "quail-uidlist"), "rb") as f:
		data = f.read()
	if data.startswith(b"QUAIL-UIDLIST 3\n"):
		validity, nxt, keyed = uidlist_v3(folder, data)
	else:
		validity, nxt, keyed = uidlist_text(folder, data)
	m, last, keys = {}, 0, set()
	for uid, key in keyed:
		check(last < uid < nxt, "%s uidlist: uid %d after %d, uidnext %d" %
		      (folder, uid, last, nxt))
		check(key not in keys, "%s uidlist: key %r twice" % (folder, key))
		last = uid
		keys.add(key)
		m[uid] = key
	return validity, nxt, m


def uidlist_v3(folder, b):
	"""Version 3 (imapd/uidmap.h): a 160-byte header, 24-byte records,
	NUL-terminated names."""
	(hsize, rsize, validity, nxt, _, n, _, _, _, nameslen,
	 _) = struct.unpack_from("<IIIIQIIIIII", b, 16)
	check(hsize == 160 and rsize == 24 and
	      len(b) == hsize + rsize * n + nameslen,
	      "%s uidlist sizes %d %d %d" % (folder, hsize, rsize, len(b)))
	names = b[hsize + rsize * n:]
	keyed = []
	for i in range(n):
		uid, off, nl, bl, _, _ = struct.unpack_from("<IIHHIQ", b,
		                                            hsize + rsize * i)
		check(names[off + nl:off + nl + 1] == b"\0",
		      "%s uidlist name %d" % (folder, i))
		keyed.append((uid, names[off:off + bl]))
	return validity, nxt, keyed


def uidlist_text(folder, data):
	"""Version 1: magic, uidvalidity, uidnext; version 2 adds a stamp of
	12 numbers. One "uid name" line per message."""
	lines = data.split(b"\n")
	head = lines[0].split()
	check(head[:1] == [b"QUAIL-UIDLIST"] and
	      (head[1:2] == [b"1"] and len(head) == 4 or
	       head[1:2] == [b"2"] and len(head) == 16),
	      "%s uidlist head %r" % (folder, lines[0]))
	check(lines[-1] == b"", "%s uidlist not newline-terminated" % folder)
	keyed = []
	for l in lines[1:-1]:
		uid, _, key = l.partition(b" ")
		check(uid.isdigit() and key, "%s uidlist line %r" % (folder, l))
		keyed.append((int(uid),
		              key.rsplit(b"/", 1)[-1].split(b":", 1)[0]))
	return int(head[2]), int(head[3]), keyed


class Ledger:
	"""What every session has shown: per folder the UIDVALIDITY, the
	highest UIDNEXT, and uid -> Message-ID. A UID that meant one message
	must never mean another, and a message keeps its UID in its folder."""

	def __init__(self):
		self.validity = {}
		self.uidnext = {}
		self.uids = {f: {} for f in FOLDERS}
		self.retired = {f: set() for f in FOLDERS}

	def promise(self, folder, uid, mid):
		"""A UID the server reported (APPENDUID/COPYUID) for mid."""
		old = self.uids[folder].get(uid)
		check(old in (None, mid), "%s UID %d given to %r and to %r" %
		      (folder, uid, old, mid))
		self.uids[folder][uid] = mid

	def look(self, w, c, must):
		"""One consistent view of both folders: each message of must (a
		set of Message-IDs) in exactly one folder, exactly once."""
		seen = {}
		for folder in FOLDERS:
			typ, d = c.select(folder)
			check(typ == "OK", "SELECT %s after a crash: %r" % (folder, d))
			v = int(c.response("UIDVALIDITY")[1][0])
			nxt = int(c.response("UIDNEXT")[1][0])
			check(self.validity.setdefault(folder, v) == v,
			      "%s UIDVALIDITY changed %d -> %d" %
			      (folder, self.validity[folder], v))
			check(nxt >= self.uidnext.get(folder, 0),
			      "%s UIDNEXT went back %d -> %d" %
			      (folder, self.uidnext.get(folder, 0), nxt))
			idx = server_index(c, folder)
			now = {}
			for mid, lst in idx.items():
				check(len(lst) == 1, "%s: %s %d times (UIDs %r)" %
				      (folder, mid, len(lst), lst))
				check(mid not in seen, "%s in %s and %s" %
				      (mid, seen.get(mid), folder))
				seen[mid] = folder
				uid = lst[0][0]
				check(uid < nxt, "%s: UID %d >= UIDNEXT %d" % (folder, uid, nxt))
				check(uid not in self.retired[folder],
				      "%s: UID %d reused for %s" % (folder, uid, mid))
				old = self.uids[folder].get(uid)
				check(old in (None, mid), "%s: UID %d was %s, now %s" %
				      (folder, uid, old, mid))
				now[uid] = mid
			prev = {m: u for u, m in self.uids[folder].items()}
			for uid, mid in now.items():
				check(prev.get(mid, uid) == uid,
				      "%s: %s had UID %d, now %d" % (folder, mid,
				                                     prev.get(mid, 0), uid))
			for uid in list(self.uids[folder]):
				if uid not in now:
					# expunged or moved away: that UID is spent
					self.retired[folder].add(uid)
					del self.uids[folder][uid]
			self.uids[folder].update(now)
			self.uidnext[folder] = nxt
			n = server_files(w, folder)
			check(n == len(idx), "%s: %d files, %d messages over IMAP" %
			      (folder, n, len(idx)))
			v2, nxt2, m = uidlist(w, folder)
			check(v2 == v, "%s: uidlist says UIDVALIDITY %d, SELECT %d" %
			      (folder, v2, v))
			check(set(now) <= set(m), "%s: UIDs %r not in the uidlist" %
			      (folder, sorted(set(now) - set(m))[:5]))
		lost = sorted(must - set(seen))
		check(not lost, "messages lost: %r" % lost[:5])
		return seen


def kill_session(w, r, rng, what):
	"""Lets the burst run a random moment, then SIGKILLs the session
	stage; returns what the client read before that."""
	delay = rng.uniform(*KILL_AFTER[what])
	got = r.drain_for(delay)
	try:
		os.kill(r.pid, signal.SIGKILL)
	except ProcessLookupError:
		pass                    # the burst finished first: still valid
	r.close()
	end = time.time() + 10
	while r.pid in session_pids(w) and time.time() < end:
		time.sleep(0.01)
	check(r.pid not in session_pids(w), "%s: session %d survived SIGKILL" %
	      (what, r.pid))
	return got


def test_crash_uidlist(fx):
	w = World(fx)
	rng = random.Random(4711)
	want = populate(w, per_folder=BURST)
	must = want["INBOX"] | want["Sub"]
	book = Ledger()
	c = w.client()
	book.look(w, c, must)
	c.logout()
	seq = 0
	for rnd in range(CRASH_ROUNDS):
		# 1. a pipelined APPEND burst (LITERAL+) into INBOX
		r = Raw(w)
		tags = {}
		out = []
		for i in range(BURST):
			seq += 1
			subj = "crash-%d" % seq
			msg = message(subj).replace(b"\n", b"\r\n")
			tag = b"A%d" % seq
			tags[tag] = ("<%s@client.test>" % subj).encode()
			out.append(b"%s APPEND INBOX {%d+}\r\n%s\r\n" % (tag, len(msg), msg))
		r.s.sendall(b"".join(out[:20]))
		# the rest as far as the socket takes it without waiting: the
		# burst is cut short by the kill anyway
		r.s.setblocking(False)
		try:
			r.s.send(b"".join(out[20:]))
		except BlockingIOError:
			pass
		r.s.setblocking(True)
		r.s.settimeout(15)
		got = kill_session(w, r, rng, "APPEND")
		for tag, uid in re.findall(rb"^(A\d+) OK \[APPENDUID \d+ (\d+)\]",
		                           got, re.M):
			book.promise("INBOX", int(uid), tags[tag])
			must.add(tags[tag])
		c = w.client()
		seen = book.look(w, c, must)
		c.logout()
		# appends that got no reply may or may not be there; from now on
		# those that are must stay
		must |= {m for m in tags.values() if m in seen}

		# 2. MOVE everything in INBOX to Sub, or back
		src, dst = ("INBOX", "Sub") if rnd % 2 == 0 else ("Sub", "INBOX")
		r = Raw(w)
		r.s.sendall(b"s SELECT %s\r\n" % src.encode())
		r.until(b"s")
		r.s.sendall(b"m UID MOVE 1:* %s\r\n" % dst.encode())
		kill_session(w, r, rng, "MOVE")
		c = w.client()
		book.look(w, c, must)
		c.logout()

		# 3. delete a slice, then EXPUNGE, killed part way
		c = w.client()
		idx = server_index(c, dst)
		doomed = sorted(idx)[:BURST // 4]
		uids = ",".join(str(idx[m][0][0]) for m in doomed)
		typ, d = c.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)")
		check(typ == "OK", "STORE \\Deleted: %r" % d)
		c.logout()
		r = Raw(w)
		r.s.sendall(b"s SELECT %s\r\nx EXPUNGE\r\n" % dst.encode())
		kill_session(w, r, rng, "EXPUNGE")
		# those that were expunged may go; the rest must stay
		must -= set(doomed)
		c = w.client()
		seen = book.look(w, c, must)
		# the crash left some \Deleted: a clean EXPUNGE finishes the job
		typ, d = c.select(dst)
		typ, d = c.expunge()
		check(typ == "OK", "EXPUNGE after a crash: %r" % d)
		seen = book.look(w, c, must)
		left = [m for m in doomed if m in seen]
		check(not left, "expunged messages still there: %r" % left[:5])
		c.logout()

	# a new message after all that gets a fresh UID in each folder
	c = w.client()
	for folder in FOLDERS:
		top = book.uidnext[folder]
		typ, d = c.append(folder, None, None,
		                  message("after-%s" % folder).replace(b"\n", b"\r\n"))
		check(typ == "OK", "APPEND after crashes: %r" % d)
		m = re.search(rb"APPENDUID (\d+) (\d+)", d[0])
		check(m and int(m.group(1)) == book.validity[folder] and
		      int(m.group(2)) >= top, "%s: APPENDUID %r, UIDNEXT was %d" %
		      (folder, d, top))
		must.add(("<after-%s@client.test>" % folder).encode())
	book.look(w, c, must)
	c.logout()
	# sessions other than the killed ones ended cleanly
	for pid, st in w.server.exits():
		if st & 0x7f and st & 0x7f != signal.SIGKILL:
			raise TestFailure("session %d died by signal %d" % (pid, st & 0x7f))


test_crash_uidlist.timeout = 300
