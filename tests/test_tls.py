"""quail-tlsd under a real tcpserver on 127.0.0.1.

A test CA and certificates for two names (and a client certificate) are
made with openssl in the test's temp dir. Implicit TLS runs in front of
a tiny echo app, cat, and quail-smtpd; STARTTLS mode runs in front of a
small line-protocol app that writes 'Y' to SSLCTLFD. Clients are python
ssl with verification against the test CA, and openssl s_client.
"""

import hashlib
import os
import pwd
import re
import selectors
import socket
import ssl
import subprocess
import sys
import time

import harness
from harness import check, TestFailure

ROOT = harness.ROOT
TLSD = os.path.join(ROOT, "tls", "quail-tlsd")
NAMES = ("mail.example.test", "other.example.test")
TLS_USER = "quailtls"

# Prints its SSL_* environment and its parent's pid (the engine), then
# echoes; "EXIT n" exits with status n.
ECHO_APP = r'''
import os, sys
env = " ".join("%s=%s" % (k, os.environ[k]) for k in sorted(os.environ)
               if k.startswith("SSL"))
os.write(1, ("hello ppid=%d %s\n" % (os.getppid(), env)).encode())
buf = b""
while True:
    b = os.read(0, 65536)
    if not b:
        break
    buf += b
    m = buf.find(b"EXIT ")
    if m >= 0 and buf.endswith(b"\n"):
        sys.exit(int(buf[m + 5:].strip()))
    os.write(1, b)
'''

# A line protocol with STARTTLS, as quail-smtpd will speak it: reply
# 220, write Y to SSLCTLFD, read the info block, discard any input read
# before, then use SSLREADFD/SSLWRITEFD only. argv[1] "byte" reads one
# byte at a time (the engine alone sees what follows STARTTLS); "buffered"
# reads ahead and must discard.
LINE_APP = r'''
import os, sys
mode = sys.argv[1]
rfd, wfd, buf, info = 0, 1, b"", {}
def readline():
    global buf
    while b"\n" not in buf:
        b = os.read(rfd, 1 if mode == "byte" else 4096)
        if not b:
            return None
        buf += b
    line, buf = buf.split(b"\n", 1)
    return line.rstrip(b"\r").decode()
def say(s):
    os.write(wfd, (s + "\r\n").encode())
say("220 ready ctl=%s ucspitls=%r" % (os.environ.get("SSLCTLFD"),
                                     os.environ.get("UCSPITLS")))
while True:
    line = readline()
    if line is None:
        sys.exit(4)
    cmd = line.upper()
    if cmd == "STARTTLS":
        say("220 go ahead")
        ctl = int(os.environ["SSLCTLFD"])
        os.write(ctl, b"Y")
        blk = b""
        while not blk.endswith(b"\0\0") and blk != b"\0":
            b = os.read(ctl, 4096)
            if not b:
                sys.exit(3)
            blk += b
        info = dict(kv.split("=", 1) for kv in blk.decode().split("\0") if kv)
        buf = b""
        rfd = int(os.environ["SSLREADFD"])
        wfd = int(os.environ["SSLWRITEFD"])
        os.close(0)
        os.close(1)
    elif cmd == "INFO":
        say("250 " + " ".join("%s=%s" % kv for kv in sorted(info.items())))
    elif cmd.startswith("EXIT "):
        sys.exit(int(cmd[5:]))
    elif cmd == "QUIT":
        say("221 bye")
        sys.exit(0)
    else:
        say("250 " + cmd)
'''


# -- certificates ---------------------------------------------------------

def openssl(*args, cwd):
	p = subprocess.run(["openssl"] + list(args), cwd=cwd,
	                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
	check(p.returncode == 0, "openssl %s: %s" % (args[0], p.stderr[-300:]))


def make_pki(fx):
	"""CA, a certificate per NAME, a client certificate; a CERTDIR with
	NAME.crt+NAME.key for the first, NAME.pem for the second and the
	first as default. Returns the directory."""
	d = os.path.join(fx.dir, "pki")
	os.mkdir(d)
	ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
	openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
	        "-days", "2", "-subj", "/CN=quail test CA", cwd=d)
	for n in NAMES + ("client",):
		openssl("req", *ec, "-keyout", n + ".key", "-out", n + ".csr",
		        "-subj", "/CN=%s/O=quail tests" % n, cwd=d)
		with open(os.path.join(d, n + ".ext"), "w") as f:
			f.write("subjectAltName=DNS:%s\n" % n)
		openssl("x509", "-req", "-in", n + ".csr", "-CA", "ca.pem",
		        "-CAkey", "ca.key", "-CAcreateserial", "-out", n + ".crt",
		        "-days", "2", "-extfile", n + ".ext", cwd=d)
	cd = os.path.join(d, "certdir")
	os.mkdir(cd, 0o700)
	a, b = NAMES

	def cp(src, dst):
		with open(os.path.join(d, src), "rb") as f:
			data = f.read()
		with open(os.path.join(cd, dst), "ab") as f:
			f.write(data)
		os.chmod(os.path.join(cd, dst), 0o600)

	cp(a + ".crt", a + ".crt")
	cp(a + ".key", a + ".key")
	cp(b + ".crt", b + ".pem")
	cp(b + ".key", b + ".pem")
	cp(a + ".crt", "default.crt")
	cp(a + ".key", "default.key")
	return d


def tls_user():
	"""(uid, gid) of the TLS user, made if missing; None when not root."""
	if os.geteuid() != 0:
		return None
	try:
		pw = pwd.getpwnam(TLS_USER)
	except KeyError:
		harness.run(["useradd", "--system", "--no-create-home", "--shell",
		             "/usr/sbin/nologin", TLS_USER], check_rc=0)
		pw = pwd.getpwnam(TLS_USER)
	return pw.pw_uid, pw.pw_gid


# -- the server -------------------------------------------------------------

class TlsServer:
	"""tcpserver -> quail-tlsd [opts] -> app, with its log."""

	def __init__(self, fx, opts, app, env=None, name="tlsd"):
		check(os.access(TLSD, os.X_OK), "build tls/quail-tlsd first")
		self.fx = fx
		self.log_path = os.path.join(fx.dir, "%s%d.log" % (name, len(fx.servers)))
		user = ["-u", TLS_USER] if os.geteuid() == 0 else []
		e = fx.env(**(env or {}))
		e.setdefault("CERTDIR", os.path.join(fx.pki, "certdir"))
		for attempt in range(5):
			self.port = harness.free_port()
			argv = ["tcpserver", "-v", "-H", "-R", "-l", harness.ME,
			        "127.0.0.1", str(self.port), TLSD] + user + opts + app
			with open(self.log_path, "ab") as logf:
				self.proc = subprocess.Popen(
					argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
					stderr=logf, env=e, cwd=fx.dir, start_new_session=True)
			if harness.wait_for(self._up, harness.START_TIMEOUT):
				fx.servers.append(self)
				return
			self.stop()
		raise TestFailure("tcpserver did not start: %s" % self.log())

	def _up(self):
		# tcpserver -v says "status: 0/N" once it listens; no probe
		# connection, which would be a failed handshake of its own.
		return self.proc.poll() is None and "status: 0/" in self.log()

	def stop(self):
		harness.kill_group(self.proc)

	def log(self):
		try:
			with open(self.log_path, "rb") as f:
				return f.read().decode("latin-1")
		except FileNotFoundError:
			return ""

	def lines(self, event):
		return [line for line in self.log().splitlines()
		        if "quail-tlsd: " in line and " event=%s " % event in line]

	def exits(self):
		return [int(s) for s in
		        re.findall(r"^tcpserver: end \d+ status (\d+)$", self.log(), re.M)]

	def wait_sessions(self, n, timeout=10):
		"""Waits until n sessions have ended, and all that started."""
		def done():
			log = self.log()
			started = len(re.findall(r"^tcpserver: pid \d+ from", log, re.M))
			return len(self.exits()) >= n and len(self.exits()) == started
		check(harness.wait_for(done, timeout),
		      "sessions did not end: %s" % self.log()[-800:])
		return self.exits()

	def no_leftovers(self):
		"""No quail-tlsd or app still runs below tcpserver."""
		kids = subprocess.run(["ps", "-o", "pid=,stat=,args=", "--ppid",
		                       str(self.proc.pid)], stdout=subprocess.PIPE)
		check(not kids.stdout.strip(), "left behind: %r" % kids.stdout)


def setup(fx):
	if not hasattr(fx, "pki"):
		fx.pki = make_pki(fx)
		for name, text in (("echo.py", ECHO_APP), ("line.py", LINE_APP)):
			with open(os.path.join(fx.dir, name), "w") as f:
				f.write(text)
	return fx.pki


def echo_app(fx):
	return [sys.executable, os.path.join(fx.dir, "echo.py")]


def line_app(fx, mode):
	return [sys.executable, os.path.join(fx.dir, "line.py"), mode]


def client_ctx(fx, version=None, cert=False):
	ctx = ssl.create_default_context(cafile=os.path.join(fx.pki, "ca.pem"))
	if version:
		ctx.minimum_version = ctx.maximum_version = version
	if cert:
		ctx.load_cert_chain(os.path.join(fx.pki, "client.crt"),
		                    os.path.join(fx.pki, "client.key"))
	return ctx


def connect(fx, srv, sni=NAMES[0], **kw):
	s = socket.create_connection(("127.0.0.1", srv.port), harness.CMD_TIMEOUT)
	t = client_ctx(fx, **kw).wrap_socket(s, server_hostname=sni)
	fx.at_exit(t.close)
	return t


def readline(sock):
	buf = b""
	while not buf.endswith(b"\n"):
		b = sock.recv(1)
		if not b:
			break
		buf += b
	return buf.decode("latin-1")


def hello_env(line):
	return dict(re.findall(r"(SSL\w+)=(\S+)", line))


def duplex(t, data, timeout=60):
	"""Sends data and reads as much back at the same time, from one
	thread (an SSL object must not be read and written by two at once):
	(bytes read, their sha256)."""
	t.setblocking(False)
	sel = selectors.DefaultSelector()
	sel.register(t, selectors.EVENT_READ | selectors.EVENT_WRITE)
	sent = got = 0
	h = hashlib.sha256()
	end = time.time() + timeout
	while got < len(data) and time.time() < end:
		sel.select(1)
		if sent < len(data):
			try:
				sent += t.send(data[sent:sent + 262144])
			except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
				pass
			if sent == len(data):
				sel.modify(t, selectors.EVENT_READ)
		try:
			while got < len(data):
				b = t.recv(1 << 20)
				if not b:
					end = 0
					break
				got += len(b)
				h.update(b)
		except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
			pass
	sel.close()
	t.setblocking(True)
	return got, h.hexdigest()


def closed_within(sock, seconds):
	"""Seconds until the server closed the connection (EOF or reset)."""
	sock.settimeout(seconds + 5)
	t0 = time.time()
	try:
		while sock.recv(4096):
			pass
	except ConnectionResetError:
		pass
	except socket.timeout:
		raise TestFailure("server kept the connection open")
	return time.time() - t0


# -- implicit TLS -----------------------------------------------------------

def test_tls_implicit_versions(fx):
	"""TLS 1.2 and 1.3 verify against the test CA; the app sees the
	session in SSL_*; 1.0 and 1.1 are refused by the server."""
	setup(fx)
	srv = TlsServer(fx, [], echo_app(fx))
	for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
	                (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
		t = connect(fx, srv, version=v)
		check(t.version() == name, "negotiated %s" % t.version())
		env = hello_env(readline(t))
		check(env.get("SSL_PROTOCOL") == name, "app env %r" % env)
		check(env.get("SSL_CIPHER") == t.cipher()[0], "cipher %r" % env)
		check(env.get("SSL_TLS_SNI_SERVERNAME") == NAMES[0], "sni %r" % env)
		check("SSL_PEER_CERT_HASH" not in env, "no client cert: %r" % env)
		t.sendall(b"ping\n")
		check(readline(t) == "ping\n", "echo")
		t.close()
	for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
		ctx.check_hostname = False
		ctx.verify_mode = ssl.CERT_NONE
		ctx.set_ciphers("ALL:@SECLEVEL=0")
		ctx.minimum_version = ctx.maximum_version = v
		s = socket.create_connection(("127.0.0.1", srv.port), 10)
		try:
			ctx.wrap_socket(s).close()
			raise TestFailure("%s was accepted" % v)
		except ssl.SSLError:
			pass
		s.close()
	srv.wait_sessions(4)
	fails = srv.lines("handshake")
	check(len(fails) == 2 and all("error=unsupported_protocol" in f for f in fails),
	      "server refusals: %r" % fails)
	ok = srv.lines("tls")
	check(len(ok) == 2 and all("result=ok" in f and "bytes_in=5 " in f
	                           for f in ok), "session lines: %r" % ok)
	check(all(st == 0 for st in srv.exits()), "exits %r" % srv.exits())
	srv.no_leftovers()


def test_tls_sni(fx):
	"""Each name gets its certificate; no SNI or an unknown name gets
	the default; a name that could not name a file is ignored."""
	setup(fx)
	srv = TlsServer(fx, [], echo_app(fx))
	for sni, want in ((NAMES[0], NAMES[0]), (NAMES[1], NAMES[1]),
	                  (NAMES[1].upper(), NAMES[1])):
		t = connect(fx, srv, sni=sni)
		cn = dict(x[0] for x in t.getpeercert()["subject"])["commonName"]
		check(cn == want, "SNI %s got %s" % (sni, cn))
		check(hello_env(readline(t)).get("SSL_TLS_SNI_SERVERNAME") == want,
		      "SSL_TLS_SNI_SERVERNAME for %s" % sni)
		t.close()
	for sni in (None, "unknown.test", "x*y.example.test"):
		ctx = client_ctx(fx)
		ctx.check_hostname = False
		s = socket.create_connection(("127.0.0.1", srv.port), 10)
		t = ctx.wrap_socket(s, server_hostname=sni)
		cn = dict(x[0] for x in t.getpeercert()["subject"])["commonName"]
		check(cn == NAMES[0], "SNI %r got %s, wanted the default" % (sni, cn))
		env = hello_env(readline(t))
		if sni != "unknown.test":
			check("SSL_TLS_SNI_SERVERNAME" not in env, "%r: %r" % (sni, env))
		t.close()
	srv.wait_sessions(6)


def test_tls_plaintext_and_vanishing_clients(fx):
	"""Plaintext to the implicit port, a client that leaves mid-handshake
	and a silent one (-t 2): each ends with one log line and a clean
	exit within the timeout, and the next connection works."""
	setup(fx)
	srv = TlsServer(fx, ["-t", "2"], echo_app(fx))
	s = socket.create_connection(("127.0.0.1", srv.port), 10)
	s.sendall(b"EHLO plaintext.test\r\n")
	check(closed_within(s, 2) < 2, "plaintext: not closed at once")
	s.close()
	s = socket.create_connection(("127.0.0.1", srv.port), 10)
	s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # half a ClientHello
	s.close()
	s = socket.create_connection(("127.0.0.1", srv.port), 10)
	took = closed_within(s, 2)
	check(1.5 < took < 4, "silent client closed after %.1fs, -t 2" % took)
	s.close()
	t = connect(fx, srv)
	check(readline(t).startswith("hello"), "next connection")
	t.close()
	srv.wait_sessions(4)
	errors = [re.search(r"error=(\S+)", f).group(1) for f in srv.lines("handshake")]
	check(errors == ["wrong_version_number", "eof", "timeout"],
	      "handshake failures logged: %r" % errors)
	check(all(st == 0 for st in srv.exits()), "exits %r" % srv.exits())
	srv.no_leftovers()


def test_tls_idle_timeout(fx):
	"""TLSIDLE: a session with no traffic either way is closed."""
	setup(fx)
	srv = TlsServer(fx, [], ["cat"], env={"TLSIDLE": "2"})
	t = connect(fx, srv)
	took = closed_within(t, 2)
	check(1.5 < took < 4, "idle session closed after %.1fs" % took)
	srv.wait_sessions(1)
	check("error=idle" in srv.lines("tls")[0], srv.lines("tls"))


def test_tls_privileges(fx):
	"""The engine runs as the TLS user with no supplementary groups and
	no capabilities, and cannot read a 0600 root file (the queue's
	stand-in); the app keeps tcpserver's uid."""
	harness.need_root()
	setup(fx)
	uid, gid = tls_user()
	secret = os.path.join(fx.dir, "queue-standin")
	with open(secret, "w") as f:
		f.write("secret\n")
	os.chmod(secret, 0o600)
	srv = TlsServer(fx, [], echo_app(fx))
	t = connect(fx, srv)
	ppid = int(re.match(r"hello ppid=(\d+)", readline(t)).group(1))
	with open("/proc/%d/status" % ppid) as f:
		st = dict(line.split(":", 1) for line in f.read().splitlines())
	check(st["Uid"].split() == [str(uid)] * 4, "engine Uid %r" % st["Uid"])
	check(st["Gid"].split() == [str(gid)] * 4, "engine Gid %r" % st["Gid"])
	check(st["Groups"].split() in ([], [str(gid)]), "groups %r" % st["Groups"])
	check(int(st["CapEff"], 16) == 0, "CapEff %r" % st["CapEff"])
	pid = os.fork()
	if pid == 0:
		try:
			os.setgroups([])
			os.setgid(gid)
			os.setuid(uid)
			open(secret).read()
			os._exit(1)
		except PermissionError:
			os._exit(0)
		except BaseException:
			os._exit(2)
	check(os.waitpid(pid, 0)[1] == 0, "the TLS user can read a 0600 root file")
	t.close()
	srv.wait_sessions(1)


def test_tls_bulk(fx):
	"""50 MB each way at once through cat arrive intact (sha256), with
	bounded buffers on both sides."""
	setup(fx)
	srv = TlsServer(fx, [], ["cat"])
	t = connect(fx, srv)
	data = os.urandom(1 << 20) * 50
	got, digest = duplex(t, data)
	check(got == len(data) and digest == hashlib.sha256(data).hexdigest(),
	      "got %d bytes back, sha256 %s" % (got, digest))
	t.close()
	srv.wait_sessions(1)
	line = srv.lines("tls")[0]
	check("bytes_in=52428800 bytes_out=52428800" in line, line)


def test_tls_smtpd(fx):
	"""quail-smtpd, unchanged, behind implicit TLS: openssl s_client
	gets the 220 greeting and the 221 to QUIT."""
	setup(fx)
	check(os.access(harness.SMTPD, os.X_OK), "build smtpd/quail-smtpd first")
	fx.queue.create()
	srv = TlsServer(fx, [], [harness.SMTPD])
	p = subprocess.run(["openssl", "s_client", "-connect",
	                    "127.0.0.1:%d" % srv.port, "-servername", NAMES[0],
	                    "-CAfile", os.path.join(fx.pki, "ca.pem"),
	                    "-verify_return_error", "-quiet", "-crlf"],
	                   input=b"EHLO client.test\nQUIT\n",
	                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
	out = p.stdout.decode("latin-1")
	check(re.search(r"^220 %s" % re.escape(harness.ME), out, re.M),
	      "no 220 greeting: %r %r" % (out, p.stderr[-300:]))
	check(re.search(r"^221 ", out, re.M), "no 221: %r" % out)
	srv.wait_sessions(1)
	check(srv.exits() == [0], "exits %r" % srv.exits())


def test_tls_client_cert(fx):
	"""CAFILE + VERIFYCLIENT=1: a client certificate from the CA is
	required, and its subject and hash reach the app."""
	setup(fx)
	srv = TlsServer(fx, [], echo_app(fx),
	                env={"CAFILE": os.path.join(fx.pki, "ca.pem"),
	                     "VERIFYCLIENT": "1"})
	t = connect(fx, srv, cert=True)
	env = hello_env(readline(t))
	check(env.get("SSL_PEER_CERT_SUBJECT", "").startswith("O=quail"),
	      "subject %r" % env)
	der = t.getpeercert(binary_form=True)   # server's; compute client's below
	with open(os.path.join(fx.pki, "client.crt"), "rb") as f:
		pem = f.read().decode()
	want = "SHA256:" + hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
	check(env.get("SSL_PEER_CERT_HASH") == want and der,
	      "hash %r, wanted %s" % (env.get("SSL_PEER_CERT_HASH"), want))
	t.close()
	s = socket.create_connection(("127.0.0.1", srv.port), 10)
	try:
		t = client_ctx(fx).wrap_socket(s, server_hostname=NAMES[0])
		t.recv(10)      # TLS 1.3 reports the refusal on the first read
		raise TestFailure("no client certificate, yet accepted")
	except (ssl.SSLError, ConnectionResetError):
		pass
	srv.wait_sessions(2)


# -- STARTTLS ---------------------------------------------------------------

def plain_line(sock):
	return readline(sock).rstrip("\r\n")


def test_tls_starttls(fx):
	"""-n: plaintext first, on the socket itself; Y starts TLS and
	returns the info block; then the app talks through SSLREADFD and
	SSLWRITEFD. UCSPITLS passes through. The engine exits with the
	app's status."""
	setup(fx)
	srv = TlsServer(fx, ["-n"], line_app(fx, "byte"), env={"UCSPITLS": "!"})
	s = socket.create_connection(("127.0.0.1", srv.port), 10)
	greet = plain_line(s)
	check(greet.startswith("220 ready ctl=") and "ucspitls='!'" in greet, greet)
	s.sendall(b"NOOP\r\n")
	check(plain_line(s) == "250 NOOP", "plaintext NOOP")
	s.sendall(b"STARTTLS\r\n")
	check(plain_line(s) == "220 go ahead", "STARTTLS reply")
	t = client_ctx(fx).wrap_socket(s, server_hostname=NAMES[1])
	t.sendall(b"INFO\r\n")
	info = plain_line(t)
	check("SSL_PROTOCOL=TLSv1.3" in info and
	      "SSL_TLS_SNI_SERVERNAME=%s" % NAMES[1] in info, info)
	t.sendall(b"EXIT 7\r\n")
	check(closed_within(t, 5) < 5, "closed after EXIT")
	# a session that never starts TLS: the engine stays out of it
	s = socket.create_connection(("127.0.0.1", srv.port), 10)
	plain_line(s)
	s.sendall(b"EXIT 9\r\n")
	closed_within(s, 5)
	srv.wait_sessions(2)
	check(sorted(srv.exits()) == [7 << 8, 9 << 8], "exits %r" % srv.exits())
	check(len(srv.lines("tls")) == 1, srv.log())
	srv.no_leftovers()


def test_tls_starttls_injection(fx):
	"""STARTTLS\\r\\nRSET\\r\\n in one write (CVE-2011-0411): with the app
	reading byte by byte, RSET is left on the socket and the engine
	takes it as the ClientHello, so the handshake fails; with an app
	that read ahead and discarded, the handshake works and RSET is
	never answered."""
	setup(fx)
	srv = TlsServer(fx, ["-n", "-t", "5"], line_app(fx, "byte"))
	s = socket.create_connection(("127.0.0.1", srv.port), 10)
	plain_line(s)
	s.sendall(b"STARTTLS\r\nRSET\r\n")
	check(plain_line(s) == "220 go ahead", "STARTTLS reply")
	try:
		t = client_ctx(fx).wrap_socket(s, server_hostname=NAMES[0])
		t.sendall(b"NOOP\r\n")
		raise TestFailure("handshake after injected RSET: %r" % t.recv(100))
	except (ssl.SSLError, ConnectionResetError):
		pass
	srv.wait_sessions(1)
	check("error=wrong_version_number" in srv.lines("handshake")[0],
	      srv.lines("handshake"))

	srv2 = TlsServer(fx, ["-n"], line_app(fx, "buffered"), name="buffered")
	s = socket.create_connection(("127.0.0.1", srv2.port), 10)
	plain_line(s)
	s.sendall(b"STARTTLS\r\nRSET\r\n")
	check(plain_line(s) == "220 go ahead", "STARTTLS reply")
	t = client_ctx(fx).wrap_socket(s, server_hostname=NAMES[0])
	t.sendall(b"NOOP\r\n")
	check(plain_line(t) == "250 NOOP", "first reply after TLS")
	t.sendall(b"QUIT\r\n")
	rest = t.recv(4096).decode()
	check(rest == "221 bye\r\n", "after QUIT: %r (RSET answered?)" % rest)
	srv2.wait_sessions(1)
