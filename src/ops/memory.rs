//! Giving memory back. glibc keeps freed memory in its arenas (one per thread that allocates)
//! for reuse; after a burst (grid builds, 1,000-result batches, a login storm) the server
//! stayed at 150-250 MB resident long after the work was done (bench/load). `malloc_trim`
//! returns the free pages of every arena to the system.

use std::time::Duration;

/// Returns the allocator's free pages to the system (glibc on Linux; nothing elsewhere).
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Every two seconds on the blocking pool: [`give_back`]. Walking the arenas of an idle or
/// lightly used server costs well under a millisecond. Runs until the actix system stops.
pub fn trim_in_background() {
    actix_web::rt::spawn(async {
        let mut every = tokio::time::interval(Duration::from_secs(2));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let _ = actix_web::rt::task::spawn_blocking(give_back).await;
        }
    });
}
