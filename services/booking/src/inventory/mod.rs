//! The live inventory of each sale in Redis: its Lua functions (see `library`) and their typed
//! outcomes.

use std::{collections::HashMap, time::Duration};

use redis::{AsyncCommands, aio::ConnectionManager};
use shared::{
    ids::{SaleId, ZoneId},
    keys::SaleKeys,
    redis::Function,
};
use uuid::Uuid;

use crate::{
    domain::{Hold, IdempotencyKey, Quantity},
    library::library,
    queue::pass::QueuePass,
};

/// A reserve request that has passed validation.
#[derive(Debug, Clone)]
pub struct ReserveRequest {
    /// The buyer.
    pub user: Uuid,
    /// The zone.
    pub zone: ZoneId,
    /// Seats.
    pub quantity: Quantity,
    /// The client's idempotency key.
    pub idempotency_key: IdempotencyKey,
    /// The queue pass sent with it (required, and used up, when the sale queues buyers).
    pub pass: Option<QueuePass>,
}

impl ReserveRequest {
    /// What identifies the request body for idempotency: same key, different body is a conflict.
    fn fingerprint(&self) -> String {
        format!("{}:{}", self.zone, self.quantity.get())
    }
}

/// What the reserve script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// A new hold.
    Created(Hold),
    /// The same key and body were seen before: this is the original reservation.
    Replay(Uuid),
    /// The key was used before with a different body.
    IdempotencyMismatch,
    /// No such sale.
    SaleNotFound,
    /// The sale is suspended.
    SaleSuspended,
    /// The sale opens later (ms since the epoch).
    SaleNotOpen(i64),
    /// The sale has closed.
    SaleClosed,
    /// No such zone in the sale.
    ZoneNotFound,
    /// The per-user cap would be exceeded; this many seats remain for the user.
    UserCap(i64),
    /// Not enough seats; this many remain.
    SoldOut(i64),
    /// The sale queues buyers and no pass came with the request.
    QueuePassRequired,
    /// The pass is unknown, used, lapsed, or another buyer's.
    QueuePassInvalid,
}

/// What cancelling decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The hold was cancelled.
    Cancelled,
    /// No such hold of this user.
    NotFound,
    /// The reservation is no longer held; its status.
    NotHeld(String),
}

/// What confirming decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The hold is now sold.
    Confirmed,
    /// This payment had already confirmed it.
    AlreadyConfirmed,
    /// The reservation could not be confirmed; why (`expired`, `cancelled`, `released`, `unknown`,
    /// `confirmed` by another payment, or `mismatch` of payer, amount or currency).
    Rejected(String),
}

/// What applying a refund decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// The sold seats went back to the sale.
    Returned,
    /// The reservation was not confirmed (its status), so no seats were sold for it.
    NotConfirmed(String),
    /// Another payment confirmed the reservation; this refund sold nothing.
    OtherPayment,
    /// No such reservation.
    Unknown,
}

/// Live counts of one zone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneAvailability {
    /// Zone id.
    pub zone: String,
    /// Seats in the zone.
    pub capacity: i64,
    /// Seats free to reserve.
    pub available: i64,
    /// Seats on hold.
    pub held: i64,
    /// Seats sold.
    pub sold: i64,
    /// Price per seat in minor units.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Most seats per buyer.
    pub per_user_cap: i64,
}

/// What undoing an unpublished reserve decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The hold was released and its idempotency key forgotten.
    Released,
    /// A replay of the same request published the reservation: it stands.
    Published,
    /// The hold was no longer held.
    NotHeld,
}

/// A captured payment as it claims a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentClaim {
    /// Payment id.
    pub payment_id: Uuid,
    /// Who paid.
    pub user_id: Uuid,
    /// Amount captured, minor units.
    pub amount_minor: i64,
    /// Currency captured.
    pub currency: String,
}

struct Functions {
    reserve: Function,
    release_unpublished: Function,
    mark_published: Function,
    cancel: Function,
    confirm: Function,
    refund: Function,
    expire: Function,
}

/// Typed access to the sale state in Redis.
#[derive(Clone)]
pub struct Inventory {
    conn: ConnectionManager,
    functions: std::sync::Arc<Functions>,
    idempotency_ttl: Duration,
}

fn field(reply: &[String], i: usize) -> &str {
    reply.get(i).map_or("", String::as_str)
}

fn number(reply: &[String], i: usize) -> i64 {
    field(reply, i).parse().unwrap_or_default()
}

fn strict_number(script: &str, reply: &[String], i: usize) -> redis::RedisResult<i64> {
    field(reply, i)
        .parse()
        .map_err(|_| unexpected(script, reply))
}

impl Inventory {
    /// Wraps a connection; idempotency keys are remembered for `idempotency_ttl`.
    pub fn new(conn: ConnectionManager, idempotency_ttl: Duration) -> Self {
        let library = library();
        let functions = Functions {
            reserve: library.function("reserve"),
            release_unpublished: library.function("release_unpublished"),
            mark_published: library.function("mark_published"),
            cancel: library.function("cancel"),
            confirm: library.function("confirm"),
            refund: library.function("refund"),
            expire: library.function("expire"),
        };
        Self {
            conn,
            functions: std::sync::Arc::new(functions),
            idempotency_ttl,
        }
    }

    /// The connection.
    pub fn connection(&self) -> &ConnectionManager {
        &self.conn
    }

    /// Runs the reserve function: one round trip. A pass adds its key and the queue's active set
    /// to the script's keys; without one the script costs what it did before queues existed.
    pub async fn reserve(
        &self,
        sale: &SaleId,
        request: &ReserveRequest,
    ) -> redis::RedisResult<ReserveOutcome> {
        let keys = SaleKeys::new(sale);
        let id = Uuid::now_v7();
        let mut conn = self.conn.clone();
        let mut invocation = self.functions.reserve.key(keys.meta());
        invocation
            .key(keys.zone(&request.zone))
            .key(keys.idempotency(&request.user, request.idempotency_key.as_str()))
            .key(keys.user_quantities())
            .key(keys.expiries())
            .key(keys.hold(&id))
            .arg(
                &*request
                    .user
                    .hyphenated()
                    .encode_lower(&mut Uuid::encode_buffer()),
            )
            .arg(request.zone.as_str())
            .arg(request.quantity.get())
            .arg(request.fingerprint())
            .arg(&*id.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
            .arg(self.idempotency_ttl.as_millis() as u64);
        if let Some(pass) = &request.pass {
            invocation
                .key(keys.queue_pass(pass.as_str()))
                .key(keys.queue("active"))
                .arg(pass.as_str());
        }
        let reply: Vec<String> = invocation.invoke_async(&mut conn).await?;
        Ok(match field(&reply, 0) {
            "OK" => ReserveOutcome::Created(Hold {
                id,
                user: request.user,
                zone: request.zone.clone(),
                quantity: request.quantity.get(),
                amount_minor: strict_number("reserve", &reply, 1)?,
                currency: field(&reply, 2).to_owned(),
                status: shared::events::ReservationStatus::Held,
                created_at_ms: strict_number("reserve", &reply, 4)?,
                expires_at_ms: strict_number("reserve", &reply, 3)?,
                payment_id: None,
            }),
            "REPLAY" => match field(&reply, 1).parse() {
                Ok(original) => ReserveOutcome::Replay(original),
                Err(_) => return Err(unexpected("reserve", &reply)),
            },
            "IDEMPOTENCY_MISMATCH" => ReserveOutcome::IdempotencyMismatch,
            "SALE_NOT_FOUND" => ReserveOutcome::SaleNotFound,
            "SALE_SUSPENDED" => ReserveOutcome::SaleSuspended,
            "SALE_NOT_OPEN" => ReserveOutcome::SaleNotOpen(number(&reply, 1)),
            "SALE_CLOSED" => ReserveOutcome::SaleClosed,
            "ZONE_NOT_FOUND" => ReserveOutcome::ZoneNotFound,
            "USER_CAP" => ReserveOutcome::UserCap(number(&reply, 1)),
            "SOLD_OUT" => ReserveOutcome::SoldOut(number(&reply, 1)),
            "QUEUE_PASS_REQUIRED" => ReserveOutcome::QueuePassRequired,
            "QUEUE_PASS_INVALID" => ReserveOutcome::QueuePassInvalid,
            _ => return Err(unexpected("reserve", &reply)),
        })
    }

    /// Undoes a reserve whose creation event could not be published, and forgets its idempotency key.
    pub async fn release_unpublished(
        &self,
        sale: &SaleId,
        hold: &Hold,
        key: &IdempotencyKey,
    ) -> redis::RedisResult<ReleaseOutcome> {
        let keys = SaleKeys::new(sale);
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .functions
            .release_unpublished
            .key(keys.meta())
            .key(keys.idempotency(&hold.user, key.as_str()))
            .arg(hold.id.to_string())
            .invoke_async(&mut conn)
            .await?;
        Ok(match field(&reply, 0) {
            "OK" => ReleaseOutcome::Released,
            "PUBLISHED" => ReleaseOutcome::Published,
            _ => ReleaseOutcome::NotHeld,
        })
    }

    /// Marks a reservation's creation as published by a replay; `false` if it was already
    /// released because the original publish failed.
    pub async fn mark_published(&self, sale: &SaleId, id: Uuid) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .functions
            .mark_published
            .key(SaleKeys::new(sale).meta())
            .arg(id.to_string())
            .invoke_async(&mut conn)
            .await?;
        Ok(field(&reply, 0) == "OK")
    }

    /// The owner cancels a live hold.
    pub async fn cancel(
        &self,
        sale: &SaleId,
        id: Uuid,
        user: Uuid,
    ) -> redis::RedisResult<CancelOutcome> {
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .functions
            .cancel
            .key(SaleKeys::new(sale).meta())
            .arg(id.to_string())
            .arg(user.to_string())
            .invoke_async(&mut conn)
            .await?;
        Ok(match field(&reply, 0) {
            "OK" => CancelOutcome::Cancelled,
            "NOT_FOUND" => CancelOutcome::NotFound,
            "NOT_HELD" => CancelOutcome::NotHeld(field(&reply, 1).to_owned()),
            _ => return Err(unexpected("cancel", &reply)),
        })
    }

    /// Turns a live hold into sold seats for `payment`.
    pub async fn confirm(
        &self,
        sale: &SaleId,
        id: Uuid,
        payment: &PaymentClaim,
    ) -> redis::RedisResult<ConfirmOutcome> {
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .functions
            .confirm
            .key(SaleKeys::new(sale).meta())
            .arg(id.to_string())
            .arg(payment.payment_id.to_string())
            .arg(payment.user_id.to_string())
            .arg(payment.amount_minor.to_string())
            .arg(&payment.currency)
            .invoke_async(&mut conn)
            .await?;
        Ok(match field(&reply, 0) {
            "OK" => ConfirmOutcome::Confirmed,
            "ALREADY_CONFIRMED" => ConfirmOutcome::AlreadyConfirmed,
            "REJECTED" => ConfirmOutcome::Rejected(field(&reply, 1).to_owned()),
            _ => return Err(unexpected("confirm", &reply)),
        })
    }

    /// Returns the seats a refunded payment had bought.
    pub async fn refund(
        &self,
        sale: &SaleId,
        id: Uuid,
        payment: Uuid,
    ) -> redis::RedisResult<RefundOutcome> {
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .functions
            .refund
            .key(SaleKeys::new(sale).meta())
            .arg(id.to_string())
            .arg(payment.to_string())
            .invoke_async(&mut conn)
            .await?;
        Ok(match field(&reply, 0) {
            "OK" => RefundOutcome::Returned,
            "NOT_CONFIRMED" => RefundOutcome::NotConfirmed(field(&reply, 1).to_owned()),
            "OTHER_PAYMENT" => RefundOutcome::OtherPayment,
            "UNKNOWN" => RefundOutcome::Unknown,
            _ => return Err(unexpected("refund", &reply)),
        })
    }

    /// Expires up to `limit` due holds; returns how many it expired.
    pub async fn expire_due(&self, sale: &SaleId, limit: usize) -> redis::RedisResult<usize> {
        let keys = SaleKeys::new(sale);
        let mut conn = self.conn.clone();
        let (expired, _seen): (usize, usize) = self
            .functions
            .expire
            .key(keys.meta())
            .key(keys.expiries())
            .arg(limit)
            .invoke_async(&mut conn)
            .await?;
        Ok(expired)
    }

    /// One reservation as Redis holds it.
    pub async fn hold(&self, sale: &SaleId, id: Uuid) -> redis::RedisResult<Option<Hold>> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = conn.hgetall(SaleKeys::new(sale).hold(&id)).await?;
        Ok(Hold::from_fields(id, &fields))
    }

    /// Live counts per zone, sorted by zone id; `None` for an unknown sale.
    pub async fn availability(
        &self,
        sale: &SaleId,
    ) -> redis::RedisResult<Option<Vec<ZoneAvailability>>> {
        let keys = SaleKeys::new(sale);
        let mut conn = self.conn.clone();
        let members: Vec<String> = conn.smembers(keys.zones()).await?;
        if members.is_empty() {
            return Ok(None);
        }
        let mut zones: Vec<ZoneId> = members
            .iter()
            .filter_map(|z| ZoneId::parse(z).ok())
            .collect();
        zones.sort();
        let mut pipe = redis::pipe();
        for zone in &zones {
            pipe.cmd("HMGET").arg(keys.zone(zone)).arg(&[
                "capacity",
                "available",
                "held",
                "sold",
                "price_minor",
                "currency",
                "per_user_cap",
            ]);
        }
        let rows: Vec<Vec<Option<String>>> = pipe.query_async(&mut conn).await?;
        Ok(Some(
            zones
                .into_iter()
                .zip(rows)
                .map(|(zone, row)| {
                    let n = |i: usize| {
                        row.get(i)
                            .cloned()
                            .flatten()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or_default()
                    };
                    ZoneAvailability {
                        zone: zone.to_string(),
                        capacity: n(0),
                        available: n(1),
                        held: n(2),
                        sold: n(3),
                        price_minor: n(4),
                        currency: row.get(5).cloned().flatten().unwrap_or_default(),
                        per_user_cap: n(6),
                    }
                })
                .collect(),
        ))
    }
}

fn unexpected(script: &str, reply: &[String]) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::TypeError,
        "unexpected script reply",
        format!("{script}: {reply:?}"),
    ))
}
