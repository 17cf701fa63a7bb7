//! Just enough `multipart/form-data` (RFC 7578) for `curl -F file=@report.xml`: the one file
//! part of a form, found in a body already read within the request size limit.
//!
//! Linear in the body: the boundary is searched with `memmem`, each part's headers are bounded,
//! and so is the number of parts.

use memchr::memmem;

/// At most this many parts in a form.
const MAX_PARTS: usize = 16;
/// At most this many bytes of headers per part.
const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The boundary of a `multipart/form-data` content type; `Ok(None)` for other types.
pub fn boundary(content_type: &str) -> Result<Option<String>, String> {
    let mut parts = content_type.split(';');
    let mime = parts.next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return Ok(None);
    }
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("boundary") {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            if value.is_empty() || value.len() > 70 {
                return Err("the multipart boundary must be 1 to 70 characters".into());
            }
            return Ok(Some(value.to_string()));
        }
    }
    Err("a multipart/form-data body needs a boundary parameter".into())
}

/// One part's `Content-Disposition` parameters.
#[derive(Debug, Default)]
struct Disposition {
    name: Option<String>,
    filename: Option<String>,
}

/// Reads `form-data; name="file"; filename="report.xml"` (quoted values may hold `;`).
fn disposition(value: &str) -> Result<Disposition, String> {
    let mut out = Disposition::default();
    let mut rest = value.trim();
    let kind_end = rest.find(';').unwrap_or(rest.len());
    if !rest[..kind_end].trim().eq_ignore_ascii_case("form-data") {
        return Err("each part must be form-data".into());
    }
    rest = &rest[kind_end..];
    while let Some(after) = rest.strip_prefix(';') {
        let after = after.trim_start();
        let Some(eq) = after.find('=') else {
            break;
        };
        let key = after[..eq].trim().to_ascii_lowercase();
        let value_start = after[eq + 1..].trim_start();
        let (value, remaining) = if let Some(quoted) = value_start.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or("an unterminated quoted value in Content-Disposition")?;
            (value, &quoted[end..])
        } else {
            let end = value_start.find(';').unwrap_or(value_start.len());
            (value_start[..end].trim().to_string(), &value_start[end..])
        };
        match key.as_str() {
            "name" => out.name = Some(value),
            "filename" => out.filename = Some(value),
            _ => {}
        }
        rest = remaining.trim_start();
    }
    Ok(out)
}

/// The file of the form: the part named `file`, or else the only part that carries a file
/// name. The error is a message fit for a 400.
pub fn file<'a>(body: &'a [u8], boundary: &str) -> Result<&'a [u8], String> {
    let delimiter = format!("--{boundary}");
    let next_part = format!("\r\n--{boundary}");
    let finder = memmem::Finder::new(next_part.as_bytes());
    // The first delimiter opens the body or follows a preamble line.
    let mut pos = if body.starts_with(delimiter.as_bytes()) {
        delimiter.len()
    } else {
        finder
            .find(body)
            .map(|p| p + next_part.len())
            .ok_or("the multipart body does not contain its boundary")?
    };
    let mut named_file = None;
    let mut with_filename = Vec::new();
    let mut names = Vec::new();
    for _ in 0..=MAX_PARTS {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return pick(named_file, with_filename, &names);
        }
        // Transport padding may follow a delimiter before its line break.
        let line_end = memmem::find(&rest[..rest.len().min(256)], b"\r\n")
            .filter(|&e| rest[..e].iter().all(|b| *b == b' ' || *b == b'\t'))
            .ok_or("a multipart delimiter must end its line")?;
        let headers_start = pos + line_end + 2;
        let window = &body[headers_start..body.len().min(headers_start + MAX_HEADER_BYTES + 4)];
        let headers_len = memmem::find(window, b"\r\n\r\n").ok_or(format!(
            "multipart part headers must end within {MAX_HEADER_BYTES} bytes"
        ))?;
        let headers =
            std::str::from_utf8(&window[..headers_len]).map_err(|_| "multipart part headers must be UTF-8")?;
        let mut disposition_found = None;
        for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').ok_or("a multipart part header has no colon")?;
            if name.trim().eq_ignore_ascii_case("content-disposition") {
                disposition_found = Some(disposition(value)?);
            }
        }
        let found = disposition_found.ok_or("each multipart part needs a Content-Disposition header")?;
        let content_start = headers_start + headers_len + 4;
        let content_len = finder
            .find(&body[content_start..])
            .ok_or("the multipart body ends without its closing boundary")?;
        let content = &body[content_start..content_start + content_len];
        let name = found.name.unwrap_or_default();
        if name == "file" && named_file.is_none() {
            named_file = Some(content);
        } else if found.filename.is_some() {
            with_filename.push(content);
        }
        names.push(name);
        pos = content_start + content_len + next_part.len();
    }
    Err(format!("a form may hold at most {MAX_PARTS} parts"))
}

fn pick<'a>(named: Option<&'a [u8]>, with_filename: Vec<&'a [u8]>, names: &[String]) -> Result<&'a [u8], String> {
    if let Some(file) = named {
        return Ok(file);
    }
    match with_filename.as_slice() {
        [only] => Ok(only),
        _ => Err(format!(
            "the form must carry the report as a file part named \"file\" (curl -F file=@report.xml); it has {}",
            if names.is_empty() {
                "no parts".to_string()
            } else {
                format!(
                    "parts named {}",
                    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
                )
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURL: &[u8] = b"--------------------------abc123\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report;1.xml\"\r\nContent-Type: application/xml\r\n\r\n<testsuite/>\r\n\r\n--------------------------abc123--\r\n";

    #[test]
    fn reads_the_file_part_curl_sends() {
        let b = boundary("multipart/form-data; boundary=------------------------abc123")
            .unwrap()
            .unwrap();
        assert_eq!(file(CURL, &b).unwrap(), b"<testsuite/>\r\n");
        assert_eq!(boundary("application/xml").unwrap(), None);
        assert_eq!(
            boundary("multipart/form-data; boundary=\"q b\"").unwrap().as_deref(),
            Some("q b")
        );
        assert!(boundary("multipart/form-data").is_err());
    }

    #[test]
    fn a_lone_file_part_under_another_name_is_the_report() {
        let body = b"preamble\r\n--b\r\ncontent-disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--b\r\nContent-Disposition: form-data; name=\"report\"; filename=\"r.xml\"\r\n\r\n<x/>\r\n--b--";
        assert_eq!(file(body, "b").unwrap(), b"<x/>");
    }

    #[test]
    fn broken_forms_are_refused() {
        assert!(file(b"no boundary here", "b").is_err());
        assert!(file(b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n<x/>", "b").is_err());
        assert!(file(
            b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--",
            "b"
        )
        .unwrap_err()
        .contains("\"a\""));
        let many: Vec<u8> = (0..40)
            .flat_map(|_| b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n".to_vec())
            .chain(b"--b--".to_vec())
            .collect();
        assert!(file(&many, "b").unwrap_err().contains("at most"));
        let long_headers = format!("--b\r\nX: {}\r\n\r\nx\r\n--b--", "a".repeat(10_000));
        assert!(file(long_headers.as_bytes(), "b").unwrap_err().contains("headers"));
    }
}
