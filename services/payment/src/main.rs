//! The payment service binary, and the built-in PSP simulator.

use std::io::Write;

use anyhow::Context;
use clap::{Parser, Subcommand};
use payment::{
    config::PaymentConfig,
    psp::simulator::{Simulator, SimulatorConfig},
    routes::ApiDoc,
    startup::Application,
};
use shared::config::Env;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

#[derive(Parser)]
#[command(about = "The payment service of Booking Rush (configured by environment variables)")]
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
    /// Runs the built-in PSP simulator (configured by PSP_* variables).
    PspSimulator,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            writeln!(
                std::io::stdout().lock(),
                "{}",
                ApiDoc::openapi().to_pretty_json()?
            )?;
            Ok(())
        }
        Command::PspSimulator => {
            let _telemetry = shared::telemetry::init("psp-simulator");
            let config =
                SimulatorConfig::from_env(&Env::process()).context("invalid configuration")?;
            let simulator = Simulator::build(config).await?;
            shared::server::cancel_on_signal(shutdown.clone());
            simulator.run_until_stopped(shutdown).await
        }
        Command::Serve => {
            let _telemetry = shared::telemetry::init("payment");
            let config =
                PaymentConfig::from_env(&Env::process()).context("invalid configuration")?;
            let app = Application::build(config).await?;
            shared::server::cancel_on_signal(shutdown.clone());
            app.run_until_stopped(shutdown).await
        }
    }
}
