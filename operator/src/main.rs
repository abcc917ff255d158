//! `operator`: runs the FlashSale controller, prints its CRD, or provisions a sale without a cluster.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use operator::{backend::Backend, config::OperatorConfig, crd, startup::Application};
use provisioning::{SaleSpec, catalog::CatalogCheck};
use shared::{config::Env, ids::SaleId};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "The FlashSale operator of Booking Rush (configured by environment variables)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the controller, serving /healthz, /readyz and /metrics, until SIGTERM.
    Run,
    /// Prints the FlashSale CRD as YAML.
    Crd,
    /// Provisions a sale into Redis and Kafka from a FlashSale manifest or a bare spec.
    Provision {
        /// YAML file.
        #[arg(short = 'f', long)]
        file: PathBuf,
    },
    /// Deletes a sale's Redis keys and topics.
    Deprovision {
        /// Sale id.
        #[arg(long)]
        sale: SaleId,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    // Locked per line: a lock held while the controller runs would block every log line written
    // from another thread.
    let out = || std::io::stdout().lock();
    if let Command::Crd = command {
        write!(out(), "{}", crd::crd_yaml()?)?;
        return Ok(());
    }
    let _telemetry = shared::telemetry::init("operator");
    let env = Env::process();
    let config = OperatorConfig::from_env(&env).context("invalid configuration")?;
    let backend = Backend::new(
        config.redis.clone(),
        config.kafka.clone(),
        config.backend_timeout,
    )
    .with_catalog(CatalogCheck::from_env(&env).context("invalid configuration")?);
    match command {
        Command::Provision { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let spec = SaleSpec::from_yaml(&text)
                .with_context(|| format!("parsing {}", file.display()))?;
            backend.provision(&spec).await?;
            writeln!(out(), "sale {} provisioned", spec.sale_id)?;
            for zone in backend.inventory(&spec).await? {
                writeln!(
                    out(),
                    "  {}: {} seats, {} available, {} held, {} sold",
                    zone.zone,
                    zone.capacity,
                    zone.available,
                    zone.held,
                    zone.sold
                )?;
            }
        }
        Command::Deprovision { sale } => {
            backend.delete(&sale).await?;
            writeln!(out(), "sale {sale} deprovisioned")?;
        }
        Command::Run | Command::Crd => {
            let client = kube::Client::try_default()
                .await
                .context("connecting to Kubernetes (in-cluster config or KUBECONFIG)")?;
            let app = Application::build(config, client, backend).await?;
            let shutdown = CancellationToken::new();
            shared::server::cancel_on_signal(shutdown.clone());
            app.run_until_stopped(shutdown).await?;
        }
    }
    Ok(())
}
