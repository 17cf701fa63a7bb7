//! Cursor pagination: `?limit=&cursor=`, `{items, next_cursor}` and a `Link: rel="next"` header.
//!
//! Lists order by their UUIDv7 id, so the cursor is simply the last id seen, base64url-encoded
//! to keep it opaque.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::error::ErrorCode;
use crate::auth::{AuthContext, Caller};
use crate::db::{Db, DbConn};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    #[schema(schema_with = items_of::<T>)]
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `items` as an array of `$ref`s to `T`'s component. utoipa 5 would inline `T`'s whole
/// schema into every `Page_T` and leave `T`'s own component unused (juhaku/utoipa#1586).
fn items_of<T: ToSchema>() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(utoipa::openapi::Ref::from_schema_name(T::name()))
        .build()
}

/// A list's query parameters: `list_query! { pub struct MaskQuery { pub status: Option<MaskStatus> } }`
/// declares the list's own filters, then adds `limit` and `cursor` as every list takes them;
/// an unknown parameter is 400 (`deny_unknown_fields`).
macro_rules! list_query {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident: $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty,)*
            /// Page size, 1-500 (default 50).
            #[param(minimum = 1, maximum = 500)]
            pub limit: Option<i64>,
            /// Opaque cursor from `next_cursor`.
            #[param(min_length = 1, max_length = 86, pattern = "^[A-Za-z0-9_-]+$")]
            pub cursor: Option<String>,
        }

        impl $name {
            /// The page asked for: `limit` and `cursor`, validated (400 before any database work).
            pub fn page(&self) -> Result<$crate::http::pagination::PageRequest, $crate::http::ApiError> {
                $crate::http::pagination::PageRequest::new(self.limit, self.cursor.as_deref())
            }
        }
    };
}
pub(crate) use list_query;

/// A list's read: up to `fetch` items after the key `after`, in key order, for the caller.
pub trait Load<T>:
    FnOnce(&mut DbConn, AuthContext, Option<String>, i64) -> Result<Vec<T>, ApiError> + Send + 'static
{
}

impl<T, F> Load<T> for F where
    F: FnOnce(&mut DbConn, AuthContext, Option<String>, i64) -> Result<Vec<T>, ApiError> + Send + 'static
{
}

/// What a list is ordered by, usually the id: the last item's key is the next page's cursor.
pub trait Keyed {
    fn key(&self) -> &str;
}

/// `keyed!(DefectMask, id)`: lists of `DefectMask` are ordered by `id`.
macro_rules! keyed {
    ($t:ty, $field:ident) => {
        impl $crate::http::pagination::Keyed for $t {
            fn key(&self) -> &str {
                &self.$field
            }
        }
    };
}
pub(crate) use keyed;

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    /// The id after which (in list order) the page starts.
    pub after: Option<String>,
}

impl PageRequest {
    /// Validates `limit` (1..=500, default 50) and decodes `cursor`.
    pub fn new(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                format!("limit must be between 1 and {MAX_LIMIT}."),
            ));
        }
        let after = match cursor {
            None => None,
            Some(c) => {
                let bytes = URL_SAFE_NO_PAD
                    .decode(c)
                    .map_err(|_| ApiError::bad_request(ErrorCode::InvalidCursor, "The cursor is not valid."))?;
                let id = String::from_utf8(bytes)
                    .ok()
                    .filter(|s| !s.is_empty() && s.len() <= 64)
                    .ok_or_else(|| ApiError::bad_request(ErrorCode::InvalidCursor, "The cursor is not valid."))?;
                Some(id)
            }
        };
        Ok(Self { limit, after })
    }

    /// How many rows to fetch: one extra tells whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the over-fetched rows to a page; `id_of` gives each row's id.
    pub fn finish<T>(&self, mut rows: Vec<T>, id_of: impl Fn(&T) -> &str) -> Page<T> {
        let next_cursor = if rows.len() as i64 > self.limit {
            rows.truncate(self.limit as usize);
            rows.last().map(|r| URL_SAFE_NO_PAD.encode(id_of(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// A 200 with the page as JSON and, when there is more, a relative `Link` to the next page
/// that repeats the request's own filters.
pub fn page_response<T: Serialize>(req: &HttpRequest, page: &Page<T>) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    if let Some(cursor) = &page.next_cursor {
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        pairs.retain(|(k, _)| k != "cursor");
        pairs.push(("cursor".into(), cursor.clone()));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        resp.insert_header((header::LINK, format!("<{}?{}>; rel=\"next\"", req.path(), query)));
    }
    resp.json(page)
}

/// A cursor-paged list's whole round, for a list declared with `list_query!` of items that
/// are [`Keyed`]: `list_page(&state.db, caller, &req, q.page()?, move |conn, ctx, after,
/// fetch| ..).await`. The page request is validated before (a 400 before any database work);
/// in the caller's one read hop, `load` reads up to `fetch` rows after the cursor's key
/// (`after`) in key order, and the answer is the page cut by the items' key with its `Link`
/// header.
pub async fn list_page<T, F>(
    db: &Db,
    caller: Caller,
    req: &HttpRequest,
    page: PageRequest,
    load: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Keyed + Send + 'static,
    F: Load<T>,
{
    answer(db, caller, req, page, load, T::key).await
}

async fn answer<T, F>(
    db: &Db,
    caller: Caller,
    req: &HttpRequest,
    page: PageRequest,
    load: F,
    key: fn(&T) -> &str,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Send + 'static,
    F: Load<T>,
{
    let (after, fetch) = (page.after.clone(), page.fetch());
    let rows = db
        .read_as(caller, move |conn, ctx| load(conn, ctx, after, fetch))
        .await?;
    Ok(page_response(req, &page.finish(rows, key)))
}
