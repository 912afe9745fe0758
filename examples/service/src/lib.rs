//! A small axum service on tenancy: clients authenticate with the foundation schema's API
//! keys (`Authorization: Bearer tk_…`), and each key's tenant creates, lists, renames and
//! deletes its own projects (the example application's `projects` table). Every handler's
//! queries run in the request's tenant transaction ([`tenancy_axum::Tx`]), so a handler cannot
//! reach another tenant's rows, and another tenant's id is a 404 like any unknown id. The
//! handlers that take a body read and check it before they begin that transaction
//! ([`tenancy_axum::LazyTx`]): a client sending its body slowly holds no pooled connection.
//!
//! | route | scope | answer |
//! |---|---|---|
//! | `GET /projects` | `projects:read` | 200, the tenant's projects |
//! | `POST /projects` `{"name", "plan_id"}` | `projects:write` | 201, the project |
//! | `GET /projects/{id}` | `projects:read` | 200, or 404 |
//! | `PATCH /projects/{id}` `{"name"}` | `projects:write` | 200, or 404 |
//! | `DELETE /projects/{id}` | `projects:write` | 204, or 404 |
//!
//! Every refusal is a small JSON body (`{"error", "message"}`), also for a path that is not
//! a route (404) or a method a route does not take (405). An id that is not a UUID, or that
//! axum cannot decode, is a 404 like an unknown one, answered before any connection is taken.
//!
//! `src/main.rs` serves it; [`demo`] sets up a throwaway database for it (and for the tests).

pub mod demo;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use tenancy_async::AsyncTenancy;
use tenancy_axum::foundation::{ApiKeyResolver, require_scope};
use tenancy_axum::{HttpError, LazyTx, TenancyLayer, Tx};
use tenancy_example_app::schema::projects;
use tenancy_foundation::api_keys::VerifiedKey;
use tenancy_schema::PrincipalId;
use uuid::Uuid;

/// The scope that lets a key read projects.
pub const READ_SCOPE: &str = "projects:read";
/// The scope that lets a key create, rename and delete projects.
pub const WRITE_SCOPE: &str = "projects:write";

/// A project as the API shows it.
#[tenancy_schema::tenant_scoped]
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, serde::Deserialize,
)]
#[diesel(table_name = projects, check_for_backend(diesel::pg::Pg))]
pub struct Project {
    /// Its id.
    pub id: Uuid,
    /// Its name, unique in the tenant.
    pub name: String,
    /// The plan it is on.
    pub plan_id: Uuid,
    /// The principal that created it (the API key's).
    pub owner_id: Uuid,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /projects`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CreateProject {
    /// The name, unique in the tenant.
    pub name: String,
    /// The plan (`plans.id`).
    pub plan_id: Uuid,
}

/// The body of `PATCH /projects/{id}`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RenameProject {
    /// The new name.
    pub name: String,
}

#[tenancy_schema::tenant_scoped]
#[derive(Insertable)]
#[diesel(table_name = projects)]
struct NewProject {
    id: Uuid,
    name: String,
    plan_id: Uuid,
    owner_id: Uuid,
}

/// The service's routes, without the tenancy layer (tests add routes of their own before
/// layering).
pub fn routes() -> Router {
    Router::new()
        .route("/projects", get(list_projects).post(create_project))
        .route(
            "/projects/{id}",
            get(get_project)
                .patch(rename_project)
                .delete(delete_project),
        )
        .fallback(|| async { HttpError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            HttpError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
}

/// The layer that resolves each request by its API key and opens its tenant transaction, both
/// on `tenancy`.
#[must_use]
pub fn layer(tenancy: AsyncTenancy) -> TenancyLayer<ApiKeyResolver> {
    TenancyLayer::new(tenancy.clone(), ApiKeyResolver::new(tenancy))
}

/// The whole service.
pub fn app(tenancy: AsyncTenancy) -> Router {
    routes().layer(layer(tenancy))
}

/// Connects to a database the example application's migrations were applied to: the async
/// tenancy the handlers and the API key checks use (`pool_size` connections), as the
/// application login `app_url`, with `admin_url` for the context key and the audited escape
/// hatch.
///
/// The opening of each request's transaction is pipelined with its first statement
/// ([`tenancy_async::AsyncTenancyBuilder::pipeline`]): a request that reads or writes once pays
/// two round trips to the database, not three. A suspended tenant is then refused by that first
/// statement, with the same response.
///
/// # Errors
/// As [`tenancy_async::AsyncTenancyBuilder::build`].
pub async fn connect(
    app_url: &str,
    admin_url: &str,
    pool_size: u32,
) -> Result<AsyncTenancy, tenancy_schema::Error> {
    AsyncTenancy::builder(app_url)
        .admin_url(admin_url)
        .config(tenancy_foundation::config())
        .max_size(pool_size)
        .pipeline(true)
        .build()
        .await
}

/// A key with [`READ_SCOPE`]; checked before the transaction is extracted, so a refused
/// request uses no connection.
struct CanRead;

/// A key with [`WRITE_SCOPE`]; as [`CanRead`].
struct CanWrite(VerifiedKey);

fn key_with(parts: &Parts, scope: &str) -> Result<VerifiedKey, HttpError> {
    let key = parts
        .extensions
        .get::<VerifiedKey>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("route served without the API key layer");
            HttpError::internal()
        })?;
    require_scope(&key, scope)?;
    Ok(key)
}

impl<S: Send + Sync> FromRequestParts<S> for CanRead {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, HttpError> {
        key_with(parts, READ_SCOPE).map(|_| CanRead)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CanWrite {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, HttpError> {
        key_with(parts, WRITE_SCOPE).map(CanWrite)
    }
}

/// The project id in the path. Anything that is not a UUID names no project, a path axum
/// cannot decode (`%FF`) included: 404, as an unknown id. Extracted before the transaction,
/// so such a request takes no connection.
struct ProjectId(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ProjectId {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        let not_found = || HttpError::not_found("project");
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        Uuid::parse_str(&text)
            .map(ProjectId)
            .map_err(|_| not_found())
    }
}

/// How much of axum's explanation a 400 quotes: serde's message quotes the value it refused,
/// which may be the whole body.
const EXPLANATION_CHARS: usize = 200;

/// A body axum could not read as JSON of the right shape: 400 with the start of axum's
/// explanation.
fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, HttpError> {
    body.map(|Json(value)| value).map_err(|rejection| {
        let text = rejection.body_text();
        let mut shown: String = text.chars().take(EXPLANATION_CHARS).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        HttpError::bad_request(shown)
    })
}

// Owned: a borrowed bind parameter makes the handler's future fail axum's `Send` check (a
// higher-ranked lifetime diesel-async's query traits do not satisfy).
fn valid_name(name: &str) -> Result<String, HttpError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(HttpError::bad_request(
            "a project name has 1 to 200 bytes besides surrounding spaces",
        ));
    }
    // PostgreSQL's text cannot hold a NUL: refused here, with the reason, rather than by the
    // database after a connection was taken.
    if name.contains('\0') {
        return Err(HttpError::bad_request(
            "a project name cannot contain a NUL character",
        ));
    }
    Ok(name.to_owned())
}

async fn list_projects(_: CanRead, mut tx: Tx) -> Result<Json<Vec<Project>>, HttpError> {
    let rows = tx
        .tx()
        .load(
            projects::table
                .order((projects::created_at, projects::id))
                .select(Project::as_select()),
        )
        .await?;
    Ok(Json(rows))
}

// `LazyTx`, not `Tx`: axum reads the body after every other extractor, and a `Tx` would hold
// its pooled connection while the client sends the body.
async fn create_project(
    CanWrite(key): CanWrite,
    lazy: LazyTx,
    input: Result<Json<CreateProject>, JsonRejection>,
) -> Result<(StatusCode, Json<Project>), HttpError> {
    let input = body(input)?;
    let owner: PrincipalId = key.principal;
    let row = NewProject {
        id: Uuid::now_v7(),
        name: valid_name(&input.name)?,
        plan_id: input.plan_id,
        owner_id: *owner.as_uuid(),
    };
    let mut tx = lazy.begin().await?;
    let project: Project = tx
        .tx()
        .insert_into(projects::table)
        .values(row)
        .get_result()
        .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

async fn get_project(
    _: CanRead,
    ProjectId(id): ProjectId,
    mut tx: Tx,
) -> Result<Json<Project>, HttpError> {
    let found: Vec<Project> = tx
        .tx()
        .load(
            projects::table
                .filter(projects::id.eq(id))
                .select(Project::as_select()),
        )
        .await?;
    found
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| HttpError::not_found("project"))
}

// `LazyTx` for the reason given at `create_project`.
async fn rename_project(
    _: CanWrite,
    ProjectId(id): ProjectId,
    lazy: LazyTx,
    input: Result<Json<RenameProject>, JsonRejection>,
) -> Result<Json<Project>, HttpError> {
    let name = valid_name(&body(input)?.name)?;
    let mut tx = lazy.begin().await?;
    let changed: Vec<Project> = tx
        .tx()
        .update(projects::table)
        .filter(projects::id.eq(id))
        .set(projects::name.eq(name))
        .get_results()
        .await?;
    changed
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| HttpError::not_found("project"))
}

async fn delete_project(
    _: CanWrite,
    ProjectId(id): ProjectId,
    mut tx: Tx,
) -> Result<StatusCode, HttpError> {
    let deleted = tx
        .tx()
        .delete(projects::table)
        .filter(projects::id.eq(id))
        .execute()
        .await?;
    if deleted == 0 {
        return Err(HttpError::not_found("project"));
    }
    Ok(StatusCode::NO_CONTENT)
}
