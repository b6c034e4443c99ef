# quail: one plain Makefile, no configure step.
# make              build every program
# make check        unit tests, again under ASan+UBSan, fuzz smoke, integration
# make install      PREFIX=/usr/local DESTDIR=/tmp/stage
# make run          the demo on high ports under ./state
# make fuzz         libFuzzer targets (clang)

PREFIX = /usr/local
DESTDIR =
BINDIR = $(PREFIX)/bin
SBINDIR = $(PREFIX)/sbin
MANDIR = $(PREFIX)/share/man
CONTROLDIR = /etc/quail/control
QUEUEDIR = /var/spool/quail

CC = cc
CFLAGS = -O2 -g
WARN = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Werror \
	-D_FORTIFY_SOURCE=2 -fstack-protector-strong
PATHS = -DBINDIR='"$(BINDIR)"' -DCONTROLDIR='"$(CONTROLDIR)"' \
	-DQUEUEDIR='"$(QUEUEDIR)"'
ALLCFLAGS = $(WARN) $(PATHS) -Ilib $(PGINC) $(CFLAGS)
LDFLAGS =
# Programs exec'd once per message or delivery link statically: no
# dynamic loader work on the hot path.
STATIC = -static
# The two OpenSSL programs run once per connection or delivery too, and
# libcrypto's relocations cost 1-2 ms of CPU at each dynamic start. Static
# means a rebuild after every OpenSSL security update: packagers who
# rebuild on library updates anyway may prefer `make STATIC_TLS=`.
STATIC_TLS = -static
LIBS = -lcdb -lcrypt
# The programs that stay dynamic (libc, for the dlopen of libpq) take
# tinycdb and libcrypt from their archives: two libraries fewer for the
# loader at each start, 0.3 ms of CPU per exec here.
PROGLIBS = -Wl,-Bstatic -lcdb -lcrypt -Wl,-Bdynamic
PGINC = -I/usr/include/postgresql
SANFLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
FUZZCC = clang
FUZZFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -Ilib $(PGINC) $(PATHS) \
	-D_DEFAULT_SOURCE -D_GNU_SOURCE

# The small programs exec'd for every message, delivery, connection or
# login (quail-smtpd, quail-queue, quail-local, quail-popup, quail-pop3d)
# are linked against musl when musl-gcc is there: glibc's start-up asks
# the CPU for its features and caches with some 90 CPUID instructions,
# each a trap to the hypervisor on a virtual machine (0.4 ms of CPU per
# exec here, 0.06 ms for the exec itself). Their objects go to musl/,
# compiled with QUAIL_NO_LIBPQ (a static program cannot dlopen libpq).
# Without musl-gcc (`make MUSLCC=`) they are linked statically against
# glibc. quail-pop3d sorts and reads its directories with its own code
# (io_dir_next, a merge sort), as musl's qsort and 2 KB readdir would
# cost it more than the start-up saves on a 100,000-message folder.
# quail-imapd stays on glibc.
MUSLCC = $(shell command -v musl-gcc 2>/dev/null)
HOT = $(if $(MUSLCC),musl/)
HOTCC = $(if $(MUSLCC),$(MUSLCC),$(CC))
HOTLIB = $(HOT)lib/libquail.a
HOTLIBSRC = lib/str.c lib/fmt.c lib/io.c lib/log.c lib/control.c lib/date.c \
	lib/addr.c lib/uniq.c lib/qfile.c lib/maildir.c lib/hdr.c lib/qq.c \
	lib/base64.c lib/cdbf.c lib/userdb.c lib/userdb_pg.c

LIBSRC = lib/str.c lib/fmt.c lib/io.c lib/log.c lib/control.c lib/date.c \
	lib/addr.c lib/uniq.c lib/cdbf.c lib/qfile.c lib/maildir.c lib/hdr.c lib/qq.c \
	lib/userdb.c lib/userdb_pg.c lib/pwcheck.c lib/base64.c
LIBOBJ = $(LIBSRC:.c=.o)

PROGS = smtpd/quail-smtpd smtpd/quail-smtpd-pgsql queue/quail-queue queue/quail-qstat \
	queue/quail-qread queue/quail-qcheck queue/quail-inject queue/sendmail \
	queue/quail-send deliver/quail-local deliver/quail-lspawn \
	deliver/quail-lspawn-pgsql \
	deliver/quail-rspawn auth/quail-users auth/quail-checkpassword \
	auth/quail-checkpassword-pgsql \
	popd/quail-popup popd/quail-pop3d tls/quail-tlsd deliver/quail-remote \
	imapd/quail-imapd
SMTPDOBJ = smtpd/quail-smtpd.o smtpd/message.o smtpd/starttls.o smtpd/cmd.o \
	smtpd/data.o smtpd/auth.o

# Unit tests: each NAME_test.c beside its code, linked with the library
# and, for smtpd, the smtpd modules.
TESTS = lib/str_test lib/fmt_test lib/io_test lib/control_test \
	lib/addr_test lib/uniq_test lib/qfile_test \
	smtpd/cmd_test smtpd/data_test lib/maildir_test lib/hdr_test \
	deliver/dotqmail_test lib/userdb_test lib/pwcheck_test lib/base64_test \
	smtpd/auth_test popd/popcmd_test tls/ctl_test deliver/remote_reply_test \
	imapd/parse_test imapd/uidmap_test imapd/mime_test imapd/keywords_test \
	imapd/decode_test imapd/cache_test
FUZZERS = fuzz/fuzz_addr fuzz/fuzz_cmd fuzz/fuzz_data fuzz/fuzz_hdr \
	fuzz/fuzz_dotqmail fuzz/fuzz_auth fuzz/fuzz_pop fuzz/fuzz_ctl \
	fuzz/fuzz_reply fuzz/fuzz_imap fuzz/fuzz_cache fuzz/fuzz_cdbf

all: $(PROGS) $(TESTS)

%.o: %.c
	$(CC) $(ALLCFLAGS) -MMD -MP -c -o $@ $<

lib/libquail.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $(LIBOBJ)

musl/%.o: %.c
	@mkdir -p $(@D)
	$(MUSLCC) $(ALLCFLAGS) -DQUAIL_NO_LIBPQ -MMD -MP -c -o $@ $<
musl/lib/libquail.a: $(HOTLIBSRC:%.c=musl/%.o)
	rm -f $@
	ar rcs $@ $^
# Debian's libxcrypt has a static archive built against glibc. Linked
# into a musl program it needs <crypt.h> (found after musl's own headers,
# with lib/musl/sys/cdefs.h for the three glibc macros it uses) and three
# glibc functions musl lacks (lib/musl/xcrypt.c).
XCRYPT = $(shell $(CC) -print-file-name=libcrypt.a)
musl/lib/pwcheck.o: lib/pwcheck.c
	@mkdir -p $(@D)
	$(MUSLCC) $(ALLCFLAGS) -DQUAIL_NO_LIBPQ -Ilib/musl -idirafter /usr/include \
		-MMD -MP -c -o $@ $<

# quail-smtpd runs once per connection, and quail-lspawn forks once per
# delivery (a static musl process has a fraction of the mappings to copy):
# with musl they are static and hand over to their -pgsql builds (dynamic,
# for the dlopen of libpq) only where the userdb is PostgreSQL
# (userdb_handover in lib/userdb.h). Without musl each is its -pgsql build.
smtpd/quail-smtpd: $(if $(MUSLCC),$(SMTPDOBJ:%=musl/%) musl/lib/libquail.a,smtpd/quail-smtpd-pgsql)
	$(if $(MUSLCC),$(MUSLCC) $(LDFLAGS) $(STATIC) -o $@ $^,cp $< $@)
smtpd/quail-smtpd-pgsql: $(SMTPDOBJ) lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ $(SMTPDOBJ) lib/libquail.a $(PROGLIBS)
queue/quail-queue: $(HOT)queue/quail-queue.o $(HOTLIB)
	$(HOTCC) $(LDFLAGS) $(STATIC) -o $@ $^
queue/quail-qstat: queue/quail-qstat.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ queue/quail-qstat.o lib/libquail.a $(PROGLIBS)
queue/quail-qread: queue/quail-qread.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ queue/quail-qread.o lib/libquail.a $(PROGLIBS)
queue/quail-qcheck: queue/quail-qcheck.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ queue/quail-qcheck.o lib/libquail.a $(PROGLIBS)
SENDOBJ = queue/quail-send.o queue/bounce.o queue/msgs.o queue/dest.o queue/gone.o
queue/quail-send: $(SENDOBJ) lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ $(SENDOBJ) lib/libquail.a $(PROGLIBS)
queue/quail-inject: queue/quail-inject.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ queue/quail-inject.o lib/libquail.a $(PROGLIBS)
queue/sendmail: queue/sendmail.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ queue/sendmail.o lib/libquail.a $(PROGLIBS)
deliver/quail-lspawn: $(if $(MUSLCC),musl/deliver/quail-lspawn.o musl/deliver/spawn.o musl/lib/libquail.a,deliver/quail-lspawn-pgsql)
	$(if $(MUSLCC),$(MUSLCC) $(LDFLAGS) $(STATIC) -o $@ $^,cp $< $@)
deliver/quail-lspawn-pgsql: deliver/quail-lspawn.o deliver/spawn.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ deliver/quail-lspawn.o deliver/spawn.o \
		lib/libquail.a $(PROGLIBS)
deliver/quail-rspawn: deliver/quail-rspawn.o deliver/spawn.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ deliver/quail-rspawn.o deliver/spawn.o \
		lib/libquail.a $(PROGLIBS)
auth/quail-users: auth/quail-users.o auth/usersfile.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ auth/quail-users.o auth/usersfile.o lib/libquail.a $(PROGLIBS)
# quail-checkpassword runs once per login: on musl, as quail-smtpd above.
CKPWMUSL = musl/auth/quail-checkpassword.o musl/lib/pwcheck.o \
	musl/lib/musl/xcrypt.o musl/lib/libquail.a
auth/quail-checkpassword: $(if $(MUSLCC),$(CKPWMUSL),auth/quail-checkpassword-pgsql)
	$(if $(MUSLCC),$(MUSLCC) $(LDFLAGS) $(STATIC) -o $@ $^ $(XCRYPT),cp $< $@)
auth/quail-checkpassword-pgsql: auth/quail-checkpassword.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ auth/quail-checkpassword.o lib/libquail.a $(PROGLIBS)
# OpenSSL is linked into these two programs and no others.
TLSOBJ = tls/quail-tlsd.o tls/tlsctx.o tls/relay.o tls/ctl.o
tls/quail-tlsd: $(TLSOBJ) lib/libquail.a
	$(CC) $(LDFLAGS) $(STATIC_TLS) -o $@ $(TLSOBJ) lib/libquail.a -lssl -lcrypto
REMOTEOBJ = deliver/quail-remote.o deliver/remote_smtp.o deliver/remote_conn.o \
	deliver/remote_dns.o deliver/remote_reply.o
deliver/quail-remote: $(REMOTEOBJ) lib/libquail.a
	$(CC) $(LDFLAGS) $(STATIC_TLS) -o $@ $(REMOTEOBJ) lib/libquail.a -lssl -lcrypto -lresolv
IMAPDOBJ = imapd/parse.o imapd/conn.o imapd/login.o imapd/loginutil.o \
	imapd/session.o imapd/mailbox.o imapd/store.o imapd/append.o \
	imapd/folders.o imapd/list.o \
	imapd/fetch.o imapd/fetchparse.o imapd/mime.o imapd/envelope.o \
	imapd/search.o imapd/uidmap.o imapd/uidfile.o imapd/uidlock.o imapd/keywords.o \
	imapd/quota.o imapd/decode.o imapd/cache.o imapd/condstore.o
imapd/quail-imapd: imapd/quail-imapd.o $(IMAPDOBJ) lib/libquail.a
	$(CC) $(LDFLAGS) $(STATIC) -o $@ $^
popd/quail-popup: $(HOT)popd/quail-popup.o $(HOT)popd/popcmd.o $(HOTLIB)
	$(HOTCC) $(LDFLAGS) $(STATIC) -o $@ $^
popd/quail-pop3d: $(HOT)popd/quail-pop3d.o $(HOT)popd/maildrop.o \
		$(HOT)popd/popcmd.o $(HOTLIB)
	$(HOTCC) $(LDFLAGS) $(STATIC) -o $@ $^
deliver/quail-local: $(HOT)deliver/quail-local.o $(HOT)deliver/dotqmail.o \
		$(HOT)deliver/mbox.o $(HOTLIB)
	$(HOTCC) $(LDFLAGS) $(STATIC) -o $@ $^

lib/%_test: lib/%_test.o lib/test.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ $< lib/test.o lib/libquail.a $(LIBS)
smtpd/%_test: smtpd/%_test.o smtpd/cmd.o smtpd/data.o smtpd/auth.o lib/test.o \
		lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ $< smtpd/cmd.o smtpd/data.o smtpd/auth.o lib/test.o \
		lib/libquail.a $(LIBS)
popd/%_test: popd/%_test.o popd/popcmd.o popd/maildrop.o lib/test.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ $< popd/popcmd.o popd/maildrop.o lib/test.o \
		lib/libquail.a $(LIBS)
tls/%_test: tls/%_test.o tls/ctl.o lib/test.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ $< tls/ctl.o lib/test.o lib/libquail.a $(LIBS)
deliver/remote_reply_test: deliver/remote_reply_test.o deliver/remote_reply.o \
		lib/test.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ deliver/remote_reply_test.o deliver/remote_reply.o \
		lib/test.o lib/libquail.a $(LIBS)
imapd/%_test: imapd/%_test.o $(IMAPDOBJ) lib/test.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ $< $(IMAPDOBJ) lib/test.o lib/libquail.a $(LIBS)
deliver/%_test: deliver/%_test.o deliver/dotqmail.o lib/test.o lib/libquail.a
	$(CC) $(LDFLAGS) -o $@ $< deliver/dotqmail.o lib/test.o lib/libquail.a $(LIBS)

# The same unit tests under AddressSanitizer and UBSan, objects in san/.
SANTESTS = $(TESTS:%=san/%)
san/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(PATHS) -Ilib $(PGINC) $(SANFLAGS) -MMD -MP -c -o $@ $<
san/lib/%_test: san/lib/%_test.o san/lib/test.o $(LIBOBJ:%=san/%)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)
san/smtpd/%_test: san/smtpd/%_test.o san/smtpd/cmd.o san/smtpd/data.o san/smtpd/auth.o \
		san/lib/test.o $(LIBOBJ:%=san/%)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)
san/deliver/%_test: san/deliver/%_test.o san/deliver/dotqmail.o \
		san/lib/test.o $(LIBOBJ:%=san/%)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)
san/popd/%_test: san/popd/%_test.o san/popd/popcmd.o san/popd/maildrop.o \
		san/lib/test.o $(LIBOBJ:%=san/%)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)
san/tls/%_test: san/tls/%_test.o san/tls/ctl.o san/lib/test.o $(LIBOBJ:%=san/%)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)
san/deliver/remote_reply_test: san/deliver/remote_reply_test.o \
		san/deliver/remote_reply.o san/lib/test.o $(LIBOBJ:%=san/%)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)
san/imapd/%_test: san/imapd/%_test.o $(IMAPDOBJ:%=san/%) san/lib/test.o \
		$(LIBOBJ:%=san/%)
	$(CC) $(SANFLAGS) -o $@ $^ $(LIBS)
santests: $(SANTESTS)

# libFuzzer targets; sources beside the parser they drive.
fuzz/fuzz_addr: lib/fuzz_addr.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ lib/fuzz_addr.c $(LIBSRC) $(LIBS)
fuzz/fuzz_cdbf: lib/fuzz_cdbf.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ lib/fuzz_cdbf.c $(LIBSRC) $(LIBS)
fuzz/fuzz_cmd: smtpd/fuzz_cmd.c smtpd/cmd.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ smtpd/fuzz_cmd.c smtpd/cmd.c $(LIBSRC) $(LIBS)
fuzz/fuzz_data: smtpd/fuzz_data.c smtpd/data.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ smtpd/fuzz_data.c smtpd/data.c $(LIBSRC) $(LIBS)
fuzz/fuzz_hdr: lib/fuzz_hdr.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ lib/fuzz_hdr.c $(LIBSRC) $(LIBS)
fuzz/fuzz_dotqmail: deliver/fuzz_dotqmail.c deliver/dotqmail.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ deliver/fuzz_dotqmail.c deliver/dotqmail.c \
		$(LIBSRC) $(LIBS)
fuzz/fuzz_auth: smtpd/fuzz_auth.c smtpd/auth.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ smtpd/fuzz_auth.c smtpd/auth.c $(LIBSRC) $(LIBS)
fuzz/fuzz_pop: popd/fuzz_pop.c popd/popcmd.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ popd/fuzz_pop.c popd/popcmd.c $(LIBSRC) $(LIBS)
fuzz/fuzz_ctl: tls/fuzz_ctl.c tls/ctl.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ tls/fuzz_ctl.c tls/ctl.c $(LIBSRC) $(LIBS)
fuzz/fuzz_reply: deliver/fuzz_reply.c deliver/remote_reply.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ deliver/fuzz_reply.c deliver/remote_reply.c \
		$(LIBSRC) $(LIBS)
fuzz/fuzz_imap: imapd/fuzz_imap.c imapd/parse.c imapd/fetchparse.c imapd/mime.c \
		imapd/envelope.c imapd/loginutil.c imapd/decode.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ imapd/fuzz_imap.c imapd/parse.c \
		imapd/fetchparse.c imapd/mime.c imapd/envelope.c imapd/loginutil.c \
		imapd/decode.c \
		$(LIBSRC) $(LIBS)
fuzz/fuzz_cache: imapd/fuzz_cache.c imapd/cache.c $(LIBSRC)
	@mkdir -p fuzz
	$(FUZZCC) $(FUZZFLAGS) -o $@ imapd/fuzz_cache.c imapd/cache.c $(LIBSRC) $(LIBS)
fuzz: $(FUZZERS)

deps:
	@sh rc/deps

check: deps
	$(MAKE) all santests fuzz
	@sh tests/check $(TESTS)

run: deps all
	@sh rc/demo

# Every benchmark, each against its peer; RESULT lines go to build/bench.log.
BENCHES = smtp-accept end-to-end scheduler-memory auth tls pop3 remote imap
bench: deps all
	@mkdir -p build
	@for b in $(BENCHES); do \
		[ -x bench/$$b ] || continue; \
		echo "== bench/$$b"; bench/$$b || echo "bench/$$b failed"; \
	done 2>&1 | tee build/bench.log
	@grep '^RESULT ' build/bench.log

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	for p in $(PROGS); do cp $$p $(DESTDIR)$(BINDIR)/; done
	cp rc/quail-setup $(DESTDIR)$(SBINDIR)/
	chmod 755 $(DESTDIR)$(SBINDIR)/quail-setup
	for m in */*.8; do cp $$m $(DESTDIR)$(MANDIR)/man8/; done

clean:
	rm -rf san musl fuzz lib/libquail.a */*.o */*.d $(PROGS) $(TESTS) build

# keep objects made by pattern rules (make would delete them as intermediate)
.SECONDARY:

.PHONY: all check deps run install clean fuzz santests bench

-include $(shell find . -name '*.d' 2>/dev/null)
