//! Text columns read as Rust types on both backends: the closed sets of `text_enum!` and
//! [`JsonText`] for JSON kept in a TEXT column.
//!
//! A stored value that does not read as its type is a deserialisation error, so the query
//! fails and the request answers a logged 500 (`ApiError::internal`): a corrupt row never turns
//! silently into a default.

use std::io::Write;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::MultiBackend;

/// The text of a TEXT value, borrowed from the row on both backends.
pub fn sqlite_text<'a>(value: &'a mut <Sqlite as Backend>::RawValue<'_>) -> &'a str {
    value.read_text()
}

/// The text of a TEXT value sent by PostgreSQL.
pub fn pg_text<'a>(value: &'a <Pg as Backend>::RawValue<'_>) -> deserialize::Result<&'a str> {
    Ok(std::str::from_utf8(value.as_bytes())?)
}

/// `parse(text)`, or the error that names the type and the value that is none of its variants.
pub fn decode<T>(text: &str, what: &str, parse: fn(&str) -> Option<T>) -> deserialize::Result<T> {
    parse(text).ok_or_else(|| format!("stored {what} {text:?} is not one of its values").into())
}

/// Writes `text` as a PostgreSQL TEXT bind.
pub fn write_pg(text: &str, out: &mut Output<'_, '_, Pg>) -> serialize::Result {
    out.write_all(text.as_bytes())?;
    Ok(IsNull::No)
}

/// The diesel impls of a `text_enum!` type: TEXT on SQLite, PostgreSQL and the multi-backend.
#[macro_export]
macro_rules! text_column {
    ($name:ident) => {
        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $name {
            fn from_sql(
                mut value: <diesel::sqlite::Sqlite as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                $crate::db::text::decode(
                    $crate::db::text::sqlite_text(&mut value),
                    stringify!($name),
                    Self::parse,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(
                value: <diesel::pg::Pg as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                $crate::db::text::decode($crate::db::text::pg_text(&value)?, stringify!($name), Self::parse)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, $crate::db::MultiBackend> for $name {
            fn from_sql(
                value: <$crate::db::MultiBackend as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                value.from_sql::<Self, diesel::sql_types::Text>()
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
            ) -> diesel::serialize::Result {
                out.set_value(self.as_str());
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                $crate::db::text::write_pg(self.as_str(), out)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, $crate::db::MultiBackend> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, $crate::db::MultiBackend>,
            ) -> diesel::serialize::Result {
                out.set_value((diesel::sql_types::Text, self));
                Ok(diesel::serialize::IsNull::No)
            }
        }
    };
}

/// A value kept as JSON in a TEXT column. Reads fail on text that is not JSON of `T`.
#[derive(Debug, Clone, PartialEq, Default, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct JsonText<T>(pub T);

impl<T> JsonText<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

fn json<T: DeserializeOwned>(text: &str) -> deserialize::Result<JsonText<T>> {
    serde_json::from_str(text)
        .map(JsonText)
        .map_err(|e| format!("stored JSON does not read as {}: {e}", std::any::type_name::<T>()).into())
}

impl<T: DeserializeOwned> FromSql<Text, Sqlite> for JsonText<T> {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        json(sqlite_text(&mut value))
    }
}

impl<T: DeserializeOwned> FromSql<Text, Pg> for JsonText<T> {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        json(pg_text(&value)?)
    }
}

impl<T: DeserializeOwned> FromSql<Text, MultiBackend> for JsonText<T> {
    fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Text>()
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Text, Sqlite> for JsonText<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Text, Pg> for JsonText<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        serde_json::to_writer(&mut *out, &self.0)?;
        Ok(IsNull::No)
    }
}

impl<T: Serialize + std::fmt::Debug + Send + Sync + 'static> ToSql<Text, MultiBackend> for JsonText<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((Text, self));
        Ok(IsNull::No)
    }
}
