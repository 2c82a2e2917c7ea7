//! Secrets: a value never printed, files that must stay private, and a setting's secret read from its `*_file`. Imports nothing else from the crate.

use serde::Deserialize;
use std::path::PathBuf;

/// A password or key from config: never printed, not even in debug logs.
#[derive(Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Secret(String);

/// Written out (the config reference's defaults), a secret shows whether it is set, never
/// what it is.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "(set)" })
    }
}
impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}
/// Who may read or change a file that holds or steers secrets.
pub mod files {
    use std::path::Path;

    /// The permission bits of `path` (Unix).
    fn mode(path: &Path) -> Result<u32, String> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .map_err(|e| format!("{}: cannot read it: {e}", path.display()))
    }

    /// A file holding a secret must not be readable or writable by other users, nor
    /// writable by its group.
    pub fn check_private(path: &Path, what: &str) -> Result<(), String> {
        let m = mode(path)?;
        if m & 0o027 != 0 {
            return Err(format!(
                "{}: holds {what} but other users can read or change it (mode {:o}); run `chmod 600 {}`",
                path.display(),
                m & 0o777,
                path.display()
            ));
        }
        Ok(())
    }

    /// A config file anyone may change could point Turnstile at another directory or
    /// turn its guard off: refused whatever it holds.
    pub fn check_not_world_writable(path: &Path) -> Result<(), String> {
        let m = mode(path)?;
        if m & 0o002 != 0 {
            return Err(format!(
                "{}: any user can change it (mode {:o}); run `chmod 600 {}` (or 644 if it holds no secret)",
                path.display(),
                m & 0o777,
                path.display()
            ));
        }
        Ok(())
    }

    /// Writes a file that holds personal data (a report, a review pack, a survey): readable
    /// by its owner only (0600), written whole (a temporary file beside it, synced, then
    /// renamed over it, so a reader never sees half of it), and never through a symbolic
    /// link (one at `path` is refused: it could point anywhere).
    pub fn write_private(path: &Path, pieces: &[&[u8]]) -> Result<(), String> {
        write_private_with(path, &mut |w| {
            pieces.iter().try_for_each(|piece| w.write_all(piece))
        })
    }

    /// [`write_private`], the content written by `write` as it is made (a large survey
    /// or report is never held whole in memory first).
    pub fn write_private_with(
        path: &Path,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let shown = path.display();
        if let Ok(m) = std::fs::symlink_metadata(path)
            && m.file_type().is_symlink()
        {
            return Err(format!(
                "{shown}: is a symbolic link: refused (personal data is never written through a link); give the real path"
            ));
        }
        // A device or a pipe (`--out /dev/stdout`) is written as it is: never replaced.
        if let Ok(m) = std::fs::metadata(path)
            && !m.is_file()
        {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| format!("{shown}: cannot write it: {e}"))?;
            let mut w = std::io::BufWriter::new(f);
            return write(&mut w)
                .and_then(|()| w.flush())
                .map_err(|e| format!("{shown}: cannot write it: {e}"));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{shown}: not a file name"))?;
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            // create_new: never opens what is already there (a link included).
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            let mut w = std::io::BufWriter::new(f);
            write(&mut w)?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("{shown}: cannot write it: {e}"));
        }
        Ok(())
    }

    /// Reads a secret file after checking its mode; surrounding whitespace is dropped.
    pub fn read_secret(path: &Path, what: &str) -> Result<Vec<u8>, String> {
        check_private(path, what)?;
        let bytes =
            std::fs::read(path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
        let trimmed = bytes.trim_ascii().to_vec();
        if trimmed.is_empty() {
            return Err(format!("{}: holds {what} but is empty", path.display()));
        }
        Ok(trimmed)
    }
}
/// Fills `secret` from `file` when given; both at once is a mistake.
pub fn resolve_secret(
    secret: &mut Secret,
    file: &Option<PathBuf>,
    key: &str,
    problems: &mut Vec<String>,
) {
    let Some(path) = file else { return };
    if !secret.is_empty() {
        problems.push(format!(
            "{key} and {key}_file are both set: keep only {key}_file"
        ));
        return;
    }
    match files::read_secret(path, key).and_then(|b| {
        String::from_utf8(b).map_err(|_| format!("{}: {key} is not UTF-8 text", path.display()))
    }) {
        Ok(text) => *secret = Secret::new(text),
        Err(e) => problems.push(format!("{key}_file: {e}")),
    }
}
/// True when a config file itself (not the environment) gives a password, token or other
/// secret: any non-empty string under a key that names one, at any depth.
pub(super) fn holds_literal_secret(table: &toml::Table) -> bool {
    table.iter().any(|(key, value)| match value {
        toml::Value::Table(t) => holds_literal_secret(t),
        toml::Value::String(v) => {
            let key = key.to_ascii_lowercase();
            (!v.is_empty()
                && !key.ends_with("_file")
                && ["password", "token", "secret"]
                    .iter()
                    .any(|w| key.contains(w)))
                || (key.ends_with("url") && url_holds_password(v))
        }
        _ => false,
    })
}
/// Whether a connection URL carries a password: `scheme://user:password@host…`, or a
/// `key=value` connection string with `password=`.
pub(super) fn url_holds_password(url: &str) -> bool {
    if let Some((_, rest)) = url.split_once("://")
        && let (Some(user_info), _, _) = crate::input::authority(rest)
        && user_info.contains(':')
    {
        return true;
    }
    url.to_ascii_lowercase()
        .split(['&', '?', ' '])
        .any(|kv| kv.trim().starts_with("password="))
}
