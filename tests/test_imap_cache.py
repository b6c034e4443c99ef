"""Integration tests for quail-imapd's folder cache (imapd/cache.h): FETCH
ENVELOPE, BODY and BODYSTRUCTURE answered from quail-cache are the same
bytes as computed from the message, SEARCH answers the same, and a
damaged, foreign or stale cache file is ignored and replaced.
"""

import os
import struct

import test_imap as ti
from harness import check

NONE = b"BODY[HEADER.FIELDS (X-NONE)] {2}\r\n\r\n "

MESSAGES = [
	ti.message("plain one"),
	ti.message("with sender", extra="Sender: Sec <sec@x.test>\n"
	           "Reply-To: grp: a@x.test, \"B\" <b@x.test>;\n"
	           "Cc: undisclosed-recipients:;\nBcc: <@route:c@x.test>\n"),
	("From: =?UTF-8?Q?J=C3=B6rg?= <j@x.test>\nSubject: \xc3\xa4 8bit "
	 "\"quoted\" \\ back\nTo: (comment) d@x.test (more)\nIn-Reply-To: "
	 "<a@b>\nDate: Tue, 3 Mar 2026 11:00:00 +0100\n\nbody\n").encode(),
	("From: a@x.test\nSubject: multi\nMIME-Version: 1.0\nContent-Type: "
	 "multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; "
	 "charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nhi=\n"
	 "\n--b1\nContent-Type: message/rfc822\nContent-Disposition: inline; "
	 "filename=\"m.eml\"\nContent-Language: de\n\nFrom: in@x.test\n"
	 "Subject: inner\n\ninner body\n--b1\nContent-Type: application/pdf; "
	 "name=x.pdf\nContent-ID: <p@x>\nContent-Description: a file\n"
	 "Content-Transfer-Encoding: base64\n\nAAAA\n--b1--\n").encode(),
	b"Subject: no body, no blank line\nFrom: z@x.test",
	b"\nbody only, no header\n",
	b"Subject: folded\n  over\tlines\nFrom: \"q\\\"uote\" <q@x.test>\n"
	b"X-Empty:\nTo:\n\nbare\rcr\n",
	b"",
]

ITEMS = "(ENVELOPE BODY BODYSTRUCTURE)"


def responses(w, cmd):
	"""The untagged FETCH lines (literals inline) of one command."""
	s, f = ti.raw_login(w)
	s.sendall(b"S SELECT INBOX\r\n")
	ti.until_tagged(f, b"S")
	s.sendall(b"F " + cmd.encode() + b"\r\n")
	out = ti.until_tagged(f, b"F")
	f.close()               # the socket stays open while f holds it
	s.close()
	# the session ends at EOF, after the reply, and may write quail-cache
	# then: what the caller finds on disk must include that
	w.server.wait_all_ended()
	check(out[-1].startswith(b"F OK"), "%s: %r" % (cmd, out[-1]))
	return b"".join(out[:-1])


def computed(w):
	"""The answer without the cache: a section needs the text anyway."""
	r = responses(w, "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-NONE)] %s)" %
	              ITEMS[1:-1])
	check(r.count(NONE) == len(MESSAGES), "sections: %r" % r[:300])
	return r.replace(NONE, b"")


def cache_path(w):
	return os.path.join(w.maildir(), "quail-cache")


def deliver_all(w):
	for m in MESSAGES:
		w.deliver(m)
	# one name without ,S= and ,W=: the key's size comes from stat()
	c = w.client(select="INBOX")
	ti.safe_logout(c)
	cur = os.path.join(w.maildir(), "cur")
	n = sorted(os.listdir(cur))[0]
	base, info = n.split(":", 1)
	os.rename(os.path.join(cur, n),
	          os.path.join(cur, base.split(",")[0] + ":" + info))


def test_cache_same_bytes(fx):
	w = ti.World(fx)
	deliver_all(w)
	want = computed(w)
	check(not os.path.exists(cache_path(w)), "cache written by a section")
	first = responses(w, "FETCH 1:* " + ITEMS)
	check(os.path.exists(cache_path(w)), "no cache written")
	warm = responses(w, "FETCH 1:* " + ITEMS)
	check(first == want, "computed vs first:\n%r\n%r" % (want, first))
	check(warm == want, "computed vs cached:\n%r\n%r" % (want, warm))
	one = responses(w, "UID FETCH 3 (BODYSTRUCTURE ENVELOPE)")
	check(b"BODYSTRUCTURE (" in one and b"ENVELOPE (" in one, repr(one))
	w.check_clean()


def test_cache_search(fx):
	w = ti.World(fx)
	deliver_all(w)
	keys = ["SUBJECT multi", "SUBJECT \"\"", "FROM x.test", "TO d@x",
	        "CC undisclosed", "BCC route", "HEADER Message-ID plain",
	        "HEADER X-Empty \"\"", "HEADER SUBJECT 8bit",
	        "SENTON 3-Mar-2026", "SENTBEFORE 3-Mar-2026",
	        "OR SUBJECT folded FROM j@x", "NOT SUBJECT o", "TO \"\""]

	def all_keys():
		c = w.client(select="INBOX")
		out = []
		for k in keys:
			typ, d = c.search(None, k)
			check(typ == "OK", "%s: %r" % (k, d))
			out.append(d[0])
		ti.safe_logout(c)
		return out

	cold = all_keys()
	check(os.path.exists(cache_path(w)), "no cache written")
	warm = all_keys()
	os.unlink(cache_path(w))
	check(cold == warm, "%r\n%r" % (cold, warm))
	check(len(cold[0].split()) == 1 and len(cold[1].split()) == 6,
	      "SUBJECT: %r" % cold[:2])
	w.check_clean()


def test_cache_damaged(fx):
	w = ti.World(fx)
	deliver_all(w)
	want = computed(w)
	responses(w, "FETCH 1:* " + ITEMS)
	p = cache_path(w)
	with open(p, "rb") as f:
		good = f.read()
	n = len(good)
	for at in (0, 12, 30, n // 2, n - 3):
		bad = bytearray(good)
		bad[at] ^= 0x41
		with open(p, "wb") as f:
			f.write(bad)
		got = responses(w, "FETCH 1:* " + ITEMS)
		check(got == want, "damaged at %d: %r" % (at, got[:200]))
	for data in (good[:n // 2], b"", b"QCACHE1\n" + b"\xff" * 100):
		with open(p, "wb") as f:
			f.write(data)
		check(responses(w, "FETCH 1:* " + ITEMS) == want, "short file")
	# from another folder's life: another uidvalidity
	bad = bytearray(good)
	bad[8] ^= 1
	with open(p, "wb") as f:
		f.write(bad)
	check(responses(w, "FETCH 1:* " + ITEMS) == want, "validity")
	w.check_clean()


def count(w):
	with open(cache_path(w), "rb") as f:
		h = f.read(24)
	return struct.unpack("<I", h[12:16])[0]


def test_cache_expunge(fx):
	w = ti.World(fx)
	for i in range(3):
		w.deliver(ti.message("m%d" % i))
	c = w.client(select="INBOX")
	typ, _ = c.fetch("1:*", "(ENVELOPE)")
	check(typ == "OK" and count(w) == 3, "3 entries")
	c.store("2", "+FLAGS", "(\\Deleted)")
	c.expunge()
	w.deliver(ti.message("m3"))
	c.noop()
	typ, d = c.fetch("1:*", "(ENVELOPE)")
	check(typ == "OK" and len(d) == 3, repr(d))
	check(count(w) == 3, "expunged entry kept: %d" % count(w))
	check(not [x for x in os.listdir(os.path.join(w.maildir(), "tmp"))],
	      "temporary file left")
	ti.safe_logout(c)
	w.check_clean()


def test_cache_kept_at_close(fx):
	"""Entries too few to rewrite the file after a command still reach it
	when the session leaves the folder (SELECT of another one) and when
	it logs out."""
	w = ti.World(fx)
	for i in range(20):
		w.deliver(ti.message("m%d" % i))
	c = w.client(select="INBOX")
	typ, _ = c.fetch("1:*", "(ENVELOPE)")
	check(typ == "OK" and count(w) == 20, "first fetch: the whole folder")
	ti.safe_logout(c)
	w.deliver(ti.message("late"))
	c = w.client(select="INBOX")
	typ, _ = c.fetch("21", "(ENVELOPE)")
	check(typ == "OK" and count(w) == 20, "one new entry below the ratio "
	      "written at once: %d" % count(w))
	c.select("Sent")
	check(count(w) == 21, "not written when leaving the folder: %d" %
	      count(w))
	w.deliver(ti.message("later"))
	c.select("INBOX")
	typ, _ = c.fetch("22", "(ENVELOPE)")
	ti.safe_logout(c)
	check(count(w) == 22, "not written at logout: %d" % count(w))
	w.check_clean()
