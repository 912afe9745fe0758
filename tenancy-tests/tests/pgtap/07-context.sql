-- The tenant context cannot be forged or replayed by SQL running as the
-- application's login. The superuser creates a login that is a member of `tenancy_app` (as
-- applications connect), opens a tenancy session on this backend, computes the MACs the
-- application would send, and then becomes that login with SET SESSION AUTHORIZATION, so
-- that `session_user` is the login and only a context entered through `tenancy.enter()`
-- counts. Everything is rolled back.
BEGIN;
SELECT plan(30);

CREATE ROLE pgtap_context_login LOGIN INHERIT NOSUPERUSER NOBYPASSRLS;
GRANT tenancy_app TO pgtap_context_login;
INSERT INTO public.tenants (id, slug, name) VALUES
  ('a0000000-0000-4000-8000-0000000000c1', 'pgtap-context-a', 'context A'),
  ('b0000000-0000-4000-8000-0000000000c1', 'pgtap-context-b', 'context B');

SELECT tenancy.open_session() AS session \gset
SELECT (SELECT encode(sha256(k.opad || sha256(k.ipad || convert_to(format('enter|%s|%s|%s|%s', :session, 10, 'a0000000-0000-4000-8000-0000000000c1', ''), 'UTF8'))), 'hex') FROM tenancy.context_key k) AS mac_a10 \gset
SELECT (SELECT encode(sha256(k.opad || sha256(k.ipad || convert_to(format('enter|%s|%s|%s|%s', :session, 11, 'a0000000-0000-4000-8000-0000000000c1', ''), 'UTF8'))), 'hex') FROM tenancy.context_key k) AS mac_a11 \gset
SELECT (SELECT encode(sha256(k.opad || sha256(k.ipad || convert_to(format('enter|%s|%s|%s|%s', :session, 9, 'b0000000-0000-4000-8000-0000000000c1', ''), 'UTF8'))), 'hex') FROM tenancy.context_key k) AS mac_b9 \gset
SELECT (SELECT encode(sha256(k.opad || sha256(k.ipad || convert_to(format('enter|%s|%s|%s|%s', :session + 1, 12, 'b0000000-0000-4000-8000-0000000000c1', ''), 'UTF8'))), 'hex') FROM tenancy.context_key k) AS mac_b_other_session \gset
SELECT encode(sha256('not the key'::bytea || convert_to(format('enter|%s|%s|%s|%s', :session, 13, 'b0000000-0000-4000-8000-0000000000c1', ''), 'UTF8')), 'hex') AS mac_wrong_key \gset

SET SESSION AUTHORIZATION pgtap_context_login;

-- 1-3: without a context the login sees nothing, and the plain settings do not count.
SELECT is(tenancy.current_tenant(), NULL, 'no context: no tenant');
SET LOCAL tenancy.tenant_id = 'b0000000-0000-4000-8000-0000000000c1';
SELECT is(tenancy.current_tenant(), NULL, 'SET LOCAL tenancy.tenant_id is ignored for the application login');
SELECT is_empty($$SELECT id FROM public.tenants$$, 'and it reads no tenants row');

-- 4-5: a wrong MAC is refused, whatever the tenant.
SELECT throws_ok(format($$SELECT tenancy.enter('a0000000-0000-4000-8000-0000000000c1', NULL, 10, %L)$$, repeat('0', 64)),
                 '42501', 'tenancy: tenant context refused: bad MAC', 'a made-up MAC is refused');
SELECT throws_ok(format($$SELECT tenancy.enter('b0000000-0000-4000-8000-0000000000c1', NULL, 13, %L)$$, :'mac_wrong_key'),
                 '42501', 'tenancy: tenant context refused: bad MAC', 'a MAC made without the key is refused');

-- 6-8: the application's context is accepted and scopes what the login reads.
SELECT lives_ok(format($$SELECT tenancy.enter('a0000000-0000-4000-8000-0000000000c1', NULL, 10, %L)$$, :'mac_a10'),
                'the context the application sends is accepted');
SELECT is(tenancy.current_tenant(), 'a0000000-0000-4000-8000-0000000000c1'::uuid, 'the entered tenant is current');
SELECT results_eq($$SELECT id FROM public.tenants$$, $$VALUES ('a0000000-0000-4000-8000-0000000000c1'::uuid)$$,
                  'only the entered tenant''s row is visible');

-- 9-15: SQL inside the transaction cannot switch the tenant.
SET LOCAL tenancy.tenant_id = 'b0000000-0000-4000-8000-0000000000c1';
SELECT is(tenancy.current_tenant(), 'a0000000-0000-4000-8000-0000000000c1'::uuid, 'SET LOCAL tenancy.tenant_id changes nothing');
SELECT is(set_config('tenancy.tenant_id', 'b0000000-0000-4000-8000-0000000000c1', false), 'b0000000-0000-4000-8000-0000000000c1',
          'set_config(..., false) runs');
SELECT is(tenancy.current_tenant(), 'a0000000-0000-4000-8000-0000000000c1'::uuid, '... and changes nothing either');
SELECT is(set_config('tenancy.context', 'b0000000-0000-4000-8000-0000000000c1||0', true), 'b0000000-0000-4000-8000-0000000000c1||0', 'the context setting can be overwritten');
SELECT throws_ok($$SELECT tenancy.current_tenant()$$, '42501',
                 'tenancy: the tenant context was changed inside the transaction',
                 '... but then every policy fails instead of reading another tenant');
SELECT throws_ok($$SELECT count(*) FROM public.tenants$$, '42501', NULL,
                 'reading a table fails too');
RESET tenancy.context;
SELECT is(tenancy.current_tenant(), NULL, 'RESET tenancy.context leaves no tenant at all');

-- 16-19: replay: an accepted counter cannot be used again, an older one neither, and a MAC of
-- another session is void here.
SELECT throws_ok(format($$SELECT tenancy.enter('a0000000-0000-4000-8000-0000000000c1', NULL, 10, %L)$$, :'mac_a10'),
                 '42501', 'tenancy: tenant context refused: replayed counter', 'the same enter() again is refused');
SELECT throws_ok(format($$SELECT tenancy.enter('b0000000-0000-4000-8000-0000000000c1', NULL, 9, %L)$$, :'mac_b9'),
                 '42501', 'tenancy: tenant context refused: replayed counter', 'a valid MAC with an older counter is refused');
SELECT throws_ok(format($$SELECT tenancy.enter('b0000000-0000-4000-8000-0000000000c1', NULL, 12, %L)$$, :'mac_b_other_session'),
                 '42501', 'tenancy: tenant context refused: bad MAC', 'a MAC of another session is refused');
SELECT throws_ok(format($$SELECT tenancy.enter('b0000000-0000-4000-8000-0000000000c1', NULL, 11, %L)$$, :'mac_a11'),
                 '42501', 'tenancy: tenant context refused: bad MAC', 'a MAC for tenant A does not open tenant B');

-- 20-21: roles: the login cannot become the BYPASSRLS role; RESET ROLE keeps it the login.
SELECT throws_ok($$SET ROLE tenancy_admin$$, '42501', 'permission denied to set role "tenancy_admin"',
                 'SET ROLE tenancy_admin is refused');
RESET ROLE;
SELECT is(current_user::text, 'pgtap_context_login', 'RESET ROLE leaves the login');

-- 22-27: the key, the MAC function and the session state are out of reach.
SELECT throws_ok($$SELECT key FROM tenancy.context_key$$, '42501', 'permission denied for table context_key',
                 'the key cannot be read');
SELECT throws_ok($$SELECT currval('tenancy.nonce_hi')$$, '42501', 'permission denied for sequence nonce_hi',
                 'the nonce the context is tagged with cannot be read');
SELECT throws_ok($$SELECT setval('tenancy.counter_seq', 1)$$, '42501', 'permission denied for sequence counter_seq',
                 'the accepted counter cannot be moved back');
SELECT throws_ok($$SELECT setval('tenancy.nonce_lo', 1)$$, '42501', 'permission denied for sequence nonce_lo',
                 'the nonce cannot be overwritten');
SELECT throws_ok($$SELECT tenancy.install_context_key(decode(repeat('00', 32), 'hex'))$$, '42501',
                 'permission denied for function install_context_key', 'the key cannot be replaced');
SELECT throws_ok($$CREATE TEMPORARY TABLE tenants (id uuid)$$, '42501', NULL,
                 'no temporary table can shadow a real one');

-- 28: opening a new session voids the application's MACs for this connection.
SELECT tenancy.open_session();
SELECT throws_ok(format($$SELECT tenancy.enter('a0000000-0000-4000-8000-0000000000c1', NULL, 11, %L)$$, :'mac_a11'),
                 '42501', 'tenancy: tenant context refused: bad MAC', 'after open_session() the old MACs are void');

-- 29: the new session starts from a nonce nobody knows: a context tagged over the value the
-- nonce once started from (0, 0) is refused, not answered.
SELECT set_config('tenancy.context', 'b0000000-0000-4000-8000-0000000000c1||' || encode(sha256(convert_to(
  '0|0|b0000000-0000-4000-8000-0000000000c1|', 'UTF8')), 'hex'), true);
SELECT throws_ok($$SELECT tenancy.current_tenant()$$, '42501',
                 'tenancy: the tenant context was changed inside the transaction',
                 'after open_session() a context tagged over a guessed nonce is refused');
SELECT set_config('tenancy.context', '', true);

-- 30: without a key (deleted, or never installed) every MAC is refused, even one that was
-- valid: a missing key must not make the comparison NULL and let the context through.
RESET SESSION AUTHORIZATION;
SELECT tenancy.open_session() AS session \gset
SELECT (SELECT encode(sha256(k.opad || sha256(k.ipad || convert_to(format('enter|%s|%s|%s|%s', :session, 20, 'a0000000-0000-4000-8000-0000000000c1', ''), 'UTF8'))), 'hex') FROM tenancy.context_key k) AS mac_a20 \gset
DELETE FROM tenancy.context_key;
SET SESSION AUTHORIZATION pgtap_context_login;
SELECT throws_ok(format($$SELECT tenancy.enter('a0000000-0000-4000-8000-0000000000c1', NULL, 20, %L)$$, :'mac_a20'),
                 '42501', 'tenancy: tenant context refused: bad MAC', 'without a key no context opens');

RESET SESSION AUTHORIZATION;
SELECT * FROM finish();
ROLLBACK;
