//! Buyers made through the real auth flow (register, log in, read `me`), optionally kept in a
//! file so later runs reuse them while their tokens are valid.

use std::{path::Path, time::Duration};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::stats::say;

/// One buyer with a live access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Buyer {
    /// Login email.
    pub email: String,
    /// Auth's user id.
    pub user_id: Uuid,
    /// Access token.
    pub access_token: String,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuyersFile {
    auth: String,
    buyers: Vec<Buyer>,
}

/// The password every generated buyer gets.
const PASSWORD: &str = "loadtest correct horse battery staple";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn expect_status(
    response: reqwest::Response,
    status: u16,
    what: &str,
) -> anyhow::Result<reqwest::Response> {
    if response.status().as_u16() == status {
        return Ok(response);
    }
    let got = response.status();
    let body = response.text().await.unwrap_or_default();
    bail!(
        "{what}: expected {status}, got {got}: {}",
        body.chars().take(300).collect::<String>()
    )
}

async fn make_one(http: &reqwest::Client, auth: &str, email: String) -> anyhow::Result<Buyer> {
    let credentials = json!({ "email": email, "password": PASSWORD });
    let registered = http
        .post(format!("{auth}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .context("registering a buyer")?;
    expect_status(registered, 202, "registering a buyer").await?;
    let login = http
        .post(format!("{auth}/api/v1/auth/login"))
        .json(&credentials)
        .send()
        .await
        .context("logging a buyer in")?;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Tokens {
        access_token: String,
        expires_in: i64,
    }
    let tokens: Tokens = expect_status(login, 200, "logging a buyer in (is login throttling out of reach? AUTH_MAX_ATTEMPTS_PER_IP, GATEWAY_RATE_LIMITS auth=…)")
        .await?
        .json()
        .await
        .context("reading the login answer")?;
    let me = http
        .get(format!("{auth}/api/v1/auth/me"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .context("reading the buyer's account")?;
    #[derive(Deserialize)]
    struct Me {
        id: Uuid,
    }
    let me: Me = expect_status(me, 200, "reading the buyer's account")
        .await?
        .json()
        .await
        .context("reading the account answer")?;
    Ok(Buyer {
        email,
        user_id: me.id,
        access_token: tokens.access_token,
        expires_at: now() + tokens.expires_in,
    })
}

/// Registers and logs in `count` new buyers at `auth` (auth itself or the gateway), `concurrency`
/// at a time (registration and login each cost an argon2id hash).
pub async fn create(auth: &str, count: usize, concurrency: usize) -> anyhow::Result<Vec<Buyer>> {
    let auth = auth.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let batch = Uuid::new_v4().simple().to_string();
    let step = (count / 10).max(1);
    let started = std::time::Instant::now();
    let buyers: Vec<Buyer> = futures::stream::iter(0..count)
        .map(|i| {
            let email = format!("buyer-{}-{i}@loadtest.example", &batch[..12]);
            let http = &http;
            let auth = auth.as_str();
            async move {
                let buyer = make_one(http, auth, email).await;
                if buyer.is_ok() && (i + 1) % step == 0 {
                    say(&format!(
                        "buyers: {} of {count} registered and logged in",
                        i + 1
                    ));
                }
                buyer
            }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    say(&format!(
        "buyers: {count} made through {auth} in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(buyers)
}

/// `count` buyers whose tokens stay valid for `valid_for`: from `file` when it has enough (made
/// through the same `auth`), the rest made now and written back to `file`.
pub async fn load_or_create(
    file: Option<&Path>,
    auth: &str,
    count: usize,
    valid_for: Duration,
    concurrency: usize,
) -> anyhow::Result<Vec<Buyer>> {
    let Some(file) = file else {
        return create(auth, count, concurrency).await;
    };
    let auth = auth.trim_end_matches('/');
    let deadline = now() + valid_for.as_secs() as i64;
    let mut kept: Vec<Buyer> = match std::fs::read_to_string(file) {
        Ok(text) => {
            let stored: BuyersFile = serde_json::from_str(&text)
                .with_context(|| format!("reading buyers from {}", file.display()))?;
            if stored.auth == auth {
                stored
                    .buyers
                    .into_iter()
                    .filter(|b| b.expires_at > deadline)
                    .collect()
            } else {
                Vec::new()
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err).with_context(|| format!("reading {}", file.display())),
    };
    if kept.len() < count {
        say(&format!(
            "buyers: {} reusable in {}, making {} more",
            kept.len(),
            file.display(),
            count - kept.len()
        ));
        kept.extend(create(auth, count - kept.len(), concurrency).await?);
        let body = serde_json::to_string(&BuyersFile {
            auth: auth.to_owned(),
            buyers: kept.clone(),
        })?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(file, body).with_context(|| format!("writing {}", file.display()))?;
    }
    kept.truncate(count);
    Ok(kept)
}
