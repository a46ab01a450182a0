//! `chatterbox serve`: open (creating and migrating) the database, bind, and run until SIGINT or
//! SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{chat::Chat, cli::ServeArgs, config::ServeConfig, http::AppState};

use super::Database;

pub fn run(db: Database, args: ServeArgs) -> anyhow::Result<()> {
    crate::logging::init(args.log_format, "info");
    let config = ServeConfig::from_args(&args, std::env::var("CHATTERBOX_JWT_SECRET").ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chatterbox")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(db, config))
}

async fn serve(db: Database, config: ServeConfig) -> anyhow::Result<()> {
    let target = db.clone();
    let (store, applied) = tokio::task::spawn_blocking(move || super::open_and_migrate(&target))
        .await?
        .with_context(|| format!("cannot open the database {db}"))?;
    for m in &applied {
        tracing::info!(migration = %m.label(), "applied migration");
    }
    let (auto_join, rooms_store) = (config.auto_join.clone(), Arc::clone(&store));
    tokio::task::spawn_blocking(move || crate::chat::rooms::set_auto_join(&*rooms_store, &auto_join))
        .await?
        .map_err(|e| match e {
            crate::chat::ChatError::RoomNotFound => {
                anyhow::anyhow!(
                    "--auto-join names a room that does not exist (create it with `chatterbox room create`)"
                )
            }
            other => anyhow::anyhow!("--auto-join: {other}"),
        })?;
    let (chat_config, secret, matcher) = (config.chat, config.secret, config.matcher);
    let chat =
        tokio::task::spawn_blocking(move || Chat::start(store, chat_config, secret, matcher)).await??;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(database = %db, "listening on http://{addr}");
    let shutdown = CancellationToken::new();
    if let Some(at) = config.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(at)
            .await
            .with_context(|| format!("cannot listen on {at} for --metrics-listen"))?;
        tracing::info!("metrics on http://{}/metrics", metrics.local_addr()?);
        tokio::spawn(crate::http::metrics::serve(metrics, Arc::clone(&chat), shutdown.child_token()));
    }
    let state = Arc::new(AppState { chat, http: config.http, shutdown, sockets: TaskTracker::new() });
    crate::server::run(listener, state, config.server, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("received SIGINT"),
        _ = term => tracing::info!("received SIGTERM"),
    }
}
