//! The UIT window pages: the list of windows, a window's header, coverage and compatibility
//! matrix as a heatmap (filtered, sorted and paged at 50 rows), its CSV, the results behind a
//! cell, and claiming and releasing a device set from the page.
//!
//! Every read goes through the functions the API handlers call, with the member's
//! `AuthContext`: the grid of `GET /uit-windows/{id}/matrix` and `/coverage`
//! (`matrix::model::grid`, then `matrix::handlers::{coverage, matrix, csv}`), the results list
//! and revisions of `GET /results` (`results::handlers::{list, revisions}`), and the claims of
//! `POST /uit-windows/{id}/claims` and `DELETE /claims/{id}` (`claims::handlers::{claim,
//! release}`). So a page can never show what the API would not.

mod cell;
mod claims;
mod list;
mod window;
mod words;

use actix_web::{web, HttpResponse};

use crate::http::ApiError;
pub use words::{relative, thousands, PageLink};

type Page = Result<HttpResponse, ApiError>;

/// Rows of a list or the matrix on one page.
const PER_PAGE: usize = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/windows").route(web::get().to(list::list)))
        .service(web::resource("/windows/{id}").route(web::get().to(window::window)))
        .service(web::resource("/windows/{id}/matrix.csv").route(web::get().to(window::matrix_csv)))
        .service(web::resource("/windows/{id}/cell").route(web::get().to(cell::cell)))
        .service(web::resource("/windows/{id}/claim").route(web::post().to(claims::claim)))
        .service(web::resource("/windows/{id}/release").route(web::post().to(claims::release)));
}
