//! Serves the example service on `LISTEN_ADDR` (default `127.0.0.1:8080`).
//!
//! With `APP_DATABASE_URL` (the application login) and `ADMIN_DATABASE_URL` (the admin login)
//! set, on that database, which must have the example application's migrations. Without them,
//! a demo: a throwaway database with two tenants, whose API keys are printed with `curl`
//! commands to try; it is removed when the service stops (Ctrl-C).

use std::process::ExitCode;

use tenancy_example_service::demo::{self, DemoDatabase, SetupError};
use tenancy_example_service::{READ_SCOPE, WRITE_SCOPE};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), SetupError> {
    let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let configured = (
        std::env::var("APP_DATABASE_URL"),
        std::env::var("ADMIN_DATABASE_URL"),
    );
    // Kept until the server stops: dropping it removes the demo database.
    let mut demo_db = None;
    let (app_url, admin_url) = if let (Ok(app), Ok(admin)) = configured {
        (app, admin)
    } else {
        let db = DemoDatabase::start()?;
        let urls = (db.app_url.clone(), db.admin_url.clone());
        demo_db = Some(db);
        urls
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let tenancy = tenancy_example_service::connect(&app_url, &admin_url, 8).await?;
        if demo_db.is_some() {
            let (app_url, admin_url) = (app_url.clone(), admin_url.clone());
            tokio::task::spawn_blocking(move || print_demo(&app_url, &admin_url)).await??;
        }
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, tenancy_example_service::app(tenancy))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok::<_, SetupError>(())
    })?;
    drop(demo_db);
    Ok(())
}

/// Seeds the demo's plans and two tenants, and prints how to call the service as each. The
/// foundation's control plane is synchronous: it seeds through a small pool of its own.
fn print_demo(app_url: &str, admin_url: &str) -> Result<(), SetupError> {
    let seeder = tenancy_schema::Tenancy::builder(app_url)
        .admin_url(admin_url)
        .config(tenancy_foundation::config())
        .max_size(1)
        .build()?;
    let plan = demo::seed_plans(&seeder)?;
    let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    println!("demo database ready; plan `team` is {plan}");
    for email in ["ada@example.com", "bob@example.com"] {
        let tenant = demo::seed_tenant(&seeder, email, &[READ_SCOPE, WRITE_SCOPE])?;
        println!("\n{email}: tenant {}", tenant.seeded.tenant);
        println!(
            "  curl -s -H 'Authorization: Bearer {key}' -H 'content-type: application/json' \
             -d '{{\"name\": \"first\", \"plan_id\": \"{plan}\"}}' http://{addr}/projects",
            key = tenant.key
        );
        println!(
            "  curl -s -H 'Authorization: Bearer {key}' http://{addr}/projects",
            key = tenant.key
        );
    }
    Ok(())
}
