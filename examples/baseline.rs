//! The bare baseline of the load benchmarks (bench/load/): one actix-web endpoint that reads one
//! organisation by key with diesel and returns it as JSON, and nothing else: no auth, no
//! middleware, no problem+json. It uses the portal's own pool (`uit_portal::db::Db`: the same
//! r2d2 settings, per-connection pragmas and blocking-pool hand-off) and the same number of
//! HTTP workers, so the gap between it and the portal is what the portal adds per request.
//!
//!     cargo build --release --example baseline
//!     target/release/examples/baseline --database-url sqlite://data/portal.db
//!     curl http://127.0.0.1:<port>/organisations/<id>
//!
//! It prints `listening on 127.0.0.1:<port>` once it accepts connections.

use actix_web::{get, web, App, HttpResponse, HttpServer};
use clap::Parser;
use diesel::prelude::*;
use serde::Serialize;
use uit_portal::db::schema::organisations;
use uit_portal::db::{Db, DbTarget};
use uit_portal::http::ApiError;

#[derive(Parser)]
struct Args {
    /// `sqlite://<path>` or `postgres://...`, as `PORTAL_DATABASE_URL`.
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// Pooled connections (the portal's `database_pool_size` default).
    #[arg(long, default_value_t = 8)]
    pool_size: u32,
    /// HTTP workers; 0 means the number of CPUs (the portal's `http_workers` default).
    #[arg(long, default_value_t = 0)]
    workers: usize,
}

#[derive(Queryable, Serialize)]
struct Organisation {
    id: String,
    name: String,
    slug: String,
    kind: String,
}

#[get("/organisations/{id}")]
async fn organisation(db: web::Data<Db>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let org = db
        .run(move |conn| {
            Ok(organisations::table
                .find(&id)
                .select((
                    organisations::id,
                    organisations::name,
                    organisations::slug,
                    organisations::kind,
                ))
                .first::<Organisation>(conn)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(org))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = DbTarget::parse(&args.database_url, "normal").map_err(anyhow::Error::msg)?;
    let db = web::Data::new(Db::connect(target, args.pool_size)?);
    let workers = match args.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    let listener = std::net::TcpListener::bind(&args.bind)?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || App::new().app_data(db.clone()).service(organisation))
        .workers(workers)
        .listen(listener)?
        .run();
    println!("listening on {addr}");
    server.await?;
    Ok(())
}
