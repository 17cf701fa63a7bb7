use std::path::PathBuf;

use clap::{Parser, Subcommand};
use uit_portal::config::Config;
use uit_portal::{bootstrap, openapi, telemetry, Application};

/// UIT Portal: the UIT collaboration backend for GB smart metering.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML configuration file (also PORTAL_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Run the background work without HTTP: notification fan-out, digests and delivery, the
    /// mail outbox and the clocks, until SIGTERM or SIGINT.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an operator organisation and its admin.
    CreateOperator {
        #[arg(long, default_value = "Operator")]
        name: String,
        #[arg(long)]
        slug: String,
        #[arg(long)]
        email: String,
        /// A file holding the password; without it a password is generated and printed once.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Load a small demo industry into an empty catalogue (every account's password: uit-demo-password).
    SeedDemo,
    /// Generate a large estate for benchmarks (additive; deterministic for a seed).
    SeedScale {
        #[arg(long, default_value_t = 200)]
        device_models: usize,
        #[arg(long, default_value_t = 2000)]
        firmware: usize,
        #[arg(long, default_value_t = 20000)]
        device_sets: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Results to generate, with an open benchmark window (see `seed-scale --help`).
        #[arg(long, default_value_t = 0)]
        results: usize,
        /// Give each generated supplier an admin `admin@<slug>.scale` with this password.
        #[arg(long)]
        user_password: Option<String>,
    },
    /// Import a Deployed Products List file (CSV with a header, or JSON lines) as of a date,
    /// with a progress bar on stderr; prints the import as JSON.
    ImportDpl {
        /// The DPL file.
        file: PathBuf,
        /// The date the DPL describes (YYYY-MM-DD).
        #[arg(long)]
        as_of: chrono::NaiveDate,
        /// csv or jsonl; by default from the file's extension (.jsonl, .ndjson: jsonl; else csv).
        #[arg(long, value_parser = ["csv", "jsonl"])]
        format: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    tune_allocator();
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        println!("{}", openapi::spec().to_pretty_json()?);
        return Ok(());
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    telemetry::init(&config.log_format, &config.log_level);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Worker => worker(config),
        Command::Migrate => {
            uit_portal::prepare_database(&config)?;
            println!("database is migrated");
            Ok(())
        }
        Command::CreateOperator {
            name,
            slug,
            email,
            password_file,
        } => {
            let (password, generated) = match password_file {
                Some(path) => (std::fs::read_to_string(path)?.trim().to_string(), false),
                None => (bootstrap::generate_password(), true),
            };
            anyhow::ensure!(
                password.chars().count() >= 12,
                "the password must be at least 12 characters"
            );
            let db = uit_portal::prepare_database(&config)?;
            let mut conn = db.pool.get()?;
            let created = bootstrap::create_operator(&mut conn, &name, &slug, &email.trim().to_lowercase(), &password)
                .map_err(|e| anyhow::anyhow!(e.detail))?;
            println!(
                "created organisation {} ({})",
                created.organisation.slug, created.organisation.id
            );
            println!("admin: {}", created.admin.email);
            if generated {
                println!("password (shown once): {password}");
            }
            Ok(())
        }
        Command::SeedDemo => {
            let db = uit_portal::prepare_database(&config)?;
            let mut conn = db.pool.get()?;
            let demo = uit_portal::seed::demo::seed(&mut conn).map_err(|e| anyhow::anyhow!(e.detail))?;
            print_demo(&config, &demo);
            Ok(())
        }
        Command::SeedScale {
            device_models,
            firmware,
            device_sets,
            seed,
            results,
            user_password,
        } => {
            let db = uit_portal::prepare_database(&config)?;
            let mut conn = db.pool.get()?;
            let options = uit_portal::seed::scale::ScaleOptions {
                device_models,
                firmware,
                device_sets,
                seed,
                results,
                user_password,
            };
            let started = std::time::Instant::now();
            let report = uit_portal::seed::scale::seed(&mut conn, &options).map_err(|e| anyhow::anyhow!(e.detail))?;
            eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::ImportDpl { file, as_of, format } => {
            let format = format
                .as_deref()
                .and_then(uit_portal::estate::model::ImportFormat::parse);
            let done = uit_portal::estate::cli::import_file(&config, &file, as_of, format)?;
            println!("{}", serde_json::to_string_pretty(&done)?);
            Ok(())
        }
        Command::Openapi => unreachable!(),
    }
}

/// glibc raises its mmap threshold after each large free (up to 32 MiB), after which argon2's
/// 19 MiB of working memory per hash, and large query results, come from per-thread arenas and
/// stay resident: a login storm grew the server to 1.7 GB (bench/load). A fixed threshold
/// keeps allocations of 1 MiB and more in their own mappings, returned to the system on free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

#[actix_web::main]
async fn worker(config: Config) -> anyhow::Result<()> {
    uit_portal::run_worker(config).await?;
    tracing::info!("stopped");
    Ok(())
}

#[actix_web::main]
async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

/// `seed-demo`'s closing message: the accounts, the open window and three first calls to try.
fn print_demo(config: &Config, demo: &uit_portal::seed::demo::Demo) {
    let password = uit_portal::seed::demo::DEMO_PASSWORD;
    println!("demo industry loaded; every account's password is {password}");
    for a in &demo.accounts {
        println!("  {:<36} {:<8} {} ({})", a.email, a.role, a.organisation, a.kind);
    }
    let base = config.public_url.trim_end_matches('/');
    let window = &demo.window_id;
    println!();
    println!("open UIT window: {} (id {window})", demo.window_name);
    println!("  with claims, results (one a known issue, one an unexplained failure), defect masks,");
    println!("  roadmap items and firmware-library contacts; API docs at {base}/docs/");
    println!();
    println!("three first calls (start the server with `uit-portal serve`; uses jq):");
    println!(
        "  TOKEN=$(curl -s {base}/api/v1/auth/login -H 'Content-Type: application/json' \\\n    \
         -d '{{\"email\":\"admin@northern-lights.demo\",\"password\":\"{password}\"}}' | jq -r .access_token)"
    );
    println!("  curl -s {base}/api/v1/uit-windows/{window}/coverage -H \"Authorization: Bearer $TOKEN\"");
    println!(
        "  curl -s {base}/api/v1/uit-windows/{window}/matrix -H \"Authorization: Bearer $TOKEN\" -H 'Accept: text/csv'"
    );
}
