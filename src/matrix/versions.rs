//! What a window's grid was built from, as two numbers, and the grids already built.
//!
//! Scope `''` of `grid_versions` changes with everything a grid reads besides results (device
//! sets, the catalogue, claims, defect masks, release firmware, windows with their scenarios
//! and participants, organisations): database triggers bump it, so no write path can forget.
//! A window's own scope is bumped by every result write in the write's transaction
//! ([`bump`], called by `results::model::upsert`). The pair, with the reader's lens (its
//! organisation, and whether it is the operator: all a grid asks of the reader) and the
//! representation, is the body's `ETag`. An unchanged window answers `If-None-Match` with 304,
//! and a body built once is served from memory ([`GridCache`]) until either number moves.
//!
//! Read order makes this safe without a transaction: the versions are read before the grid,
//! so a write committing in between can only make the body newer than its tag (the next
//! request sees the new version and builds again), never older.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use sha2::{Digest, Sha256};

use crate::auth::AuthContext;
use crate::db::{DbConn, WindowId};
use crate::http::ApiError;

#[derive(QueryableByName)]
struct VersionsRow {
    #[diesel(sql_type = BigInt)]
    global: i64,
    #[diesel(sql_type = BigInt)]
    window: i64,
}

/// `(global, window)` versions of `window_id`; `None` when there is no such window.
pub fn of(conn: &mut DbConn, window_id: &WindowId) -> QueryResult<Option<(i64, i64)>> {
    let row: Option<VersionsRow> = diesel::sql_query(
        "SELECT g.version AS global,
            COALESCE((SELECT w.version FROM grid_versions w WHERE w.scope = $1), 0) AS window
         FROM grid_versions g
         WHERE g.scope = '' AND EXISTS (SELECT 1 FROM uit_windows WHERE id = $1)",
    )
    .bind::<Text, _>(window_id)
    .get_result(conn)
    .optional()?;
    Ok(row.map(|r| (r.global, r.window)))
}

/// Bumps the versions of `window_ids` (results were written in them). Sorted, so concurrent
/// PostgreSQL writers lock the rows in one order; call it after the result rows and cells.
pub fn bump(conn: &mut DbConn, window_ids: &[WindowId]) -> QueryResult<()> {
    let mut ids: Vec<&WindowId> = window_ids.iter().collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        diesel::sql_query(
            "INSERT INTO grid_versions (scope, version) VALUES ($1, 1)
             ON CONFLICT (scope) DO UPDATE SET version = grid_versions.version + 1",
        )
        .bind::<Text, _>(id)
        .execute(conn)?;
    }
    Ok(())
}

/// Bumps the global version: every grid changes (the seeds' bulk loads of results).
pub fn bump_all(conn: &mut DbConn) -> QueryResult<()> {
    diesel::sql_query("UPDATE grid_versions SET version = version + 1 WHERE scope = ''")
        .execute(conn)
        .map(|_| ())
}

/// The strong ETag of `kind` (the representation, e.g. `matrix.csv`) of window `window_id`
/// at `versions`, as `ctx` sees it. The reader's organisation is hashed: a tag names no one.
pub fn etag(kind: &str, window_id: &WindowId, versions: (i64, i64), ctx: &AuthContext) -> String {
    let lens = Sha256::digest(format!("{window_id}|{}|{}", ctx.org_id, ctx.is_operator()));
    let lens: String = lens[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{kind}.{}.{}.{lens}\"", versions.0, versions.1)
}

/// What to send for a grid.
pub enum Answer {
    /// The client's copy is current: 304 with this ETag.
    NotModified(String),
    /// The body, with its ETag.
    Body(String, Bytes),
}

/// Grid bodies built recently, keyed by window, representation and reader, each with the ETag
/// it was built at; the least recently used go first when the total passes the capacity.
///
/// Builds are single-flight: readers that miss the same body at the same tag wait for the one
/// that builds it instead of building it too (eight connections asking for a cold 2,000-set
/// matrix at once built it eight times, with eight times the memory).
pub struct GridCache {
    capacity: usize,
    inner: Mutex<Inner>,
    building: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
}

struct Entry {
    etag: String,
    body: Bytes,
    used: u64,
}

impl GridCache {
    /// A cache holding at most `capacity` bytes of bodies (0 keeps nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
            building: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &str, etag: &str) -> Option<Bytes> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(key).filter(|e| e.etag == etag)?;
        entry.used = now;
        Some(entry.body.clone())
    }

    fn put(&self, key: String, etag: String, body: Bytes) {
        if body.len() > self.capacity {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        let size = body.len();
        if let Some(old) = inner.entries.insert(key, Entry { etag, body, used }) {
            inner.bytes -= old.body.len();
        }
        inner.bytes += size;
        while inner.bytes > self.capacity {
            let Some(oldest) = inner.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.bytes -= gone.body.len();
            }
        }
    }

    /// In the request's one database hop: the window's versions (404 when there is no such
    /// window), then 304 when `if_none_match` names the current tag, the cached body when
    /// there is one at that tag, or else a body from `build`, kept for the next reader.
    pub fn answer(
        &self,
        conn: &mut DbConn,
        ctx: &AuthContext,
        window_id: &WindowId,
        kind: &str,
        if_none_match: &[String],
        build: impl FnOnce(&mut DbConn) -> Result<Vec<u8>, ApiError>,
    ) -> Result<Answer, ApiError> {
        let versions = of(conn, window_id)?.ok_or_else(ApiError::not_found)?;
        let tag = etag(kind, window_id, versions, ctx);
        if if_none_match.iter().any(|t| *t == tag || t == "*") {
            return Ok(Answer::NotModified(tag));
        }
        let key = format!("{kind}|{window_id}|{}|{}", ctx.org_id, ctx.is_operator());
        let body = self.body(key, &tag, || build(conn))?;
        Ok(Answer::Body(tag, body))
    }

    /// The body kept under `key` at `tag`, or one `build` makes now, single-flight: of the
    /// readers missing it at once, one builds while the others wait for its body.
    fn body(
        &self,
        key: String,
        tag: &str,
        build: impl FnOnce() -> Result<Vec<u8>, ApiError>,
    ) -> Result<Bytes, ApiError> {
        if let Some(body) = self.get(&key, tag) {
            return Ok(body);
        }
        let flight_key = format!("{key}|{tag}");
        let flight = {
            let mut building = self.building.lock().unwrap_or_else(|p| p.into_inner());
            building.entry(flight_key.clone()).or_default().clone()
        };
        let turn = flight.lock().unwrap_or_else(|p| p.into_inner());
        // Built while this reader waited for its turn.
        if let Some(body) = self.get(&key, tag) {
            return Ok(body);
        }
        let built = build().map(Bytes::from);
        if let Ok(body) = &built {
            self.put(key, tag.to_string(), body.clone());
        }
        drop(turn);
        self.building
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&flight_key);
        let body = built?;
        // A build allocates and frees tens of megabytes: give them back now.
        crate::ops::memory::give_back();
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_bodies_go_first() {
        let cache = GridCache::new(10);
        cache.put("a".into(), "1".into(), Bytes::from_static(b"aaaa"));
        cache.put("b".into(), "1".into(), Bytes::from_static(b"bbbb"));
        assert!(cache.get("a", "1").is_some());
        cache.put("c".into(), "1".into(), Bytes::from_static(b"cccc"));
        assert!(cache.get("b", "1").is_none(), "b was the least recently used");
        assert!(cache.get("a", "1").is_some() && cache.get("c", "1").is_some());
        assert!(cache.get("a", "2").is_none(), "another tag is another body");
        cache.put("a".into(), "2".into(), Bytes::from_static(b"a2"));
        assert_eq!(cache.lock().bytes, 6);
        cache.put("big".into(), "1".into(), Bytes::from(vec![0u8; 11]));
        assert!(cache.get("big", "1").is_none(), "a body over the capacity is not kept");
    }

    #[test]
    fn readers_missing_the_same_body_at_once_build_it_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cache = Arc::new(GridCache::new(1 << 20));
        let builds = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (cache, builds) = (cache.clone(), builds.clone());
                std::thread::spawn(move || {
                    cache
                        .body("k".into(), "t1", || {
                            builds.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(100));
                            Ok(b"grid".to_vec())
                        })
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(&t.join().unwrap()[..], b"grid");
        }
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        // A failed build is not kept: the next reader builds again.
        let failed = cache.body("k".into(), "t2", || Err(ApiError::internal("no")));
        assert!(failed.is_err());
        assert_eq!(
            &cache.body("k".into(), "t2", || Ok(b"again".to_vec())).unwrap()[..],
            b"again"
        );
        assert!(cache.building.lock().unwrap().is_empty());
    }
}
