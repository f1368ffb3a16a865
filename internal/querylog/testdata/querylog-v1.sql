-- A version 1 query log (Hearth before schema 2), as TestMigrateV1 loads it.
-- t0 = 2026-03-02 10:00 UTC = 1772445600 s.
CREATE TABLE IF NOT EXISTS names (
		id   INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE
	);
CREATE TABLE IF NOT EXISTS queries (
		time        INTEGER PRIMARY KEY, -- Unix microseconds, unique
		client      TEXT NOT NULL,       -- truncated address, '' when not kept
		device      TEXT NOT NULL,
		profile     TEXT NOT NULL,
		name_id     INTEGER NOT NULL,    -- names.id
		qtype       INTEGER NOT NULL,
		rcode       INTEGER NOT NULL,
		action      TEXT NOT NULL,       -- allowed, blocked, rewritten, nxdomain, nodata
		reason      TEXT NOT NULL,
		tag         TEXT NOT NULL,
		text        TEXT NOT NULL,
		cached      INTEGER NOT NULL,
		transport   TEXT NOT NULL,
		duration_us INTEGER NOT NULL,
		count       INTEGER NOT NULL DEFAULT 1 -- identical queries of the same second
	);
CREATE INDEX IF NOT EXISTS queries_device ON queries(device);
CREATE INDEX IF NOT EXISTS queries_name ON queries(name_id);
CREATE INDEX IF NOT EXISTS queries_action ON queries(action) WHERE action <> 'allowed';
CREATE TABLE IF NOT EXISTS counters (
		hour    INTEGER NOT NULL,
		device  TEXT NOT NULL,
		tag     TEXT NOT NULL,
		queries INTEGER NOT NULL,
		blocked INTEGER NOT NULL,
		PRIMARY KEY (hour, device, tag)
	) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily (
		day     INTEGER NOT NULL,
		device  TEXT NOT NULL,
		tag     TEXT NOT NULL,
		queries INTEGER NOT NULL,
		blocked INTEGER NOT NULL,
		PRIMARY KEY (day, device, tag)
	) WITHOUT ROWID;
INSERT INTO names (id, name) VALUES (1, 'old.example'), (2, 'casino.example'), (3, 'search.example'), (4, 'bulk.example'), (5, 'unused.example');
-- Every kind of field: IPv4, IPv6 and no client; a tag and text; a count.
INSERT INTO queries VALUES
  (1772445000000001, '192.168.1.0', 'tablet', 'kid', 1, 28, 0, 'allowed', 'none', '', 'allowed: no-rule', 1, 'udp', 120, 1),
  (1772445000000002, '2001:db8:1::', 'laptop', 'teen', 2, 1, 0, 'blocked', 'tag', 'gambling', 'blocked: category=gambling rule=casino.example profile=teen', 0, 'doh', 7, 3),
  (1772445000000003, '', 'tablet', 'kid', 3, 65, 3, 'rewritten', 'safe-search', 'search', '', 0, 'tcp', 55, 1),
  (1772445000000004, 'not an address', '', '', 1, 1, 2, 'nxdomain', 'canary', '', '', 0, '', 0, 1);
-- 10,000 more rows, several chunks' worth, an hour before.
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10000)
INSERT INTO queries SELECT 1772441400000000 + i, '192.168.1.0', 'phone', 'kid', 4, 1, 0,
  CASE WHEN i % 4 = 0 THEN 'blocked' ELSE 'allowed' END, 'none', CASE WHEN i % 4 = 0 THEN 'ads' ELSE '' END,
  '', i % 2, 'udp', i, 1 FROM c;
INSERT INTO counters VALUES (1772445600, 'tablet', '', 2, 0), (1772445600, 'laptop', 'gambling', 3, 3);
INSERT INTO daily VALUES (1772409600, 'tablet', '', 2, 0);
PRAGMA user_version = 1;
