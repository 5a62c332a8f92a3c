//! A stateful stand-in for Meta: the Graph API (Instagram and Facebook hosts), the
//! OAuth dialogs and code exchanges, and the webhook sender, on one HTTP server on
//! 127.0.0.1. Each Meta host is a path prefix (`{base}/graph.instagram.com/v26.0/me`).
//!
//! It plays Meta with Meta's rules, so tests exercise real behaviour: codes are single
//! use, tokens expire and refresh only when Meta allows, the messaging window closes,
//! containers take polls to finish and publish once, quotas run out, webhooks are
//! signed over Meta's escaped encoding. A controllable clock drives every expiry.
//! Tests steer it through the admin API under `/_sim/` (see the README).
//!
//! ```no_run
//! # async fn demo() -> Result<(), meta_sim::SimError> {
//! let sim = meta_sim::MetaSim::start(meta_sim::SimConfig::default()).await?;
//! let graph = format!("{}/graph.instagram.com/v26.0", sim.base_url());
//! # let _ = graph;
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod graph_error;
pub mod routes;
pub mod state;
pub mod webhook;

pub use config::SimConfig;

use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running simulator. Dropping it (or [`MetaSim::shutdown`]) stops the server.
pub struct MetaSim {
    base_url: String,
    addr: SocketAddr,
    config: SimConfig,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MetaSim {
    /// Starts a simulator on 127.0.0.1 with a free port.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a simulator on `addr` (the binary uses this for `--port`).
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> Result<Self, SimError> {
        let config = config.resolved();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let base_url = format!("http://{addr}");
        let app = routes::App::new(state::SimState::new(config.clone(), base_url.clone()));
        let router = routes::router(app);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    // Either an explicit shutdown or the handle being dropped.
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "meta simulator stopped with an error");
            }
        });
        tracing::info!(%base_url, "meta simulator listening");
        Ok(Self {
            base_url,
            addr,
            config,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, the root every Meta host prefix hangs off.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration in force, with derived defaults filled in (the webhook
    /// secret is the Instagram app secret unless set).
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Stops accepting connections and waits for the server task to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MetaSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
