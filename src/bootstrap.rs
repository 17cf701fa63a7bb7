//! First start: with an empty database, an operator organisation and its admin are created.

use std::io::Write;
use std::path::{Path, PathBuf};

use diesel::prelude::*;

use crate::audit::{self, Actor, Change};
use crate::auth::{password, tokens, OrgKind, Role};
use crate::db::schema::organisations;
use crate::db::{write_tx, DbConn};
use crate::http::ApiError;
use crate::http::ErrorCode;
use crate::organisations::model::{self, Organisation, User};

/// What `create_operator` made.
pub struct Created {
    pub organisation: Organisation,
    pub admin: User,
}

/// Creates an operator organisation with one admin, in one transaction.
pub fn create_operator(
    conn: &mut DbConn,
    name: &str,
    slug: &str,
    email: &str,
    password: &str,
) -> Result<Created, ApiError> {
    let hash = password::hash_blocking(password)?;
    write_tx(conn, |conn| {
        if model::slug_taken(conn, slug, None)?.is_some() {
            return Err(ApiError::conflict(
                ErrorCode::SlugTaken,
                format!("an organisation with slug {slug} exists"),
            ));
        }
        if model::email_taken(conn, email)? {
            return Err(ApiError::conflict(
                ErrorCode::UserExists,
                format!("a user with email {email} exists"),
            ));
        }
        let org = Organisation::from(model::insert_org(conn, name, slug, OrgKind::Operator)?);
        let admin = User::from(model::insert_user(
            conn,
            &org.id,
            email,
            "Operator admin",
            Role::Admin,
            &hash,
        )?);
        let actor = Actor::default();
        for (action, kind, id, after) in [
            (
                "organisation.create",
                "organisation",
                org.id.as_str(),
                serde_json::to_value(&org)?,
            ),
            ("user.create", "user", admin.id.as_str(), serde_json::to_value(&admin)?),
        ] {
            audit::record(conn, &actor, Change::new(action, kind, id).org(&org.id).after(after))?;
        }
        Ok(Created {
            organisation: org,
            admin,
        })
    })
}

/// A random password of 32 URL-safe characters.
pub fn generate_password() -> String {
    tokens::new_secret("")[..32].to_string()
}

/// Writes `contents` to a new file readable by the owner only.
pub fn write_private(path: &Path, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_ref())
}

/// Creates `dir` (with its parents) and makes it accessible to the owner only (0700): it holds
/// the database, secrets and emails with live tokens. A directory the server does not own
/// keeps its mode, with a warning.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not make the directory private (0700)");
        }
    }
    Ok(())
}

/// Makes the SQLite database at `path` readable by the owner only (0600), creating it empty
/// (which SQLite reads as a new database) when missing: SQLite creates its `-wal` and `-shm`
/// files with the database file's mode. Existing files of an older install are tightened.
pub fn private_sqlite_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}

/// On an empty database, creates the operator and its admin. With no configured password a
/// random one is written to `<data_dir>/bootstrap-admin-password.txt` (mode 0600).
pub fn ensure_operator(
    conn: &mut DbConn,
    email: &str,
    configured_password: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<Option<(Created, Option<PathBuf>)>> {
    let count: i64 = organisations::table.count().get_result(conn)?;
    if count > 0 {
        return Ok(None);
    }
    let (password, file) = match configured_password {
        Some(p) => (p.to_string(), None),
        None => {
            let p = generate_password();
            let path = data_dir.join("bootstrap-admin-password.txt");
            write_private(&path, format!("{email}\n{p}\n"))?;
            (p, Some(path))
        }
    };
    let created = create_operator(conn, "Operator", "operator", &email.to_lowercase(), &password)
        .map_err(|e| anyhow::anyhow!(e.to_string()))?;
    Ok(Some((created, file)))
}
