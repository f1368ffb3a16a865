-- The rows of a PostgreSQL store at schema 1, written by the code before the
-- one profile model (safe_search a bool with safe_search_engines beside it, a
-- schedule's days one string): pg_dump --data-only --inserts, tables unqualified.
INSERT INTO households VALUES ('home', 1, NULL, '{"id": "home", "name": "Home", "version": 1, "time_zone": "Europe/Berlin", "default_profile": ""}');
INSERT INTO devices VALUES ('emma-tablet', 'home', 'emma', 1, '{"id": "emma-tablet", "ips": ["127.0.0.77"], "new": false, "name": "Emma''s tablet", "profile": "emma", "version": 1, "household": "home", "first_seen": "0001-01-01T00:00:00Z"}', NULL);
INSERT INTO policy_changes VALUES (1, 'household', 'home', false, 1796598297012264801);
INSERT INTO policy_changes VALUES (2, 'profile', 'emma', false, 1796598297013886831);
INSERT INTO policy_changes VALUES (3, 'profile', 'leo', false, 1796598297014559037);
INSERT INTO policy_changes VALUES (4, 'profile', 'mia', false, 1796598297015069580);
INSERT INTO policy_changes VALUES (5, 'profile', 'max', false, 1796598297015681889);
INSERT INTO policy_changes VALUES (6, 'device', 'emma-tablet', false, 1796598297016912915);
INSERT INTO policy_feed_head VALUES (1, 6);
INSERT INTO profiles VALUES ('emma', 'home', 1, '{"id": "emma", "name": "Emma (8)", "allow": ["school.example"], "block": ["games"], "preset": "kid", "version": 1, "youtube": "strict", "household": "home", "schedules": [{"to": "07:00", "days": "daily", "from": "20:30", "name": "bedtime", "pause": true}, {"to": "18:00", "days": "mon,tue,wed,thu,fri", "from": "16:00", "name": "homework", "block": ["social"]}], "time_zone": "Europe/Paris", "safe_search": true, "safe_search_engines": ["google"]}');
INSERT INTO profiles VALUES ('leo', 'home', 1, '{"id": "leo", "name": "Leo", "preset": "teen", "version": 1, "household": "home", "schedules": [{"to": "12:00", "days": "sat sun", "from": "10:00", "name": "weekend", "allow_only": ["games"]}], "safe_search": false, "bypass_protection": true, "safe_search_engines": ["bing"]}');
INSERT INTO profiles VALUES ('mia', 'home', 1, '{"id": "mia", "name": "Mia", "preset": "tween", "version": 1, "household": "home", "query_log": false, "safe_search_engines": ["google"]}');
INSERT INTO profiles VALUES ('max', 'home', 1, '{"id": "max", "name": "Max", "block": ["adult"], "version": 1, "household": "home", "schedules": [{"to": "13:00", "days": "weekdays", "from": "08:00", "name": "school", "block": ["video"]}], "safe_search": true}');
INSERT INTO schema_migrations VALUES (1, 1796598296979541460);
