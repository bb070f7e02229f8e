//! HTTP endpoints: `/metrics` (OpenMetrics), `/healthz` (the process runs) and `/readyz` (the
//! controllers' caches are synced and, with leader election, this replica may lead or stand by).

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    ready: watch::Receiver<bool>,
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/plain")],
            String::new(),
        ),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if *state.ready.borrow() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Serves `/metrics` on `metrics_addr` and `/healthz`, `/readyz` on `health_addr` (the same
/// listener when the addresses are equal) until `shutdown` resolves.
pub async fn serve(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    registry: Arc<Registry>,
    ready: watch::Receiver<bool>,
    shutdown: impl std::future::Future<Output = ()> + Send + Clone + 'static,
) -> std::io::Result<()> {
    let state = AppState { registry, ready };
    let health = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let metrics_router = Router::new().route("/metrics", get(metrics));
    if metrics_addr == health_addr {
        let app = health.merge(metrics_router).with_state(state);
        let listener = tokio::net::TcpListener::bind(metrics_addr).await?;
        return axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    }
    let m = tokio::net::TcpListener::bind(metrics_addr).await?;
    let h = tokio::net::TcpListener::bind(health_addr).await?;
    let (a, b) = tokio::join!(
        axum::serve(m, metrics_router.with_state(state.clone())).with_graceful_shutdown(shutdown.clone()),
        axum::serve(h, health.with_state(state)).with_graceful_shutdown(shutdown),
    );
    a.and(b)
}
