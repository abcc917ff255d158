//! Local development keys and tokens: keeps the key directory the auth service signs with
//! (creating its first key and `jwks.json`), and mints access tokens from it for scripts and tests.

use std::{io::Write, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use shared::{
    auth::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role},
    keys_dir::KeyDir,
};
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Local signing keys and access tokens")]
struct Cli {
    /// Key directory (`<kid>.pem` files and `jwks.json`).
    #[arg(long, default_value = ".dev/keys", global = true)]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Customer,
    Organizer,
    Admin,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the first key unless one exists.
    Keygen,
    /// Prints an access token signed with the newest key.
    Mint {
        /// User id; a fresh one when omitted.
        #[arg(long)]
        sub: Option<Uuid>,
        /// Role claim.
        #[arg(long, value_enum, default_value = "customer")]
        role: RoleArg,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let dir = KeyDir::new(&cli.dir);
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Keygen => {
            let kid = dir.ensure()?;
            writeln!(out, "signing key {kid} in {}", cli.dir.display())?;
        }
        Command::Mint { sub, role, ttl } => {
            let keys = dir.load().with_context(|| {
                format!(
                    "reading {} (run `devtoken keygen` first)",
                    cli.dir.display()
                )
            })?;
            let signer = keys
                .last()
                .context("no key yet: run `devtoken keygen` first")?;
            let role = match role {
                RoleArg::Customer => Role::Customer,
                RoleArg::Organizer => Role::Organizer,
                RoleArg::Admin => Role::Admin,
            };
            let claims = Claims::new(
                sub.unwrap_or_else(Uuid::new_v4),
                role,
                Duration::from_secs(ttl),
                DEFAULT_ISSUER,
                DEFAULT_AUDIENCE,
            );
            writeln!(out, "{}", signer.sign(&claims)?)?;
        }
    }
    Ok(())
}
