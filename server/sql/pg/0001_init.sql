-- 0001_init.sql - the first schema of cofferd's PostgreSQL metadata (server/meta_pg.c).
--
-- Migrations are applied in order, each once, inside one transaction, by
-- cfd_meta_open_pg() with create set; the runner records each in schema_version. A
-- migration that has been released is never edited: a change is a new file NNNN_what.sql.
--
-- Names compare and sort in byte order (COLLATE "C") whatever the database's locale, as the
-- listings of meta.h promise ('-' sorts before '0'). Integers are bigint: unix seconds and
-- byte counts. The foreign keys make account_delete one statement and keep rows of a
-- deleted account from appearing under a concurrent upload on another instance.

CREATE TABLE accounts (
	name text COLLATE "C" PRIMARY KEY,
	quota bigint NOT NULL CHECK (quota >= 0),
	used bigint NOT NULL CHECK (used >= 0),
	token_hash bytea,
	created bigint NOT NULL
);

CREATE TABLE devices (
	account text COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	id bytea NOT NULL,
	sign_pk bytea NOT NULL,
	role smallint NOT NULL CHECK (role BETWEEN 0 AND 3),
	removed boolean NOT NULL,
	PRIMARY KEY (account, id)
);
CREATE INDEX devices_id ON devices (id);

-- state: 0 LIVE, 1 PENDING, 2 PURGING (enum cfd_obj_state). The primary key is the
-- write-once guarantee: two instances reserving one name race on it.
CREATE TABLE objects (
	account text COLLATE "C" NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
	kind smallint NOT NULL,
	name text COLLATE "C" NOT NULL,
	size bigint NOT NULL CHECK (size >= 0),
	created bigint NOT NULL,
	deleted_at bigint,
	state smallint NOT NULL CHECK (state BETWEEN 0 AND 2),
	PRIMARY KEY (account, kind, name)
);
CREATE INDEX objects_deleted ON objects (deleted_at, account, kind, name)
	WHERE deleted_at IS NOT NULL;
CREATE INDEX objects_unfinished ON objects (account, kind, name) WHERE state <> 0;

-- A nonce replayed through any instance meets this primary key.
CREATE TABLE nonces (
	device bytea NOT NULL,
	nonce bytea NOT NULL,
	expires bigint NOT NULL,
	PRIMARY KEY (device, nonce)
);
CREATE INDEX nonces_expires ON nonces (expires);

CREATE TABLE settings (
	key text COLLATE "C" PRIMARY KEY,
	value bigint NOT NULL
);
