"""SMTP AUTH, submission and RCPT validation through the real programs:
tcpserver running `quail-smtpd quail-checkpassword /bin/true` (argv as a
run script gives it), users from a users file built by auth/quail-users
(passwords hashed with `quail-users -p`), clients both raw (harness.Client)
and swaks --auth PLAIN/LOGIN.

One list of checks (check_backend) runs against the cdb userdb and against
a private PostgreSQL cluster loaded with auth/schema.sql and the SQL that
`quail-users -s` writes from the same users file (the cluster helpers come
from test_userdb_pg). The other tests use the cdb only: AUTH offered only
with AUTHPLAINTEXT (no TLS here), relay before and after AUTH with the
Received field and no password anywhere, submission mode, SENDERAUTH,
rcptcheck, base64 and length errors, '*', maxauthfail, AUTH twice, and a
corrupt users.cdb (451 at RCPT, never 550).

quail-smtpd runs as root here, so quail-checkpassword switches to the
mailbox owner (the unprivileged test user) and changes to its home: the
homes exist and the fixture dir is opened to 0711 for that.
"""

import base64
import os
import re
import subprocess
import time
import types

import harness
from harness import ROOT, check, expect
import deliver_harness
import test_userdb_pg as pg

CKPW = os.path.join(ROOT, "auth", "quail-checkpassword")
USERS_PROG = os.path.join(ROOT, "auth", "quail-users")

DOMAIN = "auth.test"            # not in rcpthosts: ours by the userdb only
CATCHALL = "catch.test"         # has a catch-all
FAR = "far.away.test"           # nobody's: relaying there needs AUTH
PASSWORD = "Zq8-pw 'Lk7vX'"     # unusual enough to grep for
ALICE = "alice@" + DOMAIN
AUTH_LINE_MAX = 12288           # quail-smtpd(8): AUTH line, CR LF included
SWAKS_TIMEOUT = 60


def b64(data):
	if isinstance(data, str):
		data = data.encode()
	return base64.b64encode(data).decode()


def plain(user, password, authz=""):
	return b64("%s\0%s\0%s" % (authz, user, password))


# -- The world: users file, homes, databases ----------------------------

class World:
	"""The users file (hashed with quail-users -p), homes owned by the
	test user, and users.cdb built with quail-users."""

	def __init__(self, fx):
		harness.need_root()
		deliver_harness.need_programs(CKPW, USERS_PROG, harness.SMTPD,
		                              harness.QUEUE_PROG)
		self.fx = fx
		self.uid, self.gid = deliver_harness.test_user()
		os.chmod(fx.dir, 0o711)       # the mailbox owner chdirs below it
		self.dir = fx.dir
		self.hash = hash_password(PASSWORD)
		homes = os.path.join(fx.dir, "home")
		os.mkdir(homes, 0o711)
		lines = []
		for name, flags in [("alice", ""), ("bob", "nosmtp"),
		                    ("carol", "disabled"), ("dave", "nopop,noimap")]:
			home = os.path.join(homes, name)
			os.mkdir(home, 0o700)
			os.chown(home, self.uid, self.gid)
			lines.append("%s@%s:%s:%d:%d:%s:./Maildir/::%s" % (
				name, DOMAIN, self.hash, self.uid, self.gid, home, flags))
		lines.append("nologin@%s:-:%d:%d:%s" % (DOMAIN, self.uid, self.gid,
		                                         os.path.join(homes, "alice")))
		lines.append("postmaster@%s = %s" % (DOMAIN, ALICE))
		lines.append("@%s:-:%d:%d:%s" % (CATCHALL, self.uid, self.gid,
		                                 os.path.join(homes, "alice")))
		self.users_txt = os.path.join(fx.dir, "users.txt")
		with open(self.users_txt, "w") as f:
			f.write("# test users\n" + "\n".join(lines) + "\n")
		self.userdb = os.path.join(fx.dir, "users.cdb")
		harness.run([USERS_PROG, "-o", self.userdb, self.users_txt],
		            check_rc=0)
		fx.write_control("authdelay", "0")

	def server(self, ckpw=None, **env):
		"""tcpserver + quail-smtpd with a checkpassword program (argv
		list; default quail-checkpassword /bin/true)."""
		e = {"QUAIL_USERDB": self.userdb, "AUTHPLAINTEXT": "1"}
		e.update(env)
		e = {k: v for k, v in e.items() if v is not None}
		return start_smtpd(self.fx, [CKPW, "/bin/true"] if ckpw is None
		                   else ckpw, **e)


def hash_password(pw):
	out = harness.run([USERS_PROG, "-p"], check_rc=0,
	                  input=pw.encode() + b"\n").decode().strip()
	check(out.startswith("$y$"), "quail-users -p gave %r, not yescrypt" % out)
	check(PASSWORD not in out, "the hash holds the password")
	return out


class AuthServer(harness.Server):
	"""harness.Server with arguments after quail-smtpd, as a run script
	would pass them (the harness itself runs quail-smtpd bare)."""

	def __init__(self, fx, env, args, name):
		self.args = list(args)
		harness.Server.__init__(self, fx, env, 40, name)

	def _spawn(self, env, concurrency):
		argv = ["tcpserver", "-v", "-H", "-R", "-l", harness.ME,
		        "-c", str(concurrency), "127.0.0.1", str(self.port),
		        harness.SMTPD] + self.args
		logf = open(self.log_path, "ab")
		try:
			return subprocess.Popen(
				argv, stdin=subprocess.DEVNULL,
				stdout=subprocess.DEVNULL, stderr=logf, env=env,
				cwd=self.fx.dir, start_new_session=True)
		finally:
			logf.close()


def start_smtpd(fx, args, **env):
	if not os.path.isdir(os.path.join(fx.queue.path, "mess")):
		fx.queue.create()
	s = AuthServer(fx, fx.env(**env), args, "smtpd%d" % len(fx.servers))
	fx.servers.append(s)
	return s


# -- SASL exchanges -----------------------------------------------------

def challenge(c, line, want=None):
	"""Sends a line that must get 334; returns the decoded challenge."""
	c.send((line if isinstance(line, bytes) else line.encode()) + b"\r\n")
	r = c.reply(enhanced=False)
	check(r.code == 334, "after %r: expected 334, got %r" %
	      (harness._short(line), r))
	got = base64.b64decode(r.lines[0], validate=True)
	if want is not None:
		check(got == want, "334 challenge %r, wanted %r" % (got, want))
	return got


def auth_plain(c, user, password, code, enh=None):
	return c.cmd("AUTH PLAIN " + plain(user, password), code, enh)


def auth_login(c, user, password, code, enh=None):
	challenge(c, "AUTH LOGIN", b"Username:")
	challenge(c, b64(user), b"Password:")
	return c.cmd(b64(password), code, enh)


def offers_auth(r):
	return [l for l in r.lines if l.upper().startswith("AUTH")]


def swaks(server, mech, user, password, to=None, sender=None, extra=()):
	"""Runs swaks; returns (exit code, transcript)."""
	argv = ["swaks", "--server", "127.0.0.1", "--port", str(server.port),
	        "--ehlo", "client.test", "--timeout", "20",
	        "--from", sender or user, "--to", to or "someone@" + FAR,
	        "--auth", mech, "--auth-user", user, "--auth-password", password,
	        "--header", "Subject: swaks %s" % mech] + list(extra)
	p = subprocess.run(argv, stdout=subprocess.PIPE,
	                           stderr=subprocess.STDOUT,
	                           timeout=SWAKS_TIMEOUT, start_new_session=True,
	                           stdin=subprocess.DEVNULL)
	return p.returncode, p.stdout.decode("latin-1")


def swaks_qid(out):
	m = re.search(r"<[-~] +250 2\.0\.0 ok (\d+)", out)
	check(m, "swaks: no '250 2.0.0 ok ID' in %r" % out[-600:])
	return int(m.group(1))


# -- Secrets ------------------------------------------------------------

def secrets(user=ALICE):
	"""Byte strings that must never be stored or logged."""
	return [PASSWORD.encode(), b64(PASSWORD).encode(),
	        plain(user, PASSWORD).encode(), b"Zq8-pw"]


def check_no_secret(fx):
	"""No password (plain or base64) in any log or queue file."""
	logs = fx.logs().encode("latin-1")
	for s in secrets():
		check(s not in logs, "the log holds %r" % s)
	for top, dirs, files in os.walk(fx.queue.path):
		for name in files:
			path = os.path.join(top, name)
			if not os.path.isfile(path):
				continue
			with open(path, "rb") as f:
				data = f.read()
			for s in secrets():
				check(s not in data, "%s holds %r" % (path, s))


def auth_events(fx):
	return [l for l in fx.logs().splitlines()
	        if "quail-smtpd:" in l and "event=auth" in l]


# -- One list of checks, both backends ----------------------------------

def check_backend(fx, w, server):
	"""Logins (raw and swaks, PLAIN and LOGIN, good and bad) and RCPT
	validation; run against each userdb backend."""
	for mech in ("PLAIN", "LOGIN"):
		rc, out = swaks(server, mech, ALICE, PASSWORD)
		check(rc == 0, "swaks --auth %s good password: exit %d\n%s" %
		      (mech, rc, out[-1500:]))
		check("235 2.7.0" in out, "swaks %s: no 235 2.7.0" % mech)
		qid = swaks_qid(out)
		msg = fx.queue.message(qid)
		check(b"(authenticated as %s)" % ALICE.encode() in msg,
		      "message %d: %r" % (qid, msg[:400]))
		check(fx.queue.envelope(qid).rcpts == [("-", "someone@" + FAR)],
		      "message %d envelope %r" % (qid, fx.queue.envelope(qid).rcpts))
		rc, out = swaks(server, mech, ALICE, PASSWORD + "x")
		check(rc == 28, "swaks --auth %s bad password: exit %d, wanted 28"
		      "\n%s" % (mech, rc, out[-1500:]))
		check("535 5.7.8" in out, "swaks %s bad: no 535 5.7.8" % mech)

	for user, pw, want in [
		(ALICE, PASSWORD, 235),
		("ALICE@Auth.Test", PASSWORD, 235),          # case of the login
		(ALICE, PASSWORD[:-1], 535),
		(ALICE, "", 535),
		("nobody@" + DOMAIN, PASSWORD, 535),
		("alice-ext@" + DOMAIN, PASSWORD, 535),      # a mailbox, no login
		("bob@" + DOMAIN, PASSWORD, 535),            # nosmtp
		("carol@" + DOMAIN, PASSWORD, 535),          # disabled
		("dave@" + DOMAIN, PASSWORD, 235),           # nopop,noimap only
		("nologin@" + DOMAIN, PASSWORD, 535),        # no hash
		("postmaster@" + DOMAIN, PASSWORD, 535),     # an alias
		("x@" + CATCHALL, PASSWORD, 535),            # the catch-all
	]:
		for how in (auth_plain, auth_login):
			c = fx.client(server)
			enh = "2.7.0" if want == 235 else "5.7.8"
			how(c, user, pw, want, enh)
			c.cmd("QUIT", 221)
			c.close()

	c = fx.client(server)
	c.cmd("MAIL FROM:<sender@client.test>", 250)
	c.cmd("RCPT TO:<%s>" % ALICE, 250, "2.1.5")
	c.cmd("RCPT TO:<Alice-Foo@AUTH.test>", 250, "2.1.5")
	c.cmd("RCPT TO:<abuse@%s>" % DOMAIN, 250, "2.1.5")   # role -> postmaster
	c.cmd("RCPT TO:<postmaster@%s>" % DOMAIN, 250, "2.1.5")
	c.cmd("RCPT TO:<carol@%s>" % DOMAIN, 250, "2.1.5")   # exists (disabled)
	c.cmd("RCPT TO:<anyone@%s>" % CATCHALL, 250, "2.1.5")
	c.cmd("RCPT TO:<nobody@%s>" % DOMAIN, 550, "5.1.1")
	c.cmd("RCPT TO:<NoBody@Auth.Test>", 550, "5.1.1")
	c.cmd("RCPT TO:<x@%s>" % FAR, 553, "5.7.1")
	c.cmd("QUIT", 221)
	c.close()
	server.wait_all_ended()   # what a session logs after its 221 counts too
	check_no_secret(fx)
	server.check_clean()


def test_auth_cdb(fx):
	w = World(fx)
	check_backend(fx, w, w.server())


test_auth_cdb.timeout = 180


def load_pg(cluster, w):
	"""The schema, then the users file as quail-users -s writes it."""
	cluster.psql("CREATE DATABASE mail", db="postgres")
	cluster.psql("CREATE ROLE quail LOGIN", db="postgres")
	psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.sock,
	        "-p", str(pg.PGPORT), "-U", "postgres", "-d", "mail"]
	harness.run(psql + ["-f", pg.SCHEMA], check_rc=0)
	sql = harness.run([USERS_PROG, "-s", w.users_txt], check_rc=0)
	harness.run(psql + ["-1", "-f", "-"], check_rc=0, input=sql)
	cluster.psql("GRANT SELECT ON users, domains TO quail")


def test_auth_pg(fx):
	w = World(fx)
	cluster = pg.Cluster(fx, types.SimpleNamespace(dir=w.dir))
	load_pg(cluster, w)
	fx.write_control("userdb", "pgsql")
	fx.write_control("pgsql", cluster.conninfo())
	fx.write_control("pgsql_timeout", str(pg.PG_TIMEOUT))
	# no cdb at all: whatever works, works through PostgreSQL
	os.unlink(w.userdb)
	server = w.server(QUAIL_USERDB=os.path.join(w.dir, "missing.cdb"))
	check_backend(fx, w, server)

	# the database gone: temporary answers, never 535 or 550
	cluster.kill()
	c = fx.client(server)
	auth_plain(c, ALICE, PASSWORD, 454, "4.7.0")
	c.cmd("MAIL FROM:<sender@client.test>", 250)
	c.cmd("RCPT TO:<%s>" % ALICE, 451, "4.3.0")
	c.cmd("RCPT TO:<nobody@%s>" % DOMAIN, 451, "4.3.0")
	cluster.start()
	c.cmd("RCPT TO:<nobody@%s>" % DOMAIN, 550, "5.1.1")
	c.cmd("RSET", 250)
	auth_plain(c, ALICE, PASSWORD, 235, "2.7.0")
	c.cmd("QUIT", 221)
	server.wait_all_ended()
	check_no_secret(fx)


test_auth_pg.timeout = 240


# -- cdb only -----------------------------------------------------------

def test_auth_offered_only_with_plaintext_flag(fx):
	w = World(fx)
	s = w.server(AUTHPLAINTEXT=None)
	c = fx.client(s, ehlo=False)
	c.greet()
	r = c.cmd("EHLO client.test", 250)
	check(not offers_auth(r), "AUTH offered without TLS: %r" % r)
	c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD), 538, "5.7.11")
	c.cmd("AUTH LOGIN", 538, "5.7.11")
	c.cmd("MAIL FROM:<sender@client.test>", 250)
	c.cmd("RCPT TO:<x@%s>" % FAR, 553, "5.7.1")
	c.cmd("QUIT", 221)

	s = w.server()
	c = fx.client(s, ehlo=False)
	c.greet()
	r = c.cmd("EHLO client.test", 250)
	check(offers_auth(r) and offers_auth(r)[0].upper().split()[1:] ==
	      ["PLAIN", "LOGIN"], "EHLO does not offer AUTH PLAIN LOGIN: %r" % r)
	c.cmd("QUIT", 221)

	# no checkpassword program: no AUTH, even with AUTHPLAINTEXT
	s = start_smtpd(fx, [], AUTHPLAINTEXT="1", QUAIL_USERDB=w.userdb)
	c = fx.client(s, ehlo=False)
	c.greet()
	r = c.cmd("EHLO client.test", 250)
	check(not offers_auth(r), "AUTH offered without a program: %r" % r)
	c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD), 502, "5.5.1")
	c.cmd("QUIT", 221)


def test_auth_relay(fx):
	"""Relay refused before AUTH, taken after it; the Received field
	names the login; no password in queue files or logs."""
	w = World(fx)
	s = w.server()
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % ALICE, 250)
	c.cmd("RCPT TO:<x@%s>" % FAR, 553, "5.7.1")
	c.cmd("RSET", 250)
	auth_login(c, ALICE, PASSWORD, 235, "2.7.0")
	data = harness.text_message("relayed", ["after AUTH"])
	r = c.transaction(ALICE, ["x@" + FAR, "y@other.far.test"], data)
	qid = harness.accepted_id(r)
	harness.check_queued(fx, qid, ALICE, ["x@" + FAR, "y@other.far.test"],
	                     data)
	rec = harness.received_header(fx.queue.message(qid))
	check(re.search(rb"\bwith ESMTPA\b", rec), "Received: %r" % rec)
	check(b"(authenticated as %s)" % ALICE.encode() in rec,
	      "Received: %r" % rec)
	check(b"with ESMTP " not in rec, "Received: %r" % rec)
	c.cmd("QUIT", 221)
	c.close()

	# without AUTH the same session shape gets no ESMTPA
	c = fx.client(s)
	r = c.transaction("sender@client.test", [ALICE],
	                  harness.text_message("local", ["no AUTH"]))
	rec = harness.received_header(fx.queue.message(harness.accepted_id(r)))
	check(b"ESMTPA" not in rec and b"authenticated" not in rec,
	      "Received without AUTH: %r" % rec)
	c.cmd("QUIT", 221)

	s.wait_all_ended()
	check_no_secret(fx)
	ev = auth_events(fx)
	check(any("result=ok" in l and "user=" + ALICE in l for l in ev),
	      "no event=auth result=ok line: %r" % ev)
	s.check_clean()


def test_auth_submission(fx):
	"""SMTPAUTH=! : MAIL needs AUTH first; relaying after it."""
	w = World(fx)
	s = w.server(SMTPAUTH="!")
	c = fx.client(s)
	c.cmd("MAIL FROM:<%s>" % ALICE, 530, "5.7.0")
	c.cmd("RCPT TO:<%s>" % ALICE, 503, "5.5.1")
	auth_plain(c, ALICE, PASSWORD + "x", 535, "5.7.8")
	c.cmd("MAIL FROM:<%s>" % ALICE, 530, "5.7.0")
	auth_plain(c, ALICE, PASSWORD, 235, "2.7.0")
	data = harness.text_message("submitted", ["hello"])
	qid = harness.accepted_id(c.transaction(ALICE, ["x@" + FAR], data))
	harness.check_queued(fx, qid, ALICE, ["x@" + FAR], data)
	c.cmd("QUIT", 221)
	# swaks as a submission client
	rc, out = swaks(s, "LOGIN", ALICE, PASSWORD)
	check(rc == 0, "swaks submission: exit %d\n%s" % (rc, out[-1500:]))
	rc, out = subprocess.run(
		["swaks", "--server", "127.0.0.1", "--port", str(s.port),
		 "--from", ALICE, "--to", "x@" + FAR, "--timeout", "20"],
		stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
		timeout=SWAKS_TIMEOUT, stdin=subprocess.DEVNULL
	).returncode, None
	check(rc == 23, "swaks without AUTH on submission: exit %d, wanted 23"
	      % rc)
	s.wait_all_ended()
	check_no_secret(fx)
	s.check_clean()


def test_auth_senderauth(fx):
	"""SENDERAUTH=1 or control senderauth: the sender must be the login."""
	w = World(fx)
	for how in ("env", "control"):
		if how == "env":
			s = w.server(SMTPAUTH="!", SENDERAUTH="1")
		else:
			fx.write_control("senderauth", "1")
			s = w.server(SMTPAUTH="!")
		c = fx.client(s)
		auth_plain(c, ALICE, PASSWORD, 235)
		c.cmd("MAIL FROM:<mallory@client.test>", 553, "5.7.1")
		c.cmd("MAIL FROM:<bob@%s>" % DOMAIN, 553, "5.7.1")
		c.cmd("MAIL FROM:<>", 553, "5.7.1")
		c.cmd("MAIL FROM:<alice-ext@%s>" % DOMAIN, 553, "5.7.1")
		c.cmd("MAIL FROM:<alice@AUTH.TEST>", 250, "2.1.0")
		c.cmd("RCPT TO:<x@%s>" % FAR, 250)
		c.cmd("RSET", 250)
		c.cmd("MAIL FROM:<%s>" % ALICE, 250, "2.1.0")
		c.cmd("QUIT", 221)
	os.unlink(os.path.join(fx.control, "senderauth"))
	# without it, any sender after AUTH
	s = w.server(SMTPAUTH="!")
	c = fx.client(s)
	auth_plain(c, ALICE, PASSWORD, 235)
	c.cmd("MAIL FROM:<mallory@client.test>", 250)
	c.cmd("QUIT", 221)


def test_auth_rcptcheck(fx):
	"""Unknown user of a userdb domain: 550 5.1.1 at RCPT; rcptcheck=0
	(env or control) takes it."""
	w = World(fx)
	s = w.server()
	c = fx.client(s)
	c.cmd("MAIL FROM:<sender@client.test>", 250)
	c.cmd("RCPT TO:<nobody@%s>" % DOMAIN, 550, "5.1.1")
	c.cmd("RCPT TO:<%s>" % ALICE, 250)
	# after AUTH too: relaying does not make unknown users exist
	c.cmd("RSET", 250)
	auth_plain(c, ALICE, PASSWORD, 235)
	c.cmd("MAIL FROM:<%s>" % ALICE, 250)
	c.cmd("RCPT TO:<nobody@%s>" % DOMAIN, 550, "5.1.1")
	c.cmd("QUIT", 221)
	for env in ({"RCPTCHECK": "0"}, {}):
		if not env:
			fx.write_control("rcptcheck", "0")
		s = w.server(**env)
		c = fx.client(s)
		c.cmd("MAIL FROM:<sender@client.test>", 250)
		c.cmd("RCPT TO:<nobody@%s>" % DOMAIN, 250, "2.1.5")
		c.cmd("RCPT TO:<x@%s>" % FAR, 553, "5.7.1")
		c.cmd("QUIT", 221)


def test_auth_malformed(fx):
	w = World(fx)
	s = w.server(MAXERRORS="100")     # each 501 is a protocol error
	c = fx.client(s)
	for bad in ("AGFsaWNl!", "AGFsaWNl", "AGFs aWNl", "=AAA", "AA=A",
	            "QQ==QQ=="):
		c.cmd("AUTH PLAIN " + bad, 501, "5.5.2")
	challenge(c, "AUTH PLAIN", b"")
	c.cmd("not base64", 501, "5.5.2")
	challenge(c, "AUTH LOGIN", b"Username:")
	c.cmd("@@@@", 501, "5.5.2")
	challenge(c, "AUTH LOGIN", b"Username:")
	challenge(c, b64(ALICE), b"Password:")
	c.cmd("QUJD?", 501, "5.5.2")
	# PLAIN without its two NULs
	c.cmd("AUTH PLAIN " + b64(ALICE), 501, "5.5.2")
	c.cmd("AUTH PLAIN " + b64(ALICE + "\0" + PASSWORD), 501, "5.5.2")
	c.cmd("AUTH", 501, "5.5.4")
	c.cmd("AUTH CRAM-MD5", 504, "5.5.4")
	# an authorization identity other than the login
	c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD, "bob@" + DOMAIN), 535,
	      "5.7.8")
	c.cmd("NOOP", 250)
	c.close()
	# the same identity twice is fine
	c = fx.client(s)
	c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD, ALICE), 235, "2.7.0")
	c.cmd("QUIT", 221)
	s.wait_all_ended()
	check_no_secret(fx)
	s.check_clean()


def test_auth_overlong(fx):
	"""An AUTH line or response over AUTH_LINE_MAX bytes (CR LF
	included): 500 5.5.6, and the session goes on."""
	w = World(fx)
	s = w.server()
	c = fx.client(s)
	fixed = len("AUTH PLAIN ") + 2
	# exactly at the limit: parsed (12275 'A's are not valid base64)
	c.cmd("AUTH PLAIN " + "A" * (AUTH_LINE_MAX - fixed), 501, "5.5.2")
	c.cmd("AUTH PLAIN " + "A" * (AUTH_LINE_MAX - fixed + 1), 500, "5.5.6")
	c.cmd("NOOP", 250)
	c.cmd("AUTH PLAIN " + "QUFB" * 20000, 500, "5.5.6")
	c.cmd("NOOP", 250)
	challenge(c, "AUTH PLAIN", b"")
	c.cmd("A" * (AUTH_LINE_MAX - 1), 500, "5.5.6")
	c.cmd("NOOP", 250)
	challenge(c, "AUTH LOGIN", b"Username:")
	c.cmd("QUFB" * 4000, 500, "5.5.6")
	c.cmd("NOOP", 250)
	# credentials that fit the line but not fd 3: 535 without asking
	c.cmd("AUTH PLAIN " + plain("u" * 600 + "@" + DOMAIN, "p"), 535, "5.7.8")
	# another command that long is still 500 5.5.2 (maxcmdline)
	c.cmd("NOOP " + "x" * 600, 500, "5.5.2")
	c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD), 235, "2.7.0")
	c.cmd("QUIT", 221)
	s.wait_all_ended()
	s.check_clean()


def test_auth_cancel(fx):
	w = World(fx)
	s = w.server()
	c = fx.client(s)
	challenge(c, "AUTH PLAIN", b"")
	c.cmd("*", 501, "5.0.0")
	challenge(c, "AUTH LOGIN", b"Username:")
	c.cmd("*", 501, "5.0.0")
	challenge(c, "AUTH LOGIN " + b64(ALICE), b"Password:")
	c.cmd("*", 501, "5.0.0")
	# cancelling is not a failed login
	for _ in range(4):
		challenge(c, "AUTH LOGIN", b"Username:")
		c.cmd("*", 501, "5.0.0")
	c.cmd("NOOP", 250)
	auth_login(c, ALICE, PASSWORD, 235, "2.7.0")
	c.cmd("QUIT", 221)


def check_closed_after_failures(c, n, pw):
	"""n-1 failures get 535; the n-th 535 (or 421 at once), then 421
	4.7.0 and the connection closes."""
	for _ in range(n - 1):
		auth_plain(c, ALICE, pw, 535, "5.7.8")
	c.send("AUTH PLAIN " + plain(ALICE, pw) + "\r\n")
	r = c.reply()
	if r.code == 535:
		r = c.reply()
	expect(r, 421, "4.7.0", "after %d failed AUTH" % n)
	c.expect_eof()


def test_auth_maxauthfail(fx):
	w = World(fx)
	s = w.server()
	c = fx.client(s)
	auth_plain(c, ALICE, "wrong 1", 535, "5.7.8")
	auth_login(c, ALICE, "wrong 2", 535, "5.7.8")
	c.send("AUTH PLAIN " + plain(ALICE, "wrong 3") + "\r\n")
	r = c.reply()
	if r.code == 535:
		r = c.reply()
	expect(r, 421, "4.7.0", "after 3 failed AUTH")
	c.expect_eof()
	# the right password after two failures still works
	c = fx.client(s)
	auth_plain(c, ALICE, "wrong", 535)
	auth_plain(c, "nobody@" + DOMAIN, "wrong", 535)
	auth_plain(c, ALICE, PASSWORD, 235)
	c.cmd("QUIT", 221)
	# control maxauthfail
	fx.write_control("maxauthfail", "1")
	s1 = w.server()
	check_closed_after_failures(fx.client(s1), 1, "wrong")
	s1.wait_all_ended()
	st = s1.exits()[-1][1]
	check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 100,
	      "quail-smtpd after too many AUTH failures: status %d, wanted "
	      "exit 100" % st)
	s.wait_all_ended()
	check(not any("wrong" in l for l in auth_events(fx)),
	      "a password in the log: %r" % auth_events(fx))
	s.check_clean()


def test_auth_delay(fx):
	"""control authdelay: each failed AUTH waits for quail-checkpassword's
	delay; a good one does not."""
	w = World(fx)
	fx.write_control("authdelay", "1")
	s = w.server()
	c = fx.client(s)
	t0 = time.time()
	auth_plain(c, ALICE, "wrong", 535)
	check(time.time() - t0 >= 1.0, "failed AUTH answered in %.2fs" %
	      (time.time() - t0))
	t0 = time.time()
	auth_plain(c, ALICE, PASSWORD, 235)
	check(time.time() - t0 < 1.0, "good AUTH took %.2fs" % (time.time() - t0))
	c.cmd("QUIT", 221)


def test_auth_twice(fx):
	"""AUTH after AUTH, and inside a transaction: 503 5.5.1."""
	w = World(fx)
	s = w.server()
	c = fx.client(s)
	c.cmd("MAIL FROM:<sender@client.test>", 250)
	c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD), 503, "5.5.1")
	c.cmd("AUTH LOGIN", 503, "5.5.1")
	c.cmd("RSET", 250)
	auth_plain(c, ALICE, PASSWORD, 235, "2.7.0")
	c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD), 503, "5.5.1")
	c.cmd("AUTH LOGIN", 503, "5.5.1")
	c.cmd("AUTH PLAIN " + plain("dave@" + DOMAIN, PASSWORD), 503, "5.5.1")
	# still authenticated as alice: relaying works
	c.cmd("MAIL FROM:<%s>" % ALICE, 250)
	c.cmd("RCPT TO:<x@%s>" % FAR, 250)
	c.cmd("QUIT", 221)


def test_auth_userdb_corrupt(fx):
	"""A users.cdb that can't be read: 451 4.3.0 at RCPT for the domain
	(never 550), and AUTH is a temporary failure (454), not 535."""
	w = World(fx)
	with open(w.userdb, "rb") as f:
		good = f.read()
	for name, data in [
		("truncated", good[:len(good) // 2]),
		("garbage", bytes(range(256)) * 4 + b"\xff" * 1024),
		("pointers past the end", b"\xff\xff\xff\x7f" * 512 + good[2048:]),
	]:
		with open(w.userdb, "wb") as f:
			f.write(data)
		s = w.server()
		c = fx.client(s)
		auth_plain(c, ALICE, PASSWORD, 454, "4.7.0")
		c.cmd("MAIL FROM:<sender@client.test>", 250)
		for rcpt in (ALICE, "nobody@" + DOMAIN):
			r = c.cmd("RCPT TO:<%s>" % rcpt)
			check(r.code == 451 and r.enhanced() == "4.3.0",
			      "%s userdb, RCPT %s: %r, wanted 451 4.3.0" %
			      (name, rcpt, r))
		c.cmd("QUIT", 221)
		c.close()
	# back in place: the same server answers again (each lookup opens
	# the file afresh)
	with open(w.userdb, "wb") as f:
		f.write(good)
	c = fx.client(s)
	c.cmd("MAIL FROM:<sender@client.test>", 250)
	c.cmd("RCPT TO:<nobody@%s>" % DOMAIN, 550, "5.1.1")
	c.cmd("QUIT", 221)


def test_auth_other_checkpassword_exit(fx):
	"""The exit code is all that counts: 0 -> 235, 1 -> 535, 111 and a
	crash -> 454; fd 3 holds user\\0pass\\0\\0 and QUAIL_SERVICE=smtp."""
	w = World(fx)
	seen = os.path.join(fx.dir, "seen")
	prog = os.path.join(fx.dir, "ckpw.py")
	with open(prog, "w") as f:
		f.write("""#!/usr/bin/python3
import os, signal, sys
d = b""
while True:
	b = os.read(3, 4096)
	if not b:
		break
	d += b
with open(%r, "ab") as f:
	f.write(repr((d, os.environ.get("QUAIL_SERVICE"), sys.argv[1:])).encode()
	        + b"\\n")
user = d.split(b"\\0")[0]
codes = {b"ok@x.test": 0, b"bad@x.test": 1, b"temp@x.test": 111,
         b"two@x.test": 2}
if user == b"kill@x.test":
	os.kill(os.getpid(), signal.SIGKILL)
sys.exit(codes.get(user, 1))
""" % seen)
	os.chmod(prog, 0o755)
	s = w.server(ckpw=[prog, "/bin/true"])
	for user, code, enh in [("ok@x.test", 235, "2.7.0"),
	                        ("bad@x.test", 535, "5.7.8"),
	                        ("temp@x.test", 454, "4.7.0"),
	                        ("two@x.test", 454, "4.7.0"),
	                        ("kill@x.test", 454, "4.7.0")]:
		c = fx.client(s)
		auth_plain(c, user, "pw", code, enh)
		c.cmd("QUIT", 221)
		c.close()
	with open(seen, "rb") as f:
		got = f.read().decode().splitlines()
	check(got[0] == repr((b"ok@x.test\0pw\0\0", "smtp", ["/bin/true"])),
	      "the checkpassword program saw %r" % got[0])
