//! The example service end to end: the real server on 127.0.0.1, driven by a real HTTP
//! client, on a throwaway PostgreSQL migrated with the example application's migrations, as
//! the application login. Isolation between API keys, the status codes of refusals, commit
//! and rollback by status, a request cancelled mid-transaction, and a bounded load run.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use diesel::prelude::*;
use reqwest::header::AUTHORIZATION;
use tenancy_async::AsyncTenancy;
use tenancy_axum::foundation::ApiKeyResolver;
use tenancy_axum::{HttpError, LazyTx, TenancyLayer, Tx};
use tenancy_example_app::schema::projects;
use tenancy_example_service::demo::{self, DemoDatabase, DemoTenant};
use tenancy_example_service::{CreateProject, Project, READ_SCOPE, RenameProject, WRITE_SCOPE};
use tenancy_foundation::api_keys::VerifiedKey;
use tenancy_schema::Tenancy;
use tokio::sync::Notify;
use uuid::Uuid;

mod requests_that_fail_or_misbehave;

struct Fixture {
    db: DemoDatabase,
    /// Synchronous, for seeding tenants, keys and plans.
    seeder: Tenancy,
    plan: Uuid,
}

/// The tenant context a fixture's database runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// The SQL context of the migrations alone.
    Sql,
    /// The native context of the `tenancy_context` extension, switched on.
    Native,
}

impl Context {
    /// The SQL context, and the native one where the server has the extension (CI requires it
    /// with `TENANCY_REQUIRE_NATIVE=1`).
    fn all() -> Vec<Context> {
        if tenancy_testing::native_context_available().expect("look for the extension") {
            vec![Context::Sql, Context::Native]
        } else {
            vec![Context::Sql]
        }
    }
}

/// One database per context for the whole binary; each test seeds tenants of its own.
fn fixture() -> &'static Fixture {
    fixture_on(Context::Sql)
}

fn fixture_on(context: Context) -> &'static Fixture {
    static SQL: OnceLock<Fixture> = OnceLock::new();
    static NATIVE: OnceLock<Fixture> = OnceLock::new();
    // Before anything creates a span, so that every callsite is registered with it.
    static SUBSCRIBER: OnceLock<()> = OnceLock::new();
    SUBSCRIBER.get_or_init(|| {
        tracing::subscriber::set_global_default(SpanRecorder)
            .expect("the only tracing subscriber of this binary");
    });
    let (cell, start): (_, fn() -> Result<DemoDatabase, demo::SetupError>) = match context {
        Context::Sql => (&SQL, DemoDatabase::start),
        Context::Native => (&NATIVE, DemoDatabase::start_native),
    };
    cell.get_or_init(|| {
        let db = start().expect("demo database (PostgreSQL binaries or DATABASE_URL)");
        let seeder = Tenancy::builder(&db.app_url)
            .admin_url(&db.admin_url)
            .config(tenancy_foundation::config())
            .max_size(2)
            .build()
            .expect("seeding tenancy");
        let plan = demo::seed_plans(&seeder).expect("plans");
        Fixture { db, seeder, plan }
    })
}

/// A tenant with a read-and-write key, under a name no other test uses.
fn tenant(label: &str) -> DemoTenant {
    tenant_on(fixture(), label)
}

fn tenant_on(f: &Fixture, label: &str) -> DemoTenant {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let email = format!("{label}-{n}-{}@example.com", Uuid::now_v7().simple());
    demo::seed_tenant(&f.seeder, &email, &[READ_SCOPE, WRITE_SCOPE]).expect("tenant")
}

struct Server {
    base: String,
    /// The server's address, for a client writing raw HTTP.
    addr: std::net::SocketAddr,
    tenancy: AsyncTenancy,
    http: reqwest::Client,
    fixture: &'static Fixture,
}

/// Serves the service's routes plus `extra`, under the service's layer, on 127.0.0.1:0.
async fn serve(extra: Router, pool_size: u32) -> Server {
    serve_on(fixture(), extra, pool_size).await
}

/// [`serve`] on the database of `f`.
async fn serve_on(f: &'static Fixture, extra: Router, pool_size: u32) -> Server {
    let tenancy = tenancy_example_service::connect(&f.db.app_url, &f.db.admin_url, pool_size)
        .await
        .expect("connect");
    serve_with(f, extra, tenancy).await
}

/// [`serve_on`] with the `tenancy` of the handlers and the API key checks given.
async fn serve_with(f: &'static Fixture, extra: Router, tenancy: AsyncTenancy) -> Server {
    let layer = tenancy_example_service::layer(tenancy.clone());
    serve_layered(f, extra, tenancy, layer).await
}

/// [`serve`], with the API keys checked on a pool of their own, so that the handlers' pool
/// (`Server::tenancy`) counts only what the handlers take.
async fn serve_keys_apart(extra: Router, pool_size: u32) -> Server {
    let f = fixture();
    let connect = || tenancy_example_service::connect(&f.db.app_url, &f.db.admin_url, pool_size);
    let (tenancy, keys) = (
        connect().await.expect("connect"),
        connect().await.expect("connect"),
    );
    let layer = TenancyLayer::new(tenancy.clone(), ApiKeyResolver::new(keys));
    serve_layered(f, extra, tenancy, layer).await
}

async fn serve_layered(
    f: &'static Fixture,
    extra: Router,
    tenancy: AsyncTenancy,
    layer: TenancyLayer<ApiKeyResolver>,
) -> Server {
    let app = tenancy_example_service::routes().merge(extra).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    Server {
        base: format!("http://{addr}"),
        addr,
        tenancy,
        http,
        fixture: f,
    }
}

#[derive(Debug, serde::Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn create(&self, key: &str, name: &str) -> reqwest::Response {
        self.http
            .post(self.url("/projects"))
            .bearer_auth(key)
            .json(&CreateProject {
                name: name.to_owned(),
                plan_id: self.fixture.plan,
            })
            .send()
            .await
            .expect("POST /projects")
    }

    async fn created(&self, key: &str, name: &str) -> Project {
        let response = self.create(key, name).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create {name}");
        response.json().await.expect("project json")
    }

    async fn list(&self, key: &str) -> Vec<Project> {
        let response = self
            .http
            .get(self.url("/projects"))
            .bearer_auth(key)
            .send()
            .await
            .expect("GET /projects");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("projects json")
    }

    async fn names(&self, key: &str) -> Vec<String> {
        self.list(key).await.into_iter().map(|p| p.name).collect()
    }

    /// Every pooled connection is idle, outside any transaction, with no tenant context.
    async fn assert_sessions_clean(&self) {
        let sessions = self.tenancy.inspect_sessions().await.expect("inspect");
        assert!(!sessions.is_empty());
        for session in sessions {
            assert!(session.is_clean(), "{session:?}");
        }
    }
}

/// The status and JSON error body of a refused request.
async fn refusal(response: reqwest::Response) -> (StatusCode, ErrorBody) {
    let status = response.status();
    let body = response.json().await.expect("a JSON error body");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_creates_lists_renames_and_deletes_only_its_own_projects() {
    for context in Context::all() {
        own_projects_only(context).await;
    }
}

async fn own_projects_only(context: Context) {
    let f = fixture_on(context);
    let (ada, bob) = (tenant_on(f, "ada"), tenant_on(f, "bob"));
    let s = serve_on(f, Router::new(), 4).await;

    let alpha = s.created(&ada.key, "alpha").await;
    let beta = s.created(&ada.key, "beta").await;
    let gamma = s.created(&bob.key, "gamma").await;
    assert_eq!(alpha.tenant_id, ada.seeded.tenant);
    assert_eq!(alpha.owner_id, *ada.seeded.principal.as_uuid());
    assert_eq!(gamma.tenant_id, bob.seeded.tenant);
    assert_eq!(s.names(&ada.key).await, ["alpha", "beta"]);
    assert_eq!(s.names(&bob.key).await, ["gamma"]);
    // Each tenant's namespace is its own: bob may use ada's names.
    s.created(&bob.key, "alpha").await;

    // Bob cannot see, rename or delete ada's project: it does not exist for him.
    let ada_path = s.url(&format!("/projects/{}", alpha.id));
    let requests = [
        s.http.get(&ada_path),
        s.http.patch(&ada_path).json(&RenameProject {
            name: "taken".into(),
        }),
        s.http.delete(&ada_path),
    ];
    for request in requests {
        let response = request.bearer_auth(&bob.key).send().await.expect("request");
        let (status, body) = refusal(response).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body.error, "not_found", "{}", body.message);
    }
    let fetched: Project = s
        .http
        .get(&ada_path)
        .bearer_auth(&ada.key)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(fetched, alpha);

    // Ada renames and deletes hers.
    let renamed: Project = s
        .http
        .patch(&ada_path)
        .bearer_auth(&ada.key)
        .json(&RenameProject {
            name: "alpha two".into(),
        })
        .send()
        .await
        .expect("patch")
        .json()
        .await
        .expect("json");
    assert_eq!((renamed.id, renamed.name.as_str()), (alpha.id, "alpha two"));
    let deleted = s
        .http
        .delete(s.url(&format!("/projects/{}", beta.id)))
        .bearer_auth(&ada.key)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.names(&ada.key).await, ["alpha two"]);
    assert_eq!(s.names(&bob.key).await, ["gamma", "alpha"]);

    // Bad input is a clean JSON error, never a panic.
    let (status, body) = refusal(s.create(&ada.key, "alpha two").await).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::CONFLICT, "conflict")
    );
    let (status, body) = refusal(s.create(&ada.key, "   ").await).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );
    let response = s
        .http
        .post(s.url("/projects"))
        .bearer_auth(&ada.key)
        .header("content-type", "application/json")
        .body("{\"name\": 7")
        .send()
        .await
        .expect("post");
    let (status, body) = refusal(response).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_input")
    );
    let response = s
        .http
        .get(s.url("/projects/not-a-uuid"))
        .bearer_auth(&ada.key)
        .send()
        .await
        .expect("get");
    assert_eq!(refusal(response).await.0, StatusCode::NOT_FOUND);
    s.assert_sessions_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_401_without_a_valid_key_400_with_two_and_403_without_the_scope_or_for_a_suspended_tenant()
 {
    let ada = tenant("scopes");
    let read_only = demo::issue_key(&fixture().seeder, &ada.seeded, &[READ_SCOPE]).expect("key");
    let s = serve(Router::new(), 2).await;

    let response = s.http.get(s.url("/projects")).send().await.expect("get");
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(reqwest::header::HeaderValue::as_bytes),
        Some(&b"Bearer"[..])
    );
    let (status, body) = refusal(response).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );
    for bad in [
        "tk_nonsense".to_owned(),
        // Well formed, never issued.
        format!("tk_{}_{}", "0".repeat(16), "0".repeat(64)),
        // Another key's prefix with a wrong secret.
        format!("{}{}", &ada.key[..20], "f".repeat(64)),
    ] {
        let response = s
            .http
            .get(s.url("/projects"))
            .header(AUTHORIZATION, format!("Bearer {bad}"))
            .send()
            .await
            .expect("get");
        let (status, body) = refusal(response).await;
        assert_eq!(
            (status, body.error.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_api_key")
        );
    }

    // Two keys (of two tenants, or one twice): refused, never read in some order.
    let other = tenant("scopes other");
    for second in [&other.key, &ada.key] {
        let response = s
            .http
            .get(s.url("/projects"))
            .header(AUTHORIZATION, format!("Bearer {}", ada.key))
            .header(AUTHORIZATION, format!("Bearer {second}"))
            .send()
            .await
            .expect("get");
        let (status, body) = refusal(response).await;
        assert_eq!(
            (status, body.error.as_str()),
            (StatusCode::BAD_REQUEST, "ambiguous_credentials")
        );
    }

    assert!(s.list(&read_only).await.is_empty());
    let (status, body) = refusal(s.create(&read_only, "nope").await).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::FORBIDDEN, "missing_scope")
    );
    assert!(body.message.contains(WRITE_SCOPE), "{}", body.message);
    assert!(s.names(&ada.key).await.is_empty());

    let seeder = fixture().seeder.clone();
    let suspended = ada.seeded.tenant;
    tokio::task::spawn_blocking(move || {
        tenancy_foundation::control::suspend_tenant(&seeder, suspended)
    })
    .await
    .expect("join")
    .expect("suspend");
    let response = s
        .http
        .get(s.url("/projects"))
        .bearer_auth(&ada.key)
        .send()
        .await
        .expect("get");
    let (status, body) = refusal(response).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::FORBIDDEN, "tenant_suspended")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_never_extracts_the_transaction_uses_no_connection() {
    let ada = tenant("lazy");
    let whoami = Router::new().route(
        "/test/whoami",
        get(|Extension(key): Extension<VerifiedKey>| async move { key.tenant.to_string() }),
    );
    let s = serve_keys_apart(whoami, 2).await;
    let response = s
        .http
        .get(s.url("/test/whoami"))
        .bearer_auth(&ada.key)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.expect("text"),
        ada.seeded.tenant.to_string()
    );
    assert_eq!(s.tenancy.pool_state(), (0, 0), "no connection was opened");
    // A refused request opens none either.
    assert_eq!(
        s.http
            .get(s.url("/projects"))
            .send()
            .await
            .expect("get")
            .status(),
        401
    );
    assert_eq!(s.tenancy.pool_state(), (0, 0));
}

/// Inserts a project named in the body, then answers `status` (with nothing else in the
/// body): whether the write stays is the layer's decision alone.
async fn write_then(
    Path(status): Path<u16>,
    Extension(key): Extension<VerifiedKey>,
    mut tx: Tx,
    Json(input): Json<CreateProject>,
) -> Result<StatusCode, HttpError> {
    insert(&mut tx, &key, input).await?;
    StatusCode::from_u16(status).map_err(|_| HttpError::bad_request("status"))
}

/// Inserts a project, then fails with tenancy's own error for a missing row.
async fn write_then_fail(
    Extension(key): Extension<VerifiedKey>,
    mut tx: Tx,
    Json(input): Json<CreateProject>,
) -> Result<StatusCode, HttpError> {
    insert(&mut tx, &key, input).await?;
    let _missing: Uuid = tx
        .tx()
        .first(
            projects::table
                .filter(projects::id.eq(Uuid::nil()))
                .select(projects::id),
        )
        .await?;
    Ok(StatusCode::OK)
}

async fn insert(tx: &mut Tx, key: &VerifiedKey, input: CreateProject) -> Result<(), HttpError> {
    tx.tx()
        .insert_into(projects::table)
        .values((
            projects::id.eq(Uuid::now_v7()),
            projects::name.eq(input.name),
            projects::plan_id.eq(input.plan_id),
            projects::owner_id.eq(*key.principal.as_uuid()),
        ))
        .execute()
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_commit_on_2xx_and_3xx_and_roll_back_on_4xx_and_5xx() {
    let ada = tenant("commit");
    let routes = Router::new()
        .route("/test/write-then/{status}", post(write_then))
        .route("/test/write-then-fail", post(write_then_fail));
    let s = serve(routes, 2).await;
    for status in [200_u16, 201, 204, 303, 400, 404, 409, 422, 500, 503] {
        let response = s
            .http
            .post(s.url(&format!("/test/write-then/{status}")))
            .bearer_auth(&ada.key)
            .json(&CreateProject {
                name: format!("answered {status}"),
                plan_id: fixture().plan,
            })
            .send()
            .await
            .expect("post");
        assert_eq!(response.status().as_u16(), status);
    }
    let response = s
        .http
        .post(s.url("/test/write-then-fail"))
        .bearer_auth(&ada.key)
        .json(&CreateProject {
            name: "failed".into(),
            plan_id: fixture().plan,
        })
        .send()
        .await
        .expect("post");
    let (status, body) = refusal(response).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    let mut kept = s.names(&ada.key).await;
    kept.sort();
    assert_eq!(
        kept,
        [
            "answered 200",
            "answered 201",
            "answered 204",
            "answered 303"
        ]
    );
    s.assert_sessions_clean().await;
}

/// What the slow route reports: its write is done; its future was dropped.
#[derive(Default)]
struct Signals {
    written: Notify,
    dropped: Notify,
}

struct OnDrop(Arc<Signals>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.dropped.notify_one();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cancelled_mid_transaction_leaves_no_context_and_no_write_behind() {
    for context in Context::all() {
        cancelled_mid_transaction(context).await;
    }
}

async fn cancelled_mid_transaction(context: Context) {
    let f = fixture_on(context);
    let ada = tenant_on(f, "cancel");
    let signals = Arc::new(Signals::default());
    let route_signals = Arc::clone(&signals);
    let slow = Router::new().route(
        "/test/write-then-sleep",
        post(
            move |Extension(key): Extension<VerifiedKey>,
                  mut tx: Tx,
                  Json(input): Json<CreateProject>| {
                let signals = Arc::clone(&route_signals);
                async move {
                    let _reports_drop = OnDrop(Arc::clone(&signals));
                    insert(&mut tx, &key, input).await?;
                    signals.written.notify_one();
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    Ok::<_, HttpError>(StatusCode::CREATED)
                }
            },
        ),
    );
    let s = serve_on(f, slow, 3).await;
    // Connections opened before, so that the pool holds idle ones next to the doomed one.
    s.created(&ada.key, "before").await;

    let request = s
        .http
        .post(s.url("/test/write-then-sleep"))
        .bearer_auth(&ada.key)
        .json(&CreateProject {
            name: "cancelled".into(),
            plan_id: f.plan,
        })
        .send();
    let client = tokio::spawn(request);
    tokio::time::timeout(Duration::from_secs(20), signals.written.notified())
        .await
        .expect("the handler wrote");
    // The client goes away: its connection closes, and the server drops the request.
    client.abort();
    assert!(client.await.is_err_and(|e| e.is_cancelled()));
    tokio::time::timeout(Duration::from_secs(20), signals.dropped.notified())
        .await
        .expect("the server dropped the cancelled request's future");

    s.assert_sessions_clean().await;
    assert_eq!(s.names(&ada.key).await, ["before"]);
    // The pool is usable afterwards.
    s.created(&ada.key, "after").await;
    assert_eq!(s.names(&ada.key).await, ["before", "after"]);
    s.assert_sessions_clean().await;
}

/// Inserts a project, then panics.
async fn write_then_panic(
    Extension(key): Extension<VerifiedKey>,
    mut tx: Tx,
    Json(input): Json<CreateProject>,
) -> StatusCode {
    insert(&mut tx, &key, input).await.expect("insert");
    panic!("the handler panics after its write (this panic is the test's)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_panics_after_writing_leaves_no_context_and_no_write_behind() {
    let ada = tenant("panic");
    let s = serve(
        Router::new().route("/test/write-then-panic", post(write_then_panic)),
        2,
    )
    .await;
    let answer = s
        .http
        .post(s.url("/test/write-then-panic"))
        .bearer_auth(&ada.key)
        .json(&CreateProject {
            name: "panicked".into(),
            plan_id: fixture().plan,
        })
        .send()
        .await;
    // The connection's task died with the panic: no answer at all.
    assert!(answer.is_err(), "{answer:?}");
    s.assert_sessions_clean().await;
    assert!(s.names(&ada.key).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_under_load_lose_no_write_and_see_no_other_tenant() {
    for context in Context::all() {
        load_run(context).await;
    }
}

async fn load_run(context: Context) {
    const CLIENTS: usize = 16;
    const REQUESTS_PER_CLIENT: usize = 150;
    let f = fixture_on(context);
    let tenants: Arc<Vec<DemoTenant>> =
        Arc::new((0..4).map(|i| tenant_on(f, &format!("load{i}"))).collect());
    let s = Arc::new(serve_on(f, Router::new(), 8).await);
    let started = Instant::now();

    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (s, tenants) = (Arc::clone(&s), Arc::clone(&tenants));
        clients.push(tokio::spawn(async move {
            // (tenant index, project id, name) of every create answered 201.
            let mut created = Vec::new();
            for i in 0..REQUESTS_PER_CLIENT {
                let t = (client + i) % tenants.len();
                let tenant = &tenants[t];
                if i % 3 == 2 {
                    for project in s.list(&tenant.key).await {
                        assert_eq!(
                            project.tenant_id, tenant.seeded.tenant,
                            "a row of another tenant"
                        );
                    }
                } else {
                    let name = format!("c{client}-r{i}");
                    let project = s.created(&tenant.key, &name).await;
                    assert_eq!(project.tenant_id, tenant.seeded.tenant);
                    created.push((t, project.id, name));
                }
            }
            created
        }));
    }
    let mut created = Vec::new();
    for client in clients {
        created.extend(client.await.expect("client"));
    }
    let elapsed = started.elapsed();
    assert_eq!(created.len(), CLIENTS * REQUESTS_PER_CLIENT * 2 / 3);

    // Every project of these tenants, as the database's owner sees them (no policies).
    let owner_url = f.db.owner_url().to_owned();
    let ids: Vec<Uuid> = tenants.iter().map(|t| *t.seeded.tenant.as_uuid()).collect();
    let rows: Vec<(Uuid, Uuid, String)> = tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&owner_url).expect("owner");
        projects::table
            .filter(projects::tenant_id.eq_any(ids))
            .select((projects::tenant_id, projects::id, projects::name))
            .load(&mut conn)
            .expect("projects")
    })
    .await
    .expect("join");
    let stored: HashMap<Uuid, (Uuid, String)> = rows
        .iter()
        .map(|(t, id, name)| (*id, (*t, name.clone())))
        .collect();
    assert_eq!(stored.len(), rows.len());
    // Exactly the acknowledged creates: none lost, none twice, none extra.
    assert_eq!(
        rows.len(),
        created.len(),
        "stored rows vs acknowledged creates"
    );
    let mut names = HashSet::new();
    for (t, id, name) in &created {
        let (tenant, stored_name) = stored.get(id).expect("an acknowledged create is stored");
        assert_eq!(
            tenant,
            tenants[*t].seeded.tenant.as_uuid(),
            "stored under the key's tenant"
        );
        assert_eq!(stored_name, name);
        assert!(names.insert(name.clone()), "{name} acknowledged twice");
    }
    // And through the API, each tenant lists exactly its own.
    for (t, tenant) in tenants.iter().enumerate() {
        let mut listed: Vec<Uuid> = s.list(&tenant.key).await.iter().map(|p| p.id).collect();
        let mut expected: Vec<Uuid> = created
            .iter()
            .filter(|(ct, _, _)| *ct == t)
            .map(|(_, id, _)| *id)
            .collect();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected);
    }
    s.assert_sessions_clean().await;
    eprintln!(
        "{context:?} context: {} requests from {CLIENTS} clients in {elapsed:?}",
        CLIENTS * REQUESTS_PER_CLIENT
    );
}

/// The fields of every span created in this binary, by span id: a subscriber of the
/// test's own, so that a test can see what the layer's span carries.
type Spans = HashMap<u64, (&'static str, HashMap<String, String>)>;

fn recorded_spans() -> &'static Mutex<Spans> {
    static SPANS: OnceLock<Mutex<Spans>> = OnceLock::new();
    SPANS.get_or_init(Mutex::default)
}

struct SpanRecorder;

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl tracing::Subscriber for SpanRecorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut fields = HashMap::new();
        span.record(&mut Fields(&mut fields));
        let mut spans = recorded_spans().lock().expect("spans");
        spans.insert(id, (span.metadata().name(), fields));
        tracing::span::Id::from_u64(id)
    }

    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut spans = recorded_spans().lock().expect("spans");
        if let Some((_, fields)) = spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, _: &tracing::Event<'_>) {}

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_runs_in_a_span_carrying_its_tenant_and_principal() {
    let ada = tenant("span");
    let s = serve(Router::new(), 2).await;
    s.created(&ada.key, "traced").await;
    let tenant = ada.seeded.tenant.to_string();
    let principal = ada.seeded.principal.to_string();
    let spans = recorded_spans().lock().expect("spans");
    let ours: Vec<&HashMap<String, String>> = spans
        .values()
        .filter(|(name, fields)| {
            *name == "tenancy_request" && fields.get("tenant_id") == Some(&tenant)
        })
        .map(|(_, fields)| fields)
        .collect();
    assert_eq!(ours.len(), 1, "{spans:?}");
    assert_eq!(ours[0].get("principal_id"), Some(&principal));
    assert_eq!(ours[0].get("method").map(String::as_str), Some("POST"));
    assert_eq!(ours[0].get("path").map(String::as_str), Some("/projects"));
}
