"""Integration tests for CONDSTORE and QRESYNC (RFC 7162) in quail-imapd:
ENABLE, SELECT's HIGHESTMODSEQ and QRESYNC parameter, STATUS
HIGHESTMODSEQ, FETCH MODSEQ and CHANGEDSINCE, STORE UNCHANGEDSINCE,
SEARCH MODSEQ and VANISHED, with a second session changing the folder.
Raw sockets, so every response line can be checked as sent."""

import re

from harness import check
from test_imap import World, message, raw_login, until_tagged


class Raw:
	"""One logged-in session over a raw socket."""

	def __init__(self, w):
		self.s, self.f = raw_login(w)
		self.n = 0

	def cmd(self, text):
		"""Sends one command; returns (untagged lines, tagged line) as
		str without CRLF."""
		self.n += 1
		tag = b"t%d" % self.n
		self.s.sendall(tag + b" " + text.encode() + b"\r\n")
		got = [l.decode().rstrip("\r\n") for l in until_tagged(self.f, tag)]
		return got[:-1], got[-1][len(tag) + 1:]

	def ok(self, text):
		lines, tagged = self.cmd(text)
		check(tagged.startswith("OK"), "%s: %r %r" % (text, lines, tagged))
		return lines, tagged

	def bad(self, text):
		lines, tagged = self.cmd(text)
		check(tagged.startswith("BAD"), "%s: not BAD: %r %r" %
		      (text, lines, tagged))

	def close(self):
		self.s.close()


def highest(lines):
	for l in lines:
		m = re.search(r"\[HIGHESTMODSEQ (\d+)\]", l)
		if m:
			return int(m.group(1))
	return None


def fetches(lines):
	"""{uid: (flags but \\Recent, modseq)} of the FETCH responses."""
	out = {}
	for l in lines:
		m = re.match(r"\* \d+ FETCH \((.*)\)$", l)
		if not m:
			continue
		body = m.group(1)
		uid = re.search(r"UID (\d+)", body)
		ms = re.search(r"MODSEQ \((\d+)\)", body)
		fl = re.search(r"FLAGS \(([^)]*)\)", body)
		check(uid, "FETCH without UID: %r" % l)
		flags = [f for f in fl.group(1).split() if f != "\\Recent"] \
			if fl else None
		out[int(uid.group(1))] = (flags,
		                          int(ms.group(1)) if ms else None)
	return out


def vanished(lines, earlier=False):
	pre = "* VANISHED (EARLIER) " if earlier else "* VANISHED "
	for l in lines:
		if l.startswith(pre):
			return l[len(pre):]
	return None


def setup(fx, n=5):
	w = World(fx)
	for i in range(n):
		w.deliver(message("cs %d" % i))
	return w


def select_uids(c):
	lines, _ = c.ok("UID SEARCH ALL")
	return [int(x) for x in lines[0].split()[2:]]


def test_condstore_enable_select_status(fx):
	"""CAPABILITY offers both; ENABLE answers ENABLED; SELECT (CONDSTORE)
	and STATUS HIGHESTMODSEQ report the folder's highest modseq."""
	w = setup(fx)
	a = Raw(w)
	lines, _ = a.ok("CAPABILITY")
	check(" CONDSTORE" in lines[0] and " QRESYNC" in lines[0],
	      "capability %r" % lines)
	# plain SELECT before any enabling command: no HIGHESTMODSEQ
	lines, _ = a.ok("SELECT INBOX")
	check(highest(lines) is None, "HIGHESTMODSEQ unasked: %r" % lines)
	lines, _ = a.ok("SELECT INBOX (CONDSTORE)")
	top = highest(lines)
	check(top is not None and top >= 1, "SELECT (CONDSTORE) %r" % lines)
	lines, _ = a.ok("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
	check(lines == ['* STATUS "INBOX" (HIGHESTMODSEQ %d MESSAGES 5)' % top],
	      "STATUS %r" % lines)
	b = Raw(w)
	lines, _ = b.ok("ENABLE CONDSTORE")
	check(lines == ["* ENABLED CONDSTORE"], "ENABLED %r" % lines)
	lines, _ = b.ok("ENABLE CONDSTORE X-UNKNOWN")
	check(lines == ["* ENABLED"], "enabled twice %r" % lines)
	lines, _ = b.ok("EXAMINE INBOX")
	check(highest(lines) == top, "EXAMINE after ENABLE %r" % lines)
	c = Raw(w)
	lines, _ = c.ok("ENABLE QRESYNC")
	check(lines == ["* ENABLED QRESYNC"], "ENABLED %r" % lines)
	lines, _ = c.ok("SELECT INBOX")
	check(highest(lines) == top, "QRESYNC implies CONDSTORE %r" % lines)
	# bad syntax
	a.bad("ENABLE")
	a.bad("SELECT INBOX (BOGUS)")
	a.bad("SELECT INBOX (CONDSTORE) extra")
	a.bad("STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)")
	a.bad("STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)")
	a.bad("STORE 1 (UNCHANGEDSINCE 99999999999999999999) +FLAGS (\\Seen)")
	a.bad("STORE 1 (FOO 1) +FLAGS (\\Seen)")
	for x in (a, b, c):
		x.close()
	w.check_clean()


def test_condstore_store_modseq(fx):
	"""A STORE raises the message's modseq above the highest; its FETCH
	and the unsolicited FETCH another session sees carry MODSEQ;
	.SILENT still reports the new MODSEQ."""
	w = setup(fx)
	a, b = Raw(w), Raw(w)
	a.ok("ENABLE CONDSTORE")
	b.ok("ENABLE CONDSTORE")
	top = highest(a.ok("SELECT INBOX")[0])
	b.ok("SELECT INBOX")
	uids = select_uids(a)
	lines, _ = a.ok("UID STORE %d +FLAGS (\\Flagged)" % uids[1])
	got = fetches(lines)
	check(list(got) == [uids[1]] and got[uids[1]][0] == ["\\Flagged"] and
	      got[uids[1]][1] > top, "STORE %r" % lines)
	ms = got[uids[1]][1]
	lines, _ = b.ok("NOOP")
	got = fetches(lines)
	check(got.get(uids[1]) == (["\\Flagged"], ms), "B saw %r" % lines)
	lines, _ = a.ok("STORE 3 +FLAGS.SILENT (\\Seen)")
	got = fetches(lines)
	check(list(got) == [uids[2]] and got[uids[2]][0] is None and
	      got[uids[2]][1] > ms, ".SILENT %r" % lines)
	# setting flags a message already has changes no modseq
	lines, _ = a.ok("STORE 3 +FLAGS.SILENT (\\Seen)")
	check(fetches(lines) == {}, "no change reported %r" % lines)
	lines, _ = a.ok("STATUS INBOX (HIGHESTMODSEQ)")
	check("HIGHESTMODSEQ %d)" % got[uids[2]][1] in lines[0],
	      "STATUS %r" % lines)
	a.close()
	b.close()
	w.check_clean()


def test_condstore_unchangedsince(fx):
	"""STORE (UNCHANGEDSINCE m): messages changed after m are left as they
	are and named in [MODIFIED]; the rest are changed."""
	w = setup(fx)
	a, b = Raw(w), Raw(w)
	top = highest(a.ok("SELECT INBOX (CONDSTORE)")[0])
	b.ok("SELECT INBOX (CONDSTORE)")
	uids = select_uids(a)
	# B changes message 2 behind A's back
	b.ok("STORE 2 +FLAGS (\\Answered)")
	lines, tagged = a.ok("STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" %
	                     top)
	check(tagged.startswith("OK [MODIFIED 2]"), "tagged %r" % tagged)
	got = fetches(lines)
	check(got[uids[0]][0] == ["\\Seen"] and got[uids[2]][0] == ["\\Seen"],
	      "changed %r" % lines)
	check(got[uids[1]][0] == ["\\Answered"], "2 untouched %r" % lines)
	lines, _ = a.ok("UID FETCH %d (FLAGS)" % uids[1])
	check(fetches(lines)[uids[1]][0] == ["\\Answered"], "2 %r" % lines)
	# UID STORE names UIDs; 0 always fails
	lines, tagged = a.ok("UID STORE %d,%d (UNCHANGEDSINCE 0) -FLAGS "
	                     "(\\Seen)" % (uids[0], uids[4]))
	check(tagged.startswith("OK [MODIFIED %d,%d]" % (uids[0], uids[4])),
	      "tagged %r" % tagged)
	check(fetches(lines) == {}, "nothing changed %r" % lines)
	# a modseq at or above the message's passes
	ms = fetches(a.ok("UID FETCH %d (FLAGS)" % uids[0])[0])[uids[0]][1]
	lines, tagged = a.ok("STORE 1 (UNCHANGEDSINCE %d) -FLAGS (\\Seen)" % ms)
	check(tagged.startswith("OK STORE"), "tagged %r" % tagged)
	got = fetches(lines)
	check(got[uids[0]][0] == [] and got[uids[0]][1] > ms, "%r" % lines)
	a.close()
	b.close()
	w.check_clean()


def test_condstore_vanished(fx):
	"""Under QRESYNC, EXPUNGE, UID EXPUNGE, MOVE and another session's
	expunge are reported as VANISHED; CLOSE and EXPUNGE give the new
	HIGHESTMODSEQ."""
	w = setup(fx, 6)
	a, b = Raw(w), Raw(w)
	a.ok("ENABLE QRESYNC")
	top = highest(a.ok("SELECT INBOX")[0])
	b.ok("SELECT INBOX")
	uids = select_uids(a)
	a.ok("STORE 2:3 +FLAGS.SILENT (\\Deleted)")
	lines, tagged = a.ok("EXPUNGE")
	check(vanished(lines) == "%d:%d" % (uids[1], uids[2]) and
	      not any(l.endswith(" EXPUNGE") for l in lines),
	      "EXPUNGE %r" % lines)
	h = highest([tagged])
	check(h is not None and h > top, "tagged %r" % tagged)
	# B has not enabled QRESYNC: plain EXPUNGE responses
	lines, _ = b.ok("NOOP")
	check([l for l in lines if l.endswith(" EXPUNGE")] ==
	      ["* 3 EXPUNGE", "* 2 EXPUNGE"], "B %r" % lines)
	b.ok("STORE 1 +FLAGS (\\Deleted)")
	b.ok("EXPUNGE")
	lines, _ = a.ok("NOOP")
	check(vanished(lines) == str(uids[0]), "A saw %r" % lines)
	a.ok("CREATE Other")
	lines, _ = a.ok("UID MOVE %d Other" % uids[3])
	check(vanished(lines) == str(uids[3]), "MOVE %r" % lines)
	a.ok("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uids[4])
	lines, tagged = a.ok("UID EXPUNGE %d" % uids[4])
	check(vanished(lines) == str(uids[4]), "UID EXPUNGE %r" % lines)
	h = highest([tagged])
	a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
	lines, tagged = a.ok("CLOSE")
	check(not lines and highest([tagged]) > h, "CLOSE %r %r" % (lines, tagged))
	lines, _ = a.ok("STATUS INBOX (MESSAGES HIGHESTMODSEQ)")
	check(lines == ['* STATUS "INBOX" (MESSAGES 0 HIGHESTMODSEQ %d)' %
	                highest([tagged])], "STATUS after CLOSE %r" % lines)
	a.close()
	b.close()
	w.check_clean()


def test_qresync_select(fx):
	"""SELECT (QRESYNC (validity modseq [known])) after another session
	expunged and changed flags: VANISHED (EARLIER) for the UIDs gone,
	FETCH with MODSEQ for what changed; a wrong UIDVALIDITY gets
	neither."""
	w = setup(fx, 6)
	a = Raw(w)
	a.ok("ENABLE QRESYNC")
	lines, _ = a.ok("SELECT INBOX")
	top = highest(lines)
	validity = int(re.search(r"UIDVALIDITY (\d+)",
	                         "\n".join(lines)).group(1))
	uids = select_uids(a)
	a.ok("UNSELECT")
	b = Raw(w)
	b.ok("SELECT INBOX")
	b.ok("STORE 2,5 +FLAGS.SILENT (\\Deleted)")
	b.ok("EXPUNGE")
	b.ok("STORE 1 +FLAGS (\\Flagged)")
	b.close()
	lines, tagged = a.ok("SELECT INBOX (QRESYNC (%d %d))" % (validity, top))
	check(vanished(lines, True) == "%d,%d" % (uids[1], uids[4]),
	      "VANISHED %r" % lines)
	got = fetches(lines)
	check(list(got) == [uids[0]] and got[uids[0]][0] == ["\\Flagged"] and
	      got[uids[0]][1] > top, "FETCH %r" % lines)
	check(highest(lines) > top and tagged.startswith("OK [READ-WRITE]"),
	      "%r %r" % (lines, tagged))
	# known UIDs limit both; UIDs never used count as vanished too
	lines, _ = a.ok("EXAMINE INBOX (QRESYNC (%d %d %d:%d,%d:%d))" %
	                (validity, top, uids[2], uids[4], uids[5] + 1,
	                 uids[5] + 3))
	check(vanished(lines, True) == str(uids[4]) and fetches(lines) == {},
	      "known %r" % lines)
	lines, _ = a.ok("EXAMINE INBOX (QRESYNC (%d 1 1:* (1:3 %d,%d,%d)))" %
	                (validity, uids[0], uids[1], uids[2]))
	check(vanished(lines, True) == "%d,%d" % (uids[1], uids[4]) and
	      sorted(fetches(lines)) == [uids[0], uids[2], uids[3], uids[5]],
	      "seq-match-data %r" % lines)
	lines, _ = a.ok("SELECT INBOX (QRESYNC (%d %d))" % (validity + 1, top))
	check(vanished(lines, True) is None and fetches(lines) == {},
	      "other validity %r" % lines)
	a.bad("SELECT INBOX (QRESYNC (%d 0))" % validity)
	a.bad("SELECT INBOX (QRESYNC (%d))" % validity)
	a.bad("SELECT INBOX (QRESYNC (0 1))")
	a.bad("SELECT INBOX (QRESYNC (%d 1 x))" % validity)
	a.bad("SELECT INBOX (QRESYNC (%d 1 1:5 (1:2)))" % validity)
	a.bad("SELECT INBOX (QRESYNC)")
	c = Raw(w)
	c.bad("SELECT INBOX (QRESYNC (%d 1))" % validity)   # not enabled
	a.close()
	c.close()
	w.check_clean()


def test_condstore_fetch(fx):
	"""FETCH MODSEQ; FETCH (CHANGEDSINCE m) answers only for messages
	changed after m, MODSEQ implied; under QRESYNC UID FETCH
	(CHANGEDSINCE m VANISHED) names the UIDs gone as VANISHED
	(EARLIER); once enabled, FETCH FLAGS carries MODSEQ."""
	w = setup(fx, 5)
	a, b = Raw(w), Raw(w)
	lines, _ = a.ok("SELECT INBOX")
	check(highest(lines) is None, "%r" % lines)
	lines, _ = a.ok("FETCH 1:* (FLAGS)")
	check(all("MODSEQ" not in l for l in lines), "MODSEQ unasked %r" % lines)
	lines, _ = a.ok("UID FETCH 1:* (MODSEQ)")
	got = fetches(lines)
	check(len(got) == 5 and all(v[1] for v in got.values()), "%r" % lines)
	top = max(v[1] for v in got.values())
	uids = sorted(got)
	lines, _ = a.ok("FETCH 2 FLAGS")
	check(re.match(r"\* 2 FETCH \(FLAGS \(.*\) MODSEQ \(\d+\)\)$", lines[0]),
	      "FLAGS after CONDSTORE %r" % lines)
	lines, _ = a.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % top)
	check(lines == [], "nothing changed %r" % lines)
	b.ok("SELECT INBOX")
	b.ok("STORE 2,4 +FLAGS (\\Flagged)")
	lines, _ = a.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % top)
	got = fetches(lines)
	check(sorted(got) == [uids[1], uids[3]] and
	      all(v[0] == ["\\Flagged"] and v[1] > top for v in got.values()),
	      "CHANGEDSINCE %r" % lines)
	# the \\Seen a body fetch sets comes with its new modseq
	lines, _ = a.ok("UID FETCH %d (BODY[])" % uids[4])
	m = re.search(r"FLAGS \(\\Seen[^)]*\) MODSEQ \((\d+)\)", "".join(lines))
	check(m and int(m.group(1)) > max(v[1] for v in got.values()),
	      "implicit \\Seen %r" % lines)
	lines, _ = a.ok("FETCH 1 MODSEQ")
	check(re.match(r"\* 1 FETCH \(MODSEQ \(\d+\)\)$", lines[0]),
	      "MODSEQ alone %r" % lines)
	a.bad("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % top)
	a.bad("FETCH 1:* (FLAGS) (CHANGEDSINCE)")
	a.bad("FETCH 1:* (FLAGS) (CHANGEDSINCE x)")
	a.bad("FETCH 1:* (FLAGS) (BOGUS 1)")
	a.bad("FETCH 1 (MODSEQ FLAGS) extra (CHANGEDSINCE 1)")
	c = Raw(w)
	c.ok("ENABLE QRESYNC")
	c.ok("SELECT INBOX")
	b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
	b.ok("EXPUNGE")
	lines, _ = c.ok("NOOP")
	check(vanished(lines) == str(uids[2]), "NOOP %r" % lines)
	lines, _ = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % top)
	check(vanished(lines, True) == str(uids[2]), "VANISHED %r" % lines)
	check(sorted(fetches(lines)) == [uids[1], uids[3], uids[4]],
	      "FETCH %r" % lines)
	c.bad("FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % top)
	c.bad("UID FETCH 1:* (FLAGS) (VANISHED)")
	for x in (a, b, c):
		x.close()
	w.check_clean()


def test_condstore_search(fx):
	"""SEARCH MODSEQ m finds messages changed at or after m and ends with
	(MODSEQ highest-of-matches); the entry name and type are accepted."""
	w = setup(fx, 4)
	a = Raw(w)
	top = highest(a.ok("SELECT INBOX (CONDSTORE)")[0])
	uids = select_uids(a)
	lines, _ = a.ok("UID STORE %d +FLAGS (\\Seen)" % uids[2])
	ms = fetches(lines)[uids[2]][1]
	lines, _ = a.ok("UID SEARCH MODSEQ %d" % (top + 1))
	check(lines == ["* SEARCH %d (MODSEQ %d)" % (uids[2], ms)],
	      "SEARCH %r" % lines)
	lines, _ = a.ok('SEARCH MODSEQ "/flags/\\\\seen" all %d' % (top + 1))
	check(lines == ["* SEARCH 3 (MODSEQ %d)" % ms], "entry %r" % lines)
	lines, _ = a.ok("SEARCH MODSEQ %d" % (ms + 1))
	check(lines == ["* SEARCH"], "none %r" % lines)
	lines, _ = a.ok("SEARCH UNSEEN")
	check(lines == ["* SEARCH 1 2 4"], "no MODSEQ key %r" % lines)
	a.bad("SEARCH MODSEQ")
	a.bad("SEARCH MODSEQ x")
	a.bad('SEARCH MODSEQ "/flags/\\\\seen" bogus 1')
	a.close()
	w.check_clean()
