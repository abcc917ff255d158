//! The queue feed: one task per process runs each served sale's queue step a few times a second
//! and publishes what it read to the process's event streams through a `watch` channel per sale,
//! so a waiting buyer's stream costs no Redis call of its own until their turn comes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use shared::{ids::SaleId, sales::Sales};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::queue::store::{Phase, QueueStore, Summary, Tick};

/// What the feed knows about one sale's queue after a tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Snapshot {
    /// The sale's queue is off (or the sale is gone).
    Off,
    /// The queue runs.
    On(Live),
}

/// A running queue as of the last tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// The numbers.
    pub summary: Summary,
    /// Tickets ahead of the head whose buyers left, ascending.
    pub gaps: Arc<Vec<u64>>,
    /// The pre-queue buyers' tickets once it is shuffled.
    pub pre_queue: Option<Arc<HashMap<Uuid, u64>>>,
}

type Channel = watch::Sender<Option<Arc<Snapshot>>>;

/// The per-sale channels of this process.
#[derive(Clone, Default)]
pub struct Feeds {
    channels: Arc<Mutex<HashMap<SaleId, Channel>>>,
}

impl Feeds {
    fn with_channel<T>(&self, sale: &SaleId, f: impl FnOnce(&Channel) -> T) -> T {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let channel = channels
            .entry(sale.clone())
            .or_insert_with(|| watch::channel(None).0);
        f(channel)
    }

    /// Follows a sale's snapshots (`None` until the first tick).
    pub fn subscribe(&self, sale: &SaleId) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.with_channel(sale, watch::Sender::subscribe)
    }

    /// Publishes a sale's snapshot to its streams.
    pub fn publish(&self, sale: &SaleId, snapshot: Snapshot) {
        self.with_channel(sale, |channel| {
            channel.send_replace(Some(Arc::new(snapshot)));
        });
    }
}

#[derive(Default)]
struct Cached {
    gaps_version: Option<u64>,
    gaps: Arc<Vec<u64>>,
    pre_queue: Option<Arc<HashMap<Uuid, u64>>>,
}

/// Steps every served sale's queue every `every` and publishes the result, until `shutdown`.
pub async fn run(
    sales: Sales,
    store: QueueStore,
    feeds: Feeds,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut cache: HashMap<SaleId, Cached> = HashMap::new();
    let mut rounds = crate::periodic::Rounds::new(&sales, every, &shutdown);
    while let Some(list) = rounds.next().await {
        cache.retain(|sale, _| list.contains(sale));
        for sale in list {
            let cached = cache.entry(sale.clone()).or_default();
            match step(&store, &sale, cached).await {
                Ok(snapshot) => feeds.publish(&sale, snapshot),
                Err(err) => {
                    tracing::warn!(sale.id = %sale, error = %err, "queue step failed; will retry")
                }
            }
        }
    }
}

async fn step(
    store: &QueueStore,
    sale: &SaleId,
    cached: &mut Cached,
) -> redis::RedisResult<Snapshot> {
    let (admitted, mut summary) = match store.tick(sale).await? {
        Tick::NoSale | Tick::Off => {
            *cached = Cached::default();
            return Ok(Snapshot::Off);
        }
        Tick::On { admitted, summary } => (admitted, summary),
    };
    if admitted > 0 {
        metrics::counter!("booking_queue_admitted_total").increment(admitted);
        tracing::debug!(sale.id = %sale, admitted, head = summary.head, "buyers admitted");
    }
    if summary.phase == Phase::Sealed && store.place(sale).await? {
        tracing::info!(sale.id = %sale, buyers = summary.pre_total, "pre-queue shuffled into line");
        summary.phase = Phase::Open;
        summary.pre_queue = 0;
    }
    if cached.gaps_version != Some(summary.gaps_version) {
        cached.gaps = Arc::new(store.gaps(sale, summary.head).await?);
        cached.gaps_version = Some(summary.gaps_version);
    }
    if summary.phase == Phase::Open && summary.pre_total > 0 && cached.pre_queue.is_none() {
        cached.pre_queue = Some(Arc::new(store.pre_queue_tickets(sale).await?));
    }
    Ok(Snapshot::On(Live {
        summary,
        gaps: Arc::clone(&cached.gaps),
        pre_queue: cached.pre_queue.clone(),
    }))
}
