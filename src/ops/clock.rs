//! The periodic sweeps (window opening and closing, firmware retirement reminders, stale
//! library contacts): one loop, ticking every `window_clock_interval_seconds` (none when 0),
//! each tick one write transaction.

use std::time::Duration;

use actix_web::web;

use crate::db::DbConn;
use crate::http::ApiError;
use crate::AppState;

/// Spawns `sweep` every tick until the server stops; `name` says in the logs which clock
/// wrote how many events. A failed sweep is logged and retried at the next tick: another
/// instance may have recorded the same event first (each event has a unique dedupe key).
pub fn every<F>(state: &web::Data<AppState>, name: &'static str, sweep: F)
where
    F: Fn(&mut DbConn) -> Result<usize, ApiError> + Clone + Send + 'static,
{
    let interval = state.config.window_clock_interval_seconds;
    if interval == 0 {
        return;
    }
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(interval));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if state.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let sweep = sweep.clone();
            match state.db.write(move |conn| sweep(conn)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, clock = name, "clock recorded events"),
                Err(e) => tracing::warn!(error = %e, clock = name, "clock sweep failed; retrying next tick"),
            }
        }
    });
}
