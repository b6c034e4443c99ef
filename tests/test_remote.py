"""Remote delivery: quail-remote against a fake internet.

Each test builds two network namespaces joined by a veth pair: the
sender ("qrs-*", 10.231.0.1 and fd00:231::1) where quail-remote (and in
the end-to-end test quail-send and quail-rspawn) runs, and the
internet ("qri-*") holding a dnsmasq that serves the .test zone on
10.231.0.53 and the receiving SMTP servers on 10.231.0.x and
fd00:231::x port 25: Postfix's smtp-sink, and a python asyncio server
(written to the test dir) for the failure modes. The sender's resolver
is /etc/netns/NAME/resolv.conf, which `ip netns exec` mounts over
/etc/resolv.conf. No traffic leaves the namespaces. Cleanup deletes the
namespaces (killing what runs in them) and the /etc/netns files.
"""

import json
import os
import random
import re
import shutil
import subprocess
import time

import deliver_harness as dh
import harness
from harness import ROOT, TestFailure, check

REMOTE = os.path.join(ROOT, "deliver", "quail-remote")
NET = "10.231.0."
NET6 = "fd00:231::"
DNS_IP = NET + "53"
SRC_IP = NET + "1"

# The .test zone: host name -> address; domain -> [(pref, host)].
HOSTS = {
	"mxa.pref.test": NET + "20",        # nothing listens: refused
	"mxb.pref.test": NET + "21",
	"noma.test": NET + "22",            # no MX: its A record
	"mx.tempfirst.test": NET + "23",
	"mx.mixed.test": NET + "24",
	"mx.tls.test": NET + "25",
	"mx.plain.test": NET + "26",
	"mx.hang.test": NET + "27",
	"smart.test": NET + "29",
	"mx.drop.test": NET + "30",
	"mx.garbage.test": NET + "31",
	"mx.big.test": NET + "32",
	"sink1.test": NET + "40",
	"sink2.test": NET + "41",
}
HOSTS6 = {"mx6.v6.test": NET6 + "28"}
MX = {
	"pref.test": [(10, "mxa.pref.test"), (20, "mxb.pref.test")],
	"tempfirst.test": [(10, "mx.tempfirst.test")],
	"mixed.test": [(10, "mx.mixed.test")],
	"tls.test": [(10, "mx.tls.test")],
	"plain.test": [(10, "mx.plain.test")],
	"hang.test": [(10, "mx.hang.test")],
	"v6.test": [(10, "mx6.v6.test")],
	"drop.test": [(10, "mx.drop.test")],
	"garbage.test": [(10, "mx.garbage.test")],
	"big.test": [(10, "mx.big.test")],
}
E2E_DOMAINS = ["d%02d.e2e.test" % i for i in range(20)]
for _i, _d in enumerate(E2E_DOMAINS):
	MX[_d] = [(10, "sink%d.test" % (1 + _i % 2))]

# The fake servers: address -> mode (see SERVER below).
FAKES = {
	NET + "21": "ok", NET + "22": "ok", NET + "23": "tempfirst",
	NET + "24": "mixed", NET + "25": "tls", NET + "26": "ok",
	NET + "27": "hang", NET6 + "28": "ok", NET + "29": "auth",
	NET + "30": "dropdata", NET + "31": "garbage", NET + "32": "bigreply",
}
AUTH = "relayuser:s3cret:with:colons"

SERVER = r'''
import asyncio, base64, json, ssl, sys

conf = json.load(open(sys.argv[1]))
state = {}

def record(d):
	with open(conf["out"], "a") as f:
		f.write(json.dumps(d) + "\n")

async def session(mode, reader, writer):
	async def send(line):
		writer.write(line.encode() + b"\r\n")
		await writer.drain()
	async def readline():
		line = await reader.readline()
		if not line:
			raise EOFError
		return line.rstrip(b"\r\n").decode("latin-1")
	me = writer.get_extra_info("sockname")[0]
	if mode == "hang":
		await asyncio.sleep(3600)
	if mode == "garbage":
		writer.write(b"hello, I am not an SMTP server\r\n")
		await writer.drain()
		await asyncio.sleep(30)
		return
	if mode == "bigreply":
		try:
			for i in range(20000):
				writer.write(b"220-" + b"x" * 60 + b"\r\n")
				await writer.drain()
		except ConnectionError:
			pass
		return
	tls = authed = False
	cert = mode in ("tls", "auth")
	helo = sender = None
	rcpts = []
	await send("220 %s ESMTP fake" % me)
	try:
		while True:
			line = await readline()
			cmd = line[:4].upper()
			if cmd in ("EHLO", "HELO"):
				helo = line
				ext = ["fake", "PIPELINING", "SIZE 10000000", "8BITMIME"]
				if cert and not tls:
					ext.append("STARTTLS")
				if mode == "auth" and tls:
					ext.append("AUTH PLAIN LOGIN")
				for l in ext[:-1]:
					writer.write(("250-" + l + "\r\n").encode())
				await send("250 " + ext[-1])
			elif cmd == "STAR" and cert:
				await send("220 2.0.0 go ahead")
				ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
				ctx.load_cert_chain(conf["cert"], conf["key"])
				await writer.start_tls(ctx)
				tls = True
			elif cmd == "AUTH" and mode == "auth":
				p = line.split()
				got = base64.b64decode(p[2]).split(b"\0")
				if got[1:] == [x.encode() for x in conf["auth"].split(":", 1)]:
					authed = True
					await send("235 2.7.0 ok")
				else:
					await send("535 5.7.8 bad credentials")
			elif cmd == "MAIL":
				if mode == "auth" and not authed:
					await send("530 5.7.0 authentication required")
					continue
				sender = line[10:]
				rcpts = []
				await send("250 2.1.0 ok")
			elif cmd == "RCPT":
				r = line[8:].strip("<>")
				local = r.split("@")[0]
				if mode == "mixed" and local.startswith("perm"):
					await send("550 5.1.1 <%s>: no such user here" % r)
				elif mode == "mixed" and local.startswith("temp"):
					await send("450 4.2.1 <%s>: mailbox busy" % r)
				else:
					rcpts.append(r)
					await send("250 2.1.5 ok")
			elif cmd == "DATA":
				if not rcpts:
					await send("554 5.5.1 no valid recipients")
					continue
				await send("354 go ahead")
				data = b""
				while True:
					l = await reader.readline()
					if not l:
						raise EOFError
					if l == b".\r\n":
						break
					data += l
				n = state[me] = state.get(me, 0) + 1
				if mode == "dropdata":
					writer.transport.abort()
					return
				if mode == "tempfirst" and n == 1:
					await send("451 4.3.0 try again later, please")
					continue
				record({"server": me, "from": sender, "rcpts": rcpts,
				        "tls": tls, "auth": authed, "helo": helo,
				        "peer": writer.get_extra_info("peername")[0],
				        "data": data.decode("latin-1")})
				await send("250 2.0.0 ok queued as %d" % n)
			elif cmd == "RSET":
				rcpts = []
				await send("250 2.0.0 ok")
			elif cmd == "QUIT":
				await send("221 2.0.0 bye")
				break
			else:
				await send("502 5.5.2 unknown command")
	except (EOFError, ConnectionError, ssl.SSLError):
		pass
	finally:
		writer.close()

async def main():
	for addr, mode in conf["listen"].items():
		await asyncio.start_server(
			lambda r, w, m=mode: session(m, r, w), addr, 25)
	open(conf["ready"], "w").close()
	await asyncio.Event().wait()

asyncio.run(main())
'''


def sh(argv, check_rc=True):
	p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
	                   timeout=60)
	if check_rc and p.returncode != 0:
		raise TestFailure("%s: exit %d: %s" % (" ".join(argv), p.returncode,
		                  p.stderr.decode("latin-1").strip()))
	return p.stdout.decode("latin-1")


class FakeNet:
	"""The two namespaces, the DNS server and the receiving servers."""

	def __init__(self, fx, sinks=False):
		harness.need_root()
		for prog in ("ip", "dnsmasq", "openssl"):
			if not shutil.which(prog):
				raise TestFailure("%s is not installed (make deps)" % prog)
		dh.need_programs(REMOTE)
		self.fx = fx
		tag = "%04x%d" % (random.getrandbits(16), os.getpid() % 10000)
		self.ns_s = "qrs-" + tag
		self.ns_i = "qri-" + tag
		self.veth = ("qrs" + tag, "qri" + tag)
		self.procs = []
		self.etc = "/etc/netns/" + self.ns_s
		self.out = os.path.join(fx.dir, "received.jsonl")
		fx.at_exit(self.close)
		self.make_net()
		self.make_certs()
		self.start_dns()
		self.start_fakes()
		if sinks:
			self.start_sinks()
		self.control()

	# the network

	def make_net(self):
		s, i = self.ns_s, self.ns_i
		sh(["ip", "netns", "add", s])
		sh(["ip", "netns", "add", i])
		sh(["ip", "link", "add", self.veth[0], "type", "veth", "peer", "name",
		    self.veth[1]])
		sh(["ip", "link", "set", self.veth[0], "netns", s])
		sh(["ip", "link", "set", self.veth[1], "netns", i])
		for ns, dev, a4, a6 in ((s, self.veth[0], [SRC_IP], [NET6 + "1"]),
		                        (i, self.veth[1], self.inet_addrs(),
		                         [NET6 + "28"])):
			self.ns(ns, ["ip", "link", "set", "lo", "up"])
			for a in a4:
				self.ns(ns, ["ip", "addr", "add", a + "/24", "dev", dev])
			for a in a6:
				self.ns(ns, ["ip", "-6", "addr", "add", a + "/64", "dev",
				             dev, "nodad"])
			self.ns(ns, ["ip", "link", "set", dev, "up"])
		os.makedirs(self.etc, exist_ok=True)
		with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
			f.write("nameserver %s\noptions timeout:2 attempts:2\n" % DNS_IP)

	def inet_addrs(self):
		return sorted(set([DNS_IP] + list(HOSTS.values())))

	def ns(self, ns, argv, check_rc=True):
		return sh(["ip", "netns", "exec", ns] + argv, check_rc)

	def spawn(self, ns, argv, log, **kw):
		logf = open(os.path.join(self.fx.dir, log), "ab")
		try:
			p = subprocess.Popen(["ip", "netns", "exec", ns] + argv,
			                     stdin=subprocess.DEVNULL, stdout=logf,
			                     stderr=logf, start_new_session=True, **kw)
		finally:
			logf.close()
		self.procs.append(p)
		return p

	def close(self):
		for p in self.procs:
			harness.kill_group(p)
		for ns in (self.ns_s, self.ns_i):
			# anything still running in the namespace dies with it
			pids = sh(["ip", "netns", "pids", ns], check_rc=False).split()
			for pid in pids:
				try:
					os.kill(int(pid), 9)
				except (ProcessLookupError, ValueError):
					pass
			sh(["ip", "netns", "del", ns], check_rc=False)
		shutil.rmtree(self.etc, ignore_errors=True)
		try:
			os.rmdir("/etc/netns")  # only when no one else uses it
		except OSError:
			pass

	# servers

	def make_certs(self):
		d = self.fx.dir
		self.ca = os.path.join(d, "ca.pem")
		self.other_ca = os.path.join(d, "other-ca.pem")
		self.cert = os.path.join(d, "server.pem")
		self.key = os.path.join(d, "server-key.pem")
		ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		      "-nodes"]
		for ca in (self.ca, self.other_ca):
			sh(["openssl", "req", "-x509"] + ec + ["-subj", "/CN=quail test CA",
			    "-days", "2", "-keyout", ca + ".key", "-out", ca])
		csr = os.path.join(d, "server.csr")
		sh(["openssl", "req"] + ec + ["-subj", "/CN=mx.tls.test",
		    "-keyout", self.key, "-out", csr])
		ext = os.path.join(d, "san.ext")
		with open(ext, "w") as f:
			f.write("subjectAltName=DNS:mx.tls.test,DNS:smart.test\n")
		sh(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey",
		    self.ca + ".key", "-CAcreateserial", "-days", "2", "-extfile",
		    ext, "-out", self.cert])

	def start_dns(self):
		conf = os.path.join(self.fx.dir, "dnsmasq.conf")
		lines = ["no-resolv", "no-hosts", "local=/test/", "bind-interfaces",
		         "listen-address=" + DNS_IP, "port=53", "user=root",
		         "log-facility=" + os.path.join(self.fx.dir, "dnsmasq.log")]
		for h, a in HOSTS.items():
			lines.append("host-record=%s,%s" % (h, a))
		for h, a in HOSTS6.items():
			lines.append("host-record=%s,%s" % (h, a))
		for d, mxs in MX.items():
			for pref, h in mxs:
				lines.append("mx-host=%s,%s,%d" % (d, h, pref))
		# RFC 7505 null MX: preference 0, exchange "." (the root)
		lines.append("dns-rr=nullmx.test,15,000000")
		lines.append("host-record=nullmx.test," + NET + "21")
		with open(conf, "w") as f:
			f.write("\n".join(lines) + "\n")
		self.spawn(self.ns_i, ["dnsmasq", "--keep-in-foreground",
		                       "--conf-file=" + conf, "--pid-file="],
		           "dnsmasq.out")
		# wait until it answers
		end = time.time() + 10
		while time.time() < end:
			r = subprocess.run(["ip", "netns", "exec", self.ns_s, "getent",
			                    "hosts", "noma.test"], stdout=subprocess.PIPE,
			                   stderr=subprocess.DEVNULL)
			if NET + "22" in r.stdout.decode():
				return
			time.sleep(0.1)
		raise TestFailure("dnsmasq does not answer: %s" %
		                  self.read("dnsmasq.out")[-300:])

	def start_fakes(self):
		script = os.path.join(self.fx.dir, "fakesmtp.py")
		with open(script, "w") as f:
			f.write(SERVER)
		ready = os.path.join(self.fx.dir, "fakes.ready")
		conf = os.path.join(self.fx.dir, "fakes.json")
		with open(conf, "w") as f:
			json.dump({"listen": FAKES, "out": self.out, "cert": self.cert,
			           "key": self.key, "auth": AUTH, "ready": ready}, f)
		p = self.spawn(self.ns_i, ["python3", script, conf], "fakes.log")
		end = time.time() + 10
		while not os.path.exists(ready):
			check(p.poll() is None and time.time() < end,
			      "fake SMTP servers did not start: %s" %
			      self.read("fakes.log")[-500:])
			time.sleep(0.05)

	def start_sinks(self):
		self.dumps = []
		for n, ip in ((1, HOSTS["sink1.test"]), (2, HOSTS["sink2.test"])):
			d = os.path.join(self.fx.dir, "sink%d" % n)
			os.mkdir(d)
			shutil.chown(d, "postfix")
			self.dumps.append(d)
			self.spawn(self.ns_i, ["smtp-sink", "-u", "postfix", "-d",
			                       d + "/m.", ip + ":25", "256"],
			           "sink%d.log" % n)
		for ip in (HOSTS["sink1.test"], HOSTS["sink2.test"]):
			end = time.time() + 10
			while ip + ":25" not in self.ns(self.ns_i, ["ss", "-Hltn"]):
				check(time.time() < end, "smtp-sink did not start")
				time.sleep(0.05)

	def control(self):
		fx = self.fx
		fx.write_control("helohost", "sender.test")
		fx.write_control("outgoingip", SRC_IP)
		fx.write_control("timeoutconnect", "3")
		fx.write_control("timeoutremote", "3")
		fx.write_control("tlspolicy", "plain.test:encrypt\n"
		                 "tls.test:verify:%s\nbadca.test:verify:%s\n" %
		                 (self.ca, self.other_ca))
		fx.write_control("smtproutes", "relayed.test:smart.test\n"
		                 "badca.test:mx.tls.test\n")
		fx.write_control("smtpauth", "smart.test:" + AUTH)
		os.chmod(os.path.join(fx.control, "smtpauth"), 0o600)

	# results

	def read(self, name):
		try:
			with open(os.path.join(self.fx.dir, name), "rb") as f:
				return f.read().decode("latin-1")
		except FileNotFoundError:
			return ""

	def received(self):
		try:
			with open(self.out) as f:
				return [json.loads(l) for l in f]
		except FileNotFoundError:
			return []

	def remote(self, domain, rcpts, sender="sender@example.test",
	           body=b"Subject: test\n\nhello\n"):
		"""Runs quail-remote in the sender namespace: ([(code, text)] per
		recipient, (code, text) for the message, stderr, seconds)."""
		msg = os.path.join(self.fx.dir, "msg")
		with open(msg, "wb") as f:
			f.write(body)
		t0 = time.time()
		with open(msg, "rb") as f:
			p = subprocess.run(["ip", "netns", "exec", self.ns_s, REMOTE,
			                    domain, sender] + rcpts, stdin=f,
			                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
			                   env=self.fx.env(), timeout=60)
		secs = time.time() - t0
		err = p.stderr.decode("latin-1")
		check(p.returncode == 0, "quail-remote exited %d: %s" %
		      (p.returncode, err))
		parts = p.stdout.split(b"\0")
		check(parts[-1] == b"", "output does not end with NUL: %r" % p.stdout)
		reps = [(x[:1].decode(), x[1:].decode("latin-1")) for x in parts[:-1]]
		check(reps and reps[-1][0] in "KZD", "no message report: %r" % reps)
		for code, text in reps[:-1]:
			check(code in "rhs", "bad recipient report %r" % reps)
		check(len(reps) - 1 in (0, len(rcpts)), "report count: %r" % reps)
		return reps[:-1], reps[-1], err, secs


def expect(result, code, pattern=None):
	got = result[1]
	check(got[0] == code, "expected %s, got %r; log: %s" %
	      (code, got, result[2].strip()[-600:]))
	if pattern:
		check(re.search(pattern, got[1]), "text %r lacks %r" % (got[1], pattern))


def test_remote_routing(fx):
	net = FakeNet(fx)
	# MX preference: mxa (10) refuses, mxb (20) takes it
	r = net.remote("pref.test", ["a@pref.test"])
	expect(r, "K", r"mxb\.pref\.test\[10\.231\.0\.21\] said: 250")
	check(r[0] == [("r", r[0][0][1])], "recipient report %r" % r[0])
	tried = re.findall(r"event=attempt host=(\S+) ip=(\S+) result=(\w+)", r[2])
	check([t[0] for t in tried] == ["mxa.pref.test", "mxb.pref.test"] and
	      tried[0][2] == "deferred", "attempts %r" % tried)
	got = net.received()
	check(len(got) == 1 and got[0]["rcpts"] == ["a@pref.test"] and
	      got[0]["peer"] == SRC_IP and got[0]["helo"] == "EHLO sender.test",
	      "received %r" % got)
	# no MX: the domain's own A record
	expect(net.remote("noma.test", ["b@noma.test"]), "K", r"noma\.test\[")
	# null MX and a domain that does not exist: bounce at once
	expect(net.remote("nullmx.test", ["c@nullmx.test"]), "D",
	       r"5\.1\.10 Recipient address has null MX")
	expect(net.remote("nx.test", ["d@nx.test"]), "D", r"no such domain")
	# an MX with only an IPv6 address
	expect(net.remote("v6.test", ["e@v6.test"]), "K",
	       r"mx6\.v6\.test\[fd00:231::28\] said: 250")
	# transparency: LF to CRLF, dots doubled, no CRCRLF
	body = b"Subject: dots\n\n.leading dot\n..two\nCR before LF\r\nlast"
	expect(net.remote("noma.test", ["f@noma.test"], body=body), "K")
	data = net.received()[-1]["data"]
	check(data == "Subject: dots\r\n\r\n..leading dot\r\n...two\r\n"
	      "CR before LF\r\nlast\r\n", "data sent %r" % data)
test_remote_routing.timeout = 60


def test_remote_replies(fx):
	net = FakeNet(fx)
	# 4xx after the message: Z; the retry goes through
	expect(net.remote("tempfirst.test", ["a@tempfirst.test"]), "Z",
	       r"451 4\.3\.0 try again later")
	expect(net.remote("tempfirst.test", ["a@tempfirst.test"]), "K")
	# 5xx for the only recipient: h with the remote text, message D
	rc, msg, err, _ = net.remote("mixed.test", ["perm1@mixed.test"])
	check(rc == [("h", "mx.mixed.test[10.231.0.24] said: 550 5.1.1 "
	              "<perm1@mixed.test>: no such user here")],
	      "recipient reports %r" % rc)
	check(msg[0] == "D", "message report %r" % (msg,))
	# mixed results in one transaction
	rc, msg, err, _ = net.remote("mixed.test", ["ok1@mixed.test",
	                             "perm2@mixed.test", "temp3@mixed.test",
	                             "ok4@mixed.test"])
	check([c for c, t in rc] == ["r", "h", "s", "r"], "reports %r" % rc)
	check("450 4.2.1" in rc[2][1] and "550 5.1.1" in rc[1][1], "texts %r" % rc)
	check(msg[0] == "K", "message %r" % (msg,))
	got = net.received()[-1]
	check(got["rcpts"] == ["ok1@mixed.test", "ok4@mixed.test"],
	      "server got %r" % got["rcpts"])
	# a server that never speaks: timeout (3 s here), Z
	r = net.remote("hang.test", ["a@hang.test"])
	expect(r, "Z", r"timed out")
	check(r[3] < 15, "hang took %.1f s" % r[3])
	# dropped after the message: Z, never K
	expect(net.remote("drop.test", ["a@drop.test"]), "Z",
	       r"connection closed")
	# hostile replies: garbage and an endless multi-line greeting
	expect(net.remote("garbage.test", ["a@garbage.test"]), "Z",
	       r"malformed reply")
	expect(net.remote("big.test", ["a@big.test"]), "Z",
	       r"too many lines")
test_remote_replies.timeout = 90


def test_remote_tls(fx):
	net = FakeNet(fx)
	# STARTTLS offered: used, the certificate verified with the test CA
	r = net.remote("tls.test", ["a@tls.test"])
	expect(r, "K")
	check(re.search(r"event=attempt .* tls=TLSv1\.[23]", r[2]),
	      "no TLS in the log: %s" % r[2])
	check(net.received()[-1]["tls"], "message not sent over TLS")
	# verify against the wrong CA: deferred, never sent in plain text
	n = len(net.received())
	expect(net.remote("badca.test", ["a@badca.test"]), "Z",
	       r"certificate not verified")
	check(len(net.received()) == n, "sent despite a failed verification")
	# encrypt, no STARTTLS offered: deferred
	expect(net.remote("plain.test", ["a@plain.test"]), "Z",
	       r"TLS required but not offered")
	check(len(net.received()) == n, "sent without TLS under encrypt")
	# smarthost by smtproutes with AUTH PLAIN over TLS
	r = net.remote("relayed.test", ["x@relayed.test"])
	expect(r, "K", r"smart\.test\[10\.231\.0\.29\] said: 250")
	got = net.received()[-1]
	check(got["auth"] and got["tls"], "smarthost got %r" % got)
	check("s3cret" not in r[2], "password in the log")
	# the wrong password: deferred with the server's text
	fx.write_control("smtpauth", "smart.test:relayuser:wrong")
	expect(net.remote("relayed.test", ["x@relayed.test"]), "Z",
	       r"535 5\.7\.8")
test_remote_tls.timeout = 60


class NetWorld(dh.MailWorld):
	"""A MailWorld whose quail-send runs in the sender namespace."""

	def __init__(self, fx, net, **kw):
		self.net = net
		dh.MailWorld.__init__(self, fx, **kw)

	def start_send(self):
		before = len(self.events("start"))
		logf = open(self.log_path, "ab")
		try:
			p = subprocess.Popen(["ip", "netns", "exec", self.net.ns_s,
			                      dh.SEND],
			                     stdin=subprocess.DEVNULL,
			                     stdout=subprocess.DEVNULL, stderr=logf,
			                     env=self.env(QUAILREMOTE=REMOTE),
			                     cwd=self.fx.dir, start_new_session=True)
		finally:
			logf.close()
		self.send_proc = p
		self.send_procs.append(p)
		end = time.time() + dh.START_TIMEOUT
		while len(self.events("start")) <= before:
			check(p.poll() is None, "quail-send exited %s: %s" %
			      (p.returncode, self.log()[-500:]))
			check(time.time() < end, "quail-send did not log event=start")
			time.sleep(0.05)
		return p


def test_remote_queue_1000(fx):
	net = FakeNet(fx, sinks=True)
	w = NetWorld(fx, net)
	fx.write_control("concurrencyremote", "20")
	ids = {}
	for i in range(1000):
		dom = E2E_DOMAINS[i % 20]
		tid = "m%04d" % i
		body = ("Subject: e2e %s\nX-Test-Id: %s\n\nbody of %s\n.\n" %
		        (tid, tid, tid)).encode()
		ids[tid] = w.inject("sender@example.test", ["u%d@%s" % (i, dom)],
		                    body)
	w.start_send()
	w.wait_queue_empty(150)
	w.stop_send()
	seen = {}
	for d in net.dumps:
		for root, _, files in os.walk(d):
			for name in files:
				with open(os.path.join(root, name), "rb") as f:
					data = f.read()
				for m in re.findall(rb"X-Test-Id: (m\d{4})", data):
					seen[m.decode()] = seen.get(m.decode(), 0) + 1
	missing = sorted(set(ids) - set(seen))
	dup = sorted(k for k, v in seen.items() if v != 1)
	check(not missing and not dup, "missing %d (%r...), duplicated %d (%r...)"
	      % (len(missing), missing[:5], len(dup), dup[:5]))
	ok = [e for e in w.events("delivery", result="ok")
	      if e["prog"] == "quail-send"]
	check(len(ok) == 1000, "%d deliveries logged ok" % len(ok))
	for line in w.log().splitlines():
		check(": fatal:" not in line, "fatal log line: %s" % line)
test_remote_queue_1000.timeout = 200
