//! `provision`: provisions or deletes a sale against Redis and Kafka without a cluster.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use provisioning::{Provisioner, SaleSpec};
use shared::{
    config::Env,
    ids::SaleId,
    kafka::{EventPublisher, KafkaConfig},
    redis::RedisConfig,
};

#[derive(Parser)]
#[command(about = "Provision flash sales into Redis and Kafka (REDIS_URL, KAFKA_BROKERS)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates or updates a sale from a FlashSale manifest or a bare spec.
    Apply {
        /// YAML file.
        #[arg(short = 'f', long)]
        file: PathBuf,
    },
    /// Deletes a sale's Redis keys and topics.
    Delete {
        /// Sale id.
        #[arg(long)]
        sale: SaleId,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = shared::telemetry::init("provision");
    let cli = Cli::parse();
    let env = Env::process();
    let kafka = KafkaConfig::from_env(&env)?;
    let redis = RedisConfig::from_env(&env)?
        .connect()
        .await
        .context("connecting to Redis")?;
    let publisher = EventPublisher::new(kafka.producer()?, kafka.produce_timeout);
    let provisioner = Provisioner::new(redis, kafka.admin()?, publisher)
        .with_catalog(provisioning::catalog::CatalogCheck::from_env(&env)?);
    match cli.command {
        Command::Apply { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let spec = SaleSpec::from_yaml(&text)
                .with_context(|| format!("parsing {}", file.display()))?;
            provisioner.apply(&spec).await?;
        }
        Command::Delete { sale } => provisioner.delete(&sale).await?,
    }
    Ok(())
}
