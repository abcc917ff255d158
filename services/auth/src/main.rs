//! The auth service binary, and its administration commands.

use std::io::Write;

use anyhow::Context;
use auth::{config::AuthServiceConfig, routes::ApiDoc, startup::Application, store};
use clap::{Parser, Subcommand};
use shared::{auth::Role, config::Env, keys_dir::KeyDir};
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

#[derive(Parser)]
#[command(about = "The auth service of Booking Rush (configured by environment variables)")]
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
    /// Adds a new signing key to AUTH_KEYS_DIR; the previous keys keep verifying.
    RotateKey,
    /// Removes a signing key once no token it signed can still be live.
    RetireKey {
        /// The key id.
        kid: String,
    },
    /// Makes an existing account an admin.
    MakeAdmin {
        /// The account's email.
        #[arg(long)]
        email: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    // Locked only by the one-shot subcommands: a lock held while serving would block every log
    // line written from another thread.
    let out = || std::io::stdout().lock();
    if let Command::Openapi = command {
        writeln!(out(), "{}", ApiDoc::openapi().to_pretty_json()?)?;
        return Ok(());
    }
    let _telemetry = shared::telemetry::init("auth");
    let config = AuthServiceConfig::from_env(&Env::process()).context("invalid configuration")?;
    match command {
        Command::RotateKey => {
            let kid = KeyDir::new(&config.keys_dir).rotate()?;
            writeln!(
                out(),
                "new signing key {kid}; services pick it up within 30 s"
            )?;
        }
        Command::RetireKey { kid } => {
            KeyDir::new(&config.keys_dir).retire(&kid)?;
            writeln!(out(), "retired {kid}")?;
        }
        Command::MakeAdmin { email } => {
            let email = auth::domain::Email::parse(&email).map_err(anyhow::Error::msg)?;
            let pool = config.postgres.pool(auth::startup::SCHEMA)?;
            shared::postgres::migrate(&pool, auth::startup::SCHEMA, &auth::startup::MIGRATOR)
                .await?;
            if !store::set_role_by_email(&pool, email.as_str(), Role::Admin).await? {
                anyhow::bail!("no account with email {}", email.as_str());
            }
            writeln!(out(), "{} is now an admin", email.as_str())?;
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
