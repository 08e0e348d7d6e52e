//! The process: the HTTP listener, the dispatcher and the janitor, started together and
//! stopped together (SIGTERM or Ctrl-C: no new events are taken, running ones finish).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use tokio::sync::Notify;
use wharf_secrets::key::SecretKey;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::{Config, dispatch, hooks};

/// What every handler and task shares.
pub(crate) struct Shared {
    pub config: Config,
    pub db: Db,
    pub key: SecretKey,
    /// Woken when an event is queued.
    pub wake: Notify,
    /// The cancel handle of every running run, by project and run number.
    pub running: Running,
    /// Each project's run store, opened once (opening one runs its recovery and checks
    /// its schema: once per process is enough).
    pub stores: tokio::sync::Mutex<std::collections::HashMap<String, wharf_store::Store>>,
    /// The runs this server is running, for live-log followers.
    pub live: crate::live::Live,
    /// One permit per live-log follower, `max_followers` in all.
    pub followers: Arc<tokio::sync::Semaphore>,
    /// The dashboard's templates.
    pub pages: crate::ui::Pages,
    /// The series `/metrics` serves.
    pub metrics: crate::metrics::Metrics,
    /// Commit statuses on their way to the forge.
    pub statuses: crate::statuses::Statuses,
    /// One lock per project around its mirror (fetch, worktrees).
    pub git_locks: std::sync::Mutex<std::collections::HashMap<String, GitLock>>,
}

/// The lock around one project's mirror.
pub(crate) type GitLock = Arc<tokio::sync::Mutex<()>>;

impl Shared {
    /// Project `name`'s run store.
    pub async fn store(&self, name: &str) -> Result<wharf_store::Store> {
        let mut stores = self.stores.lock().await;
        if let Some(s) = stores.get(name) {
            return Ok(s.clone());
        }
        let store =
            wharf_store::Store::open(&crate::paths::state(&self.config.data_dir, name)).await?;
        stores.insert(name.to_string(), store.clone());
        Ok(store)
    }

    /// The lock around project `name`'s mirror.
    pub fn git_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.git_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(name.to_string()).or_default().clone()
    }
}

/// Cancel handles of running runs: bumping one cancels the run's jobs (as Ctrl-C does
/// under `wharf run`).
pub(crate) type Running = Arc<std::sync::Mutex<RunHandles>>;

/// The cancel handle of each running run, by project and run number.
pub(crate) type RunHandles =
    std::collections::HashMap<(String, u64), Arc<tokio::sync::watch::Sender<u32>>>;

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn serve(config: Config) -> Result<()> {
    let db = crate::admin::open(&config.data_dir).await?;
    // One server per data directory: a second one's start would take the first one's
    // running events for a dead server's, and retry them beside it.
    let lock_path = config.data_dir.join("serve.lock");
    let lock = std::fs::File::create(&lock_path).map_err(Error::io("create", &lock_path))?;
    if let Err(e) = lock.try_lock() {
        return Err(match e {
            std::fs::TryLockError::WouldBlock => Error::invalid(
                format!(
                    "another `wharf serve` is using the data directory {}",
                    config.data_dir.display()
                ),
                Some("stop it first, or give this server its own --data-dir"),
            ),
            std::fs::TryLockError::Error(e) => Error::io("lock", &lock_path)(e),
        });
    }
    let key = crate::admin::load_key(&config.data_dir, true)?;
    let metrics = crate::metrics::Metrics::new(config.metrics_token_file.as_deref())?;
    recover(&config, &db).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            Error::invalid(
                format!("cannot listen on {}: {e}", config.listen),
                Some("choose another port with --listen 127.0.0.1:PORT"),
            )
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::invalid(format!("no local address: {e}"), None))?;
    let followers = Arc::new(tokio::sync::Semaphore::new(config.max_followers));
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let shared = Arc::new(Shared {
        config,
        db,
        key,
        wake: Notify::new(),
        running: Running::default(),
        live: Default::default(),
        followers,
        pages: crate::ui::Pages::new()?,
        metrics,
        git_locks: Default::default(),
        stores: Default::default(),
        statuses: crate::statuses::Statuses::new(&public_url),
    });
    // Before anyone can ask for a deployment: none a stopped server left stays running.
    crate::deploys::reconcile_all(&shared).await;
    let info = serde_json::json!({ "pid": std::process::id(), "url": format!("http://{addr}") });
    let info_path = shared.config.data_dir.join("serve.json");
    std::fs::write(&info_path, info.to_string()).map_err(Error::io("write", &info_path))?;
    eprintln!(
        "wharf serve: listening on http://{addr} (data in {})",
        shared.config.data_dir.display()
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stop_signal().await;
        eprintln!("wharf serve: stopping: no new events are taken; running ones finish");
        let _ = stop_tx.send(true);
    });
    let workers = dispatch::start(shared.clone(), stop_rx.clone());
    let janitor = tokio::spawn(janitor(shared.clone(), stop_rx.clone()));
    let poller = tokio::spawn(crate::poll::run(shared.clone(), stop_rx.clone()));
    let statuses = tokio::spawn(crate::statuses::run(shared.clone(), stop_rx.clone()));
    let scheduler = tokio::spawn(crate::schedule::run(shared.clone(), stop_rx.clone()));
    let served = accept(listener, router(shared.clone()), stop_rx.clone()).await;
    for w in workers {
        let _ = w.await;
    }
    let _ = janitor.await;
    let _ = poller.await;
    let _ = statuses.await;
    let _ = scheduler.await;
    served
}

/// How long a client may take to send a request's headers: a client that trickles them
/// (slowloris) is cut off instead of holding a connection forever.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves connections until `stop` turns true: each on its own task, HTTP/1.1 with a
/// header timeout (`axum::serve` sets none).
async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors, a reset before accept: the next one may work.
                Err(e) => {
                    eprintln!("wharf serve: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        // Handlers that record who did what take the client's address as `ConnectInfo`.
        let service = hyper_util::service::TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // A client that went away or timed out is its own business.
            let _ = conn.await;
        });
    }
}

/// SIGTERM or Ctrl-C.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// What a dead server left: events that had started nothing go back to the queue; the
/// runs of the others are marked interrupted (by their stores' recovery: their owner is
/// gone), and each is re-run (its unfinished jobs, reusing the finished ones) as a new
/// attempt while the event has attempts left.
async fn recover(config: &Config, db: &Db) -> Result<()> {
    let (requeued, interrupted) = db.interrupted(crate::now()).await?;
    if requeued > 0 {
        eprintln!("wharf serve: {requeued} event(s) that had not started a run are queued again");
    }
    for e in interrupted {
        let store =
            wharf_store::Store::open(&crate::paths::state(&config.data_dir, &e.project)).await?;
        for &run in &e.runs {
            let Some(rec) = store.get_run(run).await? else {
                continue;
            };
            if rec.summary.status == wharf_model::RunStatus::Success {
                continue;
            }
            if e.attempt >= config.interrupted_attempts {
                eprintln!(
                    "wharf serve: {}: run {run} was interrupted by the server's stop; attempt {} of {}: not retried",
                    e.project, e.attempt, config.interrupted_attempts
                );
                continue;
            }
            let id = db
                .enqueue_rerun(
                    &e.project,
                    &rec.summary.event,
                    run,
                    crate::db::Source::Retry,
                    e.attempt + 1,
                    crate::now(),
                )
                .await?;
            eprintln!(
                "wharf serve: {}: run {run} was interrupted by the server's stop: its unfinished jobs run again as event {id} (attempt {} of {})",
                e.project,
                e.attempt + 1,
                config.interrupted_attempts
            );
        }
    }
    Ok(())
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/hooks/{project}", post(hooks::receive))
        .route("/metrics", axum::routing::get(crate::metrics::scrape))
        .route("/healthz", axum::routing::get(crate::health::healthz))
        .route("/readyz", axum::routing::get(crate::health::readyz))
        .nest("/api/v1", crate::api::routes())
        .merge(crate::ui::routes())
        // The webhook handler reads its body itself, with its own cap and JSON 413.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

/// Forgets delivery ids past the dedup window, hourly.
async fn janitor(s: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let before = crate::now() - s.config.dedup_window.as_millis() as i64;
        if let Err(e) = s.db.forget_deliveries(before).await {
            eprintln!("wharf serve: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
