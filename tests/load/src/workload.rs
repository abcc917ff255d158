//! What each arrival sends, and how its answer counts: a fixed `GET`, or buyers reserving,
//! retrying, reusing keys and cancelling.

use std::{borrow::Cow, collections::VecDeque, sync::Mutex};

use hyper::{
    Method, Request, StatusCode, Uri,
    body::Bytes,
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::{Answer, Body, problem_code};

/// How an answer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Class {
    /// What was asked for happened.
    Ok,
    /// A refusal the scenario expects (sold out, cap reached, a reused key).
    Rejected,
    /// Anything else: 5xx, unexpected 4xx, timeouts, broken connections, shed arrivals.
    Error,
}

/// A reservation the server acknowledged with a 201 for an Idempotency-Key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The key's number (the header is the run's key prefix followed by it).
    pub key: u64,
    /// Index of the buyer.
    pub buyer: u32,
    /// Index of the zone.
    pub zone: u16,
    /// Seats.
    pub quantity: u8,
    /// The reservation the 201 named.
    pub reservation: Uuid,
}

/// The judgement of one arrival.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Outcome kind: the status for a success, else the problem `code` or `http_<status>`.
    pub kind: Cow<'static, str>,
    /// How it counts.
    pub class: Class,
    /// The reservation a 201 acknowledged.
    pub ack: Option<Ack>,
}

impl Verdict {
    /// A success of `kind`.
    pub fn ok(kind: &'static str) -> Self {
        Self {
            kind: Cow::Borrowed(kind),
            class: Class::Ok,
            ack: None,
        }
    }

    /// An error of `kind`.
    pub fn error(kind: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind: kind.into(),
            class: Class::Error,
            ack: None,
        }
    }

    /// A refusal that counts as expected when its code is in `expected`, else as an error.
    pub fn refusal(answer: &Answer, expected: &[&str]) -> Self {
        let code = problem_code(&answer.body);
        match code {
            Some(code) if expected.contains(&code.as_str()) => Self {
                kind: Cow::Owned(code),
                class: Class::Rejected,
                ack: None,
            },
            Some(code) => Self::error(code),
            None => Self::error(format!("http_{}", answer.status.as_u16())),
        }
    }
}

/// The requests of a run.
pub trait Workload: Send + Sync + 'static {
    /// What the judge needs to know about a request.
    type Meta: Send + 'static;

    /// The request of arrival `seq` (0-based), or why it could not be built.
    fn job(&self, seq: u64) -> Result<(Request<Body>, Self::Meta), hyper::http::Error>;

    /// Judges an answer.
    fn judge(&self, meta: &Self::Meta, answer: &Answer) -> Verdict;
}

/// The same `GET` every time; any 2xx is a success.
pub struct FixedGet {
    uri: Uri,
}

impl FixedGet {
    /// Requests `uri`.
    pub fn new(uri: Uri) -> Self {
        Self { uri }
    }
}

impl Workload for FixedGet {
    type Meta = ();

    fn job(&self, _seq: u64) -> Result<(Request<Body>, ()), hyper::http::Error> {
        Ok((Request::get(self.uri.clone()).body(Body::default())?, ()))
    }

    fn judge(&self, _meta: &(), answer: &Answer) -> Verdict {
        if answer.status.is_success() {
            Verdict::ok("200")
        } else {
            Verdict::error(format!("http_{}", answer.status.as_u16()))
        }
    }
}

/// Shares of arrivals that are not a fresh reservation, and the seats per reservation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mix {
    /// Resend a recent Idempotency-Key with the same body (as a client retrying after a timeout).
    pub retry: f64,
    /// Reuse an acknowledged key with another body (must be refused with 422).
    pub conflict: f64,
    /// Cancel an acknowledged hold (the other holds are abandoned to expire).
    pub cancel: f64,
    /// Fewest seats per reservation.
    pub min_quantity: u8,
    /// Most seats per reservation.
    pub max_quantity: u8,
}

impl Mix {
    /// Only fresh reservations of `quantity` seats.
    pub fn plain(quantity: u8) -> Self {
        Self {
            retry: 0.0,
            conflict: 0.0,
            cancel: 0.0,
            min_quantity: quantity,
            max_quantity: quantity,
        }
    }

    fn is_plain(&self) -> bool {
        self.retry == 0.0
            && self.conflict == 0.0
            && self.cancel == 0.0
            && self.min_quantity == self.max_quantity
    }
}

/// Most seats one reservation may take (the booking service's limit).
pub const MAX_QUANTITY: u8 = 20;

/// How many recent keys and holds the dirty mix draws retries, conflicts and cancels from.
const RECENT: usize = 4096;

/// What a reservation request was meant to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// A new key.
    New,
    /// A recent key again, same body.
    Retry,
    /// An acknowledged key with another body.
    Conflict,
}

/// What the judge needs about a reservation request.
#[derive(Debug, Clone, Copy)]
pub enum ReserveMeta {
    /// `POST …/reservations`.
    Reserve {
        /// Key number.
        key: u64,
        /// Buyer index.
        buyer: u32,
        /// Zone index.
        zone: u16,
        /// Seats.
        quantity: u8,
        /// Why it was sent.
        intent: Intent,
    },
    /// `DELETE …/reservations/{id}`.
    Cancel,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    key: u64,
    buyer: u32,
    zone: u16,
    quantity: u8,
}

struct MixState {
    rng: StdRng,
    sent: VecDeque<Sent>,
    acked: VecDeque<Ack>,
}

/// Buyers reserving in a sale through `POST /api/v1/sales/{sale}/reservations`.
pub struct Reserve {
    base: String,
    sale: String,
    reserve_uri: Uri,
    authorizations: Vec<HeaderValue>,
    zones: Vec<String>,
    /// `bodies[zone][quantity - 1]`.
    bodies: Vec<Vec<Bytes>>,
    key_prefix: String,
    mix: Mix,
    expected: Vec<&'static str>,
    state: Mutex<MixState>,
}

/// What a reserve workload is made of.
pub struct ReserveSpec<'a> {
    /// Base URL of the target (`http://host:port`).
    pub base: &'a str,
    /// Sale id.
    pub sale: &'a str,
    /// Access tokens of the buyers.
    pub tokens: Vec<&'a str>,
    /// Zone ids.
    pub zones: Vec<String>,
    /// Prefix of every Idempotency-Key (unique to the run).
    pub key_prefix: String,
    /// The mix.
    pub mix: Mix,
    /// Problem codes a fresh reservation may expect.
    pub expected: Vec<&'static str>,
    /// Seed of the mix's random choices.
    pub seed: u64,
}

/// Why a reserve workload could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// Not a URL.
    #[error("target {0:?} is not a valid URL")]
    Target(String),
    /// A token that cannot be a header.
    #[error("buyer {0}'s access token is not a valid header value")]
    Token(usize),
    /// Nothing to reserve with.
    #[error("a reserve workload needs at least one buyer and one zone")]
    Empty,
    /// Quantities outside 1..=20.
    #[error("quantities must be within 1..={MAX_QUANTITY} with min <= max")]
    Quantity,
}

impl Reserve {
    /// Builds the requests' fixed parts once, so each arrival only adds its key.
    pub fn new(spec: ReserveSpec<'_>) -> Result<Self, ReserveError> {
        if spec.tokens.is_empty() || spec.zones.is_empty() {
            return Err(ReserveError::Empty);
        }
        let mix = spec.mix;
        if mix.min_quantity == 0 || mix.min_quantity > mix.max_quantity {
            return Err(ReserveError::Quantity);
        }
        if mix.max_quantity > MAX_QUANTITY {
            return Err(ReserveError::Quantity);
        }
        let base = spec.base.trim_end_matches('/').to_owned();
        let reserve_uri: Uri = format!("{base}/api/v1/sales/{}/reservations", spec.sale)
            .parse()
            .map_err(|_| ReserveError::Target(base.clone()))?;
        let authorizations = spec
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| ReserveError::Token(i))
            })
            .collect::<Result<_, _>>()?;
        let bodies = spec
            .zones
            .iter()
            .map(|zone| {
                (1..=MAX_QUANTITY)
                    .map(|q| Bytes::from(format!(r#"{{"zone":"{zone}","quantity":{q}}}"#)))
                    .collect()
            })
            .collect();
        Ok(Self {
            base,
            sale: spec.sale.to_owned(),
            reserve_uri,
            authorizations,
            zones: spec.zones,
            bodies,
            key_prefix: spec.key_prefix,
            mix,
            expected: spec.expected,
            state: Mutex::new(MixState {
                rng: StdRng::seed_from_u64(spec.seed),
                sent: VecDeque::with_capacity(RECENT),
                acked: VecDeque::with_capacity(RECENT),
            }),
        })
    }

    /// The Idempotency-Key header of key number `key`.
    pub fn key_header(prefix: &str, key: u64) -> String {
        format!("{prefix}{key}")
    }

    fn fresh(&self, seq: u64, state: Option<&mut MixState>) -> Sent {
        let buyers = self.authorizations.len() as u64;
        let zones = self.zones.len() as u64;
        let quantity = match state {
            Some(state) if self.mix.min_quantity < self.mix.max_quantity => state
                .rng
                .gen_range(self.mix.min_quantity..=self.mix.max_quantity),
            _ => self.mix.min_quantity,
        };
        let (buyer, round) = (seq % buyers, seq / buyers);
        Sent {
            key: seq,
            buyer: buyer as u32,
            // Buyer `b` starts in zone `b` and moves on a zone each round: every buyer meets
            // every zone, and each round spreads the buyers evenly over the zones.
            zone: ((buyer + round) % zones) as u16,
            quantity,
        }
    }

    fn reserve_request(
        &self,
        sent: Sent,
        intent: Intent,
    ) -> Result<(Request<Body>, ReserveMeta), hyper::http::Error> {
        let body = self
            .bodies
            .get(usize::from(sent.zone))
            .and_then(|b| b.get(usize::from(sent.quantity) - 1))
            .cloned()
            .unwrap_or_default();
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.reserve_uri.clone())
            .header(AUTHORIZATION, self.authorization(sent.buyer))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                "idempotency-key",
                Self::key_header(&self.key_prefix, sent.key),
            )
            .body(Body::new(body))?;
        Ok((
            request,
            ReserveMeta::Reserve {
                key: sent.key,
                buyer: sent.buyer,
                zone: sent.zone,
                quantity: sent.quantity,
                intent,
            },
        ))
    }

    fn authorization(&self, buyer: u32) -> HeaderValue {
        self.authorizations
            .get(buyer as usize)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static(""))
    }

    fn cancel_request(
        &self,
        ack: &Ack,
    ) -> Result<(Request<Body>, ReserveMeta), hyper::http::Error> {
        let request = Request::builder()
            .method(Method::DELETE)
            .uri(format!(
                "{}/api/v1/sales/{}/reservations/{}",
                self.base, self.sale, ack.reservation
            ))
            .header(AUTHORIZATION, self.authorization(ack.buyer))
            .body(Body::default())?;
        Ok((request, ReserveMeta::Cancel))
    }
}

fn lock(state: &Mutex<MixState>) -> std::sync::MutexGuard<'_, MixState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() == RECENT {
        queue.pop_front();
    }
    queue.push_back(item);
}

impl Workload for Reserve {
    type Meta = ReserveMeta;

    fn job(&self, seq: u64) -> Result<(Request<Body>, ReserveMeta), hyper::http::Error> {
        if self.mix.is_plain() {
            return self.reserve_request(self.fresh(seq, None), Intent::New);
        }
        let mut state = lock(&self.state);
        let draw: f64 = state.rng.r#gen();
        let mix = self.mix;
        if draw < mix.cancel
            && let Some(ack) = state.acked.pop_front()
        {
            return self.cancel_request(&ack);
        }
        if draw >= mix.cancel && draw < mix.cancel + mix.retry && !state.sent.is_empty() {
            let len = state.sent.len();
            let i = state.rng.gen_range(0..len);
            if let Some(sent) = state.sent.get(i).copied() {
                return self.reserve_request(sent, Intent::Retry);
            }
        }
        if draw >= mix.cancel + mix.retry
            && draw < mix.cancel + mix.retry + mix.conflict
            && !state.acked.is_empty()
        {
            let len = state.acked.len();
            let i = state.rng.gen_range(0..len);
            if let Some(ack) = state.acked.get(i).copied() {
                let quantity = if ack.quantity < MAX_QUANTITY {
                    ack.quantity + 1
                } else {
                    ack.quantity - 1
                };
                let sent = Sent {
                    key: ack.key,
                    buyer: ack.buyer,
                    zone: ack.zone,
                    quantity,
                };
                return self.reserve_request(sent, Intent::Conflict);
            }
        }
        let sent = self.fresh(seq, Some(&mut state));
        push_bounded(&mut state.sent, sent);
        drop(state);
        self.reserve_request(sent, Intent::New)
    }

    fn judge(&self, meta: &ReserveMeta, answer: &Answer) -> Verdict {
        match *meta {
            ReserveMeta::Cancel => match answer.status {
                StatusCode::OK => Verdict::ok("cancelled"),
                // The hold expired (or was cancelled) before the cancel arrived.
                _ => Verdict::refusal(answer, &["reservation_not_held"]),
            },
            ReserveMeta::Reserve {
                key,
                buyer,
                zone,
                quantity,
                intent,
            } => {
                if answer.status != StatusCode::CREATED {
                    return match intent {
                        Intent::Conflict => Verdict::refusal(answer, &["idempotency_key_reused"]),
                        Intent::New | Intent::Retry => Verdict::refusal(answer, &self.expected),
                    };
                }
                #[derive(serde::Deserialize)]
                struct Created {
                    id: Uuid,
                }
                let Ok(created) = serde_json::from_slice::<Created>(&answer.body) else {
                    return Verdict::error("created_without_id");
                };
                let ack = Ack {
                    key,
                    buyer,
                    zone,
                    quantity,
                    reservation: created.id,
                };
                let mut verdict = if intent == Intent::Conflict {
                    Verdict::error("reused_key_accepted")
                } else {
                    Verdict::ok("201")
                };
                verdict.ack = Some(ack);
                if !self.mix.is_plain() && intent == Intent::New {
                    push_bounded(&mut lock(&self.state).acked, ack);
                }
                verdict
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(mix: Mix) -> Reserve {
        Reserve::new(ReserveSpec {
            base: "http://127.0.0.1:1/",
            sale: "s",
            tokens: vec!["t0", "t1", "t2"],
            zones: vec!["a".into(), "b".into()],
            key_prefix: "run-".into(),
            mix,
            expected: vec!["sold_out"],
            seed: 7,
        })
        .unwrap()
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn fresh_reservations_rotate_buyers_and_zones_with_unique_keys() {
        let w = workload(Mix::plain(2));
        let mut seen = std::collections::HashSet::new();
        for seq in 0..6 {
            let (request, meta) = w.job(seq).unwrap();
            assert_eq!(
                request.uri(),
                "http://127.0.0.1:1/api/v1/sales/s/reservations"
            );
            assert_eq!(
                request.headers()["idempotency-key"],
                format!("run-{seq}").as_str()
            );
            let ReserveMeta::Reserve { buyer, zone, .. } = meta else {
                panic!("not a reserve")
            };
            seen.insert((buyer, zone));
        }
        assert_eq!(seen.len(), 6, "each buyer meets each zone");
    }

    #[test]
    fn answers_are_judged_by_status_and_problem_code() {
        let w = workload(Mix::plain(1));
        let (_, meta) = w.job(0).unwrap();
        let id = Uuid::new_v4();
        let created = w.judge(&meta, &answer(201, &format!(r#"{{"id":"{id}"}}"#)));
        assert_eq!(created.class, Class::Ok);
        assert_eq!(created.ack.unwrap().reservation, id);
        let sold_out = w.judge(&meta, &answer(409, r#"{"code":"sold_out"}"#));
        assert_eq!(
            (sold_out.class, sold_out.kind.as_ref()),
            (Class::Rejected, "sold_out")
        );
        let capped = w.judge(&meta, &answer(409, r#"{"code":"per_user_cap_reached"}"#));
        assert_eq!(capped.class, Class::Error, "not expected in this workload");
        let bad_gateway = w.judge(&meta, &answer(502, "oops"));
        assert_eq!(
            (bad_gateway.class, bad_gateway.kind.as_ref()),
            (Class::Error, "http_502")
        );
    }

    #[test]
    fn a_dirty_mix_retries_reuses_and_cancels_acknowledged_keys() {
        let w = workload(Mix {
            retry: 0.25,
            conflict: 0.25,
            cancel: 0.25,
            min_quantity: 1,
            max_quantity: 2,
        });
        let (mut retries, mut conflicts, mut cancels) = (0, 0, 0);
        for seq in 0..400 {
            let (request, meta) = w.job(seq).unwrap();
            match meta {
                ReserveMeta::Reserve {
                    intent: Intent::New,
                    ..
                } => {
                    let body = format!(r#"{{"id":"{}"}}"#, Uuid::new_v4());
                    w.judge(&meta, &answer(201, &body));
                }
                ReserveMeta::Reserve {
                    intent: Intent::Retry,
                    ..
                } => retries += 1,
                ReserveMeta::Reserve {
                    intent: Intent::Conflict,
                    ..
                } => {
                    conflicts += 1;
                    let refused =
                        w.judge(&meta, &answer(422, r#"{"code":"idempotency_key_reused"}"#));
                    assert_eq!(refused.class, Class::Rejected);
                    let accepted = w.judge(
                        &meta,
                        &answer(201, &format!(r#"{{"id":"{}"}}"#, Uuid::new_v4())),
                    );
                    assert_eq!(accepted.class, Class::Error);
                }
                ReserveMeta::Cancel => {
                    cancels += 1;
                    assert_eq!(request.method(), Method::DELETE);
                }
            }
        }
        assert!(
            retries > 50 && conflicts > 50 && cancels > 50,
            "{retries} {conflicts} {cancels}"
        );
    }
}
