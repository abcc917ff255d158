//! The booking service binary.

use std::io::Write;

use anyhow::Context;
use booking::{config::BookingConfig, routes::ApiDoc, startup::Application};
use clap::{Parser, Subcommand};
use shared::config::Env;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

#[derive(Parser)]
#[command(about = "The booking service of Booking Rush (configured by environment variables)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serves HTTP and runs the background workers (the default).
    Serve,
    /// Prints the OpenAPI document.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(Command::Openapi) = Cli::parse().command {
        writeln!(
            std::io::stdout().lock(),
            "{}",
            ApiDoc::openapi().to_pretty_json()?
        )?;
        return Ok(());
    }
    let _telemetry = shared::telemetry::init("booking");
    let config = BookingConfig::from_env(&Env::process()).context("invalid configuration")?;
    let app = Application::build(config).await?;
    let shutdown = CancellationToken::new();
    shared::server::cancel_on_signal(shutdown.clone());
    app.run_until_stopped(shutdown).await
}
