# bench/lib.sh: shell helpers shared by the benchmark scripts.
#
# Source it from bash (". bench/lib.sh"); it defines functions and a few
# settings and starts nothing by itself.  What it gives:
#
#   bench_tmp_make         private scratch dir (BENCH_TMP), removed on exit
#   bench_on_exit CMD      run CMD (a function name) during cleanup
#   bench_bg NAME CMD...   start CMD in the background, remember its pid
#   bench_free_port        an unused TCP port on 127.0.0.1
#   bench_wait_port PORT   wait until something listens on 127.0.0.1:PORT
#   bench_timed ...        run a command under a timeout and report wall
#                          time and CPU (its own, a server tree's, the box's)
#   bench_fsync_rate ...   parallel create+write+fsync+close files/s
#   bench_median, bench_div, bench_kv
#   bench_postfix_*        a private Postfix instance on a high port
#
# Everything is bounded in time and listens on 127.0.0.1 only.  Processes
# are stopped by the pids we started, never by name.

# Functions hand results back in BENCH_* variables the scripts read.
# shellcheck disable=SC2034

BENCH_PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
[ -x "$BENCH_PYTHON" ] || BENCH_PYTHON=python3
BENCH_TMPBASE=${BENCH_TMPBASE:-/var/tmp}
BENCH_TMP=
BENCH_PIDS=()
BENCH_EXIT_HOOKS=()

bench_say() {
	printf '%s\n' "$*"
}

bench_warn() {
	printf 'bench: %s\n' "$*" >&2
}

bench_die() {
	printf 'bench: fatal: %s\n' "$*" >&2
	exit 111
}

# bench_need CMD...: die unless each command can be run.
bench_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || bench_die "missing program: $c"
	done
}

# --- cleanup -------------------------------------------------------------

bench_on_exit() {
	BENCH_EXIT_HOOKS+=("$1")
}

# bench_kill_tree PID: TERM a process and everything below it, found by
# parent pid, then KILL whatever is left after a second.
bench_kill_tree() {
	local pid=$1 k i left
	local -a all
	read -r -a all <<<"$pid $(bench_descendants "$pid")"
	kill -TERM "${all[@]}" 2>/dev/null
	for i in 1 2 3 4 5 6 7 8 9 10; do
		left=0
		for k in "${all[@]}"; do
			kill -0 "$k" 2>/dev/null && left=1
		done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	for k in "${all[@]}"; do
		kill -0 "$k" 2>/dev/null && kill -KILL "$k" 2>/dev/null
	done
	wait "$pid" 2>/dev/null
	return 0
}

# bench_descendants PID: the pids below PID, children first.
bench_descendants() {
	local kid
	for kid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		printf '%s ' "$kid"
		bench_descendants "$kid"
	done
}

bench_cleanup() {
	local h p
	trap - EXIT INT TERM HUP
	for h in "${BENCH_EXIT_HOOKS[@]}"; do
		"$h" || true
	done
	for p in "${BENCH_PIDS[@]}"; do
		bench_kill_tree "$p"
	done
	if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
		rm -rf -- "$BENCH_TMP"
	fi
}

bench_trap() {
	trap 'bench_cleanup' EXIT
	trap 'bench_warn interrupted; exit 111' INT TERM HUP
}

# bench_tmp_make: make BENCH_TMP under BENCH_TMPBASE.  Mode 755, because
# unprivileged daemons (Postfix's) must reach their files below it.
#
# ext4 without a journal (this machine's root) will not reuse an inode
# freed in the last 5-10 minutes: every new inode in a block group scans
# past all of them, one buffer lookup each.  A bench that deletes what
# an earlier run made would bill that scan to the next run.  So each
# bench keeps what its rounds make until it exits, and BENCH_TMP is made
# the top of a directory hierarchy (chattr +T, where ext4 allows), so
# the directories under it go to roomy block groups rather than next to
# the trees of benches deleted a minute ago.
bench_tmp_make() {
	BENCH_TMP=$(mktemp -d "$BENCH_TMPBASE/quail-bench.XXXXXX") ||
		bench_die "cannot make a temp dir in $BENCH_TMPBASE"
	chmod 755 "$BENCH_TMP" || bench_die "chmod $BENCH_TMP"
	chattr +T "$BENCH_TMP" 2>/dev/null || :
}

# bench_bg NAME LOG CMD...: start CMD in the background with its output in
# LOG; the pid lands in BENCH_BG_PID and is stopped at exit.
bench_bg() {
	local name=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 </dev/null &
	BENCH_BG_PID=$!
	BENCH_PIDS+=("$BENCH_BG_PID")
	kill -0 "$BENCH_BG_PID" 2>/dev/null || bench_die "$name did not start"
}

# bench_stop PID: stop one process started with bench_bg, and forget it.
bench_stop() {
	bench_kill_tree "$1"
	bench_forget "$1"
}

bench_forget() {
	local p keep=()
	for p in "${BENCH_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	BENCH_PIDS=("${keep[@]}")
}

# bench_run OUT CMD...: run CMD with its stdout in OUT and return its exit
# status.  CMD runs in the background and we wait for it: bash runs a
# trap only between foreground commands, so this way a signal stops the
# benchmark at once instead of after the run.
bench_run() {
	local out=$1 pid rc
	shift
	"$@" >"$out" </dev/null &
	pid=$!
	BENCH_PIDS+=("$pid")
	wait "$pid"
	rc=$?
	bench_forget "$pid"
	return "$rc"
}

# --- ports ---------------------------------------------------------------

# bench_free_port: print a TCP port on 127.0.0.1 that nothing listens on.
# The kernel picks it; there is a small window before our server binds it.
bench_free_port() {
	"$BENCH_PYTHON" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

bench_listening() {
	[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# bench_wait_port PORT [SECONDS]: wait for a listener, without connecting
# (a connection would start a server session we then have to account for).
bench_wait_port() {
	local port=$1 limit=${2:-30} i
	for ((i = 0; i < limit * 10; i++)); do
		bench_listening "$port" && return 0
		sleep 0.1
	done
	bench_die "nothing listens on 127.0.0.1:$port after ${limit}s"
}

# --- arithmetic ----------------------------------------------------------

# bench_median N...: the median of the numbers given.
bench_median() {
	printf '%s\n' "$@" | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "0"; exit }
			if (NR % 2) print v[(NR + 1) / 2]
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

# bench_div A B [DECIMALS]: A/B, rounded; "0" when B is zero.
bench_div() {
	awk -v a="$1" -v b="$2" -v d="${3:-2}" \
		'BEGIN { if (b + 0 == 0) print "0"; else printf "%.*f\n", d, a / b }'
}

# bench_kv KEY LINE: the value of KEY=value in a line of key=value words.
bench_kv() {
	local w
	for w in $2; do
		case $w in "$1"=*) printf '%s\n' "${w#*=}"; return 0 ;; esac
	done
	return 1
}

# --- timing --------------------------------------------------------------

# bench_timed SECONDS ROOTPIDS LOG CMD...: run CMD (output to LOG) under a
# time limit and set BENCH_TIMED to one line of key=value words:
#   rc       exit status (124 when the limit killed it)
#   wall     seconds from start to finish
#   gen_user gen_sys     CPU seconds used by CMD and its children
#   srv_user srv_sys     CPU seconds used, in the window, by the process
#                        trees under ROOTPIDS (comma separated; a server)
#   box_user box_sys box_iowait box_idle   the whole machine, all cores
# The CPU snapshots are taken outside the timed window.  Needs BENCH_TMP.
bench_timed() {
	local limit=$1 roots=$2 log=$3 out=$BENCH_TMP/timed.out
	shift 3
	BENCH_TIMED=
	bench_run "$out" "$BENCH_PYTHON" -c "$BENCH_PY_TIMED" \
		"$limit" "$roots" "$log" "$@" || return 1
	BENCH_TIMED=$(cat "$out")
}

# Python, in single quotes: no single quote may appear in it.
BENCH_PY_TIMED='
import os, resource, subprocess, sys, time

HZ = os.sysconf("SC_CLK_TCK")

def proc_table():
	t = {}
	for d in os.listdir("/proc"):
		if not d.isdigit():
			continue
		try:
			with open("/proc/%s/stat" % d) as f:
				s = f.read()
		except OSError:
			continue
		f = s[s.rfind(")") + 2:].split()
		# ppid, utime, stime, cutime, cstime
		t[int(d)] = (int(f[1]), int(f[11]), int(f[12]), int(f[13]), int(f[14]))
	return t

def tree_ticks(roots):
	# A live process counts its own time plus the time of its reaped
	# children (cutime); a child still alive is counted on its own, so
	# nothing is counted twice.
	t = proc_table()
	kids = {}
	for pid, v in t.items():
		kids.setdefault(v[0], []).append(pid)
	u = s = 0
	todo = [r for r in roots if r in t]
	while todo:
		p = todo.pop()
		v = t[p]
		u += v[1] + v[3]
		s += v[2] + v[4]
		todo.extend(kids.get(p, []))
	return u, s

def box_ticks():
	with open("/proc/stat") as f:
		v = [int(x) for x in f.readline().split()[1:]]
	user = v[0] + v[1]
	sys_ = v[2] + v[5] + v[6]
	return user, sys_, v[4], v[3]

limit = float(sys.argv[1])
roots = [int(x) for x in sys.argv[2].split(",") if x]
log = open(sys.argv[3], "ab")
cmd = sys.argv[4:]

t0 = tree_ticks(roots)
b0 = box_ticks()
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
w0 = time.monotonic()
try:
	rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log,
		stderr=subprocess.STDOUT, timeout=limit).returncode
except subprocess.TimeoutExpired:
	rc = 124
w1 = time.monotonic()
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
b1 = box_ticks()
t1 = tree_ticks(roots)

print("rc=%d wall=%.3f gen_user=%.2f gen_sys=%.2f srv_user=%.2f srv_sys=%.2f "
	"box_user=%.2f box_sys=%.2f box_iowait=%.2f box_idle=%.2f" % (
	rc, w1 - w0, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime,
	(t1[0] - t0[0]) / HZ, (t1[1] - t0[1]) / HZ,
	(b1[0] - b0[0]) / HZ, (b1[1] - b0[1]) / HZ,
	(b1[2] - b0[2]) / HZ, (b1[3] - b0[3]) / HZ))
'

# bench_fsync_rate SECONDS DIR WRITERS FILES BYTES: WRITERS threads
# together create FILES files of BYTES bytes in DIR, each one
# open(O_CREAT|O_EXCL), write, fsync, close, within SECONDS; sets
# BENCH_FSYNC to "files=N wall=S rate=R" (R in files per second).
# This is the disk's ceiling for a queue that fsyncs each message once.
# Needs BENCH_TMP.
bench_fsync_rate() {
	local limit=$1 out=$BENCH_TMP/fsync.out
	shift
	BENCH_FSYNC=
	bench_run "$out" timeout "$limit" \
		"$BENCH_PYTHON" -c "$BENCH_PY_FSYNC" "$@" || return 1
	BENCH_FSYNC=$(cat "$out")
}

BENCH_PY_FSYNC='
import os, sys, threading, time

d, writers, files, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
buf = b"x" * (size - 1) + b"\n"
errors = []

def writer(w, n):
	try:
		for i in range(n):
			fd = os.open("%s/%d.%d" % (d, w, i),
				os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
			off = 0
			while off < len(buf):
				off += os.write(fd, buf[off:])
			os.fsync(fd)
			os.close(fd)
	except OSError as e:
		errors.append(str(e))

share = [files // writers + (1 if w < files % writers else 0) for w in range(writers)]
threads = [threading.Thread(target=writer, args=(w, share[w])) for w in range(writers)]
t0 = time.monotonic()
for t in threads:
	t.start()
for t in threads:
	t.join()
wall = time.monotonic() - t0
if errors:
	sys.exit("fsync test: " + errors[0])
print("files=%d wall=%.3f rate=%.2f" % (files, wall, files / wall))
'

# --- a private Postfix instance ------------------------------------------
#
# bench_postfix_init DIR PORT DOMAIN writes DIR/etc/{main,master}.cf for a
# Postfix that accepts mail for DOMAIN on 127.0.0.1:PORT and keeps it
# queued: master.cf has smtpd, cleanup, trivial-rewrite and the log daemon
# only, no qmgr and no delivery agents.  Its queue is DIR/spool, its log
# DIR/postfix.log.  It shares nothing with the system instance in
# /etc/postfix and never binds port 25.

bench_postfix_init() {
	local dir=$1 port=$2 domain=$3
	mkdir -p "$dir/etc" "$dir/spool" "$dir/data" || bench_die "mkdir $dir"
	chown postfix "$dir/data" || bench_die "chown $dir/data"
	cat >"$dir/etc/main.cf" <<EOF || bench_die "write $dir/etc/main.cf"
# Written by bench/lib.sh for a throwaway benchmark instance.
compatibility_level = 3.6
config_directory = $dir/etc
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-bench
maillog_file = $dir/postfix.log
maillog_file_prefixes = $dir
myhostname = bench-postfix.localdomain
mydomain = localdomain
mydestination =
relay_domains = $domain
relay_recipient_maps =
mynetworks = 127.0.0.0/8
inet_interfaces = loopback-only
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =
biff = no
# tcpserver -H -R -l on the quail side: no per-connection name lookups.
smtpd_peername_lookup = no
# Flow control hands out tokens from qmgr, which we do not run; left on,
# cleanup would stall up to a second per message.
in_flow_delay = 0s
EOF
	cat >"$dir/etc/master.cf" <<EOF || bench_die "write $dir/etc/master.cf"
# service type  private unpriv chroot wakeup maxproc command
127.0.0.1:$port inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
rewrite unix - - n - - trivial-rewrite
postlog unix-dgram n - n - 1 postlogd
EOF
}

# bench_postfix_start DIR PORT: start the instance, wait for its listener.
bench_postfix_start() {
	local dir=$1 port=$2
	timeout 60 postfix -c "$dir/etc" start >>"$dir/start.log" 2>&1 || {
		cat "$dir/start.log" "$dir/postfix.log" >&2 2>/dev/null
		bench_die "postfix -c $dir/etc start failed"
	}
	bench_wait_port "$port" 30
	# cleanup pokes qmgr through this FIFO after each message.  With no
	# qmgr it would log a warning per message; a FIFO nobody reads
	# costs one failed open, as quail's trigger does with no quail-send.
	local fifo=$dir/spool/public/qmgr
	[ -p "$fifo" ] || {
		mkfifo -m 622 "$fifo" && chown postfix "$fifo"
	} || bench_die "mkfifo $fifo"
}

# bench_postfix_master DIR: the master's pid, from its pid file.
bench_postfix_master() {
	local pid
	read -r pid <"$1/spool/pid/master.pid" 2>/dev/null || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	printf '%s\n' "$pid"
}

# bench_postfix_stop DIR: stop the instance; abort it, then kill its master
# by pid, if a clean stop does not finish.
bench_postfix_stop() {
	local dir=$1 pid i
	pid=$(bench_postfix_master "$dir") || return 0
	timeout 30 postfix -c "$dir/etc" stop >>"$dir/start.log" 2>&1 ||
		timeout 30 postfix -c "$dir/etc" abort >>"$dir/start.log" 2>&1
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	bench_warn "postfix master $pid still running; killing it"
	bench_kill_tree "$pid"
}

# bench_postfix_count DIR: messages fully in the queue.  cleanup gives a
# queue file its owner-execute bit only once the file is complete and
# fsync'd, so a half-written file is not counted.
bench_postfix_count() {
	local q=$1/spool d dirs=()
	for d in incoming active deferred hold maildrop; do
		[ -d "$q/$d" ] && dirs+=("$q/$d")
	done
	[ ${#dirs[@]} -gt 0 ] || { echo 0; return 0; }
	find "${dirs[@]}" -type f -perm -u+x | wc -l
}

# bench_postfix_clear DIR: delete every queued message.
bench_postfix_clear() {
	timeout 120 postsuper -c "$1/etc" -d ALL >/dev/null 2>&1 ||
		bench_die "postsuper -c $1/etc -d ALL failed"
}
