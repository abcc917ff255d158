//! The virtual waiting room of a sale whose spec turns it on (`queue.enabled`).
//!
//! - **Join** once per account. Before the sale opens, buyers enter the pre-queue and are equal:
//!   at opening it is sealed and shuffled with a recorded seed ([`shuffle`]); the order is kept in
//!   Redis (`q:order`) and published as `QueueShuffled` events, which the recorder writes to
//!   `queue_shuffles` and `queue_positions`. Later joiners queue first-in-first-out behind them.
//! - **Admission** is computed from elapsed time by a token bucket in Redis, so every replica may
//!   run the step ([`feed`]) and together they admit at the configured rate; `ZPOPMIN` hands each
//!   buyer out once. It admits only while seats are left beyond those admitted buyers may take,
//!   never beyond `maxActive`, and says so when the sale is sold out; admission resumes as held
//!   seats return.
//! - **The pass** ([`pass`]) is opaque, bound to buyer and sale, and used up inside the reserve
//!   script; it lapses `passTtlSeconds` after admission.
//! - **Status** by polling (one script call) or by server-sent events fed from one task per
//!   process ([`events`]).

pub mod events;
pub mod feed;
pub mod pass;
pub mod routes;
pub mod shuffle;
pub mod store;
pub mod view;

use tokio_util::sync::CancellationToken;

/// The queue's parts the handlers share.
#[derive(Clone)]
pub struct Queue {
    /// Redis.
    pub store: store::QueueStore,
    /// This process's feeds.
    pub feeds: feed::Feeds,
    /// Ends every event stream when the service stops.
    pub stop: CancellationToken,
}
