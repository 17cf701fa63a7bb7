//! Where mail goes: SMTP (production), `.eml` files (the embedded default) or memory (tests).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use crate::config::Config;

pub enum Transport {
    /// Our own connections with Nagle off, lettre's SMTP client over them (`super::smtp`).
    Smtp(Box<super::smtp::Smtp>),
    /// `.eml` files in this directory (0700), each readable by the owner only (0600): they
    /// carry live invitation, reset and confirmation tokens.
    File(std::path::PathBuf),
    Memory(Arc<Mutex<Vec<Vec<u8>>>>),
}

/// A failed send; `permanent` failures are not retried.
#[derive(Debug)]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

impl Transport {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Ok(match config.mail_transport.as_str() {
            "smtp" => {
                let url = config.smtp_url.as_deref().unwrap_or_default();
                // Every worker keeps its connection between emails: a connection is opened for
                // each concurrent send anyway, and those beyond the pool's size are closed.
                let workers = config.mail_workers + config.notification_workers;
                let keep = config.smtp_pool_size.max(workers).max(1) as usize;
                Transport::Smtp(Box::new(super::smtp::Smtp::new(url, keep, Duration::from_secs(20))?))
            }
            "memory" => Transport::Memory(Arc::default()),
            _ => {
                let dir = config.mail_dir();
                crate::bootstrap::private_dir(&dir)?;
                Transport::File(dir)
            }
        })
    }

    pub fn send(&self, message: &Message) -> Result<(), SendError> {
        match self {
            Transport::Smtp(t) => t.send(message).map_err(|e| SendError {
                permanent: matches!(&e, super::smtp::Failure::Smtp(e) if is_permanent(e)),
                message: e.to_string(),
            }),
            Transport::File(dir) => {
                let path = dir.join(format!("{}.eml", uuid::Uuid::new_v4()));
                crate::bootstrap::write_private(&path, message.formatted()).map_err(|e| SendError {
                    permanent: false,
                    message: e.to_string(),
                })
            }
            Transport::Memory(store) => {
                store
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(message.formatted());
                Ok(())
            }
        }
    }
}

/// Whether an SMTP failure is not worth retrying: 5xx replies are permanent (no such mailbox,
/// policy refusal), except authentication failures (530, 534, 535, 538), which are this
/// server's configuration and heal when it is fixed. Connection trouble, timeouts and 4xx
/// replies are transient.
fn is_permanent(e: &lettre::transport::smtp::Error) -> bool {
    let auth = e.status().is_some_and(|code| {
        let code = code.to_string();
        matches!(code.as_str(), "530" | "534" | "535" | "538")
    });
    e.is_permanent() && !auth
}

/// Builds a multipart/alternative (plain text + HTML) message with a stable Message-ID and
/// any extra `headers`, e.g. `List-Id` and `List-Unsubscribe`. Header values must be ASCII
/// without line breaks (they are URLs and ids the caller builds).
pub fn build_message(
    from: &Mailbox,
    to: &str,
    message_id: &str,
    subject: &str,
    text: String,
    html: String,
    headers: &[(&'static str, String)],
) -> Result<Message, SendError> {
    let to: Mailbox = to.parse().map_err(|e| SendError {
        permanent: true,
        message: format!("bad recipient {to}: {e}"),
    })?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id.to_string()));
    for (name, value) in headers {
        let value = value.replace(['\r', '\n'], "");
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str(name), value));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| SendError {
            permanent: true,
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_transport_keeps_a_multipart_message_with_a_stable_id() {
        let from: Mailbox = "Portal <no-reply@example.org>".parse().unwrap();
        let message = build_message(
            &from,
            "a@example.org",
            "<42@example.org>",
            "Hi",
            "plain".into(),
            "<p>html</p>".into(),
            &[],
        )
        .unwrap();
        let transport = Transport::Memory(Arc::default());
        transport.send(&message).unwrap();
        let Transport::Memory(store) = &transport else {
            unreachable!()
        };
        let sent = String::from_utf8(store.lock().unwrap()[0].clone()).unwrap();
        assert!(sent.contains("Message-ID: <42@example.org>"));
        assert!(sent.contains("multipart/alternative"));
        assert!(sent.contains("text/plain") && sent.contains("text/html"));
        let bad = build_message(
            &from,
            "not an address",
            "<1@x>",
            "Hi",
            String::new(),
            String::new(),
            &[],
        );
        assert!(bad.is_err_and(|e| e.permanent));
    }

    #[test]
    fn list_headers_are_written_as_given() {
        let from: Mailbox = "Portal <no-reply@example.org>".parse().unwrap();
        let url = format!(
            "https://portal.example.org/api/v1/unsubscribe?token=uitu_{}",
            "x".repeat(43)
        );
        let message = build_message(
            &from,
            "a@example.org",
            "<n-1@example.org>",
            "Hi",
            "plain".into(),
            "<p>html</p>".into(),
            &[
                ("List-Id", "UIT Portal notifications <notifications.example.org>".into()),
                ("List-Unsubscribe", format!("<{url}>")),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()),
            ],
        )
        .unwrap();
        let sent = String::from_utf8(message.formatted()).unwrap();
        let unfolded = sent.replace("\r\n ", " ");
        assert!(unfolded.contains(&format!("List-Unsubscribe: <{url}>\r\n")), "{sent}");
        assert!(unfolded.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert!(unfolded.contains("List-Id: UIT Portal notifications <notifications.example.org>\r\n"));
    }
}
