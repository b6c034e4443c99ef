"""quail-smtpd behind quail-tlsd, under the real tcpserver on 127.0.0.1.

STARTTLS (`quail-tlsd -n quail-smtpd quail-checkpassword /bin/true`,
UCSPITLS "" or "!") and implicit TLS (quail-tlsd without -n, as on port
465), with the test CA and certificates test_tls makes with openssl and
the users file test_auth builds with quail-users. Clients: smtplib and
python ssl verifying against the test CA (server_hostname is the
certificate's name while the socket goes to 127.0.0.1), harness.Client
wrapped in TLS after STARTTLS, openssl s_client and swaks.

What is checked: the EHLO lists before and after TLS (STARTTLS, AUTH),
538 5.7.11 for AUTH before TLS, 530 5.7.0 for MAIL before STARTTLS under
UCSPITLS=!, 502 5.5.1 for STARTTLS when not offered or already in TLS,
the session state forgotten after STARTTLS, the Received protocol
(ESMTPS, ESMTPSA), TLS 1.0/1.1 refused and 1.2/1.3 taken, and command
injection (CVE-2011-0411): commands pipelined after STARTTLS are never
answered or executed, whether quail-smtpd had read them (it discards
them) or they were left on the socket (quail-tlsd takes them as a bad
ClientHello).
"""

import os
import re
import smtplib
import socket
import ssl
import subprocess

import harness
from harness import check, expect, TestFailure
import test_auth as auth
import test_tls as tls

NAME = tls.NAMES[0]             # the certificate's name, sent as SNI
RCPT = "rcpt@example.test"      # in rcpthosts: no AUTH needed
FAR = "someone@" + auth.FAR     # relaying there needs AUTH
SENDER = "sender@client.test"
HANDSHAKE_TIMEOUT = 5           # quail-tlsd -t for these tests
QUIET = 1.0                     # seconds of silence that mean "no reply"
WRONG_CA = "/etc/ssl/certs/ca-certificates.crt"


# -- servers --------------------------------------------------------------

def world(fx):
	"""Root, the programs, the PKI, the TLS user, the users file and the
	queue; returns the test_auth World."""
	harness.need_root()
	auth.deliver_harness.need_programs(tls.TLSD, harness.SMTPD,
	                                   harness.QUEUE_PROG, auth.CKPW)
	w = auth.World(fx)
	tls.setup(fx)
	tls.tls_user()
	if not os.path.isdir(os.path.join(fx.queue.path, "mess")):
		fx.queue.create()
	return w


def server(fx, w, starttls=True, **env):
	"""tcpserver -> quail-tlsd [-n] -> quail-smtpd quail-checkpassword
	/bin/true, with the users cdb; AUTHPLAINTEXT unset. env None values
	are left out (UCSPITLS=None: no UCSPITLS at all)."""
	e = {"QUAIL_USERDB": w.userdb}
	if starttls:
		e["UCSPITLS"] = ""
	e.update(env)
	e = {k: v for k, v in e.items() if v is not None}
	opts = (["-n"] if starttls else []) + ["-t", str(HANDSHAKE_TIMEOUT)]
	return tls.TlsServer(fx, opts, [harness.SMTPD, auth.CKPW, "/bin/true"],
	                     env=e, name="smtptls" if starttls else "smtps")


def ctx(fx, version=None):
	"""A client context verifying against the test CA (and the name)."""
	c = tls.client_ctx(fx)
	if version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
		# the client's own OpenSSL would refuse these first
		c.set_ciphers("ALL:@SECLEVEL=0")
		c.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
	if version:
		c.maximum_version = version
		if version >= ssl.TLSVersion.TLSv1_2:
			c.minimum_version = version
	return c


class SMTP(smtplib.SMTP):
	"""smtplib.SMTP to 127.0.0.1 that verifies the certificate for the
	host name it was given (NAME does not resolve)."""

	def _get_socket(self, host, port, timeout):
		return socket.create_connection(("127.0.0.1", port), timeout)


class SMTPS(smtplib.SMTP_SSL):
	def _get_socket(self, host, port, timeout):
		s = socket.create_connection(("127.0.0.1", port), timeout)
		return self.context.wrap_socket(s, server_hostname=self._host)


def smtp(fx, srv, cls=SMTP, **kw):
	s = cls(NAME, srv.port, timeout=harness.CMD_TIMEOUT, **kw)
	fx.at_exit(s.close)
	return s


def starttls(fx, c, version=None):
	"""STARTTLS on a harness.Client after EHLO; wraps its socket."""
	c.cmd("STARTTLS", 220, "2.0.0")
	check(c.buf == b"", "bytes after the 220 to STARTTLS: %r" % c.buf)
	c.sock = ctx(fx, version).wrap_socket(c.sock, server_hostname=NAME)
	return c.sock


def caps(r):
	"""The EHLO keywords, upper case, with their parameters."""
	return [line.upper() for line in r.lines[1:]]


def qid_of(code, msg):
	check(code == 250, "DATA: %d %r" % (code, msg))
	m = re.match(rb"2\.0\.0 ok (\d+)", msg)
	check(m, "DATA reply %r has no queue ID" % msg)
	return int(m.group(1))


def received(fx, qid):
	return harness.received_header(fx.queue.message(qid)).decode("latin-1")


def check_with(fx, qid, proto):
	rec = received(fx, qid)
	check(re.search(r"\bwith %s\b" % proto, rec),
	      "message %d: Received says %r, wanted with %s" % (qid, rec, proto))
	return rec


def no_more_plaintext(sock, seconds=QUIET):
	"""Nothing more arrives on the socket for a while (and it is not
	closed with data pending)."""
	sock.settimeout(seconds)
	try:
		got = sock.recv(4096, socket.MSG_PEEK)
	except socket.timeout:
		return
	except ConnectionResetError:
		return
	finally:
		sock.settimeout(harness.CMD_TIMEOUT)
	check(not got, "plaintext after the 220 to STARTTLS: %r" % got)


def smtpd_lines(srv, event):
	return [line for line in srv.log().splitlines()
	        if line.startswith("quail-smtpd: ") and " event=%s " % event
	        in line + " "]


def check_clean(srv):
	"""No session died by a signal; no fatal line from anyone."""
	for st in srv.exits():
		check(st & 0x7f == 0, "a session died by signal %d" % (st & 0x7f))
	for line in srv.log().splitlines():
		check(": fatal:" not in line, "unexpected log line: %s" % line)


def send_message(s, sender, rcpt, subject):
	"""MAIL, RCPT, DATA through smtplib; returns the queue ID."""
	code, msg = s.mail(sender)
	check(code == 250, "MAIL: %d %r" % (code, msg))
	code, msg = s.rcpt(rcpt)
	check(code == 250, "RCPT: %d %r" % (code, msg))
	return qid_of(*s.data(harness.text_message(subject, ["over TLS"])))


# -- STARTTLS ---------------------------------------------------------------

def test_smtp_tls_starttls_auth(fx):
	"""UCSPITLS="": STARTTLS offered and AUTH refused (538 5.7.11) before
	TLS; after a verified handshake STARTTLS is gone, AUTH PLAIN LOGIN
	is offered, the old EHLO is forgotten, PLAIN and LOGIN work and the
	message relayed is queued "with ESMTPSA"."""
	w = world(fx)
	srv = server(fx, w)

	s = smtp(fx, srv)
	code, _ = s.ehlo("client.test")
	check(code == 250, "EHLO %d" % code)
	check(s.has_extn("starttls"), "no STARTTLS before TLS: %r" %
	      s.esmtp_features)
	check(not s.has_extn("auth"), "AUTH offered in plaintext: %r" %
	      s.esmtp_features)
	code, msg = s.docmd("AUTH", "PLAIN " + auth.plain(auth.ALICE,
	                                                  auth.PASSWORD))
	check((code, msg[:6]) == (538, b"5.7.11"), "AUTH before TLS: %d %r" %
	      (code, msg))
	code, msg = s.starttls(context=ctx(fx))
	check(code == 220 and msg.startswith(b"2.0.0"), "STARTTLS: %d %r" %
	      (code, msg))
	check(s.sock.version() in ("TLSv1.2", "TLSv1.3"), s.sock.version())
	cert = dict(x[0] for x in s.sock.getpeercert()["subject"])
	check(cert["commonName"] == NAME, "certificate %r" % cert)
	# RFC 3207 4.2: the EHLO from before TLS is forgotten
	code, msg = s.docmd("MAIL", "FROM:<%s>" % SENDER)
	check((code, msg[:5]) == (503, b"5.5.1"),
	      "MAIL right after STARTTLS: %d %r" % (code, msg))
	code, _ = s.ehlo("client.test")
	check(code == 250, "EHLO in TLS %d" % code)
	check(not s.has_extn("starttls"), "STARTTLS offered in TLS: %r" %
	      s.esmtp_features)
	check(s.esmtp_features.get("auth", "").upper().split() ==
	      ["PLAIN", "LOGIN"], "AUTH in TLS: %r" % s.esmtp_features)
	code, msg = s.login(auth.ALICE, auth.PASSWORD)
	check((code, msg[:5]) == (235, b"2.7.0"), "login: %d %r" % (code, msg))
	qid = send_message(s, auth.ALICE, FAR, "starttls auth")
	s.quit()
	rec = check_with(fx, qid, "ESMTPSA")
	check("(authenticated as %s)" % auth.ALICE in rec, rec)
	check(fx.queue.envelope(qid).rcpts == [("-", FAR)],
	      "envelope %r" % fx.queue.envelope(qid).rcpts)

	# LOGIN, a wrong password, and relaying refused without AUTH
	c = fx.client(srv)
	starttls(fx, c)
	r = c.cmd("EHLO client.test", 250)
	check("AUTH PLAIN LOGIN" in caps(r) and "STARTTLS" not in caps(r),
	      "EHLO in TLS: %r" % r)
	c.cmd("MAIL FROM:<%s>" % SENDER, 250, "2.1.0")
	c.cmd("RCPT TO:<%s>" % FAR, 553, "5.7.1")
	c.cmd("RSET", 250)
	auth.auth_login(c, auth.ALICE, auth.PASSWORD + "x", 535, "5.7.8")
	auth.auth_login(c, auth.ALICE, auth.PASSWORD, 235, "2.7.0")
	c.cmd("QUIT", 221)
	c.close()

	srv.wait_sessions(2)
	check(len(smtpd_lines(srv, "starttls")) == 2, srv.log())
	ok = srv.lines("tls")
	check(len(ok) == 2 and all("result=ok" in l for l in ok),
	      "quail-tlsd lines %r" % ok)
	check(srv.exits() == [0, 0], "exits %r" % srv.exits())
	auth.check_no_secret(fx)
	check_clean(srv)
	srv.no_leftovers()


test_smtp_tls_starttls_auth.timeout = 90


def test_smtp_tls_required(fx):
	"""UCSPITLS="!": MAIL and AUTH before STARTTLS are refused; after
	it, mail is taken and queued "with ESMTPS"."""
	w = world(fx)
	srv = server(fx, w, UCSPITLS="!")
	c = fx.client(srv, ehlo=False)
	c.greet()
	r = c.cmd("EHLO client.test", 250)
	check("STARTTLS" in caps(r), "EHLO before TLS: %r" % r)
	check(not [x for x in caps(r) if x.startswith("AUTH")], "AUTH: %r" % r)
	c.cmd("MAIL FROM:<%s>" % SENDER, 530, "5.7.0")
	c.cmd("AUTH PLAIN " + auth.plain(auth.ALICE, auth.PASSWORD), 538, "5.7.11")
	c.cmd("RCPT TO:<%s>" % RCPT, 503, "5.5.1")
	starttls(fx, c)
	c.cmd("EHLO client.test", 250)
	data = harness.text_message("required", ["after STARTTLS"])
	qid = harness.accepted_id(c.transaction(SENDER, [RCPT], data))
	c.cmd("QUIT", 221)
	harness.check_queued(fx, qid, SENDER, [RCPT], data)
	check_with(fx, qid, "ESMTPS")
	srv.wait_sessions(1)
	check(srv.exits() == [0], "exits %r" % srv.exits())
	check_clean(srv)


def test_smtp_tls_not_offered(fx):
	"""STARTTLS is 502 5.5.1 when not offered: plain tcpserver (no
	wrapper), UCSPITLS "" without the descriptors, quail-tlsd -n with
	UCSPITLS unset or "-"; and a second STARTTLS inside TLS."""
	w = world(fx)
	plain = fx.smtpd(UCSPITLS="")          # no SSL*FD: nothing to offer
	bare = server(fx, w, UCSPITLS=None)
	dash = server(fx, w, UCSPITLS="-")
	for srv in (plain, bare, dash):
		c = fx.client(srv, ehlo=False)
		c.greet()
		r = c.cmd("EHLO client.test", 250)
		check("STARTTLS" not in caps(r), "port %d EHLO: %r" % (srv.port, r))
		c.cmd("STARTTLS", 502, "5.5.1")
		c.cmd("NOOP", 250)          # still plaintext, still in step
		c.cmd("QUIT", 221)
		c.close()

	srv = server(fx, w)
	c = fx.client(srv)
	starttls(fx, c)
	r = c.cmd("EHLO client.test", 250)
	check("STARTTLS" not in caps(r), "EHLO in TLS: %r" % r)
	c.cmd("STARTTLS", 502, "5.5.1")
	c.cmd("NOOP", 250)
	c.cmd("QUIT", 221)
	srv.wait_sessions(1)
	check(srv.exits() == [0], "exits %r" % srv.exits())
	for s in (bare, dash):
		s.wait_sessions(1)
		check(s.exits() == [0], "exits %r" % s.exits())
		check(not s.lines("tls") and not s.lines("handshake"),
		      "quail-tlsd stepped in: %s" % s.log())
	plain.wait_all_ended()
	plain.check_clean()


def test_smtp_tls_injection(fx):
	"""CVE-2011-0411: commands pipelined after STARTTLS are never run.
	(a) EHLO, STARTTLS, RSET in one write: quail-smtpd has read RSET and
	must discard it, so the handshake works and the first reply inside
	TLS is to the first command sent inside TLS. (b) STARTTLS then MAIL
	in one write: no transaction exists after the handshake. (c) RSET
	sent after the 220, before the handshake: it is left to quail-tlsd,
	which fails the handshake on it. In no case does a plaintext reply
	follow the 220."""
	w = world(fx)
	srv = server(fx, w)
	refused = 0
	for injected, probe in (
		(b"RSET\r\n", None),
		(b"MAIL FROM:<a@b.test>\r\n", "RCPT"),
		(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" %
		 RCPT.encode(), "RCPT"),
	):
		c = fx.client(srv, ehlo=False)
		c.greet()
		c.send(b"EHLO x.test\r\nSTARTTLS\r\n" + injected)
		r = c.reply(enhanced=False)
		expect(r, 250, None, "EHLO")
		check("STARTTLS" in caps(r), "EHLO %r" % r)
		expect(c.reply(), 220, "2.0.0", "STARTTLS")
		check(c.buf == b"", "more after the 220: %r" % c.buf)
		no_more_plaintext(c.sock)
		try:
			c.sock = ctx(fx).wrap_socket(c.sock, server_hostname=NAME)
		except (ssl.SSLError, ConnectionResetError):
			# Safe too: quail-smtpd had not read the bytes, so quail-tlsd
			# took them for the ClientHello. With one small write on
			# loopback it reads them all, so this is rare.
			refused += 1
			c.close()
			continue
		# The first reply must answer HELP: a 250 would be the injected
		# command's.
		c.cmd("HELP", 214, "2.0.0")
		c.cmd("EHLO client.test", 250)
		if probe:
			c.cmd("RCPT TO:<%s>" % RCPT, 503, "5.5.1")
			c.cmd("DATA", 503, "5.5.1")
			c.cmd("MAIL FROM:<%s>" % SENDER, 250, "2.1.0")
		c.cmd("QUIT", 221)
		check(c.expect_eof() == b"", "after QUIT")
		c.close()

	# (c) the bytes wait on the socket, where only quail-tlsd reads
	c = fx.client(srv)
	c.cmd("STARTTLS", 220, "2.0.0")
	c.send(b"RSET\r\n")
	no_more_plaintext(c.sock)
	try:
		t = ctx(fx).wrap_socket(c.sock, server_hostname=NAME)
		t.sendall(b"NOOP\r\n")
		raise TestFailure("handshake after a plaintext RSET: %r" %
		                  t.recv(200))
	except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
		pass
	c.close()

	srv.wait_sessions(4)
	fails = srv.lines("handshake")
	check(len(fails) == refused + 1 and
	      all("result=fail" in f and "error=wrong_version_number" in f
	          for f in fails), "quail-tlsd handshake lines: %r" % fails)
	check(not fx.queue.ids("mess") and not fx.queue.ids("env"),
	      "something was queued: %r" % (fx.queue.snapshot(),))
	check(not smtpd_lines(srv, "accepted"), srv.log())
	check_clean(srv)
	srv.no_leftovers()


# -- implicit TLS -----------------------------------------------------------

def test_smtp_tls_implicit(fx):
	"""quail-tlsd without -n (smtps): a verified handshake, then the 220
	greeting; EHLO offers AUTH and no STARTTLS; STARTTLS is 502; mail is
	queued "with ESMTPS", and "with ESMTPSA" after AUTH."""
	w = world(fx)
	srv = server(fx, w, starttls=False)
	s = smtp(fx, srv, cls=SMTPS, context=ctx(fx))
	check(s.sock.version() in ("TLSv1.2", "TLSv1.3"), s.sock.version())
	code, _ = s.ehlo("client.test")
	check(code == 250, "EHLO %d" % code)
	check(not s.has_extn("starttls"), "STARTTLS on smtps: %r" %
	      s.esmtp_features)
	check(s.esmtp_features.get("auth", "").upper().split() ==
	      ["PLAIN", "LOGIN"], "AUTH: %r" % s.esmtp_features)
	code, msg = s.docmd("STARTTLS")
	check((code, msg[:5]) == (502, b"5.5.1"), "STARTTLS: %d %r" % (code, msg))
	qid = send_message(s, SENDER, RCPT, "smtps")
	check_with(fx, qid, "ESMTPS")
	s.login(auth.ALICE, auth.PASSWORD)
	qid = send_message(s, auth.ALICE, FAR, "smtps auth")
	s.quit()
	check_with(fx, qid, "ESMTPSA")
	srv.wait_sessions(1)
	check(srv.exits() == [0], "exits %r" % srv.exits())
	ok = srv.lines("tls")
	check(len(ok) == 1 and "result=ok" in ok[0], "quail-tlsd: %r" % ok)
	auth.check_no_secret(fx)
	check_clean(srv)


def test_smtp_tls_received_records_cipher(fx):
	"""Issue 5: the Received field records the TLS protocol and cipher,
	for implicit TLS (SSL_* in the environment) and for STARTTLS (the
	Y block)."""
	w = world(fx)
	bad = []
	for starttls_mode in (False, True):
		srv = server(fx, w, starttls=starttls_mode)
		if starttls_mode:
			s = smtp(fx, srv)
			s.starttls(context=ctx(fx))
		else:
			s = smtp(fx, srv, cls=SMTPS, context=ctx(fx))
		s.ehlo("client.test")
		version, cipher = s.sock.version(), s.sock.cipher()[0]
		qid = send_message(s, SENDER, RCPT, "cipher")
		s.quit()
		rec = received(fx, qid)
		if version not in rec or cipher not in rec:
			bad.append("%s: %r lacks %s %s" % (
				"STARTTLS" if starttls_mode else "implicit", rec,
				version, cipher))
	check(not bad, "; ".join(bad))


# -- other clients and versions ---------------------------------------------

def test_smtp_tls_versions(fx):
	"""openssl s_client -starttls smtp verifies and talks SMTP inside;
	STARTTLS with TLS 1.0 or 1.1 at most fails (the server refuses:
	unsupported_protocol), with TLS 1.2 and 1.3 works."""
	w = world(fx)
	srv = server(fx, w)
	p = subprocess.run(
		["openssl", "s_client", "-starttls", "smtp", "-name", "client.test",
		 "-connect", "127.0.0.1:%d" % srv.port, "-servername", NAME,
		 "-verify_hostname", NAME, "-CAfile",
		 os.path.join(fx.pki, "ca.pem"), "-verify_return_error", "-brief",
		 "-ign_eof", "-crlf"],
		input=b"EHLO client.test\nNOOP\nQUIT\n", stdout=subprocess.PIPE,
		stderr=subprocess.PIPE, timeout=30, start_new_session=True)
	out, err = p.stdout.decode("latin-1"), p.stderr.decode("latin-1")
	check(p.returncode == 0, "s_client exit %d: %s" % (p.returncode, err))
	check("Verification: OK" in err, "s_client: %s" % err)
	check(re.search(r"^250-%s\r?$" % re.escape(harness.ME), out, re.M) and
	      re.search(r"^250[- ]AUTH PLAIN LOGIN", out, re.M) and
	      not re.search(r"STARTTLS", out), "EHLO inside TLS: %r" % out)
	check(re.search(r"^250 2\.0\.0", out, re.M) and
	      re.search(r"^221 2\.0\.0", out, re.M), "NOOP, QUIT: %r" % out)

	sessions = 1
	for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
		c = fx.client(srv)
		try:
			starttls(fx, c, v)
			raise TestFailure("STARTTLS with %s at most worked: %s" %
			                  (v, c.sock.version()))
		except (ssl.SSLError, ConnectionResetError):
			pass
		c.close()
		sessions += 1
	for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
	                (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
		c = fx.client(srv)
		t = starttls(fx, c, v)
		check(t.version() == name, "negotiated %s, wanted %s" %
		      (t.version(), name))
		c.cmd("EHLO client.test", 250)
		c.cmd("QUIT", 221)
		c.close()
		sessions += 1
	srv.wait_sessions(sessions)
	fails = srv.lines("handshake")
	check(len(fails) == 2 and
	      all("error=unsupported_protocol" in f for f in fails),
	      "refusals logged: %r" % fails)
	check(len(srv.lines("tls")) == 3, "sessions logged: %r" %
	      srv.lines("tls"))
	check_clean(srv)
	srv.no_leftovers()


def swaks(fx, srv, mode, subject, cafile=None):
	argv = ["swaks", "--server", "127.0.0.1", "--port", str(srv.port),
	        "--ehlo", "client.test", "--timeout", "20", "--from", SENDER,
	        "--to", RCPT, "--header", "Subject: " + subject, mode,
	        "--tls-verify", "--tls-ca-path",
	        cafile or os.path.join(fx.pki, "ca.pem"), "--tls-sni", NAME]
	p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
	                   stdin=subprocess.DEVNULL, timeout=auth.SWAKS_TIMEOUT,
	                   start_new_session=True)
	return p.returncode, p.stdout.decode("latin-1")


def swaks_has_tls():
	p = subprocess.run(["perl", "-MNet::SSLeay", "-e", "1"],
	                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	return p.returncode == 0


def test_smtp_tls_swaks(fx):
	"""swaks --tls (STARTTLS) and --tlsc (implicit), verifying the
	certificate, each queue one message."""
	w = world(fx)
	if not swaks_has_tls():
		raise harness.Skip("swaks has no TLS here (libnet-ssleay-perl)")
	for starttls_mode, opt, proto in ((True, "--tls", "ESMTPS"),
	                                  (False, "--tlsc", "ESMTPS")):
		srv = server(fx, w, starttls=starttls_mode)
		# the verification is real: another CA fails the handshake
		rc, out = swaks(fx, srv, opt, "wrong CA", cafile=WRONG_CA)
		check(rc != 0 and not re.search(r"<[-~] +250 2\.0\.0 ok", out),
		      "swaks %s trusted the test server without its CA:\n%s"
		      % (opt, out[-800:]))
		before = fx.queue.ids("env")
		rc, out = swaks(fx, srv, opt, "swaks " + opt)
		check(rc == 0, "swaks %s: exit %d\n%s" % (opt, rc, out[-1500:]))
		qid = auth.swaks_qid(out)
		check(fx.queue.ids("env") - before == {qid},
		      "swaks %s: queue now %r" % (opt, fx.queue.ids("env")))
		check(fx.queue.envelope(qid).rcpts == [("-", RCPT)],
		      "envelope %r" % fx.queue.envelope(qid).rcpts)
		check_with(fx, qid, proto)
		srv.wait_sessions(2)
		check(srv.lines("tls")[-1].find("result=ok") > 0 and
		      srv.exits()[-1] == 0, "swaks %s: %s" % (opt, srv.log()))
		check_clean(srv)


test_smtp_tls_swaks.timeout = 90
