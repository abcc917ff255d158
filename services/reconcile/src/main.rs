//! `reconcile --sale ID`: prints every discrepancy of a sale; exits non-zero when there is one.

use std::{io::Write, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::Parser;
use reconcile::Sources;
use shared::{config::Env, ids::SaleId, postgres::PostgresConfig, redis::RedisConfig};

#[derive(Parser)]
#[command(
    about = "Reconciles a sale: captured payments vs confirmed bookings vs refunds vs Redis and PostgreSQL (DATABASE_URL, REDIS_URL)"
)]
struct Cli {
    /// The sale to audit.
    #[arg(long)]
    sale: String,
    /// Keep re-checking for up to this many seconds while events and webhooks settle.
    #[arg(long, default_value_t = 0)]
    wait_seconds: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let sale = SaleId::parse(&cli.sale).map_err(|e| anyhow::anyhow!("--sale: {e}"))?;
    let env = Env::process();
    let postgres = PostgresConfig::from_env(&env)?;
    let redis = RedisConfig::from_env(&env)?
        .connect()
        .await
        .context("connecting to Redis")?;
    let sources = Sources {
        booking: postgres.pool(booking::startup::SCHEMA)?,
        payment: postgres.pool(payment::startup::SCHEMA)?,
        inventory: booking::inventory::Inventory::new(redis, Duration::from_secs(60)),
    };
    let report = reconcile::settled(&sources, &sale, Duration::from_secs(cli.wait_seconds)).await?;
    let mut out = std::io::stdout().lock();
    if cli.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(out, "{report}")?;
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
