"""Integration tests for quail-imapd's streamed APPEND (imapd/conn.h,
cmd_append in imapd/store.c): the message literal goes from the socket
to a file in the folder's tmp/ through a fixed buffer, so a 20 MB
message arrives byte-exact while the session's peak RSS stays small;
refusals (TOOBIG, OVERQUOTA, TRYCREATE) come before the continuation of
a synchronising literal, and the bytes of a non-synchronising one are
read and dropped so the connection stays in step; a client that hangs
up mid-message leaves nothing in tmp/ or cur/.
"""

import os
import re
import time

import subprocess

import harness
import test_imap as ti
from harness import check
from test_diskfull import umount

BIG = 20 * 1024 * 1024
APPEND_MAX = 64 * 1024 * 1024   # IMAP_APPEND_MAX in imapd/parse.h
RSS_MAX_KB = 16 * 1024         # a whole quail-imapd process
RSS_GROWTH_KB = 4 * 1024       # what 20 MB of APPEND may add to it


def big_message(size):
	"""size bytes of CRLF lines of varied length, so reads split
	CRLFs at many places."""
	head = (b"From: Ann <ann@client.test>\r\nTo: alice@example.test\r\n"
	        b"Subject: big\r\nMessage-ID: <big@client.test>\r\n\r\n")
	parts, n, i = [head], len(head), 0
	while n < size:
		line = (b"%07d " % i) + b"abcdefghij" * (i % 13) + b"\r\n"
		parts.append(line)
		n += len(line)
		i += 1
	data = b"".join(parts)[:size - 2] + b"\r\n"
	return data


def imapd_pid(w, session=True):
	"""The session stage (quail-imapd without arguments) or the login
	stage serving the one open connection, under tcpserver's tree."""
	root = w.server.proc.pid
	kids = {}
	for d in os.listdir("/proc"):
		if not d.isdigit():
			continue
		try:
			with open("/proc/%s/stat" % d) as f:
				st = f.read()
			with open("/proc/%s/cmdline" % d, "rb") as f:
				argv = f.read().split(b"\0")[:-1]
		except OSError:
			continue
		ppid = int(st[st.rindex(")") + 2:].split()[1])
		kids.setdefault(ppid, []).append((int(d), argv))
	found, todo = [], [root]
	while todo:
		for pid, argv in kids.get(todo.pop(), []):
			todo.append(pid)
			if (argv and argv[0].endswith(b"quail-imapd") and
			    (len(argv) == 1) == session):
				found.append(pid)
	check(len(found) == 1, "quail-imapd processes: %r" % found)
	return found[0]


def vm_hwm_kb(pid):
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if line.startswith("VmHWM:"):
				return int(line.split()[1])
	raise harness.TestFailure("no VmHWM for %d" % pid)


def files(w, sub, folder=""):
	md = w.maildir()
	if folder:
		md = os.path.join(md, "." + folder)
	return sorted(os.listdir(os.path.join(md, sub)))


def check_empty(w, why, folder=""):
	check(files(w, "tmp", folder) == [] and files(w, "cur", folder) == [] and
	      files(w, "new", folder) == [],
	      "%s: tmp %r cur %r" % (why, files(w, "tmp", folder),
	                             files(w, "cur", folder)))


def login(w, select=None):
	s, f = ti.raw_login(w)
	if select:
		s.sendall(b"S SELECT " + select + b"\r\n")
		check(ti.until_tagged(f, b"S")[-1].startswith(b"S OK"), "SELECT")
	return s, f


def append_sync(s, f, tag, head, data):
	"""APPEND with a synchronising literal: the tagged lines."""
	s.sendall(b"%s APPEND %s {%d}\r\n" % (tag, head, len(data)))
	line = f.readline()
	check(line.startswith(b"+"), "no continuation: %r" % line)
	s.sendall(data + b"\r\n")
	return ti.until_tagged(f, tag)


def append_nonsync(s, f, tag, head, data):
	s.sendall(b"%s APPEND %s {%d+}\r\n" % (tag, head, len(data)) + data +
	          b"\r\n")
	return ti.until_tagged(f, tag)


def fetch_body(s, f, uid):
	"""BODY.PEEK[] of one UID, read off the socket."""
	s.sendall(b"F UID FETCH %d BODY.PEEK[]\r\n" % uid)
	body = None
	while True:
		line = f.readline()
		check(line, "connection closed in FETCH")
		m = re.search(rb"\{(\d+)\}\r\n$", line)
		if m and line.startswith(b"* "):
			body = f.read(int(m.group(1)))
			continue
		if line.startswith(b"F "):
			check(line.startswith(b"F OK"), "FETCH: %r" % line)
			return body


def noop_ok(s, f, why):
	s.sendall(b"N NOOP\r\n")
	check(ti.until_tagged(f, b"N")[-1].startswith(b"N OK"),
	      "connection unusable after %s" % why)


def appended_uid(lines, why):
	m = re.search(rb"OK \[APPENDUID \d+ (\d+)\]", lines[-1])
	check(m, "%s: %r" % (why, lines[-1]))
	return int(m.group(1))


def test_append_big_streamed(fx):
	"""20 MB with each literal kind: byte-exact by FETCH and on disk
	(LF line ends, S= and W= in the name) with a small peak RSS."""
	w = ti.World(fx)
	data = big_message(BIG)
	stored = data.replace(b"\r\n", b"\n")
	s, f = login(w)
	pid = imapd_pid(w)
	before = vm_hwm_kb(pid)
	uids = [appended_uid(append_sync(s, f, b"A", b"INBOX", data), "sync"),
	        appended_uid(append_nonsync(s, f, b"B", b"INBOX", data),
	                     "non-sync")]
	hwm = vm_hwm_kb(pid)
	check(hwm < RSS_MAX_KB and hwm - before < RSS_GROWTH_KB,
	      "session peak RSS %d kB (before %d kB) for a %d byte APPEND" %
	      (hwm, before, BIG))
	check(files(w, "tmp") == [], "tmp/ %r" % files(w, "tmp"))
	names = files(w, "cur")
	check(len(names) == 2, "cur/ %r" % names)
	for n in names:
		check(",S=%d,W=%d:2," % (len(stored), len(data)) in n, "name %r" % n)
		with open(os.path.join(w.maildir(), "cur", n), "rb") as fh:
			check(fh.read() == stored, "file %s differs" % n)
	s.sendall(b"S SELECT INBOX\r\n")
	ti.until_tagged(f, b"S")
	for uid in uids:
		check(fetch_body(s, f, uid) == data, "FETCH BODY[] of %d" % uid)
	s.close()
	w.check_clean()


def test_append_split_crlf(fx):
	"""A CRLF split between two reads is still one line end; a bare CR
	and a bare LF are kept, as the in-memory APPEND kept them."""
	w = ti.World(fx)
	s, f = login(w)
	pieces = [b"Subject: split\r", b"\n\r\nbody\r", b"\r\n", b"bare\rcr\n",
	          b"end\r"]
	data = b"".join(pieces)
	s.sendall(b"A APPEND INBOX {%d+}\r\n" % len(data))
	for p in pieces:
		s.sendall(p)
		time.sleep(0.15)
	s.sendall(b"\r\n")
	appended_uid(ti.until_tagged(f, b"A"), "split")
	names = files(w, "cur")
	want = b"Subject: split\n\nbody\r\nbare\rcr\nend\r"
	with open(os.path.join(w.maildir(), "cur", names[0]), "rb") as fh:
		got = fh.read()
	check(got == want, "stored %r" % got)
	# W= counts each LF as CRLF, as the in-memory APPEND did
	check(",S=%d,W=%d:2," % (len(want), len(want) + want.count(b"\n"))
	      in names[0], "name %r" % names[0])
	s.close()
	w.check_clean()


def test_append_toobig(fx):
	"""Past IMAP_APPEND_MAX: NO [TOOBIG] before the continuation of a
	synchronising literal; a non-synchronising one is read and dropped
	and the connection goes on; one past the discard limit ends it."""
	w = ti.World(fx)
	s, f = login(w)
	s.sendall(b"A APPEND INBOX {%d}\r\n" % (APPEND_MAX + 1))
	line = f.readline()
	check(line.startswith(b"A NO [TOOBIG]"), "sync: %r" % line)
	noop_ok(s, f, "a refused synchronising literal")
	s.sendall(b"B APPEND INBOX {%d+}\r\n" % (APPEND_MAX + 1))
	chunk = b"x" * 65536
	left = APPEND_MAX + 1
	while left:
		n = min(left, len(chunk))
		s.sendall(chunk[:n])
		left -= n
	s.sendall(b"\r\n")
	line = ti.until_tagged(f, b"B")[-1]
	check(line.startswith(b"B NO [TOOBIG]"), "non-sync: %r" % line)
	noop_ok(s, f, "a dropped non-synchronising literal")
	check_empty(w, "after TOOBIG")
	s.sendall(b"C APPEND INBOX {9999999999+}\r\n")
	lines = ti.until_tagged(f, b"C")
	check(lines[-1].startswith(b"C NO [TOOBIG]"), "huge: %r" % lines)
	line = f.readline()
	check(line.startswith(b"* BYE"), "huge non-sync literal: %r" % line)
	check(f.readline() == b"", "connection still open")
	s.close()
	w.check_clean()


def test_append_overquota(fx):
	"""The announced size is checked against the quota before the
	continuation; nothing is written."""
	w = ti.World(fx, env={"QUOTA": "100000S"})
	s, f = login(w)
	data = big_message(200000)
	s.sendall(b"A APPEND INBOX {%d}\r\n" % len(data))
	line = f.readline()
	check(line.startswith(b"A NO [OVERQUOTA]"), "sync: %r" % line)
	lines = append_nonsync(s, f, b"B", b"INBOX", data)
	check(lines[-1].startswith(b"B NO [OVERQUOTA]"), "non-sync: %r" % lines)
	noop_ok(s, f, "OVERQUOTA")
	check_empty(w, "over quota")
	small = big_message(5000)
	appended_uid(append_sync(s, f, b"C", b"INBOX", small), "within quota")
	s.close()
	w.check_clean()


def test_append_trycreate(fx):
	"""A missing folder: NO [TRYCREATE] instead of the continuation."""
	w = ti.World(fx)
	s, f = login(w)
	s.sendall(b"A APPEND Nope {100}\r\n")
	line = f.readline()
	check(line.startswith(b"A NO [TRYCREATE]"), "sync: %r" % line)
	noop_ok(s, f, "TRYCREATE")
	lines = append_nonsync(s, f, b"B", b"Nope", b"x" * 100000)
	check(lines[-1].startswith(b"B NO [TRYCREATE]"), "non-sync: %r" % lines)
	noop_ok(s, f, "TRYCREATE non-sync")
	check(not os.path.exists(os.path.join(w.maildir(), ".Nope")),
	      "the folder was made")
	s.close()
	w.check_clean()


def test_append_disconnect(fx):
	"""A client that hangs up mid-literal leaves tmp/ and cur/ clean."""
	w = ti.World(fx)
	data = big_message(3 * 1024 * 1024)
	s, f = login(w)
	s.sendall(b"A APPEND INBOX {%d}\r\n" % len(data))
	check(f.readline().startswith(b"+"), "continuation")
	s.sendall(data[:len(data) // 2])
	time.sleep(0.3)
	check(len(files(w, "tmp")) == 1, "no file in tmp/ while streaming")
	f.close()
	s.close()
	s, f = login(w)
	s.sendall(b"B APPEND INBOX {%d+}\r\n" % len(data) + data[:1000000])
	time.sleep(0.3)
	f.close()
	s.close()
	w.server.wait_all_ended()
	check_empty(w, "after hang-ups")
	check("result=aborted" in w.server.log(), "no log line")
	w.check_clean()


def test_append_flags_date(fx):
	"""Flags, keywords and INTERNALDATE of a streamed APPEND; the
	selected folder learns of it before the tagged OK."""
	w = ti.World(fx)
	s, f = login(w, select=b"INBOX")
	data = big_message(300000)
	lines = append_sync(s, f, b"A", b'INBOX (\\Seen \\Flagged $Junk) '
	                    b'"14-Nov-2023 22:13:20 +0000"', data)
	uid = appended_uid(lines, "flags and date")
	check(any(l == b"* 1 EXISTS\r\n" for l in lines), "EXISTS %r" % lines)
	s.sendall(b"F UID FETCH %d (FLAGS INTERNALDATE RFC822.SIZE)\r\n" % uid)
	out = b"".join(ti.until_tagged(f, b"F"))
	check(b"\\Seen" in out and b"\\Flagged" in out and b"$Junk" in out,
	      "flags %r" % out)
	check(b'"14-Nov-2023 22:13:20 +0000"' in out, "date %r" % out)
	check(b"RFC822.SIZE %d" % len(data) in out, "size %r" % out)
	lines = append_nonsync(s, f, b"B", b'INBOX "bad date" ', data)
	check(lines[-1].startswith(b"B BAD"), "bad date: %r" % lines)
	noop_ok(s, f, "a bad date")
	check(len(files(w, "cur")) == 1 and files(w, "tmp") == [],
	      "cur %r" % files(w, "cur"))
	s.close()
	w.check_clean()


def test_append_pipelined(fx):
	"""Commands after a non-synchronising APPEND in the same write, the
	mailbox name as a literal, junk or a NUL after or in the message."""
	w = ti.World(fx)
	s, f = login(w)
	msg = ti.crlf(ti.message("piped"))
	s.sendall(b"A APPEND INBOX {%d+}\r\n%s\r\nB NOOP\r\n"
	          b"C APPEND Nope {5+}\r\nhello\r\nD SELECT INBOX\r\n"
	          b"E UID FETCH 1:* (BODY.PEEK[])\r\n" % (len(msg), msg))
	appended_uid(ti.until_tagged(f, b"A"), "pipelined APPEND")
	check(ti.until_tagged(f, b"B")[-1].startswith(b"B OK"), "B")
	check(ti.until_tagged(f, b"C")[-1].startswith(b"C NO [TRYCREATE]"), "C")
	check(ti.until_tagged(f, b"D")[-1].startswith(b"D OK"), "D")
	out = ti.until_tagged(f, b"E")
	check(out[-1].startswith(b"E OK") and b"".join(out).count(msg) == 1,
	      "E %r" % out)
	# the mailbox as a literal, then the message
	s.sendall(b"G APPEND {5}\r\n")
	check(f.readline().startswith(b"+"), "mailbox literal")
	s.sendall(b"INBOX {%d}\r\n" % len(msg))
	check(f.readline().startswith(b"+"), "message after a mailbox literal")
	s.sendall(msg + b"\r\n")
	appended_uid(ti.until_tagged(f, b"G"), "mailbox literal")
	# arguments after the message, a NUL in it: BAD, no file
	s.sendall(b"H APPEND INBOX {5+}\r\nhello extra {3+}\r\nabc\r\n"
	          b"I APPEND INBOX {5+}\r\nhe\0lo\r\nJ NOOP\r\n")
	check(ti.until_tagged(f, b"H")[-1].startswith(b"H BAD"), "H")
	check(ti.until_tagged(f, b"I")[-1].startswith(b"I BAD"), "I")
	check(ti.until_tagged(f, b"J")[-1].startswith(b"J OK"), "J")
	check(len(files(w, "cur")) == 2 and files(w, "tmp") == [],
	      "cur %r tmp %r" % (files(w, "cur"), files(w, "tmp")))
	s.close()
	w.check_clean()


def test_append_before_login(fx):
	"""The login stage drops an APPEND's literal unread into memory."""
	w = ti.World(fx)
	s, f = ti.raw(w.server.port)
	f.readline()
	s.sendall(b"A APPEND INBOX {%d+}\r\n" % BIG + b"y" * BIG +
	          b"\r\nB NOOP\r\nC APPEND INBOX {99}\r\n")
	check(ti.until_tagged(f, b"A")[-1].startswith(b"A BAD"), "A")
	check(ti.until_tagged(f, b"B")[-1].startswith(b"B OK"), "B")
	check(ti.until_tagged(f, b"C")[-1].startswith(b"C BAD"), "C")
	hwm = vm_hwm_kb(imapd_pid(w, session=False))
	check(hwm < RSS_MAX_KB, "login stage peak RSS %d kB" % hwm)
	s.close()
	w.check_clean()


def test_append_disk_full(fx):
	"""A write fails mid-message (ENOSPC on a small tmpfs): the rest is
	still read, the answer is NO [OVERQUOTA], tmp/ is clean and the
	connection goes on."""
	w = ti.World(fx)
	md = w.maildir()
	os.mkdir(md)
	p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700,"
	                    "uid=%d,gid=%d" % (w.uid, w.gid), "tmpfs", md],
	                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
	                   timeout=30)
	check(p.returncode == 0, "mount tmpfs failed: %s" % p.stdout.decode())
	fx.at_exit(lambda: umount(md))
	s, f = login(w)
	for tag, how in ((b"A", append_sync), (b"B", append_nonsync)):
		lines = how(s, f, tag, b"INBOX", big_message(4 * 1024 * 1024))
		check(lines[-1].startswith(tag + b" NO [OVERQUOTA]"),
		      "disk full: %r" % lines)
		check(files(w, "tmp") == [] and files(w, "cur") == [],
		      "tmp %r cur %r" % (files(w, "tmp"), files(w, "cur")))
	appended_uid(append_sync(s, f, b"C", b"INBOX", big_message(1000)),
	             "room again")
	s.close()
	w.check_clean()
