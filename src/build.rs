//! Build script: `embed_migrations!` reads `migrations/` while the crate compiles, which cargo
//! cannot see, so a new or changed migration would not rebuild the binary by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
