//! Requests that fail or misbehave, on the server and client of [`super`]: handlers that
//! answer 2xx after a failed statement, handlers that move the transaction into a spawned task, hostile `Authorization` headers,
//! keys of tenants suspended or deleted while the request is in flight, concurrent requests
//! with one key, requests cancelled at random points under load, text the database cannot
//! store, a key check without a free connection, and a client trickling its body.

use super::*;

async fn insert(tx: &mut Tx, key: &VerifiedKey, name: String) -> Result<(), HttpError> {
    tx.tx()
        .insert_into(projects::table)
        .values((
            projects::id.eq(Uuid::now_v7()),
            projects::name.eq(name),
            projects::plan_id.eq(fixture().plan),
            projects::owner_id.eq(*key.principal.as_uuid()),
        ))
        .execute()
        .await?;
    Ok(())
}

/// Writes, then runs a statement that fails on the server (a duplicate name), ignores the
/// error and answers 201: the answer must not be a success and nothing may be kept. With
/// `first` the failing statement is the request's first (sent behind the pipelined opening).
async fn write_fail_then_ok(
    Extension(key): Extension<VerifiedKey>,
    mut tx: Tx,
    axum::extract::Path(first): axum::extract::Path<bool>,
) -> StatusCode {
    let name = format!("dup-{}", Uuid::now_v7().simple());
    if first {
        let _ = tx.tx().execute(diesel::sql_query("SELECT 1/0")).await;
        let _ = insert(&mut tx, &key, name).await;
    } else {
        let _ = insert(&mut tx, &key, name.clone()).await;
        let _ = insert(&mut tx, &key, name).await;
    }
    StatusCode::CREATED
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_after_a_failed_statement_is_not_a_success_and_keeps_nothing() {
    let ada = tenant("failed-then-ok");
    let s = serve(
        Router::new().route("/test/fail-then-ok/{first}", post(write_fail_then_ok)),
        2,
    )
    .await;
    for first in [false, true] {
        let response = s
            .http
            .post(s.url(&format!("/test/fail-then-ok/{first}")))
            .bearer_auth(&ada.key)
            .send()
            .await
            .expect("post");
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{first}"
        );
        let body = response.text().await.expect("body");
        assert!(body.len() < 200 && body.contains("\"internal\""), "{body}");
    }
    assert!(s.names(&ada.key).await.is_empty());
    s.assert_sessions_clean().await;
}

/// The handler moves its transaction into a spawned task that writes after the answer went
/// out (and one that writes before it, then keeps the transaction): 500, nothing kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_moved_into_a_spawned_task_keeps_nothing() {
    let ada = tenant("spawned");
    let done = Arc::new(Notify::new());
    let (late, early) = (Arc::clone(&done), Arc::clone(&done));
    let routes = Router::new()
        .route(
            "/test/spawn-late",
            post(move |Extension(key): Extension<VerifiedKey>, mut tx: Tx| {
                let done = Arc::clone(&late);
                async move {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let r = insert(&mut tx, &key, "spawned late".into()).await;
                        drop(tx);
                        done.notify_one();
                        r
                    });
                    StatusCode::CREATED
                }
            }),
        )
        .route(
            "/test/spawn-early",
            post(move |Extension(key): Extension<VerifiedKey>, mut tx: Tx| {
                let done = Arc::clone(&early);
                async move {
                    let (tx_written, written) = tokio::sync::oneshot::channel();
                    tokio::spawn(async move {
                        let r = insert(&mut tx, &key, "spawned early".into()).await;
                        let _ = tx_written.send(());
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        drop(tx);
                        done.notify_one();
                        r
                    });
                    let _ = written.await;
                    StatusCode::CREATED
                }
            }),
        );
    let s = serve(routes, 2).await;
    for path in ["/test/spawn-late", "/test/spawn-early"] {
        let response = s
            .http
            .post(s.url(path))
            .bearer_auth(&ada.key)
            .send()
            .await
            .expect("post");
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        tokio::time::timeout(Duration::from_secs(10), done.notified())
            .await
            .expect("the task ended");
    }
    assert!(s.names(&ada.key).await.is_empty());
    s.assert_sessions_clean().await;
}

/// Hostile `Authorization` headers: each is answered 401 (400 for two headers) with a small
/// JSON body, never 500 or a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_authorization_headers_are_401_with_a_small_json_body() {
    let ada = tenant("headers");
    let s = serve(Router::new(), 2).await;
    let mut values: Vec<Vec<u8>> = [
        "",
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "bearer tk_",
        "BEARER tk_x_y",
        "Bearer\ttk_x_y",
        "Bearer tk_",
        "Bearer tk__",
        "Bearer tk____",
        "Bearer tk_0000000000000000_",
        "Bearer tk_0000000000000000",
        "Bearer _0000000000000000_0000",
        "Bearer tk_'; DROP TABLE projects; --_00",
        "Bearer tk_%00_%00",
        "Basic dGs6eA==",
        "Token tk_x",
        " Bearer tk_x",
        "Bearer tk_x tk_y",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    values.push(format!("Bearer {}", &ada.key[..ada.key.len() - 1]).into_bytes());
    values.push(format!("Bearer {}0", ada.key).into_bytes());
    values.push(format!("Bearer {} ", ada.key.to_uppercase()).into_bytes());
    values.push(format!("Bearer tk_{}", "a".repeat(7000)).into_bytes());
    values.push(format!("Bearer tk_{}_{}", "9".repeat(16), "z".repeat(7000)).into_bytes());
    values.push(b"Bearer tk_\xff\xfe_\x80".to_vec());
    values.push(format!("Bearer {}\u{e9}", ada.key).into_bytes());
    for value in values {
        let shown = String::from_utf8_lossy(&value[..value.len().min(40)]).into_owned();
        let header = reqwest::header::HeaderValue::from_bytes(&value).expect("header value");
        let response = s
            .http
            .get(s.url("/projects"))
            .header(reqwest::header::AUTHORIZATION, header)
            .send()
            .await
            .expect("get");
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{shown:?}: {body}");
        assert!(body.len() < 300, "{shown:?}: {} bytes", body.len());
        let parsed: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert!(parsed["error"].is_string(), "{shown:?}: {body}");
    }
    assert_eq!(
        s.tenancy.pool_state().0,
        0,
        "no connection for a refused key"
    );
}

/// A route that extracts the transaction, waits for the test to change the tenant, then reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_suspended_or_deleted_mid_request_is_refused_not_served() {
    for action in ["suspend", "delete"] {
        let ada = tenant(action);
        let gate = Arc::new((Notify::new(), Notify::new()));
        let route_gate = Arc::clone(&gate);
        let routes = Router::new().route(
            "/test/gated",
            get(move |mut tx: Tx| {
                let gate = Arc::clone(&route_gate);
                async move {
                    gate.0.notify_one();
                    gate.1.notified().await;
                    let rows = tx.tx().load(projects::table.select(projects::name)).await?;
                    Ok::<_, HttpError>(Json::<Vec<String>>(rows))
                }
            }),
        );
        let s = serve(routes, 2).await;
        assert!(s.create(&ada.key, "before").await.status().is_success());
        let http = s.http.clone();
        let (url, key) = (s.url("/test/gated"), ada.key.clone());
        let request =
            tokio::spawn(async move { http.get(url).bearer_auth(key).send().await.expect("get") });
        gate.0.notified().await;
        let seeder = fixture().seeder.clone();
        let target = ada.seeded.tenant;
        tokio::task::spawn_blocking(move || match action {
            "suspend" => tenancy_foundation::control::suspend_tenant(&seeder, target),
            _ => tenancy_foundation::control::delete_tenant(&seeder, target),
        })
        .await
        .expect("join")
        .expect(action);
        gate.1.notify_one();
        let response = request.await.expect("request");
        let status = response.status();
        let body = response.text().await.expect("body");
        eprintln!("{action}: {status} {body}");
        assert!(
            status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED,
            "{action}: {status} {body}"
        );
        assert!(!body.contains("before"), "{action}: {body}");
        // And the key is refused from now on.
        let later = s
            .http
            .get(s.url("/projects"))
            .bearer_auth(&ada.key)
            .send()
            .await
            .expect("get");
        assert!(
            later.status() == StatusCode::FORBIDDEN || later.status() == StatusCode::UNAUTHORIZED,
            "{action}: {}",
            later.status()
        );
        s.assert_sessions_clean().await;
    }
}

/// Many concurrent requests with one key, on a pool smaller than them: every acknowledged
/// create is kept once, each name answered 201 exactly once or 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_key_lose_nothing() {
    let ada = tenant("same-key");
    let bob = tenant("same-key-other");
    let s = Arc::new(serve(Router::new(), 3).await);
    let mut handles = Vec::new();
    for i in 0..60 {
        let s = Arc::clone(&s);
        let key = if i % 5 == 4 {
            bob.key.clone()
        } else {
            ada.key.clone()
        };
        handles.push(tokio::spawn(async move {
            // Every name twice: one 201, one 409.
            let name = format!("n{}", i / 2);
            let status = s.create(&key, &name).await.status();
            (i % 5 == 4, name, status)
        }));
    }
    let mut ada_created = Vec::new();
    let mut bob_created = Vec::new();
    for h in handles {
        let (is_bob, name, status) = h.await.expect("join");
        assert!(
            status == StatusCode::CREATED || status == StatusCode::CONFLICT,
            "{name}: {status}"
        );
        if status == StatusCode::CREATED {
            if is_bob {
                bob_created.push(name);
            } else {
                ada_created.push(name);
            }
        }
    }
    let mut ada_names = s.names(&ada.key).await;
    let mut bob_names = s.names(&bob.key).await;
    for v in [
        &mut ada_created,
        &mut bob_created,
        &mut ada_names,
        &mut bob_names,
    ] {
        v.sort();
    }
    assert_eq!(ada_names, ada_created);
    assert_eq!(bob_names, bob_created);
    s.assert_sessions_clean().await;
}

/// Requests cancelled by the client at random points (client timeouts from 0 to 30 ms) under
/// load, two tenants: afterwards the pool is clean, each tenant lists only its own projects,
/// and every create answered 201 is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cancelled_at_random_points_leave_nothing_behind() {
    let tenants = Arc::new([tenant("cancel-a"), tenant("cancel-b")]);
    let s = Arc::new(serve(Router::new(), 3).await);
    let mut handles = Vec::new();
    let mut seed: u64 = 0x0DDC_0FFE_E000_0001;
    for i in 0..120_u64 {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let r = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let (s, tenants) = (Arc::clone(&s), Arc::clone(&tenants));
        let t = usize::try_from(r % 2).unwrap();
        let timeout = Duration::from_micros((r >> 8) % 30_000 + 1);
        handles.push(tokio::spawn(async move {
            let name = format!("c{i}");
            let sent = s
                .http
                .post(s.url("/projects"))
                .bearer_auth(&tenants[t].key)
                .timeout(timeout)
                .json(&CreateProject {
                    name: name.clone(),
                    plan_id: fixture().plan,
                })
                .send()
                .await;
            match sent {
                Ok(response) if response.status() == StatusCode::CREATED => Some((t, name)),
                Ok(response) => {
                    assert!(
                        response.status() == StatusCode::SERVICE_UNAVAILABLE,
                        "{name}: {}",
                        response.status()
                    );
                    None
                }
                Err(_) => None,
            }
        }));
    }
    let mut acknowledged = [Vec::new(), Vec::new()];
    for h in handles {
        if let Some((t, name)) = h.await.expect("join") {
            acknowledged[t].push(name);
        }
    }
    // Let the server finish dropping what was cancelled.
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.assert_sessions_clean().await;
    for (t, tenant) in tenants.iter().enumerate() {
        let names = s.names(&tenant.key).await;
        for name in &acknowledged[t] {
            assert!(names.contains(name), "acknowledged {name} lost");
        }
        let other = &acknowledged[1 - t];
        for name in &names {
            assert!(!other.contains(name), "{name} of the other tenant listed");
        }
    }
    eprintln!(
        "acknowledged: {} and {}",
        acknowledged[0].len(),
        acknowledged[1].len()
    );
}

/// A timeout inside the layer (a middleware of the route's) that gives up while the request's
/// transaction is still being begun (no free connection): its own answer (503) goes out, not a
/// 500 for a transaction "still held", and the pool stays clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_while_the_transaction_is_being_begun_keeps_its_answer() {
    use axum::middleware::{self, Next};
    use axum::response::{IntoResponse, Response};
    async fn within_300ms(request: axum::extract::Request, next: Next) -> Response {
        match tokio::time::timeout(Duration::from_millis(300), next.run(request)).await {
            Ok(response) => response,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
    let ada = tenant("begin-timeout");
    let gate = Arc::new((Notify::new(), Notify::new()));
    let hold_gate = Arc::clone(&gate);
    let routes = Router::new()
        .route(
            "/test/hold",
            get(move |mut tx: Tx| {
                let gate = Arc::clone(&hold_gate);
                async move {
                    let _: Vec<String> =
                        tx.tx().load(projects::table.select(projects::name)).await?;
                    gate.0.notify_one();
                    gate.1.notified().await;
                    Ok::<_, HttpError>(StatusCode::OK)
                }
            }),
        )
        .route(
            "/test/wait",
            get(|_tx: Tx| async { StatusCode::OK }).route_layer(middleware::from_fn(within_300ms)),
        );
    let s = serve(routes, 1).await;
    let http = s.http.clone();
    let (url, key) = (s.url("/test/hold"), ada.key.clone());
    let holder =
        tokio::spawn(async move { http.get(url).bearer_auth(key).send().await.expect("hold") });
    gate.0.notified().await;
    let response = s
        .http
        .get(s.url("/test/wait"))
        .bearer_auth(&ada.key)
        .send()
        .await
        .expect("wait");
    let status = response.status();
    gate.1.notify_one();
    assert_eq!(holder.await.expect("join").status(), StatusCode::OK);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    s.assert_sessions_clean().await;
}

/// Text PostgreSQL cannot store is the client's mistake: 400 with the usual small body, from
/// the service's own check (a NUL in a name) and, where a handler stores it unchecked, from
/// the layer's mapping of the database's refusal (SQLSTATE 22021, and 22P05 for `\u0000` in
/// `jsonb`). Nothing is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_the_database_cannot_store_is_400_not_500() {
    let ada = tenant("nul");
    let routes = Router::new()
        .route(
            "/test/store-unchecked",
            post(
                |Extension(key): Extension<VerifiedKey>,
                 lazy: LazyTx,
                 Json(input): Json<RenameProject>| async move {
                    let mut tx = lazy.begin().await?;
                    insert(&mut tx, &key, input.name).await?;
                    Ok::<_, HttpError>(StatusCode::CREATED)
                },
            ),
        )
        .route(
            "/test/as-jsonb",
            post(
                |lazy: LazyTx, Json(input): Json<RenameProject>| async move {
                    let mut tx = lazy.begin().await?;
                    tx.tx()
                        .execute(
                            diesel::sql_query("SELECT $1::jsonb")
                                .bind::<diesel::sql_types::Text, _>(input.name),
                        )
                        .await?;
                    Ok::<_, HttpError>(StatusCode::OK)
                },
            ),
        );
    let s = serve(routes, 2).await;
    let kept = s.created(&ada.key, "kept").await;

    let create = s.create(&ada.key, "a\u{0}b").await;
    let rename = s
        .http
        .patch(s.url(&format!("/projects/{}", kept.id)))
        .bearer_auth(&ada.key)
        .json(&RenameProject {
            name: "x\u{0}".into(),
        })
        .send()
        .await
        .expect("patch");
    let unchecked = s
        .http
        .post(s.url("/test/store-unchecked"))
        .bearer_auth(&ada.key)
        .json(&RenameProject {
            name: "a\u{0}b".into(),
        })
        .send()
        .await
        .expect("post");
    let as_jsonb = s
        .http
        .post(s.url("/test/as-jsonb"))
        .bearer_auth(&ada.key)
        .json(&RenameProject {
            name: r#""\u0000""#.into(),
        })
        .send()
        .await
        .expect("post");
    for (what, response) in [
        ("create", create),
        ("rename", rename),
        ("stored unchecked", unchecked),
        ("as jsonb", as_jsonb),
    ] {
        let (status, body) = refusal(response).await;
        assert_eq!(
            (status, body.error.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_input"),
            "{what}: {}",
            body.message
        );
        assert!(body.message.len() < 200, "{what}: {}", body.message);
    }
    assert_eq!(s.names(&ada.key).await, ["kept"]);
    s.assert_sessions_clean().await;
}

/// The key check finds no free pooled connection in time (it shares the handlers' pool): 503
/// `unavailable`, as for a handler's transaction, not a 500; once the connection is free the
/// same request goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_free_connection_for_the_key_check_is_503() {
    let ada = tenant("key-check-pool");
    let f = fixture();
    let tenancy = AsyncTenancy::builder(&f.db.app_url)
        .admin_url(&f.db.admin_url)
        .config(tenancy_foundation::config())
        .max_size(1)
        .connection_timeout(Duration::from_millis(500))
        .build()
        .await
        .expect("tenancy");
    let s = serve_with(f, Router::new(), tenancy.clone()).await;
    assert!(s.list(&ada.key).await.is_empty());

    // Another user of the pool holds its one connection until told to let go.
    let (held_tx, held) = tokio::sync::oneshot::channel();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        tenancy
            .system(async |_| {
                held_tx.send(()).expect("the test waits");
                let _ = released.await;
                Ok::<(), tenancy_schema::Error>(())
            })
            .await
    });
    held.await.expect("held");
    let response = s
        .http
        .get(s.url("/projects"))
        .bearer_auth(&ada.key)
        .send()
        .await
        .expect("get");
    release.send(()).expect("the holder waits");
    holder.await.expect("join").expect("hold");
    let (status, body) = refusal(response).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{}",
        body.message
    );
    // The connection is free again: the next request goes through.
    assert!(s.list(&ada.key).await.is_empty());
}

/// A client that sends its headers and then trickles its body holds no pooled connection:
/// with a pool of one, another tenant's request is answered at once (not after the pool's
/// 30 s timeout, with a 503), and the slow request is served once its body is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_a_body_holds_no_pooled_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (slow, bob) = (tenant("trickle"), tenant("trickle other"));
    let s = serve(Router::new(), 1).await;
    assert!(s.list(&bob.key).await.is_empty());

    let body = serde_json::to_vec(&CreateProject {
        name: "sent slowly".into(),
        plan_id: fixture().plan,
    })
    .expect("json");
    let (first, rest) = body.split_at(body.len() / 2);
    let mut client = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /projects HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        slow.key,
        body.len()
    );
    client.write_all(head.as_bytes()).await.expect("head");
    client.write_all(first).await.expect("half the body");
    client.flush().await.expect("flush");
    // Time for the server to resolve the key and reach the handler, which waits for the rest.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (open, idle) = s.tenancy.pool_state();
    assert_eq!(
        open, idle,
        "a connection is checked out while the body is pending"
    );

    let listed = tokio::time::timeout(Duration::from_secs(10), s.list(&bob.key))
        .await
        .expect("another tenant's request waited for the slow body's connection");
    assert!(listed.is_empty());

    client.write_all(rest).await.expect("the rest of the body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), client.read_to_end(&mut answer))
        .await
        .expect("the slow request is answered")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(s.names(&slow.key).await, ["sent slowly"]);
    s.assert_sessions_clean().await;
}

/// Every id that names none of the caller's projects gets the same 404, whether it is another
/// tenant's project, a random UUID, text that is no UUID or a path axum cannot decode (`%FF`,
/// which was axum's own plain-text 400); the last two take no connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_id_naming_no_project_of_the_caller_gets_one_small_json_404() {
    let ada = tenant("one-404-ada");
    let bob = tenant("one-404-bob");
    let s = serve_keys_apart(Router::new(), 2).await;
    let send = |method: reqwest::Method, path: String| {
        let request = s
            .http
            .request(method.clone(), s.url(&path))
            .bearer_auth(&ada.key);
        if method == reqwest::Method::PATCH {
            request.json(&serde_json::json!({ "name": "renamed" }))
        } else {
            request
        }
    };
    let methods = [
        reqwest::Method::GET,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ];
    for method in methods.clone() {
        for path in ["/projects/not-a-uuid", "/projects/%FF"] {
            let (status, body) = refusal(
                send(method.clone(), path.to_owned())
                    .send()
                    .await
                    .expect("send"),
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(body.message, "project not found", "{method} {path}");
        }
    }
    assert_eq!(
        s.tenancy.pool_state(),
        (0, 0),
        "no connection for an id that is no UUID"
    );
    let theirs = s.created(&bob.key, "bob's").await.id;
    for method in methods {
        let mut bodies = Vec::new();
        for path in [
            format!("/projects/{theirs}"),
            format!("/projects/{}", Uuid::now_v7()),
            "/projects/not-a-uuid".to_owned(),
            "/projects/%FF".to_owned(),
        ] {
            let response = send(method.clone(), path.clone())
                .send()
                .await
                .expect("send");
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            bodies.push(response.text().await.expect("body"));
        }
        assert!(
            bodies.iter().all(|b| *b == bodies[0]),
            "{method}: {bodies:?}"
        );
    }
    assert_eq!(s.names(&bob.key).await, ["bob's"]);
}

/// A path that is no route and a method a route does not take get JSON refusals like every
/// other, and a 400 quotes only the start of a body it refused (serde's message had echoed a
/// 1 MB string whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_outside_the_routes_and_of_a_huge_body_are_small_json() {
    let ada = tenant("small-json-ada");
    let s = serve(Router::new(), 2).await;
    let theirs = Uuid::now_v7();
    let (status, body) = refusal(
        s.http
            .get(s.url("/projects/a/b"))
            .bearer_auth(&ada.key)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = refusal(
        s.http
            .put(s.url(&format!("/projects/{theirs}")))
            .bearer_auth(&ada.key)
            .send()
            .await
            .expect("put"),
    )
    .await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    // A refused body is quoted only in part.
    let huge = format!("\"{}\"", "s".repeat(1 << 20));
    let response = s
        .http
        .post(s.url("/projects"))
        .bearer_auth(&ada.key)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(huge)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.expect("body");
    assert!(body.len() < 1024, "{} bytes", body.len());
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_ok(),
        "{body}"
    );
}
