use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::diff::{self, PackDiff};
use super::model::{self, Review, ReviewPack, Verdict};
use crate::auth::{Caller, Capability};
use crate::db::{Db, WindowId};
use crate::http::accept;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::json::Json;
use crate::http::pagination::{keyed, list_page, list_query, Page};
use crate::http::responses::*;
use crate::http::ApiError;
use crate::AppState;

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReviewPack {
    /// Default: "<window> review pack, <date and time>".
    #[serde(default)]
    #[schema(example = "UIT-2027-03 exit review", max_length = 200)]
    pub title: Option<String>,
}

/// Freeze a window's evidence in a review pack
///
/// Operator organisations only. Freezes, at this moment: the window and its release, every
/// `industry` result (with its revision, names and the masks that explain it), the matrix,
/// coverage and readiness computed from those results, the defect masks they cite and the
/// window's unresolved UIT issues. The pack is stored as canonical JSON (keys sorted, no
/// insignificant whitespace) and never changes, whatever happens to the results later; its
/// SHA-256 (`sha256`, and the `ETag` of `GET /review-packs/{id}`) can be recomputed by anyone
/// from the download. Every organisation may read a pack: it holds only what they may read.
#[utoipa::path(
    tag = "review-packs",
    operation_id = "createReviewPack",
    request_body = NewReviewPack,
    params(
        ("id" = String, Path, description = "UIT window id"),
        crate::http::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 201, description = "Frozen", body = ReviewPack, headers(("Location" = String))),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
    ),
    security(("bearer" = []))
)]
#[post("/uit-windows/{id}/review-packs")]
pub async fn create_pack(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    key: IdempotencyKey,
    body: Json<NewReviewPack>,
) -> Result<HttpResponse, ApiError> {
    let window_id = path.into_inner();
    let body = body.into_inner();
    super::check_title(body.title.as_deref())?;
    let idem = key.bind(&format!("POST /uit-windows/{window_id}/review-packs"), &body);
    idempotency::create_as(&state.db, caller, idem, move |conn, ctx, once| {
        ctx.require(Capability::ManageIndustry)?;
        once.create(conn, |conn| super::freeze(conn, &ctx, &window_id, body.title))
    })
    .await
}

list_query! {
    pub struct PackListQuery {
    }
}

/// List a window's review packs
///
/// Any signed-in user. Oldest first, each with its hash, summary and current verdicts.
#[utoipa::path(
    tag = "review-packs",
    operation_id = "listReviewPacks",
    params(("id" = String, Path, description = "UIT window id"), PackListQuery),
    responses(
        (status = 200, description = "A page of review packs", body = Page<ReviewPack>),
    ),
    security(("bearer" = []))
)]
#[get("/uit-windows/{id}/review-packs")]
pub async fn list_packs(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WindowId>,
    query: web::Query<PackListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let window_id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        crate::windows::model::find(conn, &window_id)?.ok_or_else(ApiError::not_found)?;
        model::of_window(conn, &window_id, after, fetch)?
            .into_iter()
            .map(|row| row.api(conn))
            .collect::<Result<Vec<ReviewPack>, ApiError>>()
    })
    .await
}

keyed!(ReviewPack, id);

/// The stored parts of a pack, read a part per blocking hop as the client takes them, so a
/// large pack streams with flat memory.
pub struct Parts {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl futures_core::Stream for Parts {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

pub fn stream_part(db: Db, pack_id: String, part: &'static str) -> Parts {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    actix_web::rt::spawn(async move {
        for seq in 0.. {
            let id = pack_id.clone();
            let body = db.run(move |conn| Ok(model::part(conn, &id, part, seq)?)).await;
            let item = match body {
                Ok(Some(body)) => Ok(Bytes::from(body)),
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(pack_id = %pack_id, error = ?e, "reading a review pack's part failed");
                    Err(std::io::Error::other("review pack could not be read"))
                }
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    Parts { rx }
}

/// Download a review pack
///
/// Any signed-in user. The frozen evidence as canonical JSON (keys sorted, no insignificant
/// whitespace); its SHA-256 is the `ETag` (and the pack's `sha256`), so anyone can check the
/// download. `Accept: text/csv` gives the pack's results table instead (one line per result).
/// `If-None-Match` with the ETag answers 304. Streamed: the size of a pack does not matter.
#[utoipa::path(
    tag = "review-packs",
    operation_id = "getReviewPack",
    params(("id" = String, Path, description = "Review pack id")),
    responses(
        (status = 200, description = "The pack (JSON), or its results (CSV with `Accept: text/csv`)",
            content((Object = "application/json"), (String = "text/csv")), headers(("ETag" = String))),
        (status = 304, description = "Not modified (the ETag matches)"),
    ),
    security(("bearer" = []))
)]
#[get("/review-packs/{id}")]
pub async fn get_pack(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let lookup = id.clone();
    let row = state
        .db
        .read_as(caller, move |conn, _ctx| {
            model::find(conn, &lookup)?.ok_or_else(ApiError::not_found)
        })
        .await?;
    Ok(download(&req, state.db.clone(), id, &row.sha256, row.bytes))
}

/// The pack `id` (`bytes` long, hashed `sha256`) as its canonical JSON, or its results as CSV
/// when the client prefers `text/csv`: the hash is the `ETag` (the CSV's its own), a matching
/// `If-None-Match` is 304, and the body streams part by part.
fn download(req: &HttpRequest, db: Db, id: String, sha256: &str, bytes: i64) -> HttpResponse {
    let csv = accept::prefers(req, "text/csv", "application/json");
    // The CSV is another representation of the same pack: its own tag.
    let etag = if csv {
        format!("\"{sha256}-csv\"")
    } else {
        format!("\"{sha256}\"")
    };
    let unchanged = crate::http::etag::if_none_match(req)
        .iter()
        .any(|t| *t == etag || t == "*");
    if unchanged {
        return HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish();
    }
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, max-age=31536000, immutable"));
    if csv {
        resp.content_type("text/csv; charset=utf-8").insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"review-pack-{id}.csv\""),
        ));
        resp.streaming(stream_part(db, id, "csv"))
    } else {
        resp.content_type("application/json")
            .insert_header((header::CONTENT_LENGTH, bytes.to_string()));
        resp.streaming(stream_part(db, id, "json"))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The earlier pack to compare with (of the same window).
    pub against: String,
}

/// Compare two review packs
///
/// Any signed-in user. What changed from the pack `against` to this one (both of one window):
/// the cells whose worst outcome changed, the results added, amended (a new revision) or gone
/// (no longer an industry result), and the exit criteria that flipped.
#[utoipa::path(
    tag = "review-packs",
    operation_id = "diffReviewPacks",
    params(("id" = String, Path, description = "Review pack id"), DiffQuery),
    responses(
        (status = 200, description = "The differences", body = PackDiff),
    ),
    security(("bearer" = []))
)]
#[get("/review-packs/{id}/diff")]
pub async fn diff_packs(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<DiffQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let against = query.into_inner().against;
    let out = state
        .db
        .read_as(caller, move |conn, _ctx| diff::diff(conn, &id, &against))
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub verdict: Verdict,
    /// Required with `concerns` and `reject`: what the concern is.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub comment: String,
}

/// Record a verdict on a review pack
///
/// Reviewer organisations (SECAS, working groups) and the operator; not viewers. One current
/// verdict per organisation: a new one supersedes the organisation's previous verdict, which
/// stays in the history. `concerns` and `reject` need a comment. A decision that cites the pack
/// (`POST /releases/{id}/stage`) records the verdicts current at that moment.
#[utoipa::path(
    tag = "review-packs",
    operation_id = "reviewPack",
    request_body = NewReview,
    params(("id" = String, Path, description = "Review pack id")),
    responses(
        (status = 201, description = "Recorded", body = Review),
        (status = 403, response = Forbidden),
    ),
    security(("bearer" = []))
)]
#[post("/review-packs/{id}/reviews")]
pub async fn create_review(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: Json<NewReview>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body = body.into_inner();
    let review = state
        .db
        .write_as(caller, move |conn, ctx| {
            let comment = super::check_verdict(&ctx, body.verdict, &body.comment)?;
            super::record_verdict(conn, &ctx, &id, body.verdict, &comment)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/review-packs/{}/reviews", review.review_pack_id),
        ))
        .json(review))
}

/// List the verdicts on a review pack
///
/// Any signed-in user. Every verdict, oldest first; `current` marks each organisation's latest.
#[utoipa::path(
    tag = "review-packs",
    operation_id = "listPackReviews",
    params(("id" = String, Path, description = "Review pack id"), PackListQuery),
    responses(
        (status = 200, description = "A page of verdicts", body = Page<Review>),
    ),
    security(("bearer" = []))
)]
#[get("/review-packs/{id}/reviews")]
pub async fn list_reviews(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PackListQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.into_inner();
    list_page(&state.db, caller, &req, q.page()?, move |conn, _ctx, after, fetch| {
        model::find(conn, &id)?.ok_or_else(ApiError::not_found)?;
        let all = model::reviews(conn, &id, false)?;
        Ok(all
            .into_iter()
            .filter(|r| after.as_ref().is_none_or(|a| r.id > *a))
            .take(fetch as usize)
            .collect::<Vec<Review>>())
    })
    .await
}

keyed!(Review, id);
