-- quail userdb in PostgreSQL: the tables the default queries read.
--
-- Use it with control files
--   userdb   pgsql
--   pgsql    host=/run/postgresql dbname=mail user=quail sslmode=disable
-- (over a unix socket, sslmode=disable spares a TLS handshake that adds
-- nothing there; over TCP choose sslmode as for any client). quail runs
--   SELECT uid, gid, home, maildir, quota, flags, hash
--     FROM users WHERE address = $1
--   SELECT 1 FROM domains WHERE domain = $1
-- (control files pgsql_user_query and pgsql_domain_query change them), with
-- $1 lower-cased: "alice@example.org", "@example.org" for the catch-all,
-- "example.org" for the domain question. The fields mean what they mean in
-- the cdb userdb (lib/userdb.h, quail-users(8)); a row that breaks those
-- rules is a temporary failure at lookup time, never "no such user".
--
-- Load it with
--   psql -v ON_ERROR_STOP=1 -d mail -f schema.sql
-- and the users with quail-users -s (SQL INSERTs from the users text file):
--   quail-users -s users.txt | psql -v ON_ERROR_STOP=1 -1 -d mail
-- quail needs SELECT only:
--   GRANT SELECT ON users, domains TO quail;

CREATE TABLE domains (
	domain text PRIMARY KEY
		CHECK (domain = lower(domain) AND domain <> ''
		       AND position('@' IN domain) = 0)
);

COMMENT ON TABLE domains IS
	'Domains quail takes mail for: quail-smtpd accepts them without '
	'rcpthosts and checks their recipients at RCPT time.';

CREATE TABLE users (
	-- "local@domain", or "@domain" for the domain's catch-all
	address text PRIMARY KEY
		CHECK (address = lower(address) AND address LIKE '%@_%'
		       AND position(':' IN address) = 0),
	-- crypt(3) string ($y$, $2b$, $6$, $5$); NULL or '' or '-': no login
	hash text,
	uid integer NOT NULL CHECK (uid >= 0),
	gid integer NOT NULL CHECK (gid >= 0),
	-- absolute
	home text NOT NULL CHECK (home LIKE '/%'),
	-- "./Maildir/" (relative to home), "/abs/path/", or for an alias
	-- "&a@example.org &b@example.net"
	maildir text NOT NULL DEFAULT './Maildir/'
		CHECK (maildir LIKE '&%' OR
		       ((maildir LIKE './%' OR maildir LIKE '/%')
		        AND maildir LIKE '%/')),
	-- Maildir++: "104857600S", "1000C", "104857600S,1000C"; NULL none
	quota text CHECK (quota = '' OR quota ~ '^[0-9]+[SC](,[0-9]+[SC])*$'),
	-- comma-separated: disabled, nopop, noimap, nosmtp; NULL none
	flags text CHECK (flags = '' OR flags ~ '^[a-z0-9_-]+(,[a-z0-9_-]+)*$'),
	-- the record is split at ':' on the way out; only hash may hold one
	CHECK (position(':' IN home) = 0 AND position(':' IN maildir) = 0)
);

COMMENT ON TABLE users IS
	'One row per address quail delivers to or logs in: the userdb record '
	'of lib/userdb.h, one column per field.';
COMMENT ON COLUMN users.address IS
	'Lower-case key: local@domain, or @domain for the catch-all.';
COMMENT ON COLUMN users.hash IS
	'crypt(3) hash; NULL, empty or "-" means no password login.';
COMMENT ON COLUMN users.maildir IS
	'Maildir relative to home (./Maildir/) or absolute (/x/), ending in /; '
	'or an alias: "&address" forwards separated by single spaces.';
COMMENT ON COLUMN users.quota IS 'Maildir++ quota, e.g. 104857600S,1000C.';
COMMENT ON COLUMN users.flags IS
	'disabled, nopop, noimap, nosmtp, comma-separated.';

-- The lookup uses the primary key's index; every user's domain should be
-- in domains too (quail-users -s writes both), but a missing one only
-- means quail-smtpd does not take mail for it.
