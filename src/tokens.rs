//! The admin API's bearer tokens: the tokens file (`[daemon] tokens_file`), read and
//! checked, and the roles a token may hold. Below the daemon, so that `validate` can check
//! the file without reaching up into the daemon.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::Path as FsPath;

/// What a token may do; each role can do what the ones before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Also retries pending work, probes targets, decides matches.
    Operator,
    /// Also approves and rejects held plans.
    Approver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
        }
    }
}

pub struct Token {
    pub name: String,
    pub role: Role,
    hash: [u8; 32],
}

/// The tokens the API accepts, by hash.
pub struct Tokens(Vec<Token>);

impl Tokens {
    /// Reads a tokens file: refused when others can read it, and naming every problem.
    pub fn load(path: &FsPath) -> Result<Tokens, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            tokens: Vec<Entry>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            name: String,
            role: Role,
            sha256: String,
        }
        let bytes = crate::config::files::read_secret(path, "admin API token hashes")?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{}: is not UTF-8 text", path.display()))?;
        let file: File = toml::from_str(&text).map_err(|e| {
            format!(
                "{}: {e}; write each token as [[tokens]] with name, role (viewer, operator or approver) and sha256",
                path.display()
            )
        })?;
        let mut problems = Vec::new();
        let mut out: Vec<Token> = Vec::new();
        for (i, e) in file.tokens.into_iter().enumerate() {
            let n = i + 1;
            let name = e.name.trim().to_string();
            if name.is_empty() || name.chars().any(char::is_control) || name.len() > 100 {
                problems.push(format!(
                    "token {n}: name must be one line of 1 to 100 characters"
                ));
            }
            if out.iter().any(|t| t.name == name) {
                problems.push(format!("token {n}: the name `{name}` is used twice"));
            }
            let Some(hash) = hex32(e.sha256.trim()) else {
                problems.push(format!(
                    "token {n} ({name}): sha256 must be 64 hex digits, the SHA-256 of the token (`turnstile token new` prints one)"
                ));
                continue;
            };
            out.push(Token {
                name,
                role: e.role,
                hash,
            });
        }
        if out.is_empty() && problems.is_empty() {
            problems.push("no [[tokens]]: list at least one".into());
        }
        if problems.is_empty() {
            Ok(Tokens(out))
        } else {
            Err(format!("{}: {}", path.display(), problems.join("; ")))
        }
    }

    /// The token whose hash matches, compared in constant time over every entry.
    pub fn find(&self, presented: &str) -> Option<&Token> {
        let h: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for t in &self.0 {
            let diff = t
                .hash
                .iter()
                .zip(h.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(t);
            }
        }
        found
    }
}

fn hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A new random token and the line that lists it (`turnstile token new`).
pub fn new_token() -> Result<(String, String), String> {
    use std::io::Read;
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .map_err(|e| format!("cannot read /dev/urandom for a random token: {e}"))?;
    let token: String = std::iter::once("tst_".to_string())
        .chain(raw.iter().map(|b| format!("{b:02x}")))
        .collect();
    let hash: String = Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((token, hash))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A tokens file with `text`, of mode `mode`.
    pub(crate) fn file(text: &str, mode: u32) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn a_tokens_file_names_every_problem_and_only_hashes_match() {
        let good = format!("{:x}", Sha256::digest(b"tst_secret"));
        let (_d, p) = file(
            &format!(
                "[[tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"{good}\"\n[[tokens]]\nname = \"a\"\nrole = \"approver\"\nsha256 = \"xyz\"\n"
            ),
            0o600,
        );
        let e = Tokens::load(&p).err().unwrap();
        assert!(e.contains("token 2: the name `a` is used twice"), "{e}");
        assert!(
            e.contains("token 2 (a): sha256 must be 64 hex digits"),
            "{e}"
        );
        let (_d, p) = file(
            &format!("[[tokens]]\nname = \"ops\"\nrole = \"operator\"\nsha256 = \"{good}\"\n"),
            0o600,
        );
        let t = Tokens::load(&p).unwrap();
        let found = t.find("tst_secret").unwrap();
        assert_eq!((found.name.as_str(), found.role), ("ops", Role::Operator));
        assert!(t.find("tst_secreT").is_none());
        assert!(t.find(&good).is_none(), "the hash itself is not a token");
        // Readable by others: refused whatever it holds.
        let (_d, p) = file(
            &format!("[[tokens]]\nname = \"ops\"\nrole = \"operator\"\nsha256 = \"{good}\"\n"),
            0o604,
        );
        assert!(
            Tokens::load(&p)
                .err()
                .unwrap()
                .contains("other users can read")
        );
        let (_d, p) = file("tokens = []\n", 0o600);
        assert!(Tokens::load(&p).err().unwrap().contains("no [[tokens]]"));
    }

    #[test]
    fn a_new_token_is_long_random_and_its_hash_matches() {
        let (t1, h1) = new_token().unwrap();
        let (t2, _) = new_token().unwrap();
        assert_ne!(t1, t2);
        assert!(t1.starts_with("tst_") && t1.len() == 68, "{t1}");
        assert_eq!(h1, format!("{:x}", Sha256::digest(t1.as_bytes())));
    }
}
