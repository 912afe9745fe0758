//! What verifying an API key costs.
//!
//! `cargo bench -p tenancy-schema --bench api_key_verify`
//!
//! - On the CPU: [`parse_key`] plus the SHA-256 of the secret and the constant-time comparison
//!   with the stored hash — everything `verify` does besides the database. Each sample times
//!   1,000 calls; the figure is per call.
//! - End to end: [`api_keys::verify`] against the database (the lookup through
//!   `tenancy.api_key_lookup`, which runs in its own short transaction), for a valid key and
//!   for an unknown prefix. One call per sample.

use std::time::{Duration, Instant};

use tenancy_foundation::api_keys::{self, MemoryRateLimiter, NewKeySpec, parse_key};
use tenancy_foundation::seed::seed_personal_tenant;

mod support;
use support::{Better, Row, Section, Stats};

const CPU_SAMPLES: usize = 500;
const CPU_BATCH: u32 = 1_000;
const E2E_SAMPLES: usize = 1_000;

fn cpu_per_call(text: &str, stored: Option<&[u8]>) -> Vec<f64> {
    (0..CPU_SAMPLES + 20)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..CPU_BATCH {
                let ok = parse_key(std::hint::black_box(text))
                    .is_ok_and(|k| k.matches_hash(std::hint::black_box(stored)));
                std::hint::black_box(ok);
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(CPU_BATCH)
        })
        .skip(20)
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Start {
        db,
        mut owner,
        app_url: url,
    } = support::start()?;
    let tenancy = db.tenancy(&url, 2)?;
    let who = seed_personal_tenant(&tenancy, "keys@example.com", "Keys")?;
    let issued = tenancy.transaction_as(who.tenant, who.principal, |tx| {
        api_keys::issue(tx, NewKeySpec::new(who.principal, "bench"))
    })?;
    let text = issued.key.expose_secret().to_owned();
    let stored = parse_key(&text)?.secret_hash();

    let mut report = support::report("api_key_verify", &mut owner);
    let mut section = Section::new(
        "api-key-verify",
        "API key verification",
        &format!(
            "CPU: parse + SHA-256 + constant-time compare, {CPU_SAMPLES} samples of {CPU_BATCH} calls (µs per call). \
             End to end: `api_keys::verify` with the database lookup, {E2E_SAMPLES} calls (µs per call)."
        ),
    );
    let cpu = Stats::of(&cpu_per_call(&text, Some(&stored))).ok_or("no samples")?;
    section.push(Row::single("CPU: valid key", "µs", Better::Lower, cpu).value_target("p50", 50.0));
    let unknown = Stats::of(&cpu_per_call(&text, None)).ok_or("no samples")?;
    section.push(
        Row::single(
            "CPU: unknown prefix (dummy compare)",
            "µs",
            Better::Lower,
            unknown,
        )
        .value_target("p50", 50.0),
    );
    let malformed = Stats::of(&cpu_per_call(&"x".repeat(4096), None)).ok_or("no samples")?;
    section.push(Row::single(
        "CPU: malformed 4 KiB input",
        "µs",
        Better::Lower,
        malformed,
    ));

    let limiter = MemoryRateLimiter::new();
    let unknown_text = format!("tk_{}_{}", "0".repeat(16), "0".repeat(64));
    let (mut valid, mut missing) = (Vec::new(), Vec::new());
    for i in 0..E2E_SAMPLES + 20 {
        let start = Instant::now();
        let verified = api_keys::verify(&tenancy, &text, &limiter)?;
        let t_valid = start.elapsed();
        assert_eq!(verified.tenant, who.tenant);
        let start = Instant::now();
        let refused = api_keys::verify(&tenancy, &unknown_text, &limiter);
        let t_missing = start.elapsed();
        if !matches!(&refused, Err(e) if api_keys::ApiKeyError::of(e) == Some(&api_keys::ApiKeyError::Unknown))
        {
            return Err(format!("an unknown key was not refused as unknown: {refused:?}").into());
        }
        if i >= 20 {
            valid.push(t_valid);
            missing.push(t_missing);
        }
    }
    let stats = |v: &[Duration]| Stats::micros(v).ok_or("no samples");
    section.push(Row::single(
        "end to end: valid key",
        "µs",
        Better::Lower,
        stats(&valid)?,
    ));
    section.push(Row::single(
        "end to end: unknown prefix",
        "µs",
        Better::Lower,
        stats(&missing)?,
    ));
    report.sections.push(section);
    report.finish()
}
