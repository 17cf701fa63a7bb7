//! Typed settings: defaults < optional TOML file < `PORTAL_*` environment variables.
//! Secrets may also come from files (`PORTAL_<NAME>_FILE`). Invalid settings stop start-up
//! with a message that names the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::db::DbTarget;

/// Every setting, with its default. Environment names are `PORTAL_` + the upper-cased field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// Public base URL, used in emails and links.
    pub public_url: String,
    /// Directory for the SQLite file, generated secrets and file-mail.
    pub data_dir: PathBuf,
    /// `sqlite://<path>` or `postgres://...`; default `sqlite://<data_dir>/portal.db`.
    pub database_url: Option<String>,
    pub database_url_file: Option<PathBuf>,
    pub database_pool_size: u32,
    /// SQLite `synchronous`: `normal` or `full`.
    pub sqlite_synchronous: String,
    /// HMAC secret for access tokens (at least 32 bytes); generated into the data dir when unset.
    pub jwt_secret: Option<String>,
    pub jwt_secret_file: Option<PathBuf>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl_seconds: u64,
    pub refresh_token_ttl_days: u64,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Largest accepted DPL upload (streamed to disk, so not held in memory).
    pub estate_import_limit_bytes: u64,
    /// `file` (writes .eml into `mail_dir`), `smtp` or `memory` (tests only).
    pub mail_transport: String,
    /// Default `<data_dir>/mail`.
    pub mail_dir: Option<PathBuf>,
    /// e.g. `smtp://user:pass@host:587?tls=required` or `smtps://host:465`.
    pub smtp_url: Option<String>,
    pub smtp_url_file: Option<PathBuf>,
    pub smtp_pool_size: u32,
    pub mail_from: String,
    /// Mail delivery workers inside `serve` (0 turns delivery off).
    pub mail_workers: u32,
    pub mail_poll_interval_ms: u64,
    pub mail_max_attempts: i32,
    /// `pretty` or `json`.
    pub log_format: String,
    /// A tracing filter, e.g. `info` or `uit_portal=debug,info`.
    pub log_level: String,
    pub bootstrap_email: String,
    pub bootstrap_password: Option<String>,
    pub bootstrap_password_file: Option<PathBuf>,
    pub login_rate_per_account_per_minute: u32,
    pub login_rate_per_address_per_minute: u32,
    /// Password-reset requests per requested account per hour (a bucket of its own, so
    /// flooding resets cannot lock the account out of login).
    pub password_reset_rate_per_account_per_hour: u32,
    /// Password-reset requests per client address per hour.
    pub password_reset_rate_per_address_per_hour: u32,
    /// Current-password checks (`PATCH /me` changing the password) per user per hour.
    pub password_check_rate_per_user_per_hour: u32,
    /// Anonymous subscription requests (each emails a confirmation) per client address per hour.
    pub subscription_rate_per_address_per_hour: u32,
    /// Anonymous subscription requests per mailbox per hour.
    pub subscription_rate_per_mailbox_per_hour: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Concurrent argon2 hashes (threads of low CPU priority); 0 means the number of CPUs.
    pub password_hash_concurrency: usize,
    /// HTTP worker threads; 0 means the number of CPUs.
    pub http_workers: usize,
    pub shutdown_timeout_seconds: u64,
    /// How often UIT windows are checked for opening, closing soon and closing (0 turns it off).
    pub window_clock_interval_seconds: u64,
    /// How long before `closes_at` a window counts as closing soon.
    pub window_closing_soon_hours: i64,
    /// When N+1 is deployed, the old N-1 retires this many days later (with N+1 as successor).
    pub retirement_notice_days: i64,
    /// Days a claim lives without a result, for windows scheduled without `claim_ttl_days`.
    pub claim_ttl_days: i64,
    /// Notification delivery workers inside `serve`, each sending over its own pooled SMTP
    /// connection; 0 turns notification fan-out, digests and delivery off on this instance.
    pub notification_workers: u32,
    /// Notifications one worker leases and sends at a time.
    pub notification_batch_size: i64,
    /// How long a leased batch belongs to its worker; a crashed worker's rows are retried after it.
    pub notification_lease_seconds: i64,
    /// The hour (UTC) after the end of a day at which that day's digests are sent.
    pub notification_digest_hour: u32,
    /// Memory for matrix and coverage bodies kept between requests (MiB; 0 keeps none).
    pub grid_cache_mb: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://localhost:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_url_file: None,
            database_pool_size: 8,
            sqlite_synchronous: "normal".into(),
            jwt_secret: None,
            jwt_secret_file: None,
            jwt_issuer: "uit-portal".into(),
            jwt_audience: "uit-portal-api".into(),
            access_token_ttl_seconds: 900,
            refresh_token_ttl_days: 30,
            body_limit_bytes: 2 * 1024 * 1024,
            estate_import_limit_bytes: 512 * 1024 * 1024,
            mail_transport: "file".into(),
            mail_dir: None,
            smtp_url: None,
            smtp_url_file: None,
            smtp_pool_size: 4,
            mail_from: "UIT Portal <no-reply@uit-portal.localhost>".into(),
            mail_workers: 1,
            mail_poll_interval_ms: 2000,
            mail_max_attempts: 8,
            log_format: "pretty".into(),
            log_level: "info".into(),
            bootstrap_email: "admin@uit-portal.localhost".into(),
            bootstrap_password: None,
            bootstrap_password_file: None,
            login_rate_per_account_per_minute: 10,
            login_rate_per_address_per_minute: 60,
            password_reset_rate_per_account_per_hour: 5,
            password_reset_rate_per_address_per_hour: 30,
            password_check_rate_per_user_per_hour: 10,
            subscription_rate_per_address_per_hour: 20,
            subscription_rate_per_mailbox_per_hour: 5,
            trust_forwarded_for: false,
            password_hash_concurrency: 0,
            http_workers: 0,
            shutdown_timeout_seconds: 30,
            window_clock_interval_seconds: 30,
            window_closing_soon_hours: 72,
            retirement_notice_days: 90,
            claim_ttl_days: 21,
            notification_workers: 16,
            notification_batch_size: 50,
            notification_lease_seconds: 120,
            notification_digest_hour: 7,
            grid_cache_mb: 16,
        }
    }
}

/// A configuration error naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting} (PORTAL_{env}): {message}")]
pub struct ConfigError {
    pub setting: String,
    pub env: String,
    pub message: String,
}

fn invalid(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        env: setting.to_ascii_uppercase(),
        message: message.into(),
    }
}

impl Config {
    /// Loads defaults, then `file` (when given, or `PORTAL_CONFIG`), then `PORTAL_*`.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("PORTAL_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            if !path.exists() {
                return Err(invalid("config", format!("file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("PORTAL_").ignore(&["config"]));
        let mut config: Config = figment.extract().map_err(|e| {
            let setting = e.path.last().cloned().unwrap_or_else(|| "config".into());
            invalid(&setting, e.kind.to_string())
        })?;
        config.resolve_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    /// `*_file` settings name a file whose (trimmed) contents are the secret.
    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        fn read(setting: &str, path: &Option<PathBuf>, target: &mut Option<String>) -> Result<(), ConfigError> {
            if let Some(path) = path {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| invalid(setting, format!("cannot read {}: {e}", path.display())))?;
                *target = Some(text.trim().to_string());
            }
            Ok(())
        }
        read("jwt_secret_file", &self.jwt_secret_file, &mut self.jwt_secret)?;
        read("smtp_url_file", &self.smtp_url_file, &mut self.smtp_url)?;
        read("database_url_file", &self.database_url_file, &mut self.database_url)?;
        read(
            "bootstrap_password_file",
            &self.bootstrap_password_file,
            &mut self.bootstrap_password,
        )?;
        Ok(())
    }

    /// Checks every setting that could otherwise fail later, naming it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bind
            .parse::<SocketAddr>()
            .map_err(|e| invalid("bind", format!("{e} (expected host:port)")))?;
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(invalid("public_url", "must start with http:// or https://"));
        }
        self.db_target().map_err(|m| invalid("database_url", m))?;
        if !(1..=512).contains(&self.database_pool_size) {
            return Err(invalid("database_pool_size", "must be between 1 and 512"));
        }
        if !matches!(self.sqlite_synchronous.to_ascii_lowercase().as_str(), "normal" | "full") {
            return Err(invalid("sqlite_synchronous", "must be normal or full"));
        }
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < 32 {
                return Err(invalid("jwt_secret", "must be at least 32 bytes"));
            }
        }
        if !(30..=86_400).contains(&self.access_token_ttl_seconds) {
            return Err(invalid("access_token_ttl_seconds", "must be between 30 and 86400"));
        }
        if !(1..=365).contains(&self.refresh_token_ttl_days) {
            return Err(invalid("refresh_token_ttl_days", "must be between 1 and 365"));
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.body_limit_bytes) {
            return Err(invalid("body_limit_bytes", "must be between 1024 and 268435456"));
        }
        if !(1024..=64 * 1024 * 1024 * 1024).contains(&self.estate_import_limit_bytes) {
            return Err(invalid(
                "estate_import_limit_bytes",
                "must be between 1024 and 68719476736",
            ));
        }
        match self.mail_transport.as_str() {
            "file" | "memory" => {}
            "smtp" => {
                let url = self.smtp_url.as_deref().unwrap_or("");
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    return Err(invalid(
                        "smtp_url",
                        "mail_transport is smtp: set an smtp:// or smtps:// URL",
                    ));
                }
            }
            _ => return Err(invalid("mail_transport", "must be file, smtp or memory")),
        }
        self.mail_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| invalid("mail_from", format!("not a mailbox: {e}")))?;
        if !(1..=100).contains(&self.mail_max_attempts) {
            return Err(invalid("mail_max_attempts", "must be between 1 and 100"));
        }
        if !matches!(self.log_format.as_str(), "pretty" | "json") {
            return Err(invalid("log_format", "must be pretty or json"));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level).map_err(|e| invalid("log_level", e.to_string()))?;
        if !crate::http::validate::is_email(&self.bootstrap_email) {
            return Err(invalid("bootstrap_email", "must be an email address"));
        }
        if let Some(p) = &self.bootstrap_password {
            if p.chars().count() < 12 {
                return Err(invalid("bootstrap_password", "must be at least 12 characters"));
            }
        }
        if !(1..=24 * 30).contains(&self.window_closing_soon_hours) {
            return Err(invalid("window_closing_soon_hours", "must be between 1 and 720"));
        }
        if !(1..=3650).contains(&self.retirement_notice_days) {
            return Err(invalid("retirement_notice_days", "must be between 1 and 3650"));
        }
        if !(crate::claims::lapse::MIN_TTL_DAYS..=crate::claims::lapse::MAX_TTL_DAYS).contains(&self.claim_ttl_days) {
            return Err(invalid("claim_ttl_days", "must be between 3 and 365"));
        }
        if !(1..=1000).contains(&self.notification_batch_size) {
            return Err(invalid("notification_batch_size", "must be between 1 and 1000"));
        }
        if !(2..=3600).contains(&self.notification_lease_seconds) {
            return Err(invalid("notification_lease_seconds", "must be between 2 and 3600"));
        }
        if self.notification_digest_hour > 23 {
            return Err(invalid("notification_digest_hour", "must be between 0 and 23"));
        }
        if self.notification_workers > 64 {
            return Err(invalid("notification_workers", "must be between 0 and 64"));
        }
        if self.login_rate_per_account_per_minute == 0 || self.login_rate_per_address_per_minute == 0 {
            return Err(invalid("login_rate_per_account_per_minute", "rates must be at least 1"));
        }
        for (setting, rate) in [
            (
                "password_reset_rate_per_account_per_hour",
                self.password_reset_rate_per_account_per_hour,
            ),
            (
                "password_reset_rate_per_address_per_hour",
                self.password_reset_rate_per_address_per_hour,
            ),
            (
                "password_check_rate_per_user_per_hour",
                self.password_check_rate_per_user_per_hour,
            ),
            (
                "subscription_rate_per_address_per_hour",
                self.subscription_rate_per_address_per_hour,
            ),
            (
                "subscription_rate_per_mailbox_per_hour",
                self.subscription_rate_per_mailbox_per_hour,
            ),
        ] {
            if rate == 0 {
                return Err(invalid(setting, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The database to use.
    pub fn db_target(&self) -> Result<DbTarget, String> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("portal.db").display()),
        };
        DbTarget::parse(&url, &self.sqlite_synchronous)
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.mail_dir.clone().unwrap_or_else(|| self.data_dir.join("mail"))
    }

    pub fn cpus() -> usize {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_toml_file_overrides_defaults_and_secret_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let secret = write(dir.path(), "jwt", "  0123456789abcdef0123456789abcdef-from-file\n");
        let file = write(
            dir.path(),
            "portal.toml",
            &format!(
                "bind = \"0.0.0.0:9000\"\nlog_format = \"json\"\ndatabase_pool_size = 3\njwt_secret_file = {:?}\n",
                secret.display().to_string()
            ),
        );
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.bind, "0.0.0.0:9000");
        assert_eq!(config.log_format, "json");
        assert_eq!(config.database_pool_size, 3);
        assert_eq!(
            config.jwt_secret.as_deref(),
            Some("0123456789abcdef0123456789abcdef-from-file")
        );
        assert_eq!(config.mail_transport, "file", "untouched settings keep their defaults");
    }

    #[test]
    fn bad_values_name_their_setting() {
        let dir = tempfile::tempdir().unwrap();
        for (toml, setting) in [
            ("database_pool_size = \"lots\"", "database_pool_size"),
            ("log_format = \"xml\"", "log_format"),
            ("public_url = \"ftp://x\"", "public_url"),
            ("mail_transport = \"smtp\"", "smtp_url"),
            ("surprise = 1", "surprise"),
            ("jwt_secret_file = \"/no/such/file\"", "jwt_secret_file"),
            ("notification_batch_size = 0", "notification_batch_size"),
            ("notification_lease_seconds = 1", "notification_lease_seconds"),
            ("notification_digest_hour = 24", "notification_digest_hour"),
        ] {
            let file = write(dir.path(), "bad.toml", toml);
            let err = Config::load(Some(&file)).unwrap_err();
            assert!(err.to_string().contains(setting), "{toml}: {err}");
        }
        let err = Config::load(Some(&dir.path().join("missing.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }

    #[test]
    fn the_default_database_is_a_sqlite_file_in_the_data_dir() {
        let target = Config::default().db_target().unwrap();
        assert_eq!(target.backend, crate::db::Backend::Sqlite);
        assert!(target.url.ends_with("portal.db"));
        Config::default().validate().unwrap();
    }
}
