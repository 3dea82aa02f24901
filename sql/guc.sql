--
-- guc: defaults, units, contexts and validation of the pg_uring.* settings.
--
-- boot_val is the compiled-in default; setting is what test/regress.conf asked
-- for (ring_entries = 64, queue_size = 16), else the default.
-- (the settings of the core; verify's and progress's own are tested there)
SELECT name, setting, unit, boot_val, context, vartype, min_val, max_val, enumvals
  FROM pg_settings
 WHERE name IN ('pg_uring.io_method', 'pg_uring.ring_entries', 'pg_uring.queue_size',
                'pg_uring.combine_limit', 'pg_uring.queue_depth', 'pg_uring.direct_io',
                'pg_uring.sqpoll', 'pg_uring.sqpoll_idle', 'pg_uring.queue_wait_timeout',
                'pg_uring.backend_queue_limit')
 ORDER BY name;
-- every pg_uring setting is under the reserved prefix and documented
SELECT count(*) > 0 AS has_settings, bool_and(short_desc <> '') AS all_described
  FROM pg_settings WHERE name LIKE 'pg_uring.%';

SHOW pg_uring.io_method;
SHOW pg_uring.combine_limit;
SHOW pg_uring.queue_depth;
SHOW pg_uring.direct_io;
SHOW pg_uring.sqpoll;
SHOW pg_uring.ring_entries;
SHOW pg_uring.queue_size;

-- io_method: enum, superuser-settable at run time
SET pg_uring.io_method = sync;
SHOW pg_uring.io_method;
SET pg_uring.io_method = 'io_uring';
SHOW pg_uring.io_method;
SET pg_uring.io_method = worker;
SET pg_uring.io_method = '';
BEGIN;
SET LOCAL pg_uring.io_method = sync;
SHOW pg_uring.io_method;
ROLLBACK;
SHOW pg_uring.io_method;
RESET pg_uring.io_method;

-- combine_limit: blocks, 1 .. 32 (8 kB .. 256 kB)
SET pg_uring.combine_limit = 1;
SHOW pg_uring.combine_limit;
SET pg_uring.combine_limit = '256kB';
SHOW pg_uring.combine_limit;
SET pg_uring.combine_limit = 0;
SET pg_uring.combine_limit = 33;
SET pg_uring.combine_limit = '1MB';
SET pg_uring.combine_limit = 'lots';
RESET pg_uring.combine_limit;
SHOW pg_uring.combine_limit;

-- queue_depth: 1 .. 64
SET pg_uring.queue_depth = 1;
SET pg_uring.queue_depth = 64;
SHOW pg_uring.queue_depth;
SET pg_uring.queue_depth = 0;
SET pg_uring.queue_depth = 65;
RESET pg_uring.queue_depth;

-- backend_queue_limit: the DBA's cap on one process's slots, postgresql.conf only
SHOW pg_uring.backend_queue_limit;
SET pg_uring.backend_queue_limit = 64;

-- queue_wait_timeout: ms, 0 (never wait for a slot) .. 10 min, user-settable
SHOW pg_uring.queue_wait_timeout;
SET pg_uring.queue_wait_timeout = 0;
SHOW pg_uring.queue_wait_timeout;
SET pg_uring.queue_wait_timeout = '10min';
SHOW pg_uring.queue_wait_timeout;
SET pg_uring.queue_wait_timeout = -1;
SET pg_uring.queue_wait_timeout = '11min';
RESET pg_uring.queue_wait_timeout;

-- direct_io: superuser bool
SET pg_uring.direct_io = on;
SHOW pg_uring.direct_io;
SET pg_uring.direct_io = maybe;
RESET pg_uring.direct_io;

-- sizing parameters need a restart
SET pg_uring.ring_entries = 128;
SET pg_uring.queue_size = 8;
SET pg_uring.sqpoll = on;
SET pg_uring.sqpoll_idle = '1s';

-- the prefix is reserved
SET pg_uring.no_such_setting = 1;

-- a plain role may tune its own calls, but not switch the method or O_DIRECT
CREATE ROLE regress_pgu_guc_user;
SET ROLE regress_pgu_guc_user;
SET pg_uring.io_method = sync;
SET pg_uring.io_method = io_uring;
SET pg_uring.direct_io = on;
SET pg_uring.combine_limit = 8;
SHOW pg_uring.combine_limit;
SET pg_uring.queue_depth = 2;
SHOW pg_uring.queue_depth;
SHOW pg_uring.io_method;
RESET pg_uring.combine_limit;
RESET pg_uring.queue_depth;
RESET ROLE;
DROP ROLE regress_pgu_guc_user;

-- autoprewarm's settings
SELECT name, setting, unit, boot_val, context, vartype, min_val, max_val
  FROM pg_settings WHERE name LIKE 'pg_uring.autoprewarm%' ORDER BY name;
