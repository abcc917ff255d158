//! The gateway binary.

use anyhow::Context;
use gateway::{config::GatewayConfig, startup::Application};
use shared::config::Env;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = shared::telemetry::init("gateway");
    let config = GatewayConfig::from_env(&Env::process()).context("invalid configuration")?;
    let app = Application::build(config).await?;
    let shutdown = CancellationToken::new();
    shared::server::cancel_on_signal(shutdown.clone());
    app.run_until_stopped(shutdown).await
}
