//! The ticket service binary, and its catalog commands.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use shared::config::Env;
use ticket::{config::TicketConfig, routes::ApiDoc, startup::Application};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    about = "The ticket catalog service of Booking Rush (configured by environment variables)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serves HTTP (the default).
    Serve,
    /// Prints the OpenAPI document.
    Openapi,
    /// Prints the FlashSale manifest of a show.
    RenderFlashsale {
        /// Show id.
        #[arg(long)]
        show: Uuid,
    },
    /// Creates (or realigns) the demo venue, event and show of a sale spec; idempotent.
    SeedDemo {
        /// FlashSale manifest or bare sale spec.
        #[arg(short = 'f', long, default_value = "operator/examples/demo-sale.yaml")]
        file: PathBuf,
        /// The organizer who owns the entries (default: the fixed demo organizer).
        #[arg(long)]
        organizer: Option<Uuid>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    // Stdout is locked only to print: the JSON logs of a serving process go to stdout too.
    if let Command::Openapi = command {
        writeln!(
            std::io::stdout().lock(),
            "{}",
            ApiDoc::openapi().to_pretty_json()?
        )?;
        return Ok(());
    }
    let _telemetry = shared::telemetry::init("ticket");
    let config = TicketConfig::from_env(&Env::process()).context("invalid configuration")?;
    match command {
        Command::RenderFlashsale { show } => {
            let pool = config.postgres.pool(ticket::startup::SCHEMA)?;
            let row = ticket::store::show(&pool, show)
                .await?
                .with_context(|| format!("no show {show}"))?;
            let event = ticket::store::event(&pool, row.event_id)
                .await?
                .with_context(|| format!("no event of show {show}"))?;
            let zones = ticket::store::zones_of(&pool, &[show]).await?;
            let yaml = ticket::flashsale::Terms::of(&row, event.owner_id, zones)
                .and_then(|terms| terms.manifest())
                .map_err(|e| anyhow::anyhow!(describe(e)))?;
            write!(std::io::stdout().lock(), "{yaml}")?;
        }
        Command::SeedDemo { file, organizer } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let spec = provisioning::SaleSpec::from_yaml(&text)
                .with_context(|| format!("parsing {}", file.display()))?;
            let pool = config.postgres.pool(ticket::startup::SCHEMA)?;
            shared::postgres::migrate(&pool, ticket::startup::SCHEMA, &ticket::startup::MIGRATOR)
                .await?;
            let organizer = organizer.unwrap_or_else(ticket::seed::demo_organizer);
            let seeded = ticket::seed::seed(&pool, &spec, organizer).await?;
            let redis = config
                .redis
                .connect()
                .await
                .context("connecting to Redis")?;
            ticket::cache::Cache::new(redis, config.cache_namespace.clone(), config.cache_ttl)
                .invalidate()
                .await;
            writeln!(
                std::io::stdout().lock(),
                "sale {} is sold by show {} of event {} ({}-night) at venue {}, organizer {organizer}",
                spec.sale_id,
                seeded.show_id,
                seeded.event_id,
                spec.sale_id,
                seeded.venue_id
            )?;
        }
        Command::Serve | Command::Openapi => {
            let app = Application::build(config).await?;
            let shutdown = CancellationToken::new();
            shared::server::cancel_on_signal(shutdown.clone());
            app.run_until_stopped(shutdown).await?;
        }
    }
    Ok(())
}

/// A refusal as one line per field.
fn describe(err: ticket::error::TicketError) -> String {
    match err {
        ticket::error::TicketError::NotReadyForSale(problems) => format!(
            "the show is not ready for sale: {}",
            problems
                .iter()
                .map(|p| format!("{} {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => other.to_string(),
    }
}
