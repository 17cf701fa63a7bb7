//! The request seam: a handler's one blocking hop. [`Db::read_as`] and [`Db::write_as`] load
//! the caller inside the closure that does the work, on one pooled connection (and, for a
//! write, in one transaction), so the role check and the write see the same state. Here,
//! not in `db/`, because this is where a database answer becomes an HTTP one (503 when no
//! connection can be had).

use actix_web::HttpResponse;
use serde::Serialize;

use crate::auth::extractor::{AuthContext, Caller};
use crate::db::{write_tx, Db, DbConn};
use crate::http::error::ApiError;

impl Db {
    /// Runs `f` with a pooled connection on the blocking pool, inside the caller's span.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        actix_web::rt::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get().map_err(|e| {
                tracing::error!(error = %e, "database pool exhausted or unreachable");
                ApiError::unavailable()
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
    }

    /// Like [`Db::run`], inside one write transaction (see [`write_tx`]).
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(move |conn| write_tx(conn, f)).await
    }

    /// The request seam for reads: loads `caller` and runs `f` with it, on one pooled
    /// connection in one blocking hop. 401 when the credentials no longer hold.
    pub async fn read_as<T, F>(&self, caller: Caller, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, AuthContext) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(move |conn| {
            let ctx = caller.resolve(conn)?;
            f(conn, ctx)
        })
        .await
    }

    /// The request seam for writes: like [`Db::read_as`], with the caller loaded inside the
    /// write's one transaction (see [`write_tx`]).
    pub async fn write_as<T, F>(&self, caller: Caller, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, AuthContext) -> Result<T, ApiError> + Send + 'static,
    {
        self.run(move |conn| {
            write_tx(conn, |conn| {
                let ctx = caller.resolve(conn)?;
                f(conn, ctx)
            })
        })
        .await
    }
}

/// A read's whole hop when the answer carries no `ETag`: `read` runs as the caller (see
/// [`Db::read_as`]) and its result is answered as 200 JSON.
pub async fn read_json<T, F>(db: &Db, caller: Caller, read: F) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut DbConn, AuthContext) -> Result<T, ApiError> + Send + 'static,
{
    let body = db.read_as(caller, read).await?;
    Ok(HttpResponse::Ok().json(body))
}
