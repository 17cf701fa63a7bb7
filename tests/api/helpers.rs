//! `TestApp`: the real server on port 0 against a fresh database, driven over HTTP.
//! With `TEST_DATABASE_URL=postgres://...` each app gets its own PostgreSQL schema;
//! otherwise a temporary SQLite file.

use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};
use uit_portal::auth::Role;
use uit_portal::config::Config;
use uit_portal::db::{DbConn, DbTarget};
use uit_portal::Application;

use crate::smtp::SmtpServer;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const ADMIN_EMAIL: &str = "operator-admin@example.org";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// The password of every test user, invited or seeded.
pub const USER_PASSWORD: &str = "a long enough password";

/// `USER_PASSWORD`'s argon2id hash, computed once per test process: every seeded user shares
/// it (argon2 is what made each user cost a noticeable fraction of a second).
fn user_password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| uit_portal::auth::password::hash_blocking(USER_PASSWORD).expect("hash"))
}

/// The SQLite database a fresh server makes of an empty one: migrated, with the bootstrap
/// operator organisation and its admin. Made once per test process: the migrations and the
/// admin's argon2 hash were most of what each server's start cost.
fn sqlite_template() -> &'static [u8] {
    static TEMPLATE: OnceLock<Vec<u8>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            jwt_secret: Some(JWT_SECRET.into()),
            bootstrap_email: ADMIN_EMAIL.into(),
            bootstrap_password: Some(ADMIN_PASSWORD.into()),
            ..Config::default()
        };
        let db = uit_portal::prepare_database(&config).expect("migrate and bootstrap the template");
        let mut conn = db.pool.get().expect("a template connection");
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint the template");
        std::fs::read(dir.path().join("portal.db")).expect("read the template")
    })
}

/// Gives a server that would make its own SQLite database from nothing (no `database_url`,
/// the suite's bootstrap admin, a data directory that exists and holds no database yet) a copy
/// of [`sqlite_template`] instead; it starts as it would have, minus the work.
fn start_from_template(config: &Config) {
    let db = config.data_dir.join("portal.db");
    let bootstraps_as_the_template =
        config.bootstrap_email == ADMIN_EMAIL && config.bootstrap_password.as_deref() == Some(ADMIN_PASSWORD);
    if config.database_url.is_some() || !bootstraps_as_the_template || !config.data_dir.is_dir() || db.exists() {
        return;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&db).expect("create portal.db");
    std::io::Write::write_all(&mut file, sqlite_template()).expect("write portal.db");
}

/// `n` requests sent at once, one thread each (`request(i)` makes the i-th): each answer's
/// status and body, in the order the requests were made. For the race tests.
pub fn at_once(n: usize, request: impl Fn(usize) -> Resp + Sync) -> Vec<(u16, Value)> {
    std::thread::scope(|s| {
        let request = &request;
        let handles: Vec<_> = (0..n)
            .map(|i| {
                s.spawn(move || {
                    let r = request(i);
                    (r.status, r.json())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// A response, read fully.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    /// Asserts the status and, for errors, a problem+json body with the given code.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        if status >= 400 {
            let ct = self.header("content-type").unwrap_or_default();
            assert!(
                ct.starts_with("application/problem+json"),
                "error without problem+json: {ct} {}",
                self.body
            );
        }
        self
    }

    /// The `id` of the resource in the body (a 201's new resource, a 200's read).
    #[track_caller]
    pub fn id(&self) -> String {
        let body = self.json();
        body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_string()
    }

    /// The `id`s of a page's `items`, in the order listed.
    #[track_caller]
    pub fn ids(&self) -> Vec<String> {
        let body = self.json();
        body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items in {}", self.body))
            .iter()
            .map(|item| item["id"].as_str().expect("an item without an id").to_string())
            .collect()
    }

    #[track_caller]
    pub fn expect_code(&self, status: u16, code: &str) -> Value {
        self.expect(status);
        let body = self.json();
        assert_eq!(body["code"], code, "unexpected problem code: {}", self.body);
        assert_eq!(body["status"], status);
        body
    }
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub org_id: String,
    pub email: String,
    pub token: String,
}

pub struct TestApp {
    pub base: String,
    pub smtp: SmtpServer,
    pub config: Config,
    handle: ServerHandle,
    agent: ureq::Agent,
    pg_schema: Option<(DbTarget, String)>,
    /// The fixtures' own connection to the app's database, opened on first use.
    fixtures_db: Mutex<Option<DbConn>>,
    /// Recipients whose emails may stay unsent: see [`TestApp::allow_unsent_mail_to`].
    pub(crate) unsent_allowed: Mutex<Vec<String>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn spawn() -> Self {
        Self::spawn_with(|_| {})
    }

    /// Starts a server whose configuration `tweak` may adjust.
    pub fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let smtp = SmtpServer::start();
        let mut config = Config {
            bind: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            database_pool_size: 4,
            jwt_secret: Some(JWT_SECRET.into()),
            mail_transport: "smtp".into(),
            smtp_url: Some(smtp.url()),
            mail_poll_interval_ms: 100,
            log_level: "warn".into(),
            bootstrap_email: ADMIN_EMAIL.into(),
            bootstrap_password: Some(ADMIN_PASSWORD.into()),
            http_workers: 1,
            shutdown_timeout_seconds: 1,
            public_url: "https://portal.example.org".into(),
            // Every anonymous subscriber of the suite comes from 127.0.0.1; the cap has its own test.
            subscription_rate_per_address_per_hour: 10_000,
            ..Config::default()
        };
        let pg_schema = fresh_postgres_schema();
        if let Some((target, schema)) = &pg_schema {
            config.database_url = Some(with_search_path(&target.url, schema));
        }
        tweak(&mut config);
        config.validate().expect("test configuration is valid");
        start_from_template(&config);
        uit_portal::telemetry::init("pretty", &config.log_level);

        let (tx, rx) = mpsc::channel();
        let server_config = config.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match Application::build(server_config).await {
                    Ok(app) => {
                        tx.send(Ok((app.port(), app.handle()))).unwrap();
                        let _ = app.run_until_stopped().await;
                    }
                    Err(e) => tx.send(Err(e.to_string())).unwrap(),
                }
            })
        });
        let (port, handle) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server start")
            .expect("server builds");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            smtp,
            config,
            handle,
            agent,
            pg_schema,
            fixtures_db: Mutex::new(None),
            unsent_allowed: Mutex::new(Vec::new()),
            _dir: dir,
        }
    }

    /// Sends a request with optional bearer token, extra headers and raw body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Resp {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(t) = token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let result = match body {
            Some((content_type, bytes)) => {
                let request = builder.header("content-type", content_type).body(bytes).unwrap();
                self.agent.run(request)
            }
            None => self.agent.run(builder.body(()).unwrap()),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        Resp { status, headers, body }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send("GET", path, token, &[], None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send(
            "POST",
            path,
            token,
            &[],
            Some(("application/json", body.to_string().into_bytes())),
        )
    }

    pub fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send(
            "PATCH",
            path,
            token,
            &[],
            Some(("application/json", body.to_string().into_bytes())),
        )
    }

    pub fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.send("DELETE", path, token, &[], None)
    }

    /// Logs in; panics unless it succeeds. Returns the token pair JSON.
    pub fn login_pair(&self, email: &str, password: &str) -> Value {
        let resp = self.post(
            "/api/v1/auth/login",
            None,
            &json!({ "email": email, "password": password }),
        );
        resp.expect(200);
        resp.json()
    }

    pub fn login(&self, email: &str, password: &str) -> String {
        self.login_pair(email, password)["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The bootstrap operator admin's access token, signed directly for the admin as the
    /// database has them now (a sign-in costs an argon2 verification, on threads of low
    /// priority); the tests of signing in call [`TestApp::login`] themselves.
    pub fn admin_token(&self) -> String {
        use diesel::prelude::*;
        use uit_portal::db::schema::users;
        let admin: Option<(String, String, i64)> = self.with_db(|conn| {
            users::table
                .filter(users::email.eq(&self.config.bootstrap_email))
                .select((users::id, users::org_id, users::token_version))
                .first(conn)
                .optional()
                .expect("look up the bootstrap admin")
        });
        match admin {
            Some((id, org_id, token_version)) if self.config.jwt_secret.is_some() => {
                self.sign(&id, &org_id, token_version)
            }
            _ => self.login(ADMIN_EMAIL, ADMIN_PASSWORD),
        }
    }

    /// An access token for the user, as a sign-in would issue it.
    fn sign(&self, user_id: &str, org_id: &str, token_version: i64) -> String {
        let secret = self.config.jwt_secret.as_deref().expect("a configured JWT secret");
        uit_portal::auth::tokens::Jwt::new(
            secret.as_bytes(),
            &self.config.jwt_issuer,
            &self.config.jwt_audience,
            self.config.access_token_ttl_seconds as i64,
        )
        .issue(&user_id.into(), &org_id.into(), token_version)
    }

    /// Creates an organisation of `kind` as the operator admin; returns its id.
    pub fn create_org(&self, admin: &str, kind: &str) -> String {
        let slug = format!("{kind}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]).replace('_', "-");
        let resp = self.post(
            "/api/v1/organisations",
            Some(admin),
            &json!({ "name": format!("Org {slug}"), "slug": slug, "kind": kind }),
        );
        resp.expect(201);
        resp.id()
    }

    /// A user of `role` in `org_id`, as an accepted invitation would leave one (name "Test
    /// User", password [`USER_PASSWORD`], able to sign in), inserted directly with a signed
    /// access token: no email, no SMTP wait, no argon2 per user. `_inviter` is kept so the
    /// call reads like the flow it stands for ([`TestApp::invite_user_by_email`]).
    pub fn invite_user(&self, _inviter: &str, org_id: &str, role: &str) -> TestUser {
        self.seed_user(org_id, role)
    }

    /// See [`TestApp::invite_user`].
    pub fn seed_user(&self, org_id: &str, role: &str) -> TestUser {
        let email = format!("user-{}@example.org", uuid::Uuid::new_v4().simple());
        let role = Role::parse(role).unwrap_or_else(|| panic!("no such role: {role}"));
        let user = self.with_db(|conn| {
            uit_portal::organisations::model::insert_user(
                conn,
                &org_id.into(),
                &email,
                "Test User",
                role,
                user_password_hash(),
            )
            .expect("insert the user")
        });
        let token = match self.config.jwt_secret {
            Some(_) => self.sign(&user.id, org_id, 0),
            None => self.login(&email, USER_PASSWORD),
        };
        TestUser {
            id: user.id.into_string(),
            org_id: org_id.to_string(),
            email,
            token,
        }
    }

    /// Runs `f` on the fixtures' connection to the app's database.
    pub fn with_db<T>(&self, f: impl FnOnce(&mut DbConn) -> T) -> T {
        let mut guard = self.fixtures_db.lock().unwrap_or_else(|e| e.into_inner());
        let conn = guard.get_or_insert_with(|| {
            self.config
                .db_target()
                .expect("database target")
                .connect()
                .expect("connect to the app's database")
        });
        f(conn)
    }

    /// Invites a user into `org_id` with `role` (as `inviter`) through the real flow: the
    /// invitation, its email (waited for at the SMTP server), the acceptance and a sign-in.
    /// For the tests of invitations themselves; others take [`TestApp::invite_user`].
    pub fn invite_user_by_email(&self, inviter: &str, org_id: &str, role: &str) -> TestUser {
        let email = format!("user-{}@example.org", uuid::Uuid::new_v4().simple());
        self.post(
            &format!("/api/v1/organisations/{org_id}/invitations"),
            Some(inviter),
            &json!({ "email": email, "role": role }),
        )
        .expect(201);
        let token = self.smtp.wait_for(&email).token("uiti_");
        let password = USER_PASSWORD.to_string();
        let accepted = self.post(
            "/api/v1/invitations/accept",
            None,
            &json!({ "token": token, "name": "Test User", "password": password }),
        );
        accepted.expect(201);
        let pair = self.login_pair(&email, &password);
        TestUser {
            id: accepted.id(),
            org_id: org_id.to_string(),
            email,
            token: pair["access_token"].as_str().unwrap().to_string(),
        }
    }

    /// A new organisation of `kind` with one user of `role` in it.
    pub fn user_in_new_org(&self, admin: &str, kind: &str, role: &str) -> TestUser {
        let org = self.create_org(admin, kind);
        self.invite_user(admin, &org, role)
    }

    /// [`TestApp::user_in_new_org`] through the real invitation flow (its email included).
    pub fn user_in_new_org_by_email(&self, admin: &str, kind: &str, role: &str) -> TestUser {
        let org = self.create_org(admin, kind);
        self.invite_user_by_email(admin, &org, role)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Only after a test that passed: a second panic would abort the whole suite.
        let checked = if std::thread::panicking() {
            Ok(())
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.assert_no_mail_left_unsent()))
        };
        // The fixtures' connection first: PostgreSQL drops the schema below.
        self.fixtures_db.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        // stop() sends the command at once; its future only reports completion.
        drop(self.handle.stop(false));
        if let Some((target, schema)) = self.pg_schema.take() {
            if let Ok(mut conn) = target.connect() {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
        if let Err(unsent) = checked {
            std::panic::resume_unwind(unsent);
        }
    }
}

/// The PostgreSQL server under test, when `TEST_DATABASE_URL` names one.
pub fn postgres_target() -> Option<DbTarget> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))?;
    Some(DbTarget::parse(&url, "normal").expect("TEST_DATABASE_URL"))
}

/// Creates an empty schema for one test.
pub fn fresh_postgres_schema() -> Option<(DbTarget, String)> {
    let target = postgres_target()?;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = target.connect().expect("connect to TEST_DATABASE_URL");
    conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create schema");
    Some((target, schema))
}

/// The URL with libpq's `options` setting the schema search path.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}
