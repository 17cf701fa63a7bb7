//! `Json<T>`: a JSON request body that must be an object.
//!
//! serde's derived `Deserialize` also reads a struct from an array of its fields in order, so
//! with `web::Json<T>` the body `["a@example.org", "secret"]` would be taken as a login and
//! `[null, null]` as an empty patch. Request bodies here are objects (API.md), so anything else
//! is 400 `malformed_body`. Limits, content type and syntax errors stay with actix's
//! `web::Json` and the app's `JsonConfig`.
//!
//! A body that does not fit `T` names where: `errors[0].field` is its path (`items[217].outcome`).
//! An object with the same key twice is 400 `duplicate_key` naming it (serde_json would keep
//! the last one silently; see `unique_keys`).
//!
//! JSON Schema counts `8398.0` as an integer, serde does not: a whole number written with a
//! fraction is read as the integer it is, so what the spec calls an integer is accepted.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::error::ErrorCode;
use super::error::{ApiError, FieldError};
use super::unique_keys::UniqueKeys;

/// A JSON object body deserialised into `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Deserialises a parsed body: 400 `malformed_body` unless it is an object that fits `T`.
pub fn from_object<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, ApiError> {
    integral_floats_to_integers(&mut value);
    if has_nul(&value) {
        // Well-formed JSON, valid by the schema, but text the service cannot store: 422.
        return Err(ApiError::invalid_character(
            "Text must not contain NUL (U+0000) characters.",
        ));
    }
    if !value.is_object() {
        return Err(ApiError::bad_request(
            ErrorCode::MalformedBody,
            "The JSON body must be an object.",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        // Where the body stops fitting `T` (e.g. `items[217].outcome`), as a field error so a
        // client finds the item the way it finds one that fails validation.
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        let mut err = ApiError::bad_request(
            ErrorCode::MalformedBody,
            format!("The JSON body is invalid at {field}: {message}"),
        );
        if field != "." {
            err.errors.push(FieldError { field, message });
        }
        err
    })
}

/// Whether any string or key holds U+0000, which PostgreSQL cannot store in text.
fn has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Rewrites numbers like `3.0` as `3`, everywhere in `value` (floats stay floats otherwise).
fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            // 2^63 and 2^64 are exact in f64; every whole number below them converts exactly.
            const I64: std::ops::Range<f64> = -9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0;
            const U64: std::ops::Range<f64> = 0.0..18_446_744_073_709_551_616.0;
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && I64.contains(&f) {
                *value = Value::from(f as i64);
            } else if f.fract() == 0.0 && U64.contains(&f) {
                *value = Value::from(f as u64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<UniqueKeys>::from_request(req, payload);
        Box::pin(async move {
            let UniqueKeys { value, duplicate } = body.await?.into_inner();
            if let Some(key) = duplicate {
                return Err(ApiError::duplicate_key(&key).into());
            }
            Ok(Json(from_object(value)?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use serde::Deserialize;
    use serde_json::json;

    use super::from_object;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Login {
        email: String,
        password: String,
    }

    #[test]
    fn objects_are_read_as_before() {
        let login: Login = from_object(json!({"email": "a@example.org", "password": "p"})).unwrap();
        assert_eq!(login.email, "a@example.org");
        assert_eq!(login.password, "p");
    }

    #[test]
    fn arrays_and_scalars_are_malformed() {
        for body in [
            json!(["a@example.org", "p"]),
            json!([null, null]),
            json!("x"),
            json!(null),
        ] {
            let err = from_object::<Login>(body).unwrap_err();
            assert_eq!(err.status.as_u16(), 400);
            assert_eq!(err.code, ErrorCode::MalformedBody);
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Numbers {
        count: i64,
        share: f64,
        ids: Vec<u64>,
    }

    #[test]
    fn whole_numbers_with_a_fraction_are_integers() {
        let n: Numbers = from_object(json!({"count": 8398.0, "share": 2.0, "ids": [1.0, 2]})).unwrap();
        assert_eq!(
            n,
            Numbers {
                count: 8398,
                share: 2.0,
                ids: vec![1, 2]
            }
        );
        let err = from_object::<Numbers>(json!({"count": 1.5, "share": 1, "ids": []})).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedBody);
        assert!(from_object::<Numbers>(json!({"count": -9.2e18, "share": 0.5, "ids": [1e19]})).is_ok());
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Batch {
        items: Vec<Numbers>,
    }

    #[test]
    fn a_body_that_does_not_fit_names_the_path() {
        let mut items = vec![json!({"count": 1, "share": 1, "ids": []}); 218];
        items[217] = json!({"count": "many", "share": 1, "ids": []});
        let err = from_object::<Batch>(json!({ "items": items })).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedBody);
        assert_eq!(err.errors[0].field, "items[217].count");
        assert!(err.detail.contains("items[217].count"), "{}", err.detail);
    }

    #[test]
    fn unknown_fields_are_still_refused() {
        let err = from_object::<Login>(json!({"email": "a", "password": "p", "extra": 1})).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedBody);
    }
}
