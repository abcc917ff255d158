//! The proxy handler: check the token, clean the headers, stream to the upstream and back.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use shared::{auth::TokenVerifier, problem::Problem};

use crate::{
    config::GatewayConfig,
    metrics::{Outcome, ProxyMetrics},
    rate_limit::RateLimiter,
};

/// What the proxy handler needs; shared behind one `Arc`, so a request clones one pointer.
pub struct ProxyState {
    /// Settings and routing table.
    pub config: Arc<GatewayConfig>,
    /// Pooled keep-alive client.
    pub client: Client<HttpConnector, Body>,
    /// Token verification.
    pub verifier: Arc<TokenVerifier>,
    /// Rate limits.
    pub limiter: RateLimiter,
    /// Requests by route and outcome.
    pub metrics: ProxyMetrics,
}

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1). Built at compile time,
/// so removing them does not parse nine names per request.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// The chain of client addresses, as the gateway saw it.
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// The scheme the client used.
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Whether a client-sent header claims an identity; such headers never reach an upstream.
fn is_identity_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    [
        "x-user",
        "x-auth",
        "x-forwarded-user",
        "x-remote-user",
        "x-client-id",
        "x-roles",
        "x-role",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
        || name == "remote-user"
}

/// Removes hop-by-hop and identity headers, and sets the forwarding headers.
fn clean_headers(headers: &mut HeaderMap, client: std::net::IpAddr, peer_trusted: bool) {
    let named_in_connection: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|v| HeaderName::try_from(v.trim()).ok())
        .collect();
    for name in named_in_connection {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    let identity: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_identity_header(n))
        .cloned()
        .collect();
    for name in identity {
        headers.remove(name);
    }
    // A chain from an untrusted client is its own claim: start over with what we saw.
    let forwarded = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(chain) if peer_trusted => format!("{chain}, {client}"),
        _ => client.to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
}

/// Proxies any request that matches a route.
pub async fn proxy(
    State(state): State<Arc<ProxyState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let Some(target) = state.config.upstreams.route(request.uri().path()) else {
        return Problem::not_found("route_not_found", "no such route").into_response();
    };
    let client_ip =
        shared::net::client_ip(peer.ip(), request.headers(), &state.config.trusted_proxies);
    // The rate-limit caller: the verified user, else the client's address.
    let mut user = None;
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        match state.verifier.verify(token).await {
            Ok(claims) => user = Some(claims.sub),
            Err(err) => {
                tracing::debug!(error = %err, "token refused at the gateway");
                state.metrics.count(target.route, Outcome::InvalidToken);
                return Problem::unauthenticated(
                    "invalid_token",
                    "the access token is invalid or expired",
                )
                .into_response();
            }
        }
    }
    let caller = match user {
        Some(sub) => ["user:", sub.hyphenated().encode_lower(&mut [0; 36])].concat(),
        None => format!("ip:{client_ip}"),
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.config.max_body_bytes) {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "Body too large",
        )
        .with_detail(format!(
            "the body may be at most {} bytes",
            state.config.max_body_bytes
        ))
        .into_response();
    }
    let decision = state.limiter.check(target.route, &caller).await;
    if let Some(decision) = decision.filter(|d| !d.allowed) {
        state.metrics.count(target.route, Outcome::RateLimited);
        let mut response = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
        )
        .with_detail("slow down; see Retry-After")
        .with_retry_after(decision.retry_after)
        .into_response();
        decision.write_headers(response.headers_mut());
        return response;
    }
    let peer_trusted = state
        .config
        .trusted_proxies
        .iter()
        .any(|net| net.contains(&peer.ip()));
    let (mut parts, body) = request.into_parts();
    clean_headers(&mut parts.headers, client_ip, peer_trusted);
    parts.uri = match [target.base.as_str(), &path_and_query]
        .concat()
        .parse::<Uri>()
    {
        Ok(uri) => uri,
        Err(_) => {
            return Problem::bad_request("invalid_path", "the path cannot be forwarded")
                .into_response();
        }
    };
    parts.headers.remove(header::HOST);
    // Bodies without a declared length are cut off at the limit too.
    let body = Body::new(http_body_util::Limited::new(
        body,
        state.config.max_body_bytes as usize,
    ));
    let upstream = Request::from_parts(parts, body);

    let answered = tokio::time::timeout(
        state.config.timeouts.of(target.route),
        state.client.request(upstream),
    )
    .await;
    let (response, outcome) = match answered {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            for name in &HOP_BY_HOP {
                parts.headers.remove(name);
            }
            (Response::from_parts(parts, Body::new(body)), Outcome::Ok)
        }
        Ok(Err(err)) => {
            tracing::warn!(route = target.route, error = %err, "upstream unreachable");
            let problem = Problem::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "Bad gateway",
            )
            .with_detail("the service behind this route cannot be reached")
            .with_retry_after(1);
            (problem.into_response(), Outcome::BadGateway)
        }
        Err(_) => {
            tracing::warn!(route = target.route, "upstream timed out");
            let problem = Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "Gateway timeout",
            )
            .with_detail("the service behind this route did not answer in time");
            (problem.into_response(), Outcome::Timeout)
        }
    };
    state
        .metrics
        .count_upstream(target.route, outcome, started.elapsed().as_secs_f64());
    let mut response = response;
    if let Some(decision) = decision {
        decision.write_headers(response.headers_mut());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_hop_by_hop_headers_are_removed() {
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("x-user-id", "admin"),
            ("X-Auth-Role", "admin"),
            ("x-forwarded-user", "root"),
            ("connection", "close, x-secret"),
            ("x-secret", "s"),
            ("authorization", "Bearer t"),
            ("x-forwarded-for", "6.6.6.6"),
        ] {
            headers.insert(
                HeaderName::try_from(k).unwrap(),
                HeaderValue::from_static(v),
            );
        }
        clean_headers(&mut headers, "1.2.3.4".parse().unwrap(), false);
        for gone in [
            "x-user-id",
            "x-auth-role",
            "x-forwarded-user",
            "connection",
            "x-secret",
        ] {
            assert!(!headers.contains_key(gone), "{gone} kept");
        }
        assert_eq!(headers["authorization"], "Bearer t");
        assert_eq!(headers["x-forwarded-for"], "1.2.3.4");
    }
}
