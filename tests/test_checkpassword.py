"""quail-checkpassword through the checkpassword interface, and the other
way round.

A tiny checkpassword client here (ckpw(): a pipe on fd 3 holding
"login\\0password\\0timestamp\\0", passed with pass_fds) runs
auth/quail-checkpassword against a users.cdb built by auth/quail-users:
good, wrong and empty passwords, unknown logins, disabled accounts, the
nopop/noimap/nosmtp flags against QUAIL_SERVICE, extension, catch-all and
alias addresses (mailboxes, not logins), the environment, uid, gid,
groups and directory of the program it runs (as root), running as a user
other than root (its own mailbox only, and the SMTP AUTH check-only
mode), malformed fd 3 input (exit 2), the 512-byte limit, temporary
failures (111), the authdelay on failures, and the log (never a
password).

Then the reverse: quail's clients use only the checkpassword interface,
so a minimal third-party-style checkpassword shell script (reads fd 3,
compares a fixed user and password, execs "$@") stands behind quail-smtpd
AUTH (raw client and swaks) and behind quail-popup.
"""

import json
import os
import subprocess
import time

import harness
from harness import ROOT, Skip, TestFailure, check
import deliver_harness
import test_auth
import test_userdb_pg

CKPW = os.path.join(ROOT, "auth", "quail-checkpassword")
USERS_PROG = os.path.join(ROOT, "auth", "quail-users")
POPUP = os.path.join(ROOT, "popd", "quail-popup")

PW = "S3cret pass-Qv9"          # every good password; grepped for in logs
D = "example.org"
IP = "192.0.2.7"
TS = "<1234.5678@pop.example.org>"
INPUT_MAX = 512                 # quail-checkpassword(8): fd 3 bytes
RUN_TIMEOUT = 30                # s for one run (the delays are 0 to 2 s)

# The program run after a good login: what it runs as, and where.
SHOW = ["/usr/bin/python3", "-c",
        "import os, json; print(json.dumps({'uid': os.getuid(), "
        "'euid': os.geteuid(), 'gid': os.getgid(), 'egid': os.getegid(), "
        "'groups': sorted(os.getgroups()), 'cwd': os.getcwd(), "
        "'env': {k: os.environ.get(k) for k in "
        "('USER', 'HOME', 'SHELL', 'MAILDIR', 'QUAIL_TEST_KEEP')}}))"]


def mkpasswd(method, pw):
	p = subprocess.run(["mkpasswd", "-s", "-m", method], input=pw.encode(),
	                   capture_output=True, timeout=30)
	if p.returncode != 0:
		return None
	return p.stdout.decode().strip()


class World:
	"""Homes, users.txt and users.cdb (built by quail-users), control
	authdelay 0. Mailboxes belong to made-up uids 2000..., except "own",
	which belongs to the unprivileged test user."""

	def __init__(self, fx):
		harness.need_root()
		deliver_harness.need_programs(CKPW, USERS_PROG)
		self.fx = fx
		self.tuid, self.tgid = deliver_harness.test_user()
		os.chmod(fx.dir, 0o711)
		self.homes = os.path.join(fx.dir, "home")
		os.mkdir(self.homes, 0o711)
		yes = harness.run([USERS_PROG, "-p"], check_rc=0,
		                  input=PW.encode() + b"\n").decode().strip()
		check(yes.startswith("$y$"), "quail-users -p: %r" % yes)
		self.hashes = {"yescrypt": yes,
		               "sha512": test_userdb_pg.crypt_sha512(PW)}
		for method, name in (("sha-256", "sha256"), ("bcrypt", "bcrypt")):
			h = mkpasswd(method, PW)
			if h:
				self.hashes[name] = h
		self.uid = {}
		lines = []
		users = [("alice", 2000, "nopop", "yescrypt"),
		         ("bob", 2001, "noimap", "yescrypt"),
		         ("carol", 2002, "nosmtp", "yescrypt"),
		         ("dave", 2003, "disabled", "yescrypt"),
		         ("erin", 2004, "", "sha512"),
		         ("own", self.tuid, "", "yescrypt")]
		users += [("h-" + n, 2010 + i, "", n)
		          for i, n in enumerate(sorted(self.hashes))]
		for name, uid, flags, scheme in users:
			home = self.home(name)
			os.mkdir(home, 0o700)
			gid = self.tgid if name == "own" else uid
			os.chown(home, uid, gid)
			self.uid[name] = (uid, gid)
			lines.append("%s@Example.ORG:%s:%d:%d:%s:./Maildir/::%s" % (
				name, self.hashes[scheme], uid, gid, home, flags))
		lines.append("nohome@%s:%s:2006:2006:%s" % (D, yes,
		                                            self.home("nohome")))
		lines.append("frank@%s:-:2007:2007:%s" % (D, self.home("erin")))
		lines.append("@%s:-:2008:2008:%s" % (D, self.home("erin")))
		lines.append("postmaster@%s = alice@%s" % (D, D))
		lines.append("list@%s = alice@%s, x@elsewhere.test" % (D, D))
		os.mkdir(self.home("gina"), 0o700)
		os.chown(self.home("gina"), 2009, 2009)
		self.uid["gina"] = (2009, 2009)
		lines.append("gina@%s:%s:2009:2009:%s/:/var/mail/gina/" % (
			D, yes, self.home("gina")))
		self.users_txt = os.path.join(fx.dir, "users.txt")
		with open(self.users_txt, "w") as f:
			f.write("\n".join(lines) + "\n")
		self.userdb = os.path.join(fx.dir, "users.cdb")
		harness.run([USERS_PROG, "-o", self.userdb, self.users_txt],
		            check_rc=0)
		os.chmod(self.userdb, 0o644)      # for the non-root runs
		fx.write_control("authdelay", "0")
		self.logs = []

	def home(self, name):
		return os.path.join(self.homes, name)

	def env(self, **extra):
		e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
		     "QUAIL_USERDB": self.userdb, "QUAIL_CONTROL": self.fx.control,
		     "TCPREMOTEIP": IP, "QUAIL_TEST_KEEP": "kept"}
		e.update(extra)
		return {k: v for k, v in e.items() if v is not None}

	def run(self, data, prog=SHOW, service=None, env=None, as_user=None,
	        fd3=True, cwd="/"):
		"""One checkpassword run; returns (exit code, stdout, stderr,
		seconds). data: what fd 3 holds (bytes or str); as_user: (uid,
		gid) to run as instead of root."""
		e = env if env is not None else self.env()
		if service is not None:
			e = dict(e, QUAIL_SERVICE=service)
		if isinstance(data, str):
			data = data.encode()
		check(len(data) < 60000, "fd 3 data too big for one pipe write")
		r, w = os.pipe()
		os.write(w, data)
		os.close(w)

		# subprocess closes the fds not in pass_fds after preexec_fn:
		# keep 3, and make it the pipe (or nothing) there
		def child():
			if fd3 and r != 3:
				os.dup2(r, 3)
				os.close(r)
			elif not fd3:
				os.close(3)
			if as_user:
				os.setgroups([])
				os.setgid(as_user[1])
				os.setuid(as_user[0])
		t0 = time.time()
		try:
			p = subprocess.run([CKPW] + list(prog), env=e, cwd=cwd,
			                   preexec_fn=child, pass_fds=(3,),
			                   stdin=subprocess.DEVNULL,
			                   capture_output=True, timeout=RUN_TIMEOUT,
			                   start_new_session=True)
		finally:
			os.close(r)
		err = p.stderr.decode("latin-1")
		self.logs.append(err)
		return p.returncode, p.stdout.decode("latin-1"), err, time.time() - t0

	def check_log_clean(self, extra=()):
		log = "".join(self.logs)
		check(log.strip(), "quail-checkpassword logged nothing")
		for s in (PW, PW[:-1], "Qv9") + tuple(extra):
			check(s not in log, "a password (%r) in the log" % s)
		for line in log.splitlines():
			check(line.startswith("quail-checkpassword: "),
			      "log line from elsewhere or malformed: %r" % line)


def creds(user, pw=PW, ts=TS):
	return "%s\0%s\0%s\0" % (user, pw, ts)


def shown(out):
	try:
		return json.loads(out)
	except ValueError:
		raise TestFailure("the program's output is not JSON: %r" % out)


def test_checkpassword_login(fx):
	"""Success as root: the switch, the directory, the environment, the
	log line; and each hash scheme."""
	w = World(fx)
	rc, out, err, _ = w.run(creds("alice@" + D), service="imap")
	check(rc == 0, "alice: exit %d: %s" % (rc, err))
	j = shown(out)
	home = w.home("alice")
	check((j["uid"], j["euid"], j["gid"], j["egid"]) ==
	      (2000, 2000, 2000, 2000), "ids after the switch: %r" % j)
	check(j["groups"] == [2000], "groups after the switch: %r" % j)
	check(j["cwd"] == home, "cwd %r, wanted %r" % (j["cwd"], home))
	check(j["env"] == {"USER": "alice@" + D, "HOME": home, "SHELL": "/bin/sh",
	                   "MAILDIR": home + "/Maildir/",
	                   "QUAIL_TEST_KEEP": "kept"}, "environment: %r" % j["env"])
	check("quail-checkpassword: info: event=login result=ok user=alice@%s "
	      "ip=%s service=imap" % (D, IP) in err, "log: %r" % err)

	# the login in any case; USER is the lower-cased key
	rc, out, err, _ = w.run(creds("ALICE@EXAMPLE.org"))
	check(rc == 0 and shown(out)["env"]["USER"] == "alice@" + D,
	      "upper-case login: %d %r %r" % (rc, out, err))
	# no timestamp at all: "login\0password\0"
	rc, out, err, _ = w.run("erin@%s\0%s\0" % (D, PW))
	check(rc == 0, "without a timestamp: exit %d %r" % (rc, err))
	# an absolute maildir, a home with a trailing /
	rc, out, err, _ = w.run(creds("gina@" + D))
	check(rc == 0 and shown(out)["env"]["MAILDIR"] == "/var/mail/gina/" and
	      shown(out)["uid"] == 2009,
	      "absolute maildir: %d %r %r" % (rc, out, err))
	# every hash scheme quail accepts
	for scheme in sorted(w.hashes):
		rc, out, err, _ = w.run(creds("h-%s@%s" % (scheme, D)))
		check(rc == 0, "%s hash: exit %d %r" % (scheme, rc, err))
		rc, out, err, _ = w.run(creds("h-%s@%s" % (scheme, D), PW + "x"))
		check(rc == 1, "%s hash, wrong password: exit %d" % (scheme, rc))
	# prog is found through PATH and gets its arguments
	rc, out, err, _ = w.run(creds("alice@" + D), prog=["printf", "%s|",
	                                                  "a b", "c"])
	check(rc == 0 and out == "a b|c|", "printf via PATH: %d %r %r" %
	      (rc, out, err))
	# prog's exit code is quail-checkpassword's
	rc, out, err, _ = w.run(creds("alice@" + D), prog=["sh", "-c", "exit 7"])
	check(rc == 7, "prog's exit code: %d" % rc)
	w.check_log_clean()


test_checkpassword_login.timeout = 60


def test_checkpassword_refused(fx):
	"""Exit 1, with nothing run and the reason logged."""
	w = World(fx)
	for name, data, reason in [
		("wrong password", creds("alice@" + D, "nope"), "password"),
		("password prefix", creds("alice@" + D, PW[:-1]), "password"),
		("password longer", creds("alice@" + D, PW + " "), "password"),
		("empty password", creds("alice@" + D, ""), "password"),
		("empty login", creds("", PW), "nouser"),
		("unknown user", creds("zed@" + D), "nouser"),
		("unknown domain", creds("alice@example.com"), "nouser"),
		("no @", creds("alice"), "nouser"),
		("extension", creds("alice-foo@" + D), "nouser"),
		("catch-all", creds("anything@" + D), "nouser"),
		("catch-all key", creds("@" + D), None),
		("role", creds("abuse@" + D), "nouser"),
		("alias", creds("postmaster@" + D), None),
		("alias list", creds("list@" + D), None),
		("no hash", creds("frank@" + D), "nopassword"),
		("disabled", creds("dave@" + D), "disabled"),
	]:
		rc, out, err, _ = w.run(data)
		check(rc == 1, "%s: exit %d, wanted 1: %r" % (name, rc, err))
		check(out == "", "%s: the program ran: %r" % (name, out))
		check("result=fail" in err, "%s: log %r" % (name, err))
		if reason:
			check("reason=" + reason in err, "%s: log %r, wanted reason=%s"
			      % (name, err, reason))
	w.check_log_clean(("nope",))


def test_checkpassword_services(fx):
	"""nopop, noimap, nosmtp against QUAIL_SERVICE; unset or empty: no
	check; another value: misuse."""
	w = World(fx)
	for user, svc, want in [
		("alice", "pop3", 1), ("alice", "imap", 0), ("alice", "smtp", 0),
		("alice", None, 0), ("alice", "", 0),
		("bob", "imap", 1), ("bob", "pop3", 0), ("bob", "smtp", 0),
		("carol", "smtp", 1), ("carol", "pop3", 0), ("carol", "imap", 0),
		("carol", None, 0),
		("dave", "pop3", 1), ("dave", None, 1),
		("alice", "ftp", 2), ("alice", "POP3", 2),
	]:
		rc, out, err, _ = w.run(creds(user + "@" + D), service=svc)
		check(rc == want, "%s with QUAIL_SERVICE=%r: exit %d, wanted %d: "
		      "%r" % (user, svc, rc, want, err))
		if want == 1 and user != "dave":
			check("reason=service" in err, "log %r" % err)
		if want == 0:
			check("service=%s" % (svc or "") in err or svc is None,
			      "log %r" % err)
	w.check_log_clean()


def test_checkpassword_misuse(fx):
	"""Exit 2: malformed fd 3, no fd 3, no program; the 512-byte limit."""
	w = World(fx)
	good = creds("alice@" + D, ts="")
	for name, kw, want in [
		("no NUL", {"data": "alice@" + D}, 2),
		("no NUL after the password", {"data": "alice@%s\0%s" % (D, PW)}, 2),
		("empty fd 3", {"data": b""}, 2),
		("fd 3 closed", {"data": good, "fd3": False}, 2),
		("no program", {"data": good, "prog": []}, 2),
	]:
		data = kw.pop("data")
		rc, out, err, _ = w.run(data, **kw)
		check(rc == want and out == "", "%s: exit %d, wanted %d: %r" %
		      (name, rc, want, err))
	# INPUT_MAX bytes in all is fine, one more is not
	pad = INPUT_MAX - len(good)
	for n, want in ((INPUT_MAX, 0), (INPUT_MAX + 1, 2), (600, 2),
	                (4096, 2)):
		data = creds("alice@" + D, ts="t" * (n - len(good)))
		check(len(data) == n, "test data is %d bytes" % len(data))
		rc, out, err, _ = w.run(data)
		check(rc == want, "%d bytes on fd 3: exit %d, wanted %d: %r" %
		      (n, rc, want, err))
	check(pad > 0, "test login too long")
	# the same size limit with a long password: no crash, exit 2
	rc, out, err, _ = w.run(creds("alice@" + D, "p" * 600, ""))
	check(rc == 2, "600-byte password: exit %d" % rc)
	w.check_log_clean()


def test_checkpassword_temporary(fx):
	"""Exit 111: the userdb missing or broken, no home, exec failing, a
	uid-0 mailbox."""
	w = World(fx)
	cases = [
		("userdb missing", creds("alice@" + D),
		 {"env": w.env(QUAIL_USERDB=os.path.join(fx.dir, "none.cdb"))},
		 "userdb"),
		("home missing", creds("nohome@" + D), {}, "chdir"),
		("exec fails", creds("alice@" + D),
		 {"prog": ["/nonexistent/prog"]}, "exec"),
	]
	broken = os.path.join(fx.dir, "broken.cdb")
	with open(w.userdb, "rb") as f:
		good = f.read()
	with open(broken, "wb") as f:
		f.write(good[:len(good) // 2])
	cases.append(("userdb truncated", creds("alice@" + D),
	              {"env": w.env(QUAIL_USERDB=broken)}, "userdb"))
	# a uid-0 record (quail-users refuses to write one: made with cdb)
	root_db = os.path.join(fx.dir, "root.cdb")
	src = root_db + ".in"
	with open(src, "w") as f:
		f.write("root@%s 0:0:/:./Maildir/:::%s\n%%%s \n" %
		        (D, w.hashes["yescrypt"], D))
	harness.run(["cdb", "-c", "-m", root_db, src], check_rc=0)
	cases.append(("uid 0", creds("root@" + D),
	              {"env": w.env(QUAIL_USERDB=root_db)}, "uid0"))
	for name, data, kw, reason in cases:
		rc, out, err, _ = w.run(data, **kw)
		check(rc == 111 and out == "", "%s: exit %d, wanted 111: %r" %
		      (name, rc, err))
		check("result=error" in err and "reason=" + reason in err,
		      "%s: log %r, wanted reason=%s" % (name, err, reason))
	# a broken userdb is never "no such user" for a wrong password either
	rc, out, err, _ = w.run(creds("alice@" + D, "nope"),
	                        env=w.env(QUAIL_USERDB=broken))
	check(rc == 111, "truncated userdb, wrong password: exit %d" % rc)
	w.check_log_clean(("nope",))


def test_checkpassword_not_root(fx):
	"""Run as a user other than root: its own mailbox only (111 for
	others); QUAIL_SERVICE=smtp only checks and runs prog as itself."""
	w = World(fx)
	me = (w.tuid, w.tgid)
	rc, out, err, _ = w.run(creds("own@" + D), as_user=me)
	check(rc == 0, "own mailbox, not root: exit %d %r" % (rc, err))
	j = shown(out)
	check((j["uid"], j["gid"]) == me and j["cwd"] == w.home("own") and
	      j["env"]["USER"] == "own@" + D, "own mailbox: %r" % j)
	rc, out, err, _ = w.run(creds("alice@" + D), as_user=me)
	check(rc == 111 and out == "" and "reason=notroot" in err,
	      "another uid's mailbox, not root: exit %d %r" % (rc, err))
	rc, out, err, t = w.run(creds("alice@" + D, "nope"), as_user=me)
	check(rc == 1, "wrong password, not root: exit %d" % rc)

	# SMTP AUTH check-only mode: runs prog as itself, no chdir
	rc, out, err, _ = w.run(creds("alice@" + D), service="smtp",
	                        as_user=me, cwd="/")
	check(rc == 0, "smtp check as non-root: exit %d %r" % (rc, err))
	j = shown(out)
	check((j["uid"], j["euid"], j["gid"]) == (w.tuid, w.tuid, w.tgid),
	      "smtp check ran prog as %r" % j)
	check(j["cwd"] == "/", "smtp check changed directory to %r" % j["cwd"])
	rc, out, err, _ = w.run(creds("alice@" + D, ts=""), prog=["/bin/true"],
	                        service="smtp", as_user=me)
	check(rc == 0, "quail-smtpd-style smtp check: exit %d" % rc)
	for user, pw, want in [("alice", "nope", 1), ("carol", PW, 1),
	                       ("dave", PW, 1), ("zed", PW, 1),
	                       ("alice-x", PW, 1)]:
		rc, out, err, _ = w.run(creds(user + "@" + D, pw), service="smtp",
		                        prog=["/bin/true"], as_user=me)
		check(rc == want, "smtp check %s: exit %d, wanted %d" %
		      (user, rc, want))
	# other services get no such favour
	rc, out, err, _ = w.run(creds("bob@" + D), service="pop3", as_user=me)
	check(rc == 111, "pop3 for another uid, not root: exit %d" % rc)
	w.check_log_clean(("nope",))


def test_checkpassword_delay(fx):
	"""control authdelay: every failure waits; success does not; the
	default is 2 s."""
	w = World(fx)
	fx.write_control("authdelay", "1")
	for name, data in [("wrong password", creds("alice@" + D, "bad")),
	                   ("unknown user", creds("nobody@example.net", "bad")),
	                   ("disabled", creds("dave@" + D)),
	                   ("no login", creds("frank@" + D))]:
		rc, out, err, secs = w.run(data)
		check(rc == 1 and secs >= 1.0, "%s with authdelay 1: exit %d after "
		      "%.2fs" % (name, rc, secs))
		check(secs < 1.0 + 5, "%s took %.2fs" % (name, secs))
	rc, out, err, secs = w.run(creds("carol@" + D), service="smtp")
	check(rc == 1 and secs >= 1.0, "refused service: %d after %.2fs" %
	      (rc, secs))
	rc, out, err, secs = w.run(creds("alice@" + D))
	check(rc == 0 and secs < 1.0, "success with authdelay 1: exit %d after "
	      "%.2fs" % (rc, secs))
	os.unlink(os.path.join(fx.control, "authdelay"))
	rc, out, err, secs = w.run(creds("alice@" + D, "bad"))
	check(rc == 1 and 2.0 <= secs < 2.0 + 5,
	      "default delay: exit %d after %.2fs" % (rc, secs))
	fx.write_control("authdelay", "0")
	rc, out, err, secs = w.run(creds("alice@" + D, "bad"))
	check(rc == 1 and secs < 1.0, "authdelay 0: %.2fs" % secs)
	w.check_log_clean(("bad",))


def test_checkpassword_popup_style(fx):
	"""As qmail-popup runs it: fd 3 from a shell redirection, a program
	with arguments; and as quail-smtpd runs it (/bin/true)."""
	w = World(fx)
	line = "printf 'alice@%s\\000%s\\000<9.9@h>\\000' | %s id -u 3<&0" % (
		D, PW, CKPW)
	p = subprocess.run(["sh", "-c", line], env=w.env(QUAIL_SERVICE="imap"),
	                   capture_output=True, timeout=RUN_TIMEOUT, cwd="/")
	check(p.returncode == 0 and p.stdout.strip() == b"2000",
	      "popup style: %r" % (p,))
	line = "printf 'alice@%s\\000%s\\000\\000' | %s /bin/true 3<&0" % (
		D, PW, CKPW)
	p = subprocess.run(["sh", "-c", line], env=w.env(QUAIL_SERVICE="smtp"),
	                   capture_output=True, timeout=RUN_TIMEOUT, cwd="/")
	check(p.returncode == 0, "smtpd style: %r" % (p,))
	check(PW.encode() not in p.stderr, "password in the log")


# -- Another checkpassword program behind quail's clients ---------------

THIRD_USER = "ext@third.test"
THIRD_PW = "third party pw"

# What a minimal checkpassword from elsewhere looks like: it knows
# nothing of quail, reads fd 3, and execs the rest of its argv.
THIRD_SCRIPT = r"""#!/bin/sh
# checkpassword: fd 3 is login\0password\0timestamp\0
data=$(head -c 512 <&3 | tr '\000\n' '\n\001') || exit 2
user=$(printf '%s\n' "$data" | sed -n 1p)
pass=$(printf '%s\n' "$data" | sed -n 2p)
echo "third: service=${QUAIL_SERVICE-unset} user=$user" >&2
[ "$user" = "USER_HERE" ] && [ "$pass" = "PASS_HERE" ] || exit 1
USER=$user HOME=/ SHELL=/bin/sh
export USER HOME SHELL
exec "$@"
"""


def third_party(fx):
	path = os.path.join(fx.dir, "checkpassword.sh")
	with open(path, "w") as f:
		f.write(THIRD_SCRIPT.replace("USER_HERE", THIRD_USER)
		        .replace("PASS_HERE", THIRD_PW))
	os.chmod(path, 0o755)
	return path


def test_other_checkpassword_behind_smtpd(fx):
	"""quail-smtpd AUTH with a third-party-style checkpassword script."""
	harness.need_root()
	deliver_harness.need_programs(harness.SMTPD, harness.QUEUE_PROG)
	script = third_party(fx)
	s = test_auth.start_smtpd(fx, [script, "/bin/true"], AUTHPLAINTEXT="1")
	far = "someone@" + test_auth.FAR
	for mech in ("PLAIN", "LOGIN"):
		rc, out = test_auth.swaks(s, mech, THIRD_USER, THIRD_PW, to=far)
		check(rc == 0, "swaks --auth %s: exit %d\n%s" % (mech, rc,
		                                                   out[-1500:]))
		qid = test_auth.swaks_qid(out)
		check(b"(authenticated as %s)" % THIRD_USER.encode() in
		      fx.queue.message(qid), "no login in the Received field")
		rc, out = test_auth.swaks(s, mech, THIRD_USER, "wrong", to=far)
		check(rc == 28, "swaks --auth %s, wrong password: exit %d" %
		      (mech, rc))
	c = fx.client(s)
	c.cmd("MAIL FROM:<x@client.test>", 250)
	c.cmd("RCPT TO:<%s>" % far, 553, "5.7.1")
	c.cmd("RSET", 250)
	test_auth.auth_login(c, "someone@third.test", THIRD_PW, 535, "5.7.8")
	test_auth.auth_plain(c, THIRD_USER, THIRD_PW, 235, "2.7.0")
	c.cmd("MAIL FROM:<x@client.test>", 250)
	c.cmd("RCPT TO:<%s>" % far, 250)
	c.cmd("QUIT", 221)
	s.wait_all_ended()
	log = fx.logs()
	check("third: service=smtp user=%s" % THIRD_USER in log,
	      "the script did not see QUAIL_SERVICE=smtp: %r" % log[-800:])
	check(THIRD_PW not in log, "the password is in the log")
	s.check_clean()


def test_other_checkpassword_behind_popup(fx):
	"""quail-popup (USER/PASS) with the same script: it runs prog."""
	if not os.access(POPUP, os.X_OK):
		raise Skip("popd/quail-popup is not built")
	script = third_party(fx)
	prog = ["/bin/sh", "-c", 'printf "+OK prog user=%s\\r\\n" "$USER"']
	for pw, want in ((THIRD_PW, b"+OK prog user=" + THIRD_USER.encode()),
	                 ("wrong", b"-ERR [AUTH]")):
		talk = ("USER %s\r\nPASS %s\r\n" % (THIRD_USER, pw)).encode()
		p = subprocess.run([POPUP, "pop.test", script] + prog, input=talk,
		                   capture_output=True, timeout=RUN_TIMEOUT,
		                   env=dict(fx.env(), AUTHPLAINTEXT="1",
		                            TCPREMOTEIP=IP),
		                   start_new_session=True)
		lines = p.stdout.split(b"\r\n")
		check(lines[0].startswith(b"+OK"), "greeting %r" % p.stdout)
		check(any(l.startswith(want) for l in lines),
		      "PASS %r: wanted %r in %r (stderr %r)" %
		      (pw, want, p.stdout, p.stderr))
		check(b"third: service=pop3 user=" + THIRD_USER.encode() in p.stderr,
		      "the script's log: %r" % p.stderr)
		check(THIRD_PW.encode() not in p.stderr, "password in the log")
