-- tenancy: `users` is global and deliberately out of the application role's reach (a tenant
-- reads its members through `tenancy.member_directory()`). The comment tells `tenancy check`
-- so, which otherwise reports a global table the application role cannot read (TEN052).
COMMENT ON TABLE public.users IS
  'tenancy: private: the application role reads members through tenancy.member_directory(), never this table';
