//! uit-portal: the UIT collaboration backend for GB smart metering.

/// A closed set of snake_case strings, stored as TEXT and serialised as the same strings.
///
/// The type is its own diesel column type on both backends (`db::text`): a row field of this
/// type reads the stored text, and a stored value that is none of the variants fails the query
/// (a logged 500), never a silent default.
#[macro_export]
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        $crate::text_column!($name);

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod calendar;
pub mod catalogue;
pub mod claims;
pub mod config;
pub mod contacts;
pub mod db;
pub mod defect_masks;
pub mod device_sets;
pub mod estate;
pub mod events;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod matrix;
pub mod me;
pub mod notifications;
pub mod openapi;
pub mod ops;
pub mod organisations;
pub mod readiness;
pub mod releases;
pub mod results;
pub mod review_packs;
pub mod roadmaps;
pub mod scope;
pub mod seed;
pub mod telemetry;
#[path = "web/mod.rs"]
pub mod ui;
pub mod uit_issues;
pub mod windows;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use diesel::RunQueryDsl;
use tokio::sync::Notify;
use utoipa_actix_web::AppExt;

use crate::auth::password::PasswordHasher;
use crate::auth::tokens::Jwt;
use crate::config::Config;
use crate::db::Db;
use crate::http::extractor_errors::{json_error, path_error, query_error};
use crate::http::metrics::Metrics;
use crate::http::ratelimit::RateLimits;
use crate::mail::transport::Transport;

/// What every handler shares.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub jwt: Jwt,
    pub hasher: PasswordHasher,
    pub limits: RateLimits,
    pub metrics: Arc<Metrics>,
    /// Wakes the mail workers when a transaction queued an email.
    pub mail_wake: Arc<Notify>,
    /// Wakes the notification workers when notifications were queued.
    pub notification_wake: Arc<Notify>,
    /// Wakes the DPL import worker when an import was queued.
    pub estate_wake: Arc<Notify>,
    /// Set when the process is shutting down: background workers stop taking work.
    pub stopping: Arc<AtomicBool>,
    /// The key of the web forms' CSRF tokens, derived from the JWT secret (`ui::session`).
    pub web_key: [u8; 32],
    /// Matrix and coverage bodies already built, by window version and reader.
    pub grids: Arc<matrix::versions::GridCache>,
}

impl AppState {
    /// The shared state over a prepared database.
    pub fn new(config: Config, db: Db) -> anyhow::Result<Self> {
        let secret = jwt_secret(&config)?;
        let hash_permits = match config.password_hash_concurrency {
            0 => Config::cpus(),
            n => n,
        };
        Ok(Self {
            jwt: Jwt::new(
                &secret,
                &config.jwt_issuer,
                &config.jwt_audience,
                config.access_token_ttl_seconds as i64,
            ),
            hasher: PasswordHasher::new(hash_permits),
            limits: RateLimits::new(&config, db.clone()),
            metrics: Arc::new(Metrics::default()),
            mail_wake: Arc::new(Notify::new()),
            notification_wake: Arc::new(Notify::new()),
            estate_wake: Arc::new(Notify::new()),
            stopping: Arc::new(AtomicBool::new(false)),
            web_key: ui::session::derive_key(&secret),
            grids: Arc::new(matrix::versions::GridCache::new(config.grid_cache_mb * 1024 * 1024)),
            db,
            config,
        })
    }
}

/// The JWT secret: configured, or generated once and kept in the data directory.
fn jwt_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = config.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        anyhow::ensure!(existing.len() >= 32, "{} is shorter than 32 bytes", path.display());
        return Ok(existing.as_bytes().to_vec());
    }
    let secret = auth::tokens::new_secret("");
    bootstrap::write_private(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated a JWT signing secret");
    Ok(secret.into_bytes())
}

/// Connects, migrates and bootstraps the database (blocking; run before serving).
pub fn prepare_database(config: &Config) -> anyhow::Result<Db> {
    bootstrap::private_dir(&config.data_dir)?;
    let target = config.db_target().map_err(|e| anyhow::anyhow!("database_url: {e}"))?;
    if target.backend == db::Backend::Sqlite && !target.url.starts_with(':') && !target.url.starts_with("file:") {
        bootstrap::private_sqlite_file(std::path::Path::new(&target.url))?;
    }
    let db = Db::connect(target, config.database_pool_size)?;
    let mut conn = db.pool.get()?;
    // Instances starting together on one PostgreSQL take turns: migrations and the bootstrap
    // check-then-create must not interleave. (SQLite is single-host; its write lock suffices.)
    let locked = matches!(**conn, db::DbConn::Pg(_));
    if locked {
        diesel::sql_query(format!("SELECT pg_advisory_lock({STARTUP_LOCK})")).execute(&mut **conn)?;
    }
    let prepared = migrate_and_bootstrap(config, &mut conn);
    if locked {
        diesel::sql_query(format!("SELECT pg_advisory_unlock({STARTUP_LOCK})")).execute(&mut **conn)?;
    }
    prepared?;
    Ok(db)
}

/// The PostgreSQL advisory lock key held while migrating and bootstrapping.
const STARTUP_LOCK: i64 = 0x5549_5450; // "UITP"

fn migrate_and_bootstrap(config: &Config, conn: &mut db::DbConn) -> anyhow::Result<()> {
    let applied = db::migrations::run_pending(conn).map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    if let Some((created, file)) = bootstrap::ensure_operator(
        conn,
        &config.bootstrap_email,
        config.bootstrap_password.as_deref(),
        &config.data_dir,
    )? {
        match file {
            Some(path) => tracing::warn!(
                email = %created.admin.email,
                password_file = %path.display(),
                "created the operator organisation and its admin; the generated password is in the file"
            ),
            None => {
                tracing::info!(email = %created.admin.email, "created the operator organisation and its admin")
            }
        }
    }
    Ok(())
}

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Prepares the database, binds the listener (port 0 picks a free one) and starts the
    /// mail workers. Call from inside an actix system.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let state = start_state(config).await?;
        let listener = TcpListener::bind(&state.config.bind)?;
        let local = listener.local_addr()?;
        // The document is built once and served as bytes: Swagger UI's own handler would keep
        // a copy of the parsed document per worker (18 MB of the idle heap) and serialise it
        // at every request.
        let spec = web::Bytes::from(serde_json::to_vec(&openapi::spec())?);
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .openapi(openapi::base())
                .configure(openapi::routes)
                .split_for_parts();
            app.configure(|cfg| body_limits(cfg, &app_state))
                .configure(|cfg| openapi::docs(cfg, spec.clone()))
                .configure(ui::routes)
                .default_service(web::to(ui::not_found))
                .wrap(from_fn(auth::extractor::confirm_caller))
                .wrap(from_fn(http::middleware::observe))
        })
        .workers(match state.config.http_workers {
            0 => Config::cpus(),
            n => n,
        })
        .shutdown_timeout(state.config.shutdown_timeout_seconds)
        .listen(listener)?
        .run();

        start_background(&state)?;
        start_housekeeping(&state);
        announce(&state, local);
        Ok(Self {
            port: local.port(),
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until stopped (SIGTERM/SIGINT stop gracefully, letting requests finish).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Everything that runs besides HTTP: the mail outbox workers (`mail_workers`), the
/// notification fan-out, digests and delivery (`notification_workers`), the clocks and the
/// DPL import worker. One
/// transport, so its SMTP connection pool is shared.
fn start_background(state: &web::Data<AppState>) -> anyhow::Result<()> {
    let transport = Arc::new(Transport::from_config(&state.config)?);
    if state.config.mail_workers > 0 {
        let delivery = Arc::new(mail::outbox::runner(state, transport.clone())?);
        for _ in 0..state.config.mail_workers {
            actix_web::rt::spawn(delivery.clone().run());
        }
    }
    notifications::start(state, transport)?;
    windows::start_clock(state);
    catalogue::retirement::start_clock(state);
    contacts::start_clock(state);
    claims::lapse::start(state);
    estate::start(state);
    if state.config.public_url.starts_with("http://") && state.config.notification_workers > 0 {
        tracing::warn!(
            public_url = %state.config.public_url,
            "public_url is not https: List-Unsubscribe links in notification emails need https (RFC 8058)"
        );
    }
    Ok(())
}

/// The `worker` command: the background work of `serve` (mail outbox, notification fan-out,
/// digests and delivery, clocks) without HTTP, until SIGTERM or SIGINT. At least one
/// notification worker runs whatever `notification_workers` says.
pub async fn run_worker(mut config: Config) -> anyhow::Result<()> {
    config.notification_workers = config.notification_workers.max(1);
    let db = {
        let config = config.clone();
        actix_web::rt::task::spawn_blocking(move || prepare_database(&config)).await??
    };
    let state = web::Data::new(AppState::new(config, db)?);
    start_background(&state)?;
    tracing::info!(
        notification_workers = state.config.notification_workers,
        mail_workers = state.config.mail_workers,
        backend = ?state.db.backend,
        "worker running"
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping: finishing the sends in progress");
    state.stopping.store(true, Ordering::Relaxed);
    state.notification_wake.notify_waiters();
    // Workers finish the email they are sending and hand the rest of their batch back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

fn start_housekeeping(state: &web::Data<AppState>) {
    let state = state.clone();
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            if let Err(e) = state.limits.housekeep().await {
                tracing::warn!(error = %e, "rate-limit housekeeping failed");
            }
        }
    });
}

/// The database migrated and seeded, then the shared state, its password hasher warmed up.
async fn start_state(config: Config) -> anyhow::Result<web::Data<AppState>> {
    let prepared = actix_web::rt::task::spawn_blocking({
        let config = config.clone();
        move || prepare_database(&config)
    })
    .await??;
    ops::memory::trim_in_background();
    let state = web::Data::new(AppState::new(config, prepared)?);
    state.hasher.warm_up();
    Ok(state)
}

/// The state, and the limits and error shapes of request bodies, queries and paths.
fn body_limits(cfg: &mut web::ServiceConfig, state: &web::Data<AppState>) {
    cfg.app_data(state.clone())
        .app_data(
            web::JsonConfig::default()
                .limit(state.config.body_limit_bytes)
                .error_handler(json_error),
        )
        .app_data(web::PayloadConfig::new(state.config.body_limit_bytes))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error));
}

/// What a newcomer needs first: where the server answers and where its docs are.
fn announce(state: &AppState, local: std::net::SocketAddr) {
    let public = state.config.public_url.trim_end_matches('/');
    tracing::info!(
        port = local.port(),
        backend = ?state.db.backend,
        url = %format!("http://{local}"),
        docs = %format!("{public}/docs/"),
        spec = %format!("{public}/openapi.json"),
        "listening"
    );
}
