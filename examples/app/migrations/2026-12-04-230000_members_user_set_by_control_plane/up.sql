-- A membership's user is chosen by the control plane (an invitation names it by email), never
-- by a tenant: with INSERT on org_members, or UPDATE of its user_id, SQL in a tenant's
-- transaction could point a membership of its own at any user and read that user's email
-- and name through tenancy.member_directory(). Tenant transactions change a membership's
-- role and status only; the admin path adds members.
REVOKE INSERT, UPDATE ON org_members FROM tenancy_app;
GRANT UPDATE (role, status) ON org_members TO tenancy_app;
