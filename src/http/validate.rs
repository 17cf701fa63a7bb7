//! Small validators shared by the domains; each pushes a field error rather than failing fast,
//! so a client sees every problem with its request at once.

use super::error::{ApiError, FieldError};

#[derive(Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Text that is not blank and has at most `max` characters. Counted before trimming, as
    /// the spec's `maxLength` counts, so the documented limit is the enforced one.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.error(field, "must not be empty");
        } else if value.chars().count() > max {
            self.error(field, format!("must be at most {max} characters"));
        }
    }

    /// A plausible email address (one `@`, a dotted domain, no spaces, at most 254 chars).
    pub fn email(&mut self, field: &str, value: &str) {
        if !is_email(value) {
            self.error(field, "must be a valid email address");
        }
    }

    /// Passwords: 12 to 128 characters.
    pub fn password(&mut self, field: &str, value: &str) {
        let n = value.chars().count();
        if n < 12 {
            self.error(field, "must be at least 12 characters");
        } else if n > 128 {
            self.error(field, "must be at most 128 characters");
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    value.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// Normalises an email for lookups and uniqueness.
pub fn normalise_email(value: &str) -> String {
    value.trim().to_lowercase()
}
