#!/usr/bin/python3
"""Integration test runner.

Usage: python3 tests/itest.py [PATTERN]

Imports every tests/test_*.py and runs each top-level function named
test_* (in file order, then name order) whose "file.name" contains
PATTERN. Each test gets a fresh harness.Fixture (its own temp dir,
control files and queue) and runs in this process under a SIGALRM
deadline: 120 s, or the function's `timeout` attribute. Afterwards every
process the test started is killed (each server runs in its own process
group) and the temp dir removed (kept when ITEST_KEEP is set).

Prints one line per test, "PASS file.name (1.2s)" or "FAIL file.name:
reason" with the traceback indented below, and exits 1 if any failed.
A test that does not apply here raises harness.Skip and prints
"PASS file.name (skipped: why)".
"""

import importlib
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True         # no __pycache__ in the tree

import harness  # noqa: E402

DEFAULT_TIMEOUT = 120


class Timeout(Exception):
	pass


def on_alarm(signum, frame):
	raise Timeout("timed out")


def collect(pattern):
	tests = []
	for fname in sorted(os.listdir(HERE)):
		if not (fname.startswith("test_") and fname.endswith(".py")):
			continue
		modname = fname[:-3]
		try:
			mod = importlib.import_module(modname)
		except Exception:
			tests.append((modname, "import", None, traceback.format_exc()))
			continue
		for name in sorted(dir(mod)):
			fn = getattr(mod, name)
			if name.startswith("test_") and callable(fn) and \
			   getattr(fn, "__module__", None) == modname:
				full = "%s.%s" % (modname, name)
				if pattern is None or pattern in full:
					tests.append((modname, name, fn, None))
	return tests


def one_line(text):
	text = " ".join(str(text).split())
	return text if len(text) <= 300 else text[:297] + "..."


def indent(text):
	return "".join("    " + line + "\n" for line in text.rstrip().splitlines())


def run_one(name, fn):
	"""Returns (ok, summary, details)."""
	fx = None
	keep = bool(os.environ.get("ITEST_KEEP"))
	signal.alarm(int(getattr(fn, "timeout", DEFAULT_TIMEOUT)))
	try:
		fx = harness.Fixture(name.split(".")[-1])
		fn(fx)
		return True, None, None
	except harness.Skip as e:
		return True, "skipped: %s" % e, None
	except BaseException as e:
		if isinstance(e, KeyboardInterrupt):
			raise
		why = "%s: %s" % (type(e).__name__, e) if not isinstance(
			e, (harness.TestFailure, Timeout)) else str(e)
		details = traceback.format_exc()
		if fx is not None:
			details += "temp dir: %s%s\n" % (
				fx.dir, "" if keep else " (removed; ITEST_KEEP=1 keeps it)")
			tail = fx.logs().splitlines()[-15:]
			if tail:
				details += "server log (tail):\n" + indent("\n".join(tail))
		return False, one_line(why), details
	finally:
		signal.alarm(0)
		if fx is not None:
			# Cleanup runs with its own deadline: a stuck cleanup must
			# not hang the run either.
			signal.alarm(30)
			try:
				fx.close(keep=keep)
			except Timeout:
				pass
			finally:
				signal.alarm(0)


def main():
	pattern = sys.argv[1] if len(sys.argv) > 1 else None
	signal.signal(signal.SIGALRM, on_alarm)
	os.umask(0o022)
	failed = 0
	tests = collect(pattern)
	if not tests:
		print("FAIL itest: no test matches %r" % pattern)
		return 1
	for modname, name, fn, import_error in tests:
		full = "%s.%s" % (modname, name)
		if fn is None:
			print("FAIL %s: cannot import" % full)
			sys.stdout.write(indent(import_error))
			failed += 1
			continue
		t0 = time.time()
		ok, summary, details = run_one(full, fn)
		secs = time.time() - t0
		if ok:
			extra = "; " + summary if summary else ""
			print("PASS %s (%.1fs%s)" % (full, secs, extra), flush=True)
		else:
			failed += 1
			print("FAIL %s: %s" % (full, summary), flush=True)
			sys.stdout.write(indent(details))
		sys.stdout.flush()
	return 1 if failed else 0


if __name__ == "__main__":
	sys.exit(main())
