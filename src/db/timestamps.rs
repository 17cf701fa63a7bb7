//! Timestamps as SQLite hands them back, read in one pass.
//!
//! This service writes every timestamp as diesel does, `YYYY-MM-DD HH:MM:SS[.ffffff]`, but
//! diesel reads a SQLite timestamp by trying up to eighteen `strftime` formats in turn, each
//! interpreted from its format string: about a tenth of a result list's time went there
//! (`bench/load/README.md`). [`Ts`] and [`OptTs`] read that one format directly and fall back to
//! diesel for anything else (a value written by hand in another format still reads). PostgreSQL
//! sends timestamps binary and keeps diesel's decoding. Used as `#[diesel(deserialize_as = Ts)]`
//! on the timestamp fields of rows read many at a time.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::sql_types::{Nullable, Timestamp};
use diesel::sqlite::{Sqlite, SqliteType};

use super::MultiBackend;

/// A `Timestamp` column read with [`parse`] on SQLite.
#[derive(Debug, Clone, Copy, diesel::deserialize::FromSqlRow)]
pub struct Ts(pub NaiveDateTime);

/// A nullable `Timestamp` column read with [`parse`] on SQLite.
#[derive(Debug, Clone, Copy, diesel::deserialize::FromSqlRow)]
pub struct OptTs(pub Option<NaiveDateTime>);

impl From<Ts> for NaiveDateTime {
    fn from(t: Ts) -> Self {
        t.0
    }
}

impl From<OptTs> for Option<NaiveDateTime> {
    fn from(t: OptTs) -> Self {
        t.0
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional fraction of 1-9 digits, nothing before or after;
/// `None` for anything else (including impossible dates and times).
pub fn parse(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let value = num(20..b.len())?;
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
    Some(NaiveDateTime::new(date, time))
}

fn sqlite(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<NaiveDateTime> {
    if value.value_type() == Some(SqliteType::Text) {
        if let Some(t) = parse(value.read_text()) {
            return Ok(t);
        }
    }
    <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value)
}

impl FromSql<Timestamp, Sqlite> for Ts {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        sqlite(value).map(Ts)
    }
}

impl FromSql<Timestamp, Pg> for Ts {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Ts)
    }
}

impl FromSql<Timestamp, MultiBackend> for Ts {
    fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Ts, Timestamp>()
    }
}

impl FromSql<Nullable<Timestamp>, Sqlite> for OptTs {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        sqlite(value).map(|t| OptTs(Some(t)))
    }

    fn from_nullable_sql(value: Option<<Sqlite as Backend>::RawValue<'_>>) -> deserialize::Result<Self> {
        value.map_or(
            Ok(OptTs(None)),
            <Self as FromSql<Nullable<Timestamp>, Sqlite>>::from_sql,
        )
    }
}

impl FromSql<Nullable<Timestamp>, Pg> for OptTs {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(|t| OptTs(Some(t)))
    }

    fn from_nullable_sql(value: Option<<Pg as Backend>::RawValue<'_>>) -> deserialize::Result<Self> {
        value.map_or(Ok(OptTs(None)), <Self as FromSql<Nullable<Timestamp>, Pg>>::from_sql)
    }
}

impl FromSql<Nullable<Timestamp>, MultiBackend> for OptTs {
    fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<OptTs, Nullable<Timestamp>>()
    }

    fn from_nullable_sql(value: Option<<MultiBackend as Backend>::RawValue<'_>>) -> deserialize::Result<Self> {
        value.map_or(
            Ok(OptTs(None)),
            <Self as FromSql<Nullable<Timestamp>, MultiBackend>>::from_sql,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use chrono::NaiveDateTime;

    fn chrono(s: &str) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(s, "%F %T%.f").ok()
    }

    #[test]
    fn reads_what_diesel_writes() {
        for s in [
            "2026-12-05 23:53:00",
            "2026-12-05 23:53:00.1",
            "2026-12-05 23:53:00.123456",
            "2026-12-05 23:53:00.123456789",
            "2024-02-29 00:00:00.000001",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
        ] {
            assert_eq!(parse(s), chrono(s), "{s}");
            assert!(parse(s).is_some(), "{s}");
        }
        let t = chrono::Utc::now().naive_utc();
        let written = t.format("%F %T%.f").to_string();
        assert_eq!(parse(&written), Some(t));
    }

    #[test]
    fn refuses_everything_else() {
        for s in [
            "",
            "2026-12-05",
            "2026-12-05T23:53:00",
            "2026-12-05 23:53:00Z",
            "2026-12-05 23:53:00+00:00",
            "2026-12-05 23:53:00.",
            "2026-12-05 23:53:00.1234567890",
            "2026-13-05 23:53:00",
            "2025-02-29 23:53:00",
            "2026-12-05 24:00:00",
            "2026-12-05 23:53:0x",
            "+026-12-05 23:53:00",
            "2026-12-05 23:53:00 ",
        ] {
            assert_eq!(parse(s), None, "{s:?}");
        }
    }
}
