//! Email: templates, transports and the outbox with its delivery workers.

pub mod outbox;
pub mod smtp;
pub mod templates;
pub mod transport;

pub use outbox::enqueue;
pub use templates::{render, Template};
