"""A full disk under the queue: quail-queue hits ENOSPC, quail-smtpd says
452 4.3.1 (or 451) and nothing half-written is left for the scheduler;
once space is back the same message goes in whole.

The queue sits on its own small tmpfs (mounting needs root; as another
user the test does not apply and says so)."""

import errno
import os
import subprocess

from harness import (accepted_id, check, check_queued, expect, need_root,
                     stuff, wait_for)

SENDER = "full@client.test"
FS_SIZE = "2m"


def mount_tmpfs(fx):
	need_root()
	mnt = os.path.join(fx.dir, "fs")
	os.mkdir(mnt)
	p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + FS_SIZE,
	                    "tmpfs", mnt], stdout=subprocess.PIPE,
	                   stderr=subprocess.STDOUT, timeout=30)
	check(p.returncode == 0, "mount tmpfs failed: %s" % p.stdout.decode())
	fx.at_exit(lambda: umount(mnt))
	return mnt


def umount(mnt):
	p = subprocess.run(["umount", mnt], stdout=subprocess.DEVNULL,
	                   stderr=subprocess.DEVNULL, timeout=30)
	if p.returncode != 0:
		subprocess.run(["umount", "-l", mnt], timeout=30)


def free_bytes(path):
	st = os.statvfs(path)
	return st.f_bavail * st.f_frsize


def message(n):
	line = b"0123456789" * 7
	lines = [b"Subject: full %d" % n, b"Message-Id: <full.%d@client.test>" % n,
	         b""] + [b"%06d %s" % (i, line) for i in range(13000)]
	return b"\r\n".join(lines) + b"\r\n"          # about 1 MB


def send(c, data):
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<a@example.test>", 250)
	c.cmd("DATA", 354)
	c.send(stuff(data))
	return c.reply()


def test_queue_disk_full(fx):
	mnt = mount_tmpfs(fx)
	fx.queue.path = os.path.join(mnt, "queue")
	s = fx.smtpd()
	data = message(1)
	check(len(data) > 900000, "test message too small")
	ballast = os.path.join(mnt, "ballast")
	with open(ballast, "wb") as f:
		f.write(b"\0" * max(0, free_bytes(mnt) - 300 * 1024))
	check(free_bytes(mnt) < len(data), "ballast did not fill the disk")
	before = fx.queue.snapshot()

	c = fx.client(s)
	r = send(c, data)
	expect(r, (451, 452), ("4.3.1", "4.3.0"), "message on a full disk")
	mess, env, tmp = fx.queue.snapshot()
	check(mess == before[0], "new files in mess/: %s" % (mess - before[0]))
	check(env == before[1], "new files in env/: %s" % (env - before[1]))
	check(wait_for(lambda: fx.queue.tmp_files() == before[2]),
	      "tmp/ leftovers: %s" % fx.queue.tmp_files())

	# Space comes back: the same session, the same message, goes in.
	os.unlink(ballast)
	qid = accepted_id(send(c, data))
	c.cmd("QUIT", 221)
	check_queued(fx, qid, SENDER, ["a@example.test"], data)
	check(fx.queue.tmp_files() == [], "tmp/: %s" % fx.queue.tmp_files())
	s.wait_idle(1)
	s.check_clean(allow_fatal=[r"quail-queue: fatal: .*ENOSPC"])
test_queue_disk_full.timeout = 60


def test_queue_disk_full_small_message(fx):
	"""Even a tiny message fails cleanly when not one block is left."""
	mnt = mount_tmpfs(fx)
	fx.queue.path = os.path.join(mnt, "queue")
	s = fx.smtpd()
	ballast = os.path.join(mnt, "ballast")
	fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
	try:
		while os.write(fd, b"\0" * 4096) > 0:
			pass
	except OSError as e:
		check(e.errno == errno.ENOSPC, "ballast: %s" % e)
	finally:
		os.close(fd)
	check(free_bytes(mnt) < 65536, "disk not full")
	c = fx.client(s)
	r = send(c, b"Subject: tiny\r\n\r\ntiny\r\n")
	expect(r, (451, 452), ("4.3.1", "4.3.0"), "tiny message on a full disk")
	check(not fx.queue.ids("env") and not fx.queue.ids("mess"),
	      "something was queued")
	check(wait_for(lambda: fx.queue.tmp_files() == []),
	      "tmp/ leftovers: %s" % fx.queue.tmp_files())
	os.unlink(ballast)
	data = b"Subject: tiny again\r\n\r\ntiny\r\n"
	qid = accepted_id(send(c, data))
	check_queued(fx, qid, SENDER, ["a@example.test"], data)
test_queue_disk_full_small_message.timeout = 60
