"""The userdb through the real programs, one table of checks for both
backends: quail-checkpassword (logins, fd 3 protocol), quail-lspawn
(delivery lookups, spawn protocol, with QUAILLOCAL a script that prints its
argv) and quail-smtpd (RCPT validation for a domain only the userdb names).

test_userdb_cdb runs the table against a cdb built with tinycdb's tool;
test_userdb_pg against a private PostgreSQL cluster (initdb and pg_ctl
from Debian's postgresql package, run as the postgres user, a unix socket
in a temp dir and no TCP), loaded with auth/schema.sql. Then the database
is killed (pg_ctl stop -m immediate): every program must answer with a
temporary failure within pgsql_timeout and never with "no such user";
then it is started again and the same processes (a long-running
quail-lspawn, an open SMTP session) must recover. A query slower than
pgsql_timeout must fail the same way. The cluster is stopped at the end
whatever happened.
"""

import os
import pwd
import select
import shutil
import signal
import subprocess
import tempfile
import time
import warnings

import harness
from harness import ROOT, Skip, TestFailure, check, expect
import deliver_harness

CKPW = os.path.join(ROOT, "auth", "quail-checkpassword")
LSPAWN = os.path.join(ROOT, "deliver", "quail-lspawn")
SCHEMA = os.path.join(ROOT, "auth", "schema.sql")
PGBIN = "/usr/lib/postgresql/15/bin"
PGUSER = "postgres"            # the Debian package's server account
PGPORT = 55432                 # names the socket file only: no TCP
PG_TIMEOUT = 2                 # s, control pgsql_timeout during the test
SLACK = 3                      # s a temporary failure may take past it
REPLY_TIMEOUT = 30             # s for quail-lspawn to answer

DOMAIN = "pg.test"             # not in rcpthosts: ours by the userdb only
CATCHALL = "catchall.test"
SENDER = "sender@client.test"

# address, password (None: no login), maildir, flags
USERS = [
	("alice@" + DOMAIN, "alice pw", "./Maildir/", ""),
	("bob@" + DOMAIN, "bob pw", "./Maildir/", "disabled"),
	("carol@" + DOMAIN, "carol pw", "./Maildir/", "nopop"),
	("postmaster@" + DOMAIN, None, "./Maildir/", ""),
	("list@" + DOMAIN, None, "&alice@%s &ops@elsewhere.test" % DOMAIN, ""),
	("@" + CATCHALL, None, "./Maildir/", ""),
]
DOMAINS = [DOMAIN, CATCHALL]


def crypt_sha512(password):
	try:
		with warnings.catch_warnings():
			warnings.simplefilter("ignore")
			import crypt
		return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
	except ImportError:
		out = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
		                     input=password.encode(), capture_output=True,
		                     check=True)
		return out.stdout.decode().strip()


class World:
	"""Homes, the argv-printing delivery program, a queued message, and the users
	as records. Lives in its own temp dir, readable by the test user and
	the postgres account (the fixture's own dir is root's only)."""

	def __init__(self, fx):
		self.fx = fx
		self.uid, self.gid = deliver_harness.test_user()
		self.dir = tempfile.mkdtemp(prefix="quail-userdb-")
		os.chmod(self.dir, 0o755)
		if not os.environ.get("ITEST_KEEP"):
			fx.at_exit(lambda: shutil.rmtree(self.dir, ignore_errors=True))
		self.records = []
		for addr, pw, maildir, flags in USERS:
			name = addr.replace("@", "_") or "catchall"
			home = os.path.join(self.dir, "home", name)
			os.makedirs(home)
			os.chown(home, self.uid, self.gid)
			h = crypt_sha512(pw) if pw else ""
			self.records.append((addr, h, home, maildir, flags))
		self.home = {r[0]: r[2] for r in self.records}
		self.argv_printer = os.path.join(self.dir, "local")
		with open(self.argv_printer, "w") as f:
			f.write("#!/bin/sh\nprintf '%s|' \"$@\"\nexit 0\n")
		os.chmod(self.argv_printer, 0o755)
		self.queue = os.path.join(self.dir, "queue")
		os.makedirs(os.path.join(self.queue, "mess", "1"))
		with open(os.path.join(self.queue, "mess", "1", "1"), "wb") as f:
			f.write(b"Subject: test\n\nbody\n")
		fx.write_control("authdelay", "0")

	def value(self, rec):
		addr, h, home, maildir, flags = rec
		return "%d:%d:%s:%s::%s:%s" % (self.uid, self.gid, home, maildir,
		                                flags, h)

	def build_cdb(self):
		path = os.path.join(self.dir, "users.cdb")
		lines = ["%s %s" % (r[0], self.value(r)) for r in self.records]
		lines += ["%%%s " % d for d in DOMAINS]
		src = path + ".txt"
		with open(src, "w") as f:
			f.write("\n".join(lines) + "\n")
		harness.run(["cdb", "-c", "-m", path, src], check_rc=0)
		return path


# -- The programs -------------------------------------------------------

def login(fx, env, user, password, service=None):
	"""Runs quail-checkpassword; returns (exit code, output, seconds)."""
	r, w = os.pipe()
	os.write(w, user.encode() + b"\0" + password.encode() + b"\0<1.2@test>\0")
	os.close(w)
	e = dict(env)
	if service:
		e["QUAIL_SERVICE"] = service

	def fd3():
		if r == 3:
			os.set_inheritable(3, True)
		else:
			os.dup2(r, 3)

	t0 = time.time()
	try:
		p = subprocess.run([CKPW, "/bin/sh", "-c",
		                    'printf "%s|%s|%s|" "$USER" "$HOME" "$MAILDIR"; '
		                    'id -u'], preexec_fn=fd3, pass_fds=(3,), env=e,
		                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
		                   timeout=60, start_new_session=True)
	finally:
		os.close(r)
	return (p.returncode, p.stdout.decode("latin-1") +
	        p.stderr.decode("latin-1"), time.time() - t0)


class Spawner:
	"""A quail-lspawn for the whole test, as quail-send keeps one."""

	def __init__(self, fx, w, env):
		e = dict(env)
		e["QUAILLOCAL"] = w.argv_printer
		e["QUAIL_LOCAL_TIMEOUT"] = "60"
		self.log_path = os.path.join(w.dir, "lspawn.log")
		logf = open(self.log_path, "ab")
		try:
			self.proc = subprocess.Popen(
				[LSPAWN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
				stderr=logf, cwd=w.queue, env=e, start_new_session=True)
		finally:
			logf.close()
		fx.at_exit(self.stop)
		self.job = 0
		self.buf = b""

	def stop(self):
		harness.kill_group(self.proc)

	def log(self):
		with open(self.log_path, "rb") as f:
			return f.read().decode("latin-1")

	def deliver(self, rcpt):
		"""One request; returns (code, text, seconds)."""
		self.job += 1
		req = b"%d\0mess/1/1\0%s\0%s\0\0" % (self.job, SENDER.encode(),
		                                      rcpt.encode())
		t0 = time.time()
		self.proc.stdin.write(req)
		self.proc.stdin.flush()
		end = t0 + REPLY_TIMEOUT
		fd = self.proc.stdout.fileno()
		while self.buf.count(b"\0") < 2:
			left = end - time.time()
			check(left > 0, "quail-lspawn did not answer for %s; log: %s" %
			      (rcpt, self.log()[-500:]))
			if select.select([fd], [], [], left)[0]:
				chunk = os.read(fd, 65536)
				check(chunk, "quail-lspawn exited; log: %s" % self.log()[-500:])
				self.buf += chunk
		job, result, self.buf = self.buf.split(b"\0", 2)
		check(int(job) == self.job, "reply for job %s, wanted %d" %
		      (job, self.job))
		result = result.decode("latin-1")
		return result[:1], result[1:], time.time() - t0


def argv_line(w, user, addr, local, ext, domain, dd="./Maildir/"):
	return "|".join([user, w.home[addr], local, "-" if ext else "", ext,
	                 domain, SENDER, dd]) + "|"


# -- The one table of checks --------------------------------------------

def check_logins(fx, w, env):
	uid = str(w.uid)
	home = w.home["alice@" + DOMAIN]
	for user, pw, service, want in [
		("alice@" + DOMAIN, "alice pw", None, 0),
		("ALICE@Pg.Test", "alice pw", "imap", 0),
		("alice@" + DOMAIN, "alice PW", None, 1),
		("alice@" + DOMAIN, "", None, 1),
		("bob@" + DOMAIN, "bob pw", None, 1),          # disabled
		("carol@" + DOMAIN, "carol pw", "pop3", 1),    # nopop
		("carol@" + DOMAIN, "carol pw", "imap", 0),
		("nobody@" + DOMAIN, "x", None, 1),
		("alice-ext@" + DOMAIN, "alice pw", None, 1),  # a mailbox, no login
		("who@" + CATCHALL, "x", None, 1),             # the catch-all
		("list@" + DOMAIN, "x", None, 1),              # an alias
	]:
		rc, out, secs = login(fx, env, user, pw, service)
		check(rc == want, "login %s/%s: exit %d, wanted %d (%s)" %
		      (user, service, rc, want, out))
		if want == 0 and user.startswith("alice"):
			check(out.startswith("alice@%s|%s|%s/Maildir/|%s\n" %
			      (DOMAIN, home, home, uid)), "login %s: env %r" % (user, out))


def check_deliveries(sp, w):
	a = "alice@" + DOMAIN
	for rcpt, code, text in [
		(a, "K", argv_line(w, "alice", a, "alice", "", DOMAIN)),
		("Alice-Foo@PG.test", "K",
		 argv_line(w, "alice", a, "alice-foo", "foo", DOMAIN)),
		("abuse@" + DOMAIN, "K",
		 argv_line(w, "postmaster", "postmaster@" + DOMAIN, "abuse", "",
		           DOMAIN)),
		("who@" + CATCHALL, "K",
		 argv_line(w, "@" + CATCHALL, "@" + CATCHALL, "who", "who",
		           CATCHALL)),
		("nobody@" + DOMAIN, "D", "(#5.1.1)"),
		("bob@" + DOMAIN, "D", "(#5.2.1)"),
		("x@not-ours.test", "D", "(#5.1.1)"),
	]:
		got, t, secs = sp.deliver(rcpt)
		check(got == code and (text in t if code == "D" else t == text),
		      "delivery to %s: %s %r, wanted %s %r" % (rcpt, got, t, code, text))
	# an alias: its forwards reach quail-local's defaultdelivery argument
	got, t, secs = sp.deliver("list@" + DOMAIN)
	check(got == "K" and "&alice@%s" % DOMAIN in t and "&ops@elsewhere.test"
	      in t, "delivery to the alias: %s %r" % (got, t))


def check_rcpts(fx, server):
	c = fx.client(server)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250)
	c.cmd("RCPT TO:<alice@%s>" % DOMAIN, 250)
	c.cmd("RCPT TO:<Alice-Foo@PG.TEST>", 250)
	c.cmd("RCPT TO:<anyone@%s>" % CATCHALL, 250)
	c.cmd("RCPT TO:<abuse@%s>" % DOMAIN, 250)
	c.cmd("RCPT TO:<nobody@%s>" % DOMAIN, 550, "5.1.1")
	c.cmd("RCPT TO:<x@not-ours.test>", (550, 553), None)
	c.cmd("QUIT", 221)
	c.close()


def check_all(fx, w, env):
	check_logins(fx, w, env)
	sp = Spawner(fx, w, env)
	check_deliveries(sp, w)
	server = fx.smtpd(**{k: v for k, v in env.items()
	                     if k not in ("PATH", "QUAIL_CONTROL")})
	check_rcpts(fx, server)
	return sp, server


def need_programs():
	deliver_harness.need_programs(CKPW, LSPAWN, harness.SMTPD)


def test_userdb_cdb(fx):
	harness.need_root()
	need_programs()
	w = World(fx)
	env = fx.env(QUAIL_USERDB=w.build_cdb())
	check_all(fx, w, env)


# -- PostgreSQL ---------------------------------------------------------

class Cluster:
	"""A private cluster owned by the postgres account. stop() is safe to
	call at any point, and is registered before the server first runs."""

	def __init__(self, fx, w):
		if not os.path.exists(os.path.join(PGBIN, "initdb")):
			raise Skip("no PostgreSQL server in " + PGBIN)
		try:
			pw = pwd.getpwnam(PGUSER)
		except KeyError:
			raise Skip("no %s account" % PGUSER)
		self.base = os.path.join(w.dir, "pg")
		self.data = os.path.join(self.base, "data")
		self.sock = os.path.join(self.base, "sock")
		self.logfile = os.path.join(self.base, "server.log")
		for d in (self.base, self.sock):
			os.mkdir(d, 0o755)
			os.chown(d, pw.pw_uid, pw.pw_gid)
		fx.at_exit(self.stop)
		self.as_pg([os.path.join(PGBIN, "initdb"), "-D", self.data,
		            "-U", "postgres", "--auth=trust", "-E", "UTF8",
		            "--no-locale", "-N"])
		self.start()

	def as_pg(self, argv, check_rc=0, timeout=60):
		return harness.run(["runuser", "-u", PGUSER, "--"] + argv,
		                   check_rc=check_rc, timeout=timeout)

	def start(self):
		opts = ("-k %s -c listen_addresses='' -p %d -c fsync=off"
		        % (self.sock, PGPORT))
		self.as_pg([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l",
		            self.logfile, "-o", opts, "-w", "-t", "30", "start"])

	def kill(self):
		"""Stops the server abruptly, as a crash would."""
		self.as_pg([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m",
		            "immediate", "-w", "-t", "30", "stop"])

	def stop(self):
		pidfile = os.path.join(self.data, "postmaster.pid")
		if not os.path.exists(pidfile):
			return
		self.as_pg([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m",
		            "immediate", "-w", "-t", "15", "stop"], check_rc=None,
		           timeout=30)
		try:
			with open(pidfile) as f:
				pid = int(f.readline())
			os.kill(pid, signal.SIGKILL)       # pg_ctl did not manage
		except (OSError, ValueError):
			pass

	def psql(self, sql, db="mail", user="postgres"):
		return harness.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
		                    "-h", self.sock, "-p", str(PGPORT), "-U", user,
		                    "-d", db, "-c", sql], check_rc=0)

	def sleepers(self):
		"""Queries of check_slow still running on the server."""
		out = harness.run(["psql", "-X", "-At", "-h", self.sock, "-p",
		                   str(PGPORT), "-U", "postgres", "-d", "mail", "-c",
		                   "SELECT count(*) FROM pg_stat_activity "
		                   "WHERE state = 'active' AND query LIKE "
		                   "'%pg_sleep(30)%' AND pid <> pg_backend_pid()"],
		                  check_rc=0)
		return int(out.strip())

	def conninfo(self):
		return ("host=%s port=%d dbname=mail user=quail sslmode=disable "
		        "connect_timeout=5" % (self.sock, PGPORT))


def sql_str(s):
	return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


def load(cluster, w):
	cluster.psql("CREATE DATABASE mail", db="postgres")
	cluster.psql("CREATE ROLE quail LOGIN", db="postgres")
	harness.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
	             cluster.sock, "-p", str(PGPORT), "-U", "postgres", "-d",
	             "mail", "-f", SCHEMA], check_rc=0)
	rows = []
	for addr, h, home, maildir, flags in w.records:
		rows.append("(%s, %s, %d, %d, %s, %s, NULL, %s)" % (
			sql_str(addr), sql_str(h or None), w.uid, w.gid,
			sql_str(home), sql_str(maildir), sql_str(flags or None)))
	cluster.psql("INSERT INTO users (address, hash, uid, gid, home, "
	             "maildir, quota, flags) VALUES " + ", ".join(rows))
	cluster.psql("INSERT INTO domains VALUES " +
	             ", ".join("(%s)" % sql_str(d) for d in DOMAINS))
	cluster.psql("GRANT SELECT ON users, domains TO quail")


def check_schema(cluster):
	"""The constraints refuse what no lookup could use."""
	for bad in ["('Upper@pg.test', NULL, 1, 1, '/h', './Maildir/')",
	            "('x@pg.test', NULL, 1, 1, 'h', './Maildir/')",
	            "('x@pg.test', NULL, 1, 1, '/h', './Maildir')",
	            "('x@pg.test', NULL, 1, 1, '/h:x', './Maildir/')",
	            "('nodomain', NULL, 1, 1, '/h', './Maildir/')"]:
		p = subprocess.run(["psql", "-X", "-q", "-h", cluster.sock, "-p",
		                    str(PGPORT), "-U", "postgres", "-d", "mail", "-c",
		                    "INSERT INTO users (address, hash, uid, gid, home, "
		                    "maildir) VALUES " + bad],
		                   capture_output=True, timeout=30)
		check(b"violates check constraint" in p.stderr,
		      "schema took %s: %r" % (bad, p.stderr))


def check_down(fx, w, env, sp, session):
	"""The database is gone: temporary failures only, within the timeout."""
	for user in ("alice@" + DOMAIN, "nobody@" + DOMAIN):
		rc, out, secs = login(fx, env, user, "alice pw")
		check(rc == 111, "login %s with the database down: exit %d" %
		      (user, rc))
		check(secs < PG_TIMEOUT + SLACK, "login took %.1fs" % secs)
	for rcpt in ("alice@" + DOMAIN, "nobody@" + DOMAIN, "who@" + CATCHALL):
		code, text, secs = sp.deliver(rcpt)
		check(code == "Z", "delivery to %s with the database down: %s %r" %
		      (rcpt, code, text))
		check(secs < PG_TIMEOUT + SLACK, "delivery took %.1fs" % secs)
	for rcpt in ("alice@" + DOMAIN, "nobody@" + DOMAIN):
		t0 = time.time()
		session.cmd("RCPT TO:<%s>" % rcpt, 451, "4.3.0")
		check(time.time() - t0 < PG_TIMEOUT + SLACK, "RCPT took too long")


def check_back(fx, w, env, sp, session):
	"""The same processes work again once the database is back."""
	rc, out, secs = login(fx, env, "alice@" + DOMAIN, "alice pw")
	check(rc == 0, "login after restart: exit %d %r" % (rc, out))
	code, text, secs = sp.deliver("alice@" + DOMAIN)
	check(code == "K", "delivery after restart: %s %r" % (code, text))
	session.cmd("RCPT TO:<alice@%s>" % DOMAIN, 250)
	session.cmd("RCPT TO:<nobody@%s>" % DOMAIN, 550, "5.1.1")


def check_slow(fx, w, env, sp, cluster):
	"""A query slower than pgsql_timeout is a temporary failure in time,
	and does not keep running on the server."""
	fx.write_control("pgsql_timeout", "1")
	fx.write_control("pgsql_user_query",
	                 "SELECT uid, gid, home, maildir, quota, flags, hash\n"
	                 "FROM users, pg_sleep(30) WHERE address = $1")
	try:
		rc, out, secs = login(fx, env, "alice@" + DOMAIN, "alice pw")
		check(rc == 111 and secs < 1 + SLACK,
		      "login with a slow query: exit %d after %.1fs" % (rc, secs))
		code, text, secs = sp.deliver("alice@" + DOMAIN)
		check(code == "Z" and secs < 1 + SLACK,
		      "delivery with a slow query: %s %r after %.1fs" %
		      (code, text, secs))
		left = harness.wait_for(lambda: cluster.sleepers() == 0, timeout=5)
		check(left, "the slow queries still run on the server")
	finally:
		os.unlink(os.path.join(fx.control, "pgsql_user_query"))
		fx.write_control("pgsql_timeout", str(PG_TIMEOUT))


def test_userdb_pg(fx):
	harness.need_root()
	need_programs()
	w = World(fx)
	cluster = Cluster(fx, w)
	load(cluster, w)
	check_schema(cluster)
	fx.write_control("userdb", "pgsql")
	fx.write_control("pgsql", cluster.conninfo())
	fx.write_control("pgsql_timeout", str(PG_TIMEOUT))
	env = fx.env()
	sp, server = check_all(fx, w, env)
	check_slow(fx, w, env, sp, cluster)

	session = fx.client(server)
	session.cmd("MAIL FROM:<%s>" % SENDER, 250)
	session.cmd("RCPT TO:<alice@%s>" % DOMAIN, 250)
	cluster.kill()
	check_down(fx, w, env, sp, session)
	cluster.start()
	check_back(fx, w, env, sp, session)
	session.cmd("QUIT", 221)
	check("no mailbox" not in sp.log(), "lspawn said no such user")


test_userdb_pg.timeout = 240
