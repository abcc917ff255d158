//! Consuming the served sales' topics in batches, following the sales as they come and go.

use std::time::{Duration, Instant};

use futures::FutureExt;
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    error::KafkaResult,
    message::BorrowedMessage,
};
use tokio_util::sync::CancellationToken;

use crate::{ids::SaleId, sales::Sales};

/// How often the served sales are re-checked.
const RESYNC_EVERY: Duration = Duration::from_secs(2);

/// Largest batch handled in one go.
pub const MAX_BATCH: usize = 1000;

/// A consumer kept subscribed to one topic per served sale.
pub struct Subscription {
    consumer: StreamConsumer,
    sales: Sales,
    topic_of: fn(&SaleId) -> String,
    topics: Vec<String>,
    synced_at: Option<Instant>,
}

impl Subscription {
    /// Follows `topic_of(sale)` for each sale in `sales`.
    pub fn new(consumer: StreamConsumer, sales: Sales, topic_of: fn(&SaleId) -> String) -> Self {
        Self {
            consumer,
            sales,
            topic_of,
            topics: Vec::new(),
            synced_at: None,
        }
    }

    /// Re-checks the served sales every two seconds, re-subscribing when they changed.
    pub async fn refresh(&mut self) {
        if self.synced_at.is_some_and(|at| at.elapsed() < RESYNC_EVERY) {
            return;
        }
        self.synced_at = Some(Instant::now());
        self.sync().await;
    }

    async fn sync(&mut self) {
        let wanted: Vec<String> = match self.sales.current().await {
            Ok(list) => list.iter().map(self.topic_of).collect(),
            Err(err) => {
                tracing::warn!(error = %err, "listing sales failed");
                return;
            }
        };
        if wanted == self.topics {
            return;
        }
        let result: KafkaResult<()> = if wanted.is_empty() {
            self.consumer.unsubscribe();
            Ok(())
        } else {
            let refs: Vec<&str> = wanted.iter().map(String::as_str).collect();
            self.consumer.subscribe(&refs)
        };
        match result {
            Ok(()) => {
                tracing::info!(topics = ?wanted, "subscribed");
                self.topics = wanted;
            }
            Err(err) => tracing::warn!(error = %err, "subscribing failed"),
        }
    }

    /// Waits for at least one message, then takes whatever else is already buffered.
    /// `None` when shutting down or when it is time to re-check the served sales.
    pub async fn next_batch(
        &self,
        shutdown: &CancellationToken,
    ) -> Option<Vec<BorrowedMessage<'_>>> {
        let wait = RESYNC_EVERY;
        let first = tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(wait) => return Some(Vec::new()),
            first = self.consumer.recv() => first,
        };
        let mut batch = Vec::new();
        match first {
            Ok(message) => batch.push(message),
            Err(err) => {
                tracing::warn!(error = %err, "consume failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Some(batch);
            }
        }
        while batch.len() < MAX_BATCH {
            match self.consumer.recv().now_or_never() {
                Some(Ok(message)) => batch.push(message),
                _ => break,
            }
        }
        Some(batch)
    }

    /// Marks the batch handled and commits its offsets.
    pub fn commit(&self, batch: &[BorrowedMessage<'_>]) {
        for message in batch {
            if let Err(err) = self.consumer.store_offset_from_message(message) {
                tracing::warn!(error = %err, "storing offset failed");
            }
        }
        if let Err(err) = crate::kafka::commit(&self.consumer) {
            tracing::warn!(error = %err, "offset commit failed; the batch may be redelivered");
        }
    }
}

/// Exponential backoff for retrying a batch: 100 ms doubling to 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6)).min(5_000))
}

/// Decodes the event envelopes of a batch of messages, in order (a message may carry several);
/// an undecodable event is logged, counted in `metric` and skipped (retrying it would only fail
/// again).
pub fn decode_batch<E: serde::de::DeserializeOwned>(
    batch: &[BorrowedMessage<'_>],
    metric: &'static str,
) -> Vec<crate::events::Envelope<E>> {
    batch
        .iter()
        .flat_map(crate::kafka::decode_all::<E>)
        .filter_map(|decoded| match decoded {
            Ok(envelope) => Some(envelope),
            Err(err) => {
                tracing::error!(error = %err, "undecodable event skipped");
                metrics::counter!(metric).increment(1);
                None
            }
        })
        .collect()
}
