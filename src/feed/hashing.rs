//! Each file read is hashed as it is read, so a report names exactly the bytes it judged.

use super::*;

/// A file's SHA-256, worked out from the bytes a [`Table`] reads as it reads them: a
/// report's inputs are read once for their rows and their digests.
pub struct Digest {
    pub(super) path: std::path::PathBuf,
    pub(super) seen: std::rc::Rc<std::cell::RefCell<(sha2::Sha256, u64)>>,
}
/// A file that passes every byte read from it through a [`Digest`].
pub(super) struct Hashing {
    pub(super) file: std::fs::File,
    pub(super) seen: std::rc::Rc<std::cell::RefCell<(sha2::Sha256, u64)>>,
}
impl Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.file.read(buf)?;
        let mut seen = self.seen.borrow_mut();
        seen.0.update(&buf[..n]);
        seen.1 += n as u64;
        Ok(n)
    }
}
/// The SHA-256 of the file at `path`, in lower-case hex, read in blocks: memory stays
/// bounded whatever its size.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    Digest {
        path: path.to_path_buf(),
        seen: Default::default(),
    }
    .finish()
}
impl Digest {
    /// The file's SHA-256 in lower-case hex: of what the table read, and of the rest of
    /// the file where the table stopped before its end.
    pub fn finish(self) -> std::io::Result<String> {
        use sha2::Digest as _;
        use std::io::{Seek, SeekFrom};
        let (mut hash, read) = match std::rc::Rc::try_unwrap(self.seen) {
            Ok(cell) => cell.into_inner(),
            Err(shared) => shared.borrow().clone(),
        };
        let mut rest = std::fs::File::open(&self.path)?;
        rest.seek(SeekFrom::Start(read))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = rest.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        Ok(crate::audit::hex(&hash.finalize()))
    }
}
