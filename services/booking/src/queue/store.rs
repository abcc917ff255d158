//! The queue's state in Redis: its Lua functions (see `library`) and their typed answers.

use std::{collections::HashMap, sync::Arc};

use redis::{AsyncCommands, aio::ConnectionManager};
use shared::{ids::SaleId, keys::SaleKeys, redis::Function};
use uuid::Uuid;

use crate::{
    library::library,
    queue::{pass::QueuePass, shuffle},
};

/// Buyers of the pre-queue written per place call.
const PLACE_SLICE: usize = 500;

/// Where the queue of a sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before opening: joiners enter the pre-queue.
    Pre,
    /// Opened; the pre-queue's shuffled order is being written.
    Sealed,
    /// Opened and ordered: admission runs.
    Open,
}

impl Phase {
    fn parse(raw: &str) -> Self {
        match raw {
            "sealed" => Self::Sealed,
            "open" => Self::Open,
            _ => Self::Pre,
        }
    }
}

/// A `(time ms, admitted so far)` sample of the drain.
pub type DrainSample = (i64, u64);

/// The sale-wide numbers of a queue, as one script read them.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Phase.
    pub phase: Phase,
    /// When the sale opens (ms since the epoch).
    pub opens_at_ms: i64,
    /// When it closes.
    pub closes_at_ms: i64,
    /// Whether the sale is suspended.
    pub suspended: bool,
    /// Highest ticket admitted so far.
    pub head: u64,
    /// Last ticket handed out.
    pub next: u64,
    /// Buyers waiting in line.
    pub waiting: u64,
    /// Buyers in the pre-queue not yet placed (before opening: all of it).
    pub pre_queue: u64,
    /// Buyers the pre-queue held when the sale opened.
    pub pre_total: u64,
    /// Nothing is left to sell (every seat is held or sold).
    pub sold_out: bool,
    /// Changes whenever a buyer ahead of the head leaves.
    pub gaps_version: u64,
    /// Buyers admitted so far.
    pub admitted: u64,
    /// Buyers admitted whose pass is not used yet.
    pub active: u64,
    /// Admissions per second configured.
    pub rate: u32,
    /// Most active buyers configured.
    pub max_active: u32,
    /// Pass lifetime (ms).
    pub pass_ttl_ms: i64,
    /// Oldest drain sample (about 30 s ago).
    pub drain_oldest: Option<DrainSample>,
    /// Newest drain sample.
    pub drain_newest: Option<DrainSample>,
    /// Redis time of the reading (ms).
    pub now_ms: i64,
}

fn text(reply: &[String], i: usize) -> &str {
    reply.get(i).map_or("", String::as_str)
}

fn int(reply: &[String], i: usize) -> i64 {
    let raw = text(reply, i);
    raw.parse::<i64>()
        .ok()
        .or_else(|| raw.parse::<f64>().ok().map(|f| f as i64))
        .unwrap_or_default()
}

fn count(reply: &[String], i: usize) -> u64 {
    int(reply, i).max(0) as u64
}

fn sample(raw: &str) -> Option<DrainSample> {
    let (at, admitted) = raw.split_once(':')?;
    Some((at.parse().ok()?, admitted.parse().ok()?))
}

impl Summary {
    /// Reads the summary fields starting at `at`.
    fn parse(reply: &[String], at: usize) -> Self {
        let f = |i: usize| at + i;
        Self {
            phase: Phase::parse(text(reply, f(0))),
            opens_at_ms: int(reply, f(1)),
            closes_at_ms: int(reply, f(2)),
            suspended: text(reply, f(3)) != "active",
            head: count(reply, f(4)),
            next: count(reply, f(5)),
            waiting: count(reply, f(6)),
            pre_queue: count(reply, f(7)),
            pre_total: count(reply, f(8)),
            sold_out: text(reply, f(9)) == "1",
            gaps_version: count(reply, f(10)),
            admitted: count(reply, f(11)),
            active: count(reply, f(12)),
            rate: u32::try_from(count(reply, f(13))).unwrap_or(u32::MAX),
            max_active: u32::try_from(count(reply, f(14))).unwrap_or(u32::MAX),
            pass_ttl_ms: int(reply, f(15)),
            drain_oldest: sample(text(reply, f(16))),
            drain_newest: sample(text(reply, f(17))),
            now_ms: int(reply, f(18)),
        }
    }
}

/// How a buyer's last queue entry ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Never joined (or the record is gone).
    Never,
    /// Their pass bought a reservation.
    Used,
    /// Admitted, but the pass lapsed unused.
    Expired,
    /// They left.
    Left,
}

/// A buyer's entry in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// No live entry; how the last one ended.
    None(Ended),
    /// In the pre-queue: equal with every other early joiner until the shuffle at opening.
    Pre,
    /// Waiting with `ticket`; `ahead` buyers are before them.
    Waiting {
        /// Ticket.
        ticket: u64,
        /// Buyers ahead.
        ahead: u64,
    },
    /// Admitted: may reserve with `pass` until `expires_at_ms`.
    Admitted {
        /// Ticket they were admitted with.
        ticket: u64,
        /// The single-use pass.
        pass: String,
        /// When the pass lapses (ms since the epoch).
        expires_at_ms: i64,
    },
}

impl Entry {
    fn parse(reply: &[String], at: usize) -> Option<Self> {
        Some(match text(reply, at) {
            "NONE" => Self::None(match text(reply, at + 1) {
                "used" => Ended::Used,
                "expired" => Ended::Expired,
                "left" => Ended::Left,
                _ => Ended::Never,
            }),
            "PRE" => Self::Pre,
            "WAITING" => Self::Waiting {
                ticket: text(reply, at + 1).parse().ok()?,
                ahead: text(reply, at + 2).parse().ok()?,
            },
            "ADMITTED" => Self::Admitted {
                ticket: text(reply, at + 1).parse().ok()?,
                pass: text(reply, at + 2).to_owned(),
                expires_at_ms: int(reply, at + 3),
            },
            _ => return None,
        })
    }
}

/// A buyer's entry and the sale-wide numbers, read together.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The buyer's entry.
    pub entry: Entry,
    /// The queue.
    pub summary: Summary,
}

/// Why a queue request was refused before reading anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such sale.
    SaleNotFound,
    /// The sale has no queue.
    Disabled,
    /// The sale is suspended.
    Suspended,
    /// The sale has closed.
    Closed,
}

fn refusal(status: &str) -> Option<Refusal> {
    match status {
        "SALE_NOT_FOUND" => Some(Refusal::SaleNotFound),
        "QUEUE_DISABLED" => Some(Refusal::Disabled),
        "SALE_SUSPENDED" => Some(Refusal::Suspended),
        "SALE_CLOSED" => Some(Refusal::Closed),
        _ => None,
    }
}

/// What one tick found.
#[derive(Debug, Clone, PartialEq)]
pub enum Tick {
    /// The sale is not provisioned.
    NoSale,
    /// The sale's queue is off.
    Off,
    /// The queue runs; this many buyers were admitted by this tick.
    On {
        /// Admitted by this tick.
        admitted: u64,
        /// The queue after it.
        summary: Summary,
    },
}

struct Functions {
    join: Function,
    status: Function,
    leave: Function,
    tick: Function,
    place: Function,
}

/// Typed access to the queues in Redis.
#[derive(Clone)]
pub struct QueueStore {
    conn: ConnectionManager,
    functions: Arc<Functions>,
}

fn unexpected(script: &str, reply: &[String]) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::TypeError,
        "unexpected queue script reply",
        format!("{script}: {reply:?}"),
    ))
}

fn reading(script: &str, reply: &[String]) -> redis::RedisResult<Reading> {
    let entry = Entry::parse(reply, 2).ok_or_else(|| unexpected(script, reply))?;
    Ok(Reading {
        entry,
        summary: Summary::parse(reply, 6),
    })
}

impl QueueStore {
    /// Queues through this connection.
    pub fn new(conn: ConnectionManager) -> Self {
        let library = library();
        Self {
            conn,
            functions: Arc::new(Functions {
                join: library.function("join"),
                status: library.function("status"),
                leave: library.function("leave"),
                tick: library.function("tick"),
                place: library.function("place"),
            }),
        }
    }

    /// Joins `user` to the sale's queue; `Ok(Ok((true, _)))` when the entry is new.
    pub async fn join(
        &self,
        sale: &SaleId,
        user: Uuid,
    ) -> redis::RedisResult<Result<(bool, Reading), Refusal>> {
        let keys = SaleKeys::new(sale);
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .functions
            .join
            .key(keys.meta())
            .key(keys.queue("state"))
            .key(keys.queue("tickets"))
            .key(keys.queue("line"))
            .key(keys.queue("pre"))
            .arg(user.to_string())
            .arg(shuffle::fresh_seed().to_string())
            .arg(QueuePass::generate().as_str())
            .invoke_async(&mut conn)
            .await?;
        if let Some(refused) = refusal(text(&reply, 0)) {
            return Ok(Err(refused));
        }
        Ok(Ok((text(&reply, 1) == "1", reading("join", &reply)?)))
    }

    /// The buyer's entry (handing out their pass once admitted) and the queue's numbers.
    pub async fn status(
        &self,
        sale: &SaleId,
        user: Uuid,
    ) -> redis::RedisResult<Result<Reading, Refusal>> {
        let keys = SaleKeys::new(sale);
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .functions
            .status
            .key(keys.meta())
            .key(keys.queue("state"))
            .key(keys.queue("tickets"))
            .arg(user.to_string())
            .arg(QueuePass::generate().as_str())
            .invoke_async(&mut conn)
            .await?;
        if let Some(refused) = refusal(text(&reply, 0)) {
            return Ok(Err(refused));
        }
        reading("status", &reply).map(Ok)
    }

    /// Takes the buyer out of the queue; `Ok(Ok(false))` when they were not in it.
    pub async fn leave(
        &self,
        sale: &SaleId,
        user: Uuid,
    ) -> redis::RedisResult<Result<bool, Refusal>> {
        let keys = SaleKeys::new(sale);
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .functions
            .leave
            .key(keys.meta())
            .key(keys.queue("state"))
            .key(keys.queue("tickets"))
            .key(keys.queue("line"))
            .arg(user.to_string())
            .invoke_async(&mut conn)
            .await?;
        match text(&reply, 0) {
            "OK" => Ok(Ok(true)),
            "NOT_FOUND" => Ok(Ok(false)),
            other => refusal(other)
                .map(Err)
                .ok_or_else(|| unexpected("leave", &reply)),
        }
    }

    /// One step of the sale's queue: seal at opening, lapse, admit.
    pub async fn tick(&self, sale: &SaleId) -> redis::RedisResult<Tick> {
        let keys = SaleKeys::new(sale);
        let mut conn = self.conn.clone();
        let reply: Vec<String> = self
            .functions
            .tick
            .key(keys.meta())
            .key(keys.queue("state"))
            .key(keys.queue("line"))
            .key(keys.queue("active"))
            .arg(shuffle::fresh_seed().to_string())
            .invoke_async(&mut conn)
            .await?;
        Ok(match text(&reply, 0) {
            "NONE" => Tick::NoSale,
            "OFF" => Tick::Off,
            "ON" => Tick::On {
                admitted: count(&reply, 1),
                summary: Summary::parse(&reply, 6),
            },
            _ => return Err(unexpected("tick", &reply)),
        })
    }

    /// Writes the shuffled pre-queue of a sealed sale, slice by slice; stops early when another
    /// replica is doing it (the next tick carries on from where it got). Returns whether the
    /// queue is open.
    pub async fn place(&self, sale: &SaleId) -> redis::RedisResult<bool> {
        let keys = SaleKeys::new(sale);
        let mut conn = self.conn.clone();
        let (phase, seed, placed): (Option<String>, Option<String>, Option<u64>) =
            redis::cmd("HMGET")
                .arg(keys.queue("state"))
                .arg(&["phase", "seed", "placed"])
                .query_async(&mut conn)
                .await?;
        if phase.as_deref() != Some("sealed") {
            return Ok(phase.as_deref() == Some("open"));
        }
        let (Some(seed), Some(mut placed)) = (seed, placed) else {
            return Err(unexpected("place", &[]));
        };
        let seed_value: u64 = seed
            .parse()
            .map_err(|_| unexpected("place", std::slice::from_ref(&seed)))?;
        let joined: Vec<String> = conn.zrange(keys.queue("pre"), 0, -1).await?;
        let order = shuffle::permutation(seed_value, joined.len());
        while (placed as usize) < order.len() {
            let slice = &order[placed as usize..(placed as usize + PLACE_SLICE).min(order.len())];
            let mut invocation = self.functions.place.key(keys.meta());
            invocation
                .key(keys.queue("state"))
                .key(keys.queue("line"))
                .key(keys.queue("tickets"))
                .arg(&seed)
                .arg(placed);
            for &rank in slice {
                invocation
                    .arg(joined.get(rank as usize).map_or("", String::as_str))
                    .arg(rank);
            }
            let reply: Vec<String> = invocation.invoke_async(&mut conn).await?;
            match (text(&reply, 0), text(&reply, 1)) {
                ("OK", "open") => return Ok(true),
                ("OK", _) => placed = count(&reply, 2),
                (_, phase) => return Ok(phase == "open"),
            }
        }
        Ok(false)
    }

    /// Tickets ahead of `head` whose buyers left, ascending.
    pub async fn gaps(&self, sale: &SaleId, head: u64) -> redis::RedisResult<Vec<u64>> {
        let mut conn = self.conn.clone();
        let gaps: Vec<u64> = conn
            .zrangebyscore(
                SaleKeys::new(sale).queue("gaps"),
                format!("({head}"),
                "+inf",
            )
            .await?;
        Ok(gaps)
    }

    /// The shuffled pre-queue: each buyer's ticket.
    pub async fn pre_queue_tickets(&self, sale: &SaleId) -> redis::RedisResult<HashMap<Uuid, u64>> {
        let mut conn = self.conn.clone();
        let order: Vec<String> = conn
            .lrange(SaleKeys::new(sale).queue("order"), 0, -1)
            .await?;
        Ok(order
            .iter()
            .enumerate()
            .filter_map(|(i, user)| Some((user.parse().ok()?, i as u64 + 1)))
            .collect())
    }
}
