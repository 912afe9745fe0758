-- A user's principal is made by the control plane, with the membership it stands for. With
-- INSERT on principals, SQL in a tenant's transaction could make one for any user id: the
-- foreign key then answered whether an id was a user's, of whichever tenant, and the
-- principal named that user in the tenant without a membership. Tenant transactions make the
-- principals of teams (and services) and may rename principals; whose user one is, they do
-- not choose.
REVOKE INSERT, UPDATE ON principals FROM tenancy_app;
GRANT INSERT (tenant_id, id, kind, display_name, created_at, updated_at) ON principals TO tenancy_app;
GRANT UPDATE (display_name, updated_at) ON principals TO tenancy_app;
