//! Binding, serving with graceful shutdown, and the standard HTTP layers.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router, ServiceExt,
    extract::{DefaultBodyLimit, Request},
    http::HeaderName,
    middleware,
    response::{IntoResponse, Response},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{config::HttpConfig, problem::Problem};

/// Header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Connections the kernel may hold fully open before the server accepts them (it caps this at
/// `net.core.somaxconn`). A sale's opening connects thousands of buyers at once; past the queue,
/// the kernel drops their handshakes and each retries a second or more later. A listener from
/// tokio's `TcpListener::bind` queued 129 on this project's Linux hosts.
pub const ACCEPT_BACKLOG: u32 = 8_192;

/// Binds the listener; port 0 picks a free port.
pub async fn bind(config: &HttpConfig) -> std::io::Result<TcpListener> {
    listen(&config.host, config.port).await
}

/// Binds `host:port` with an accept queue of [`ACCEPT_BACKLOG`]; port 0 picks a free port.
pub async fn listen(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let mut last = None;
    for address in tokio::net::lookup_host((host, port)).await? {
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket
            .bind(address)
            .and_then(|()| socket.listen(ACCEPT_BACKLOG))
        {
            Ok(listener) => return Ok(listener),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{host} names no address"),
        )
    }))
}

/// Adds the not-found fallback and request metrics to every route of `router`; [`serve`] adds the
/// rest of the standard layers around the whole router.
///
/// Metrics are the one standard layer applied per route: they label requests with the route the
/// router matched, which only exists once it has routed. Every layer applied this way wraps each
/// route in one more boxed service, cloned on every request, so the others go around the router
/// once instead (see `tests/load/optimisations.md`).
pub fn with_standard_layers(router: Router) -> Router {
    router
        .fallback(crate::problem::fallback_not_found)
        .layer(middleware::from_fn_with_state(
            Arc::new(crate::metrics::HttpMetrics::default()),
            crate::metrics::track_http,
        ))
}

/// The span of one request: method, path and request id.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
}

/// The answer to a handler that panicked.
fn panicked(_: Box<dyn std::any::Any + Send>) -> Response {
    tracing::error!("handler panicked");
    Problem::internal().into_response()
}

/// Serves until `shutdown` is cancelled, then drains in-flight requests. Around the whole router:
/// request ids (set when missing, echoed on the answer), a trace span, panic-to-500 and the body
/// limit.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .service(router);
    axum::serve(
        listener,
        ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            () = term => {},
            () = token.cancelled() => return,
        }
        tracing::info!("shutdown signal received");
        token.cancel();
    });
}

/// How long background tasks get to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Waits up to [`SHUTDOWN_GRACE`] for background tasks told to stop, then aborts the rest.
pub async fn join_within_grace(mut tasks: tokio::task::JoinSet<()>) {
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("background tasks did not stop in time; aborting them");
        tasks.abort_all();
    }
}
