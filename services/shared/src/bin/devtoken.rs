//! Local development keys and tokens: creates an Ed25519 signing key with its JWKS, and mints
//! access tokens signed with it, for use before (and beside) the auth service.

use std::{io::Write, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use shared::auth::{Claims, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenSigner};
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Local signing key and access tokens")]
struct Cli {
    /// Folder holding `signing.pem`, `kid` and `jwks.json`.
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
    /// Creates the key unless it exists.
    Keygen,
    /// Prints an access token.
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
    let pem_path = cli.dir.join("signing.pem");
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Keygen => {
            if pem_path.exists() {
                writeln!(out, "key exists: {}", pem_path.display())?;
                return Ok(());
            }
            std::fs::create_dir_all(&cli.dir)
                .with_context(|| format!("creating {}", cli.dir.display()))?;
            let kid = format!("dev-{}", &Uuid::new_v4().simple().to_string()[..8]);
            let signer = TokenSigner::generate(&kid)?;
            std::fs::write(&pem_path, signer.private_pem())?;
            std::fs::write(cli.dir.join("kid"), &kid)?;
            std::fs::write(
                cli.dir.join("jwks.json"),
                serde_json::to_vec_pretty(&signer.jwks())?,
            )?;
            writeln!(out, "created key {kid} in {}", cli.dir.display())?;
        }
        Command::Mint { sub, role, ttl } => {
            let pem = std::fs::read(&pem_path).with_context(|| {
                format!(
                    "reading {} (run `devtoken keygen` first)",
                    pem_path.display()
                )
            })?;
            let kid = std::fs::read_to_string(cli.dir.join("kid"))?;
            let signer = TokenSigner::from_pem(kid.trim(), &pem)?;
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
