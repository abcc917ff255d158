//! The load client: HTTP/1.1 keep-alive connections in a pool sized for the rate.

use std::{sync::Arc, time::Duration};

use http_body_util::Full;
use hyper::{
    Request, StatusCode, Uri,
    body::Bytes,
    header::{HeaderValue, USER_AGENT},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use crate::wire::Wire;

/// A request body.
pub type Body = Full<Bytes>;

/// An answer from the server, body read in full.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Body.
    pub body: Bytes,
}

/// Why no answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing within the request timeout.
    Timeout,
    /// The connection failed or broke.
    Transport,
}

impl Failure {
    /// The outcome kind reported for it.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Transport => "transport",
        }
    }
}

/// The User-Agent of every request the tool sends.
pub const AGENT: &str = concat!("booking-rush-loadgen/", env!("CARGO_PKG_VERSION"));

/// A pooled keep-alive client with a per-request timeout: whole answers are read through
/// [`Wire`], streams (`open`) through hyper.
#[derive(Clone)]
pub struct LoadClient {
    wire: Arc<Wire>,
    client: Client<HttpConnector, Body>,
    timeout: Duration,
}

impl LoadClient {
    /// A client keeping up to `connections` idle connections per host.
    pub fn new(connections: usize, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Self {
            wire: Arc::new(Wire::new(connections)),
            client,
            timeout,
        }
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends a request and reads the whole answer, within the timeout.
    pub async fn send(&self, mut request: Request<Body>) -> Result<Answer, Failure> {
        request
            .headers_mut()
            .insert(USER_AGENT, HeaderValue::from_static(AGENT));
        match tokio::time::timeout(self.timeout, self.wire.exchange(request)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(Failure::Transport),
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// Sends a request and returns the answer's head and its body unread (for a stream such as
    /// server-sent events); the timeout covers the head only.
    pub async fn open(
        &self,
        mut request: Request<Body>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, Failure> {
        request
            .headers_mut()
            .insert(USER_AGENT, HeaderValue::from_static(AGENT));
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(Failure::Transport),
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// Opens up to `connections` keep-alive connections by sending that many concurrent `GET`s to
    /// `uri`, so the measurement does not pay for connection set-up. Returns how many answered.
    pub async fn warm_up(&self, uri: &Uri, connections: usize) -> usize {
        let sends = (0..connections).map(|_| {
            let request = Request::get(uri.clone()).body(Body::default());
            async move {
                match request {
                    Ok(request) => self.send(request).await.is_ok(),
                    Err(_) => false,
                }
            }
        });
        futures::future::join_all(sends)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count()
    }
}

/// Reads the stable `code` of a problem+json body, if it is one.
pub fn problem_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Problem {
        code: String,
    }
    serde_json::from_slice::<Problem>(body).ok().map(|p| p.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_code_is_read_and_anything_else_is_not() {
        assert_eq!(
            problem_code(br#"{"type":"about:blank","status":409,"code":"sold_out"}"#).as_deref(),
            Some("sold_out")
        );
        assert_eq!(problem_code(b"<html>bad gateway</html>"), None);
    }
}
