"""Operations: rc/quail-setup, the supervised service tree and make run.

test_ops_daemontools and test_ops_runit run rc/quail-setup into a temp
root (free high ports on 127.0.0.1), start svscan or runsvdir on its
service tree, send with swaks through the MX and through submission
(AUTH PLAIN as a demo user), find the messages in the Maildirs and the
log lines in the log directories; then kill each service (svc -k, sv
kill) while a client keeps sending, and check that it came back with a
new pid and that every message the client saw accepted was delivered;
then read a message with poplib, over STLS on pop3 (after checking that
a login before STLS is refused) and over implicit TLS on pop3s, and
check it is the file in the Maildir; read it again with imaplib, over
STARTTLS on imap (after checking that the greeting says LOGINDISABLED
and a LOGIN before STARTTLS is refused) and over implicit TLS on imaps;
once stopped, no port answers.

test_ops_setup_idempotent runs quail-setup twice and checks that
configuration is kept and the second run changes nothing it should not.

test_ops_make_run starts `make run` with DEMO_PASSWORD and STATE set,
waits for state/demo.env and the ports, checks the greetings, sends one
message and reads it from the Maildir, over POP3 (STLS and pop3s) and
over IMAP (STARTTLS and imaps), trusting CAFILE, sends SIGINT to it as a terminal's Ctrl-C would, and
checks that no process of it is left and no port answers.

test_ops_shellcheck runs shellcheck on every script under rc/ and on
the run scripts quail-setup writes.

Every process started here is found afterwards by its command line,
environment or working directory naming the temp root, and killed.
"""

import imaplib
import os
import poplib
import pwd
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import harness
from harness import ROOT, Skip, check

SETUP = os.path.join(ROOT, "rc", "quail-setup")
DEMO = os.path.join(ROOT, "rc", "demo")
UP_TIMEOUT = 30           # s for a supervised service to answer
DELIVER_TIMEOUT = 30      # s for a message to reach its Maildir
STOP_TIMEOUT = 60         # s for make run to stop after SIGINT (sv -w 15, then waits; more under load)
PASSWORD = "ops test pw"
DOMAIN = "ops.quail.test"
# the services of the ports quail-setup --ports takes, in its order
PORT_SERVICES = ("smtpd", "submission", "smtps", "pop3", "pop3s", "imap",
                 "imaps")
DEMO_PORTS = ("SMTP_PORT", "SUBMIT_PORT", "SMTPS_PORT", "POP3_PORT",
              "POP3S_PORT", "IMAP_PORT", "IMAPS_PORT")
MAKE_RUN_PORTS = (2525, 2587, 2465, 2110, 2995, 2143, 2993)


# -- Processes of a root ----------------------------------------------------

def _read(path):
	try:
		with open(path, "rb") as f:
			return f.read()
	except OSError:
		return b""


def procs_under(root):
	"""Pids of live processes whose command line, environment or working
	directory names root."""
	key = root.encode()
	out = []
	for name in os.listdir("/proc"):
		if not name.isdigit() or int(name) == os.getpid():
			continue
		d = "/proc/" + name
		if _read(d + "/stat").split(b") ")[-1][:1] == b"Z":
			continue
		try:
			cwd = os.readlink(d + "/cwd").encode()
		except OSError:
			cwd = b""
		if key in _read(d + "/cmdline") or key in _read(d + "/environ") or \
		   cwd.startswith(key):
			out.append(int(name))
	return out


def kill_under(root):
	for _ in range(3):
		pids = procs_under(root)
		if not pids:
			return
		for pid in pids:
			try:
				os.kill(pid, signal.SIGKILL)
			except ProcessLookupError:
				pass
		time.sleep(0.2)


def wait_port(port, timeout=UP_TIMEOUT):
	end = time.time() + timeout
	while time.time() < end:
		try:
			socket.create_connection(("127.0.0.1", port), 1).close()
			return True
		except OSError:
			time.sleep(0.1)
	return False


def answers(port):
	try:
		socket.create_connection(("127.0.0.1", port), 1).close()
		return True
	except OSError:
		return False


def port_free(port):
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as tcpserver
	try:
		s.bind(("127.0.0.1", port))
		return True
	except OSError:
		return False
	finally:
		s.close()


# -- A quail root ---------------------------------------------------------------

class Root:
	"""rc/quail-setup run into a temp root, and its supervisor."""

	def __init__(self, fx, super):
		self.fx = fx
		self.super = super
		os.chmod(fx.dir, 0o755)        # the service users walk through it
		self.dir = os.path.join(fx.dir, "root")
		self.ports = []
		while len(self.ports) < len(PORT_SERVICES):
			port = harness.free_port()
			if port not in self.ports:
				self.ports.append(port)
		self.etc = os.path.join(self.dir, "etc", "quail")
		self.services = os.path.join(self.etc, "service")
		self.logs = os.path.join(self.dir, "var", "log", "quail")
		self.vmail = os.path.join(self.dir, "var", "vmail")
		self.proc = None
		fx.at_exit(self.stop)

	def setup(self, *extra):
		argv = ["sh", SETUP, "--root", self.dir, "--prefix", ROOT,
		        "--domain", DOMAIN, "--demo", "--ip", "127.0.0.1",
		        "--ports", ",".join(map(str, self.ports)),
		        "--" + self.super] + list(extra)
		return harness.run(argv, check_rc=0,
		                   env=dict(os.environ, DEMO_PASSWORD=PASSWORD))

	def start(self):
		argv = (["runsvdir", "-P", self.services] if self.super == "runit"
		        else ["svscan", self.services])
		self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
		                             stdout=subprocess.DEVNULL,
		                             stderr=subprocess.DEVNULL,
		                             start_new_session=True)
		for port in self.served_ports():
			check(wait_port(port), "port %d does not answer; logs:\n%s" %
			      (port, self.log_tail()))

	def served_ports(self):
		return [port for port, svc in zip(self.ports, PORT_SERVICES)
		        if os.path.isdir(os.path.join(self.services, svc))]

	def stop(self):
		if self.proc is None:
			return
		svcs = [os.path.join(self.services, s) for s in os.listdir(self.services)]
		if self.super == "runit":
			subprocess.run(["sv", "-w", "10", "force-stop"] + svcs,
			               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
			               timeout=30)
			self.proc.send_signal(signal.SIGHUP)
		else:
			self.proc.terminate()
			subprocess.run(["svc", "-dx"] + svcs +
			               [os.path.join(s, "log") for s in svcs],
			               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
		try:
			self.proc.wait(timeout=10)
		except subprocess.TimeoutExpired:
			pass
		time.sleep(0.5)
		kill_under(self.dir)
		self.proc = None

	def mails(self, user):
		"""The messages in new/ and cur/ (where POP3 moves them)."""
		return maildir_mails(os.path.join(self.vmail, user, "Maildir"))

	def wait_mail(self, user, marker, timeout=DELIVER_TIMEOUT):
		end = time.time() + timeout
		while time.time() < end:
			if any(marker.encode() in m for m in self.mails(user)):
				return
			time.sleep(0.1)
		raise harness.TestFailure("%s never reached %s; logs:\n%s" %
		                          (marker, user, self.log_tail()))

	def log_holds(self, svc, text=b"", timeout=UP_TIMEOUT):
		"""Whether the service's log/current is not empty and holds text,
		waiting for it: a line reaches current through the log service
		some time after the program wrote it (after the reply the client
		saw), and quail-send logs a delivery only after quail-local has
		put the file in the Maildir that wait_mail looks at."""
		path = os.path.join(self.logs, svc, "current")

		def holds():
			data = _read(path)
			return len(data) > 0 and text in data
		return harness.wait_for(holds, timeout)

	def log_tail(self):
		out = []
		for s in sorted(os.listdir(self.logs)) if os.path.isdir(self.logs) else []:
			text = _read(os.path.join(self.logs, s, "current"))
			out += ["%s: %s" % (s, line) for line in
			        text.decode("latin-1").splitlines()[-8:]]
		return "\n".join(out)

	def status_pid(self, svc):
		"""The pid of a running service, from svstat or sv status."""
		path = os.path.join(self.services, svc)
		cmd = ["sv", "status", path] if self.super == "runit" else \
		      ["svstat", path]
		out = subprocess.run(cmd, stdout=subprocess.PIPE,
		                     stderr=subprocess.STDOUT).stdout.decode()
		m = re.search(r"up \(pid (\d+)\)|run: \S+: \(pid (\d+)\)", out)
		return int(m.group(1) or m.group(2)) if m else None

	def kill(self, svc):
		path = os.path.join(self.services, svc)
		cmd = ["sv", "kill", path] if self.super == "runit" else \
		      ["svc", "-k", path]
		subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)


def maildir_mails(maildir):
	out = []
	for sub in ("new", "cur"):
		d = os.path.join(maildir, sub)
		if os.path.isdir(d):
			out += [_read(os.path.join(d, n)) for n in sorted(os.listdir(d))]
	return out


def swaks(port, to, marker, auth=None, sender="someone@client.test"):
	argv = ["swaks", "--server", "127.0.0.1:%d" % port, "--from", sender,
	        "--to", to, "--header", "Subject: " + marker,
	        "--body", "body of " + marker, "--timeout", "20"]
	if auth:
		argv += ["--auth", "PLAIN", "--auth-user", auth[0],
		         "--auth-password", auth[1]]
	p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
	                   timeout=60)
	out = p.stdout.decode("latin-1")
	check(p.returncode == 0 and "<-  250 2.0.0 ok" in out,
	      "swaks to port %d failed (%d):\n%s" % (port, p.returncode, out[-1500:]))
	return out


def send_tls(port, to, marker, auth, implicit, cafile):
	"""One message with AUTH over STARTTLS or implicit TLS (python's
	smtplib: swaks needs Net::SSLeay for TLS)."""
	ctx = ssl.create_default_context(cafile=cafile)
	ctx.check_hostname = False
	msg = "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nbody of %s\r\n" % (
		auth[0], to, marker, marker)
	if implicit:
		s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=20, context=ctx)
	else:
		s = smtplib.SMTP("127.0.0.1", port, timeout=20)
		s.starttls(context=ctx)
	with s:
		s.login(auth[0], auth[1])
		s.sendmail(auth[0], [to], msg)


def submit(root_etc, ports, to, marker, auth):
	"""Through submission, with STARTTLS when quail-tlsd is there; and
	through smtps too, when it is."""
	cafile = os.path.join(root_etc, "tls", "cert.pem")
	if not os.path.isdir(os.path.join(root_etc, "service", "smtps")):
		swaks(ports[1], to, marker, auth=auth, sender=auth[0])
		return
	send_tls(ports[1], to, marker, auth, False, cafile)
	send_tls(ports[2], to, marker + "-smtps", auth, True, cafile)


def pop_find(p, marker):
	"""The message with marker in its header, as RETR gives it, with LF
	line ends (TOP finds it: each RETR would send a whole message)."""
	for n in range(1, p.stat()[0] + 1):
		if any(marker.encode() in line for line in p.top(n, 0)[1]):
			return b"".join(line + b"\n" for line in p.retr(n)[1])
	raise harness.TestFailure("%s not found over POP3" % marker)


def pop_read(etc, ports, user, password, marker, maildir):
	"""Reads the message holding marker over pop3 (STLS, and a login
	before it refused) and over pop3s, trusting the setup's certificate,
	and checks it is the Maildir's file. Nothing when there is no pop3."""
	services = os.path.join(etc, "service")
	if not os.path.isdir(os.path.join(services, "pop3")):
		return
	pop3, pop3s = ports
	stored = [m for m in maildir_mails(maildir) if marker.encode() in m]
	check(len(stored) == 1, "%d messages hold %s" % (len(stored), marker))
	if not os.path.isdir(os.path.join(services, "pop3s")):
		p = poplib.POP3("127.0.0.1", pop3, timeout=20)
		p.user(user)
		p.pass_(password)
		check(pop_find(p, marker) == stored[0], "pop3 RETR differs")
		p.quit()
		return
	ctx = ssl.create_default_context(cafile=os.path.join(etc, "tls",
	                                                     "cert.pem"))
	p = poplib.POP3("127.0.0.1", pop3, timeout=20)
	check("STLS" in p.capa(), "pop3 does not offer STLS")
	try:
		p.user(user)
		refused = False
	except poplib.error_proto as e:
		refused = b"STLS" in e.args[0]
	check(refused, "pop3 takes USER before STLS")
	p.stls(context=ctx)
	p.user(user)
	p.pass_(password)
	check(pop_find(p, marker) == stored[0], "pop3 (STLS) RETR differs")
	p.quit()
	p = poplib.POP3_SSL("127.0.0.1", pop3s, timeout=20, context=ctx)
	p.user(user)
	p.pass_(password)
	check(pop_find(p, marker) == stored[0], "pop3s RETR differs")
	p.quit()


def imap_find(m, marker):
	"""The message with marker in its Subject in the INBOX, as BODY[]
	gives it, with LF line ends; PEEK, so it stays unseen."""
	typ, d = m.select("INBOX")
	check(typ == "OK", "SELECT INBOX: %r" % d)
	typ, d = m.search(None, "SUBJECT", '"%s"' % marker)
	check(typ == "OK" and len(d[0].split()) == 1,
	      "SEARCH SUBJECT %s: %r" % (marker, d))
	typ, d = m.fetch(d[0].decode(), "(BODY.PEEK[])")
	check(typ == "OK" and isinstance(d[0], tuple), "FETCH: %r" % d)
	return d[0][1].replace(b"\r\n", b"\n")


def prog_uids(root):
	"""{program name: set of uids} of the live processes of root."""
	out = {}
	for pid in procs_under(root):
		argv0 = _read("/proc/%d/cmdline" % pid).split(b"\0")[0]
		m = re.search(rb"^Uid:\s+(\d+)", _read("/proc/%d/status" % pid), re.M)
		if argv0 and m:
			out.setdefault(os.path.basename(argv0).decode(), set()).add(
				int(m.group(1)))
	return out


def check_imap_users(etc):
	"""As root, with a session logged in: quail-imapd (both stages) runs
	as quailv only, quail-tlsd as quailt only."""
	if os.geteuid() != 0:
		return
	uids = prog_uids(os.path.dirname(os.path.dirname(etc)))
	want = {"quail-imapd": pwd.getpwnam("quailv").pw_uid,
	        "quail-tlsd": pwd.getpwnam("quailt").pw_uid}
	for prog, uid in want.items():
		check(uids.get(prog) == {uid}, "%s runs as %r, not %d only (%r)" %
		      (prog, uids.get(prog), uid, uids))


def imap_read(etc, ports, user, password, marker, maildir):
	"""Reads the message holding marker over imap (STARTTLS, and a
	login before it refused) and over imaps, trusting the setup's
	certificate, and checks it is the Maildir's file. Nothing when there
	is no imap."""
	services = os.path.join(etc, "service")
	if not os.path.isdir(os.path.join(services, "imap")):
		return
	imap, imaps = ports
	stored = [m for m in maildir_mails(maildir) if marker.encode() in m]
	check(len(stored) == 1, "%d messages hold %s" % (len(stored), marker))
	if not os.path.isdir(os.path.join(services, "imaps")):
		m = imaplib.IMAP4("127.0.0.1", imap, timeout=20)
		m.login(user, password)
		check(imap_find(m, marker) == stored[0], "imap FETCH differs")
		m.logout()
		return
	ctx = ssl.create_default_context(cafile=os.path.join(etc, "tls",
	                                                     "cert.pem"))
	m = imaplib.IMAP4("127.0.0.1", imap, timeout=20)
	check("STARTTLS" in m.capabilities and
	      "LOGINDISABLED" in m.capabilities and
	      "AUTH=PLAIN" not in m.capabilities,
	      "imap capabilities before TLS: %r" % (m.capabilities,))
	try:
		m.login(user, password)
		refused = False
	except imaplib.IMAP4.error:
		refused = True
	check(refused, "imap takes LOGIN before STARTTLS")
	m.starttls(ssl_context=ctx)
	check("LOGINDISABLED" not in m.capabilities and
	      "STARTTLS" not in m.capabilities,
	      "imap capabilities in TLS: %r" % (m.capabilities,))
	m.login(user, password)
	check(imap_find(m, marker) == stored[0], "imap (STARTTLS) FETCH differs")
	check_imap_users(etc)
	m.logout()
	m = imaplib.IMAP4_SSL("127.0.0.1", imaps, timeout=20, ssl_context=ctx)
	m.login(user, password)
	check(imap_find(m, marker) == stored[0], "imaps FETCH differs")
	m.logout()


class Traffic(threading.Thread):
	"""Sends one message after another to the MX until stopped, keeping
	the markers of those accepted with 250. Refusals and broken
	connections while a service restarts are expected and retried."""

	def __init__(self, port, rcpt):
		super().__init__(daemon=True)
		self.port = port
		self.rcpt = rcpt
		self.accepted = []
		self.failures = 0
		self.halt = threading.Event()

	def run(self):
		n = 0
		while not self.halt.is_set():
			n += 1
			marker = "traffic-%d-%d" % (os.getpid(), n)
			msg = ("From: <a@client.test>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n"
			       "%s\r\n" % (self.rcpt, marker, marker))
			try:
				with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
					s.sendmail("a@client.test", [self.rcpt], msg)
				self.accepted.append(marker)
			except (OSError, smtplib.SMTPException):
				self.failures += 1
				time.sleep(0.05)


def ops_world(fx, super):
	if super == "daemontools" and not os.path.exists("/usr/bin/svscan"):
		raise Skip("no svscan")
	if super == "runit" and not os.path.exists("/usr/bin/runsvdir"):
		raise Skip("no runsvdir")
	r = Root(fx, super)
	r.setup()
	r.start()
	smtp = r.ports[0]
	user1, user2 = "alice@" + DOMAIN, "bob@" + DOMAIN

	# the MX, and submission with AUTH
	swaks(smtp, user1, "via-mx")
	r.wait_mail(user1, "via-mx")
	for svc in ("smtpd", "send"):
		current = os.path.join(r.logs, svc, "current")
		check(r.log_holds(svc), "no log in %s" % current)
	check(r.log_holds("smtpd", b"event=accepted"),
	      "smtpd log has no event=accepted")
	check(r.log_holds("send", b"event=delivery"),
	      "send log has no event=delivery")

	# kill each service mid-traffic
	t = Traffic(smtp, user1)
	t.start()
	try:
		killed = sorted(os.listdir(r.services))
		if os.access(os.path.join(ROOT, "imapd", "quail-imapd"), os.X_OK):
			check("imap" in killed and "imaps" in killed,
			      "no imap or imaps service: %r" % killed)
		for svc in killed:
			time.sleep(0.5)
			before = r.status_pid(svc)
			check(before, "%s is not up" % svc)
			r.kill(svc)
			end = time.time() + UP_TIMEOUT
			while time.time() < end:
				after = r.status_pid(svc)
				if after and after != before:
					break
				time.sleep(0.1)
			check(after and after != before,
			      "%s did not restart (pid %s)" % (svc, before))
		for port in r.served_ports():
			check(wait_port(port), "port %d did not come back" % port)
		time.sleep(1)
	finally:
		t.halt.set()
		t.join(30)
	check(len(t.accepted) >= 5, "only %d messages accepted during the kills"
	      % len(t.accepted))
	end = time.time() + DELIVER_TIMEOUT
	while time.time() < end:
		got = b"".join(r.mails(user1))
		lost = [m for m in t.accepted if m.encode() not in got]
		if not lost:
			break
		time.sleep(0.2)
	check(not lost, "%d of %d accepted messages lost: %s; logs:\n%s" %
	      (len(lost), len(t.accepted), lost[:5], r.log_tail()))
	# submission (and smtps) last: they need AUTH, and with quail-tlsd TLS
	submit(r.etc, r.ports, user2, "via-submission", (user1, PASSWORD))
	r.wait_mail(user2, "via-submission")
	check(r.log_holds("submission"), "no submission log")
	# POP3, after the kills: both ports came back
	pop_read(r.etc, r.ports[3:5], user1, PASSWORD, "via-mx",
	         os.path.join(r.vmail, user1, "Maildir"))
	if os.path.isdir(os.path.join(r.services, "pop3")):
		check(r.log_holds("pop3", b"event=login"),
		      "pop3 log has no event=login")
	# IMAP, after the kills too
	imap_read(r.etc, r.ports[5:7], user1, PASSWORD, "via-mx",
	          os.path.join(r.vmail, user1, "Maildir"))
	for svc in ("imap", "imaps"):
		if os.path.isdir(os.path.join(r.services, svc)):
			check(r.log_holds(svc, b"event=session"),
			      "%s log has no event=session" % svc)
	r.stop()
	check(not procs_under(r.dir), "processes left: %s" % procs_under(r.dir))
	busy = [port for port in r.ports if answers(port)]
	check(not busy, "ports still answer after the stop: %s" % busy)


def test_ops_daemontools(fx):
	ops_world(fx, "daemontools")


def test_ops_runit(fx):
	ops_world(fx, "runit")


test_ops_daemontools.timeout = 180
test_ops_runit.timeout = 180


def test_ops_setup_idempotent(fx):
	r = Root(fx, "daemontools")
	r.setup()
	control = os.path.join(r.etc, "control", "me")
	with open(control, "w") as f:
		f.write("edited.example\n")
	cert = _read(os.path.join(r.etc, "tls", "cert.pem"))
	users = _read(os.path.join(r.etc, "users"))
	out = r.setup().decode()
	check(_read(control) == b"edited.example\n", "control/me was overwritten")
	check(_read(os.path.join(r.etc, "users")) == users,
	      "the same DEMO_PASSWORD rewrote the users")
	check(_read(os.path.join(r.etc, "tls", "cert.pem")) == cert,
	      "the certificate was replaced")
	check("wrote " + control not in out, "second run says it wrote me")
	# without DEMO_PASSWORD the demo users stay as they are
	harness.run(["sh", SETUP, "--root", r.dir, "--prefix", ROOT, "--domain",
	             DOMAIN, "--demo", "--ports", "high"], check_rc=0,
	            env={k: v for k, v in os.environ.items() if k != "DEMO_PASSWORD"})
	check(_read(os.path.join(r.etc, "users")) == users, "users changed")
	out = r.setup("--force").decode()
	check(_read(control) != b"edited.example\n", "--force kept control/me")
	p = subprocess.run(["sh", SETUP, "--bogus"], stdout=subprocess.PIPE,
	                   stderr=subprocess.PIPE)
	check(p.returncode == 100, "bad usage exited %d" % p.returncode)


def test_ops_make_run(fx):
	for port in MAKE_RUN_PORTS:
		if not port_free(port):
			raise Skip("port %d is busy (another make run?)" % port)
	os.chmod(fx.dir, 0o755)
	state = os.path.join(fx.dir, "state")
	out = open(os.path.join(fx.dir, "make-run.out"), "wb")
	env = dict(os.environ, STATE=state, DEMO_PASSWORD=PASSWORD)
	p = subprocess.Popen(["make", "-s", "run"], cwd=ROOT, env=env,
	                     stdin=subprocess.DEVNULL, stdout=out,
	                     stderr=subprocess.STDOUT, start_new_session=True)
	out.close()

	def cleanup():
		if p.poll() is None:
			os.killpg(p.pid, signal.SIGKILL)
			p.wait()
		kill_under(state)
	fx.at_exit(cleanup)

	def output():
		return _read(os.path.join(fx.dir, "make-run.out")).decode("latin-1")

	envfile = os.path.join(state, "demo.env")
	end = time.time() + 300            # make may build first
	while time.time() < end and "is running" not in output():
		check(p.poll() is None, "make run exited %s:\n%s" %
		      (p.returncode, output()[-2000:]))
		time.sleep(0.2)
	check("is running" in output(), "make run did not start:\n%s" %
	      output()[-2000:])
	demo = {}
	for line in _read(envfile).decode().splitlines():
		k, v = line.split("=", 1)
		demo[k] = v.strip("'")
	for k in DEMO_PORTS + ("DOMAIN", "USER1", "PASS1", "USER2", "PASS2",
	                       "CAFILE", "QUEUE_DIR", "MAILDIR_OF"):
		check(k in demo, "demo.env lacks %s" % k)
	check(demo["PASS1"] == PASSWORD and demo["PASS2"] == PASSWORD,
	      "DEMO_PASSWORD not used")
	check(os.path.isfile(demo["CAFILE"]), "no CAFILE")

	for key in ("SMTP_PORT", "SUBMIT_PORT"):
		c = harness.Client(int(demo[key]))
		r = c.reply(enhanced=False)
		c.close()
		check(r.code == 220, "port %s greets %r" % (demo[key], r))
	if os.path.isdir(os.path.join(state, "etc/quail/service/smtps")):
		ctx = ssl.create_default_context(cafile=demo["CAFILE"])
		ctx.check_hostname = False
		with socket.create_connection(("127.0.0.1", int(demo["SMTPS_PORT"])),
		                              10) as raw:
			with ctx.wrap_socket(raw) as s:
				check(s.recv(100).startswith(b"220"), "smtps greeting")
	services = os.path.join(state, "etc", "quail", "service")
	if os.path.isdir(os.path.join(services, "pop3")):
		with socket.create_connection(("127.0.0.1", int(demo["POP3_PORT"])),
		                              10) as s:
			check(s.recv(100).startswith(b"+OK"), "pop3 greeting")
	if os.path.isdir(os.path.join(services, "pop3s")):
		ctx = ssl.create_default_context(cafile=demo["CAFILE"])
		with socket.create_connection(("127.0.0.1", int(demo["POP3S_PORT"])),
		                              10) as raw:
			with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
				check(s.recv(100).startswith(b"+OK"), "pop3s greeting")
	if os.path.isdir(os.path.join(services, "imap")):
		with socket.create_connection(("127.0.0.1", int(demo["IMAP_PORT"])),
		                              10) as s:
			check(s.recv(200).startswith(b"* OK"), "imap greeting")
	if os.path.isdir(os.path.join(services, "imaps")):
		ctx = ssl.create_default_context(cafile=demo["CAFILE"])
		with socket.create_connection(("127.0.0.1", int(demo["IMAPS_PORT"])),
		                              10) as raw:
			with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
				check(s.recv(200).startswith(b"* OK"), "imaps greeting")

	swaks(int(demo["SMTP_PORT"]), demo["USER1"], "make-run-mx")
	submit(os.path.join(state, "etc", "quail"),
	       [int(demo[k]) for k in ("SMTP_PORT", "SUBMIT_PORT", "SMTPS_PORT")],
	       demo["USER2"], "make-run-submit", (demo["USER1"], demo["PASS1"]))
	maildirs = {}
	for user, marker in ((demo["USER1"], "make-run-mx"),
	                     (demo["USER2"], "make-run-submit")):
		maildir = subprocess.run(demo["MAILDIR_OF"].replace("%u", user),
		                         shell=True, stdout=subprocess.PIPE
		                         ).stdout.decode().strip()
		maildirs[user] = maildir
		new = os.path.join(maildir, "new")
		end = time.time() + DELIVER_TIMEOUT
		found = False
		while time.time() < end and not found:
			if os.path.isdir(new):
				found = any(marker.encode() in _read(os.path.join(new, n))
				            for n in os.listdir(new))
			time.sleep(0.1)
		check(found, "%s not in %s" % (marker, new))
	pop_read(os.path.join(state, "etc", "quail"),
	         (int(demo["POP3_PORT"]), int(demo["POP3S_PORT"])), demo["USER1"],
	         demo["PASS1"], "make-run-mx", maildirs[demo["USER1"]])
	imap_read(os.path.join(state, "etc", "quail"),
	          (int(demo["IMAP_PORT"]), int(demo["IMAPS_PORT"])), demo["USER1"],
	          demo["PASS1"], "make-run-mx", maildirs[demo["USER1"]])
	# relays for nobody, not even 127.0.0.1
	c = harness.Client(int(demo["SMTP_PORT"]))
	c.ehlo()
	c.cmd("MAIL FROM:<a@client.test>", 250)
	c.cmd("RCPT TO:<x@elsewhere.example>", 553)
	c.close()

	os.killpg(p.pid, signal.SIGINT)     # the terminal's Ctrl-C
	try:
		p.wait(STOP_TIMEOUT)
	except subprocess.TimeoutExpired:
		raise harness.TestFailure("make run did not stop after SIGINT")
	end = time.time() + 10
	while time.time() < end and procs_under(state):
		time.sleep(0.2)
	left = procs_under(state)
	check(not left, "processes left after SIGINT: %s" %
	      [_read("/proc/%d/cmdline" % pid) for pid in left])
	busy = [demo[k] for k in DEMO_PORTS if answers(int(demo[k]))]
	check(not busy, "ports still answer after SIGINT: %s" % busy)
	check("demo stopped" in output(), "no stop message")


test_ops_make_run.timeout = 400


def test_ops_shellcheck(fx):
	if not os.path.exists("/usr/bin/shellcheck"):
		raise Skip("no shellcheck")
	scripts = [os.path.join(ROOT, "rc", n) for n in sorted(os.listdir(
		os.path.join(ROOT, "rc"))) if _read(os.path.join(ROOT, "rc", n)
	                                          ).startswith(b"#!/bin/sh")]
	for super in ("daemontools", "runit"):
		r = Root(fx, super)
		r.dir = os.path.join(fx.dir, "root-" + super)
		r.etc = os.path.join(r.dir, "etc", "quail")
		r.services = os.path.join(r.etc, "service")
		r.setup()
		for s in sorted(os.listdir(r.services)):
			scripts.append(os.path.join(r.services, s, "run"))
			scripts.append(os.path.join(r.services, s, "log", "run"))
	p = subprocess.run(["shellcheck", "-s", "sh"] + scripts,
	                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
	check(p.returncode == 0, "shellcheck:\n%s" % p.stdout.decode()[-3000:])
