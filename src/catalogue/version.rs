//! Firmware version strings in the order people mean: `1.10` after `1.9`.
//!
//! A version is read as runs of digits and runs of letters (anything else separates runs).
//! The sort key pads digit runs to a fixed width so that plain text comparison, in Rust or in
//! SQL, gives the natural order.

const WIDTH: usize = 12;

/// The sortable key of a version string, e.g. `1.10` -> `000000000001.000000000010`.
pub fn sort_key(version: &str) -> String {
    let mut runs: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut digits = false;
    let flush = |runs: &mut Vec<String>, current: &mut String, digits: bool| {
        if current.is_empty() {
            return;
        }
        let run = if digits {
            let trimmed = current.trim_start_matches('0');
            format!("{:0>WIDTH$}", if trimmed.is_empty() { "0" } else { trimmed })
        } else {
            // Letters sort after digits at the same position ('~' > '9'), like 1.0a after 1.0.
            format!("~{}", current.to_lowercase())
        };
        runs.push(run);
        current.clear();
    };
    for c in version.trim().chars() {
        if c.is_ascii_digit() {
            if !digits {
                flush(&mut runs, &mut current, digits);
                digits = true;
            }
            current.push(c);
        } else if c.is_alphanumeric() {
            if digits {
                flush(&mut runs, &mut current, digits);
                digits = false;
            }
            current.push(c);
        } else {
            flush(&mut runs, &mut current, digits);
        }
    }
    flush(&mut runs, &mut current, digits);
    runs.join(".")
}

/// True when `later` is a strictly later version than `earlier`.
pub fn is_later(later: &str, earlier: &str) -> bool {
    sort_key(later) > sort_key(earlier)
}

/// Plausible version text: 1-64 visible characters with at least one digit.
pub fn is_valid(version: &str) -> bool {
    let v = version.trim();
    !v.is_empty() && v.len() <= 64 && v.chars().any(|c| c.is_ascii_digit()) && !v.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_as_numbers() {
        assert!(is_later("1.10", "1.9"));
        assert!(is_later("2.0", "1.99.99"));
        assert!(is_later("1.0.1", "1.0"));
        assert!(is_later("10.0", "9.9"));
        assert!(!is_later("1.9", "1.10"));
        assert!(!is_later("1.0", "1.0"));
        assert!(!is_later("01.02", "1.2"), "leading zeros do not count");
    }

    #[test]
    fn letters_and_separators() {
        assert!(is_later("1.0b", "1.0a"));
        assert!(is_later("v3.2.1", "v3.2"));
        assert_eq!(sort_key("1-10"), sort_key("1.10"));
        assert!(is_later("0B0D0012", "0B0D0011"));
        let mut versions = vec!["1.10", "1.2", "1.9", "1.1", "2.0", "1.10.1"];
        versions.sort_by_key(|v| sort_key(v));
        assert_eq!(versions, ["1.1", "1.2", "1.9", "1.10", "1.10.1", "2.0"]);
    }

    #[test]
    fn validity() {
        assert!(is_valid("3.1.4"));
        assert!(!is_valid(""));
        assert!(!is_valid("beta"));
        assert!(!is_valid(&"1".repeat(65)));
    }
}
