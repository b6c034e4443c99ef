#!/usr/bin/python3
"""bench/auth-client.py: the load side of bench/auth.

  auth-client.py gen DIR USERS POOL QUAIL_USERS HOME UID
      Writes the same USERS accounts four ways into DIR: users.txt (for
      quail-users), postmap.txt (key, blank, the quail record, for
      postmap), passwd (a Dovecot passwd-file) and users.csv (for COPY
      into auth/schema.sql's users table), plus domains.csv.  Account i is
      u<i>@d<i % DOMAINS>.test (DOMAINS: env BENCH_DOMAINS, 100); even i have a yescrypt hash, odd i a
      SHA-512-crypt one.  Hashing a million passwords would take hours,
      so POOL passwords per scheme are hashed (yescrypt by
      `quail-users -p`, SHA-512 by `openssl passwd -6`) and shared out:
      account i has password pass-<scheme>-<(i // 2) % POOL>.  Every
      login still verifies a full hash; nothing caches one.

  auth-client.py quail CKPW SECONDS MAXLOGINS WORKERS SCHEME USERS POOL [ROOTS]
      WORKERS processes each run `CKPW /bin/true` one after the other,
      each with "login\\0password\\0timestamp\\0" on fd 3, for random
      existing accounts of SCHEME (y or 6), until SECONDS have passed or
      MAXLOGINS logins are done in all.  Any exit other than 0 is an
      error.  The environment (QUAIL_CONTROL, QUAIL_USERDB) is passed on.

  auth-client.py dovecot SOCKET SECONDS MAXLOGINS WORKERS SCHEME USERS POOL ROOTS
      The same logins through Dovecot's auth server: each worker holds one
      connection to its auth-client SOCKET and sends AUTH PLAIN requests
      one at a time; any reply but OK is an error.

  auth-client.py cdbq CDB RUNS USERS
      Runs `cdb -q CDB key` RUNS times for random accounts: the cost of a
      lookup in a fresh process.

The quail, dovecot and cdbq modes print one line of key=value words:
  logins   logins done (runs for cdbq), errors  failed ones
  wall     seconds      rate  logins/s
  cpu_ms   CPU per login of the login processes (quail: utime+stime of
           each quail-checkpassword from wait4; dovecot: 0)
  srv_ms   CPU per login of the process trees under ROOTS (the Dovecot
           master, or the PostgreSQL postmaster), from /proc
  p50_ms p99_ms   login latency, as the client saw it
and exit 0, or 1 with a message on stderr when any login failed.
"""

import base64
import os
import random
import select
import socket
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")
REPLY_TIMEOUT = 30      # s for one login to answer
CHUNK = 1 << 20         # bytes buffered per output file in gen


def die(msg):
	sys.stderr.write("auth-client: %s\n" % msg)
	sys.exit(1)


# --- the accounts ---------------------------------------------------------

def address(i):
	return "u%d@d%d.test" % (i, i % DOMAINS)


def scheme_of(i):
	return "y" if i % 2 == 0 else "6"


def password(i, pool):
	return "pass-%s-%d" % (scheme_of(i), (i // 2) % pool)


def random_account(rng, scheme, users):
	"""A random existing account whose hash is of SCHEME."""
	i = rng.randrange(users // 2) * 2
	return i if scheme == "y" else i + 1


def hash_pool(scheme, pool, quail_users):
	out = []
	for p in range(pool):
		pw = ("pass-%s-%d\n" % (scheme, p)).encode()
		if scheme == "y":
			argv = [quail_users, "-p"]
		else:
			argv = ["openssl", "passwd", "-6", "-stdin"]
		r = subprocess.run(argv, input=pw, capture_output=True, timeout=60)
		h = r.stdout.decode().strip()
		if r.returncode != 0 or not h.startswith("$%s$" % scheme):
			die("%s made no hash: %r" % (argv[0], r.stderr))
		out.append(h)
	return out


def gen(d, users, pool, quail_users, home, uid):
	pools = {"y": hash_pool("y", pool, quail_users),
	         "6": hash_pool("6", pool, None)}
	names = ["users.txt", "postmap.txt", "passwd", "users.csv"]
	files = [open(os.path.join(d, n), "w", buffering=CHUNK) for n in names]
	ut, pm, pw, csv = files
	dove = {"y": "{CRYPT}", "6": "{SHA512-CRYPT}"}
	rec = "%d:%d:%s:./Maildir/:::" % (uid, uid, home)
	for i in range(users):
		a = address(i)
		s = scheme_of(i)
		h = pools[s][(i // 2) % pool]
		ut.write("%s:%s:%d:%d:%s\n" % (a, h, uid, uid, home))
		pm.write("%s %s%s\n" % (a, rec, h))
		pw.write("%s:%s%s\n" % (a, dove[s], h))
		# hash never holds a comma or quote, home is ours: plain CSV
		csv.write("%s,%s,%d,%d,%s,./Maildir/,,\n" % (a, h, uid, uid, home))
	for f in files:
		f.close()
	with open(os.path.join(d, "domains.csv"), "w") as f:
		for k in range(min(DOMAINS, users)):
			f.write("d%d.test\n" % k)


# --- CPU of a process tree -------------------------------------------------

def proc_table():
	t = {}
	for p in os.listdir("/proc"):
		if not p.isdigit():
			continue
		try:
			with open("/proc/%s/stat" % p) as f:
				s = f.read()
		except OSError:
			continue
		f = s[s.rfind(")") + 2:].split()
		# ppid, utime, stime, cutime, cstime
		t[int(p)] = (int(f[1]), int(f[11]), int(f[12]), int(f[13]),
		             int(f[14]))
	return t


def tree_ticks(roots):
	"""Ticks used so far by the trees under ROOTS: each live process's own
	time plus its reaped children's, so nothing counts twice."""
	t = proc_table()
	kids = {}
	for pid, v in t.items():
		kids.setdefault(v[0], []).append(pid)
	n = 0
	todo = [r for r in roots if r in t]
	while todo:
		p = todo.pop()
		v = t[p]
		n += v[1] + v[2] + v[3] + v[4]
		todo.extend(kids.get(p, []))
	return n


# --- the login workers -----------------------------------------------------

def quail_login(ckpw, env, user, pw):
	"""One quail-checkpassword run; returns (exit status, CPU seconds)."""
	r, w = os.pipe()
	try:
		os.write(w, b"%s\0%s\0<1.2@bench>\0" % (user.encode(), pw.encode()))
		os.close(w)
		w = -1
		pid = os.posix_spawn(ckpw, [ckpw, "/bin/true"], env,
		                     file_actions=[(os.POSIX_SPAWN_DUP2, r, 3)])
	finally:
		os.close(r)
		if w >= 0:
			os.close(w)
	_, status, ru = os.wait4(pid, 0)
	return os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime


class Dovecot:
	"""One auth-client connection (Dovecot's auth protocol 1.2)."""

	def __init__(self, path):
		self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		self.s.settimeout(REPLY_TIMEOUT)
		self.s.connect(path)
		self.buf = b""
		self.s.sendall(b"VERSION\t1\t2\nCPID\t%d\n" % os.getpid())
		while self.line() != b"DONE":
			pass
		self.id = 0

	def line(self):
		while b"\n" not in self.buf:
			more = self.s.recv(65536)
			if not more:
				raise OSError("dovecot auth closed the connection")
			self.buf += more
		ln, self.buf = self.buf.split(b"\n", 1)
		return ln

	def login(self, user, pw):
		self.id += 1
		resp = base64.b64encode(b"\0%s\0%s" % (user.encode(), pw.encode()))
		self.s.sendall(b"AUTH\t%d\tPLAIN\tservice=imap\tsecured\t"
		               b"no-penalty\tresp=%s\n" % (self.id, resp))
		ln = self.line()
		return 0 if ln.startswith(b"OK\t%d\t" % self.id) else ln


def worker(mode, target, deadline, quota, scheme, users, pool, seed, out):
	rng = random.Random(seed)
	env = dict(os.environ)
	conn = Dovecot(target) if mode == "dovecot" else None
	n = errors = 0
	cpu = 0.0
	lat = []
	first_error = ""
	while n < quota and time.monotonic() < deadline:
		i = random_account(rng, scheme, users)
		user, pw = address(i), password(i, pool)
		t0 = time.monotonic()
		if conn:
			rc = conn.login(user, pw)
		else:
			rc, c = quail_login(target, env, user, pw)
			cpu += c
		lat.append(time.monotonic() - t0)
		n += 1
		if rc != 0:
			errors += 1
			first_error = first_error or "%s: %r" % (user, rc)
	os.write(out, ("%d %d %.6f %s\n%s\n" % (n, errors, cpu,
	               ",".join("%.6f" % x for x in lat), first_error)).encode())


def percentile(v, q):
	if not v:
		return 0.0
	v = sorted(v)
	return v[min(len(v) - 1, int(q * len(v)))]


def run_logins(mode, target, seconds, maxlogins, workers, scheme, users, pool,
               roots):
	pipes, pids = [], []
	s0 = tree_ticks(roots)
	t0 = time.monotonic()
	deadline = t0 + seconds
	for w in range(workers):
		r, wr = os.pipe()
		quota = maxlogins // workers + (1 if w < maxlogins % workers else 0)
		pid = os.fork()
		if pid == 0:
			os.close(r)
			code = 0
			try:
				worker(mode, target, deadline, quota, scheme, users, pool,
				       1000 * os.getpid() + w, wr)
			except BaseException as e:  # the parent reports it
				os.write(wr, ("0 1 0 \n%s\n" % e).encode())
				code = 1
			os._exit(code)
		os.close(wr)
		pipes.append(r)
		pids.append(pid)
	results = []
	for r in pipes:
		data = b""
		while True:
			more = os.read(r, 1 << 20)
			if not more:
				break
			data += more
		os.close(r)
		results.append(data.decode())
	for pid in pids:
		os.waitpid(pid, 0)
	wall = time.monotonic() - t0
	s1 = tree_ticks(roots)
	n = errors = 0
	cpu = 0.0
	lat = []
	why = ""
	for res in results:
		head, _, rest = res.partition("\n")
		f = head.split(" ")
		if len(f) < 3:
			die("a worker died: %r" % res)
		n += int(f[0])
		errors += int(f[1])
		cpu += float(f[2])
		if len(f) > 3 and f[3]:
			lat += [float(x) for x in f[3].split(",")]
		why = why or rest.strip()
	per = max(n, 1)
	print("logins=%d errors=%d wall=%.3f rate=%.2f cpu_ms=%.3f srv_ms=%.3f "
	      "p50_ms=%.3f p99_ms=%.3f" % (
	      n, errors, wall, n / wall, cpu * 1000 / per,
	      (s1 - s0) * 1000.0 / HZ / per, percentile(lat, 0.5) * 1000,
	      percentile(lat, 0.99) * 1000))
	if errors or not n:
		die("%d of %d logins failed, first: %s" % (errors, n, why))


def cdbq(path, runs, users):
	rng = random.Random(os.getpid())
	lat = []
	with open(os.devnull, "w") as null:
		for _ in range(runs):
			i = rng.randrange(users)
			t0 = time.monotonic()
			pid = os.posix_spawn("/usr/bin/cdb",
			                     ["cdb", "-q", path, address(i)],
			                     os.environ, file_actions=[
			                     (os.POSIX_SPAWN_DUP2, null.fileno(), 1)])
			_, st = os.waitpid(pid, 0)
			lat.append(time.monotonic() - t0)
			if os.waitstatus_to_exitcode(st) != 0:
				die("cdb -q %s %s: exit %d" % (path, address(i),
				    os.waitstatus_to_exitcode(st)))
	print("logins=%d errors=0 wall=%.3f p50_ms=%.3f p99_ms=%.3f" % (
	      runs, sum(lat), percentile(lat, 0.5) * 1000,
	      percentile(lat, 0.99) * 1000))


DOMAINS = int(os.environ.get("BENCH_DOMAINS", "100"))


def roots_of(s):
	return [int(x) for x in s.split(",") if x]


def main(a):
	if len(a) == 7 and a[0] == "gen":
		gen(a[1], int(a[2]), int(a[3]), a[4], a[5], int(a[6]))
	elif len(a) in (8, 9) and a[0] == "quail":
		run_logins("quail", a[1], float(a[2]), int(a[3]), int(a[4]), a[5],
		           int(a[6]), int(a[7]), roots_of(a[8] if len(a) > 8 else ""))
	elif len(a) == 9 and a[0] == "dovecot":
		run_logins("dovecot", a[1], float(a[2]), int(a[3]), int(a[4]), a[5],
		           int(a[6]), int(a[7]), roots_of(a[8]))
	elif len(a) == 4 and a[0] == "cdbq":
		cdbq(a[1], int(a[2]), int(a[3]))
	else:
		die("usage: see the top of bench/auth-client.py")


if __name__ == "__main__":
	main(sys.argv[1:])
