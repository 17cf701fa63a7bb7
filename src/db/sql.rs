//! SQL text for what diesel's DSL cannot say on both backends.

use super::DbConn;

/// `count` rows of `width` placeholders, for a multi-row INSERT: `$n` numbered in order on
/// PostgreSQL, plain `?` on SQLite (whose named-parameter lookup grows with the square of the
/// parameter count: 10,000 rows took seconds with `$n`). `fixed` puts literal SQL after the
/// given number of placeholders in each row.
pub fn values_clause(conn: &DbConn, count: usize, width: usize, fixed: Option<(usize, &str)>) -> String {
    let pg = matches!(conn, DbConn::Pg(_));
    let mut sql = String::with_capacity(count * width * 6);
    let mut n = 0;
    for row in 0..count {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for col in 0..width {
            if col > 0 {
                sql.push(',');
            }
            if let Some((at, literal)) = fixed {
                if col == at {
                    sql.push_str(literal);
                    sql.push(',');
                }
            }
            n += 1;
            if pg {
                sql.push('$');
                sql.push_str(&n.to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod values_tests {
    #[test]
    fn placeholders_with_a_fixed_literal() {
        // Only the SQLite form can be built without a connection here; see values_clause.
        let conn = crate::db::DbTarget::parse("sqlite://:memory:", "normal")
            .unwrap()
            .connect()
            .unwrap();
        assert_eq!(super::values_clause(&conn, 2, 3, Some((1, "0"))), "(?,0,?,?),(?,0,?,?)");
        assert_eq!(super::values_clause(&conn, 1, 2, None), "(?,?)");
    }
}
