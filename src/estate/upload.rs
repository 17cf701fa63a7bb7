//! Receiving a DPL upload: the body is streamed to a file in the data directory while its
//! SHA-256 is computed, never held in memory. The HTTP side ([`forward`]) passes the body's
//! chunks through a small bounded channel to the request's one blocking hop ([`receive`]),
//! which runs only once the caller is known to be entitled, so an unentitled caller's bytes
//! are never written; the channel's bound makes a slow disk slow the client down.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::model::ImportFormat;
use super::parse;
use crate::http::{ApiError, ErrorCode};

/// What the HTTP side hands the blocking side.
pub enum Chunk {
    Data(web::Bytes),
    End,
    Failed(ApiError),
}

/// Chunks in flight between the two sides (each at most actix's read buffer, some KiB).
const IN_FLIGHT: usize = 16;

pub fn channel() -> (mpsc::Sender<Chunk>, mpsc::Receiver<Chunk>) {
    mpsc::channel(IN_FLIGHT)
}

/// An uploaded file in the data directory, not yet a job's: removed when dropped unless
/// [`Upload::keep`] moved it to where its job reads it.
pub struct Upload {
    path: PathBuf,
    pub sha256: String,
    pub bytes: i64,
    pub format: ImportFormat,
}

impl Upload {
    /// Moves the file to `to` (the job's file).
    pub fn keep(&self, to: &Path) -> Result<(), ApiError> {
        std::fs::rename(&self.path, to).map_err(|e| ApiError::internal(format!("keeping the upload: {e}")))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Gone already when kept.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// 422 `invalid_dpl`: the body is text, as the spec says, but cannot be read as a DPL at all.
pub fn invalid(message: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(
        ErrorCode::InvalidDpl,
        format!("The DPL file cannot be read: {message}."),
    )
}

/// The format the `Content-Type` names; 415 for any other.
pub fn format_of(req: &HttpRequest) -> Result<ImportFormat, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "text/csv" => Ok(ImportFormat::Csv),
        "application/x-ndjson" => Ok(ImportFormat::Jsonl),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "A DPL is sent as text/csv (with a header line) or as application/x-ndjson (JSON lines).",
        )),
    }
}

/// The `Content-Length` the client declared, if any.
pub fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        format!("A DPL file may be at most {limit} bytes (estate_import_limit_bytes)."),
    )
}

/// The HTTP side: reads the body and sends its chunks on, then `End`, or `Failed` when the
/// body breaks off or passes `limit`. Stops as soon as the other side stops listening (the
/// caller was refused, or the file could not be written).
pub async fn forward(mut payload: web::Payload, sender: mpsc::Sender<Chunk>, limit: u64, declared: Option<u64>) {
    if declared.is_some_and(|n| n > limit) {
        let _ = sender.send(Chunk::Failed(too_large(limit))).await;
        return;
    }
    let mut total = 0u64;
    loop {
        let next = std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut payload), cx)).await;
        let chunk = match next {
            None => Chunk::End,
            Some(Ok(bytes)) => {
                total += bytes.len() as u64;
                if total > limit {
                    Chunk::Failed(too_large(limit))
                } else {
                    Chunk::Data(bytes)
                }
            }
            Some(Err(e)) => Chunk::Failed(ApiError::bad_request(
                ErrorCode::BadRequest,
                format!("The request body could not be read: {e}"),
            )),
        };
        let last = !matches!(chunk, Chunk::Data(_));
        if sender.send(chunk).await.is_err() || last {
            return;
        }
    }
}

/// The blocking side: writes the chunks to a new file in `dir`, hashing them, and checks the
/// file's start (a CSV header). Blocking: call on the blocking pool.
pub fn receive(mut chunks: mpsc::Receiver<Chunk>, dir: &Path, format: ImportFormat) -> Result<Upload, ApiError> {
    crate::bootstrap::private_dir(dir).map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
    let mut upload = Upload {
        path: dir.join(format!("upload-{}.part", crate::db::new_id())),
        sha256: String::new(),
        bytes: 0,
        format,
    };
    let file = std::fs::File::create(&upload.path)
        .map_err(|e| ApiError::internal(format!("creating the upload file: {e}")))?;
    let mut file = BufWriter::with_capacity(1 << 16, file);
    let mut hasher = Sha256::new();
    loop {
        match chunks.blocking_recv() {
            Some(Chunk::Data(bytes)) => {
                hasher.update(&bytes);
                file.write_all(&bytes)
                    .map_err(|e| ApiError::internal(format!("writing the upload: {e}")))?;
                upload.bytes += bytes.len() as i64;
            }
            Some(Chunk::End) => break,
            Some(Chunk::Failed(e)) => return Err(e),
            None => {
                return Err(ApiError::bad_request(
                    ErrorCode::BadRequest,
                    "The request body ended early.",
                ))
            }
        }
    }
    file.flush()
        .map_err(|e| ApiError::internal(format!("writing the upload: {e}")))?;
    drop(file);
    if upload.bytes == 0 {
        return Err(invalid("the body is empty"));
    }
    upload.sha256 = hex::encode(hasher.finalize());
    let start =
        std::fs::File::open(&upload.path).map_err(|e| ApiError::internal(format!("reading the upload: {e}")))?;
    parse::check(format, start).map_err(invalid)?;
    Ok(upload)
}

/// A file the command line imports in place: its SHA-256 and size, read in one pass.
pub fn hash_file(path: &Path) -> std::io::Result<(String, i64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0i64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as i64;
    }
    Ok((hex::encode(hasher.finalize()), bytes))
}
