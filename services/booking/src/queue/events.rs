//! The caller's place in the queue as server-sent events. Each stream follows its sale's feed in
//! memory (see [`crate::queue::feed`]) and asks Redis only when the buyer's turn comes (to hand
//! out the pass) or when the pre-queue's order is unknown to this process.
//!
//! Events, each but the last carrying a [`QueueView`] as JSON:
//! - `position`: the place changed (also the first event while waiting);
//! - `sold_out`: nothing is left to sell; admission stops until held seats return;
//! - `admitted`: the buyer's turn, with the pass (the stream ends);
//! - `ended`: the entry ended (left, pass used or lapsed) or the sale closed (the stream ends);
//! - `queue_off`: the sale no longer queues; reserve without a pass (the stream ends; its data
//!   is the sale and a detail).

use std::{collections::VecDeque, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{Path, State},
    http::{HeaderName, HeaderValue},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::Stream;
use shared::{auth::AuthUser, ids::SaleId};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    error::BookingError,
    queue::{
        feed::{Live, Snapshot},
        routes::{refused, view_of},
        store::{Entry, QueueStore, Reading},
        view::{QueueState, QueueView, SaleStatus, ahead_of},
    },
    routes::reservations::served_sale,
    state::AppState,
};

/// The caller's place in the queue, pushed as it changes (`text/event-stream`).
#[utoipa::path(
    get, path = "/api/v1/sales/{sale}/queue/events", tag = "queue",
    params(("sale" = String, Path, description = "Sale id")),
    responses(
        (status = 200, description = "Server-sent events `position`, `sold_out`, `admitted` (with the pass; last) and `ended` (last), each with a QueueView as JSON data; `queue_off` (last) when the sale stops queueing, with the sale and a detail", body = QueueView, content_type = "text/event-stream"),
        (status = 401, description = "Missing or invalid access token", body = shared::problem::ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "Unknown sale, or the caller never joined its queue", body = shared::problem::ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The sale has no queue", body = shared::problem::ProblemSchema, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(sale.id = %sale_raw, user.id = %user.id))]
pub async fn queue_events(
    State(state): State<AppState>,
    Path(sale_raw): Path<String>,
    user: AuthUser,
) -> Result<Response, BookingError> {
    let sale = served_sale(&state, &sale_raw)?;
    let queue = &state.queue;
    // Subscribed before reading, so no change between the two is missed.
    let rx = queue.feeds.subscribe(&sale);
    let reading = queue.store.status(&sale, user.id).await?.map_err(refused)?;
    let view = view_of(&sale, &reading)?;
    let mut follow = Follow {
        sale,
        user: user.id,
        store: queue.store.clone(),
        rx,
        stop: queue.stop.clone(),
        local: Local::Done,
        last: None,
        pending: VecDeque::new(),
        _open: OpenStream::new(),
    };
    follow.adopt(&reading.entry, view);
    let mut response = Sse::new(follow.into_stream())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Proxies that buffer (nginx) pass events on as they come.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// What the stream knows of its buyer's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    /// In the pre-queue.
    Pre,
    /// Waiting with this ticket.
    Waiting(u64),
    /// Nothing more to tell.
    Done,
}

/// Counts open streams for the `booking_queue_streams` gauge.
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        metrics::gauge!("booking_queue_streams").increment(1.0);
        Self
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("booking_queue_streams").decrement(1.0);
    }
}

struct Follow {
    sale: SaleId,
    user: Uuid,
    store: QueueStore,
    rx: watch::Receiver<Option<Arc<Snapshot>>>,
    stop: CancellationToken,
    local: Local,
    last: Option<(QueueState, Option<u64>, SaleStatus)>,
    pending: VecDeque<Event>,
    _open: OpenStream,
}

fn event(name: &'static str, view: &QueueView) -> Option<Event> {
    Event::default().event(name).json_data(view).ok()
}

impl Follow {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures::stream::unfold(self, |mut follow| async move {
            loop {
                if let Some(event) = follow.pending.pop_front() {
                    return Some((Ok(event), follow));
                }
                if follow.local == Local::Done {
                    return None;
                }
                tokio::select! {
                    () = follow.stop.cancelled() => return None,
                    changed = follow.rx.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                }
                let snapshot = follow.rx.borrow_and_update().clone();
                if let Some(snapshot) = snapshot {
                    follow.apply(&snapshot).await;
                }
            }
        })
    }

    /// Takes an entry read from Redis as the truth, with its view.
    fn adopt(&mut self, entry: &Entry, view: QueueView) {
        self.local = match entry {
            Entry::Pre => Local::Pre,
            Entry::Waiting { ticket, .. } => Local::Waiting(*ticket),
            Entry::Admitted { .. } | Entry::None(_) => Local::Done,
        };
        self.push(view);
    }

    /// Queues the event a view calls for, if it says something new.
    fn push(&mut self, view: QueueView) {
        let key = (view.state, view.position, view.sale_status);
        let name = match view.state {
            QueueState::Admitted => "admitted",
            QueueState::PassUsed | QueueState::PassExpired | QueueState::Left => "ended",
            QueueState::PreQueue | QueueState::Waiting => match view.sale_status {
                SaleStatus::Closed | SaleStatus::Suspended => {
                    self.local = Local::Done;
                    "ended"
                }
                SaleStatus::SoldOut if self.last.map(|l| l.2) != Some(SaleStatus::SoldOut) => {
                    "sold_out"
                }
                _ => "position",
            },
        };
        if self.last == Some(key) {
            return;
        }
        self.last = Some(key);
        if let Some(event) = event(name, &view) {
            self.pending.push_back(event);
        }
    }

    /// Reads the buyer's entry from Redis (their turn came, or the order is unknown here).
    async fn resync(&mut self) {
        match self.store.status(&self.sale, self.user).await {
            Ok(Ok(reading)) => self.adopt_reading(&reading),
            Ok(Err(_)) => self.queue_off(),
            Err(err) => {
                tracing::warn!(sale.id = %self.sale, error = %err, "queue status failed; retrying on the next update");
            }
        }
    }

    fn adopt_reading(&mut self, reading: &Reading) {
        match QueueView::new(self.sale.as_str(), &reading.entry, &reading.summary) {
            Some(view) => self.adopt(&reading.entry, view),
            None => self.local = Local::Done,
        }
    }

    fn queue_off(&mut self) {
        self.local = Local::Done;
        let data = serde_json::json!({
            "sale": self.sale.as_str(),
            "detail": "the sale no longer queues buyers; reserve without a queue pass",
        });
        if let Ok(event) = Event::default().event("queue_off").json_data(data) {
            self.pending.push_back(event);
        }
    }

    async fn apply(&mut self, snapshot: &Snapshot) {
        let live = match snapshot {
            Snapshot::Off => return self.queue_off(),
            Snapshot::On(live) => live,
        };
        if self.local == Local::Pre && live.summary.phase == crate::queue::store::Phase::Open {
            match live.pre_queue.as_ref().and_then(|t| t.get(&self.user)) {
                Some(ticket) => self.local = Local::Waiting(*ticket),
                None => return self.resync().await,
            }
        }
        match self.local {
            Local::Pre => self.show(Entry::Pre, live),
            Local::Waiting(ticket) if live.summary.head >= ticket => self.resync().await,
            Local::Waiting(ticket) => {
                let ahead = ahead_of(ticket, live.summary.head, &live.gaps);
                self.show(Entry::Waiting { ticket, ahead }, live);
            }
            Local::Done => {}
        }
    }

    fn show(&mut self, entry: Entry, live: &Live) {
        if let Some(view) = QueueView::new(self.sale.as_str(), &entry, &live.summary) {
            self.push(view);
        }
    }
}
