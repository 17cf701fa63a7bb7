//! `/subscriptions`: signed-in users subscribe themselves; an address without an account
//! subscribes with double opt-in (one confirmation email, nothing else until confirmed).

mod confirm;
mod create;
mod manage;

pub use confirm::*;
pub use create::*;
pub use manage::*;
