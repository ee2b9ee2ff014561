//! Reading the files a command is given, within bounds: every file is read
//! up to what it can legitimately hold and refused past that (a file that
//! names `/dev/zero`, or a 24 GB file where an encoding of a few KiB is
//! expected, must not be read until the kernel kills the process), and a
//! file named inside a checkpoint directory must stay inside it.
//!
//! What lives here: [`read_bounded`] (a whole file or standard input, with
//! its bound and the reason for it) and [`inside`] (a name from
//! `checkpoint.json` resolved in its directory). Trace files are read line
//! by line by `freeset_cli::trace::read_lines`, with their own bound.
//!
//! What must never happen here: a read that grows past its bound, or a
//! failure classified by guesswork: a file that cannot be opened or read is
//! [`Failure::Usage`] (exit 2), a file whose contents are wrong (too long, a
//! name that leaves its directory) is [`Failure::Check`] (exit 1).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::exit::Failure;

/// How a file is named in messages: its path, or `standard input` for `-`.
pub fn name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "standard input".into()
    } else {
        path.display().to_string()
    }
}

/// Reads all of `path` (`-` is standard input) if it holds at most `bound`
/// bytes. A longer file is refused with a message saying `why` the bound is
/// what it is, after reading at most `bound + 1` bytes (a regular file whose
/// size says it is too long is not read at all).
pub fn read_bounded(path: &Path, bound: u64, why: &str) -> Result<Vec<u8>, Failure> {
    let name = name(path);
    let too_long = || Failure::Check(format!("{name}: more than {bound} bytes, {why}"));
    let cannot_read = |e: io::Error| Failure::Usage(format!("{name}: cannot read: {e}"));
    let bytes = if path.as_os_str() == "-" {
        read_at_most(io::stdin().lock(), bound, 0).map_err(cannot_read)?
    } else {
        let file =
            File::open(path).map_err(|e| Failure::Usage(format!("{name}: cannot open: {e}")))?;
        // A regular file says how long it is; devices, pipes and
        // directories say nothing useful and are read up to the bound.
        let len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        if len.is_some_and(|len| len > bound) {
            return Err(too_long());
        }
        read_at_most(file, bound, len.unwrap_or(0)).map_err(cannot_read)?
    };
    match bytes {
        Some(bytes) => Ok(bytes),
        None => Err(too_long()),
    }
}

/// The bytes of `reader` if there are at most `bound` of them, `None` if
/// there are more (then `bound + 1` were read). `hint` is the expected
/// length, to allocate once.
fn read_at_most(reader: impl Read, bound: u64, hint: u64) -> io::Result<Option<Vec<u8>>> {
    let capacity = usize::try_from(hint.min(bound)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    reader
        .take(bound.saturating_add(1))
        .read_to_end(&mut bytes)?;
    debug_assert!(bytes.len() as u64 <= bound.saturating_add(1));
    Ok((bytes.len() as u64 <= bound).then_some(bytes))
}

/// The file that `json` (a `checkpoint.json` in `dir`) names `file`:
/// `dir/file`, if it lies inside `dir`.
/// Refused as [`Failure::Check`] (the checkpoint's contents are wrong): an
/// empty or absolute name, a name with a `..` component, and a name that
/// resolves (through symbolic links) outside the directory. A file that does
/// not exist is [`Failure::Usage`], as any file that cannot be opened.
pub fn inside(dir: &Path, file: &str, json: &str) -> Result<PathBuf, Failure> {
    let relative = Path::new(file);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if file.is_empty() || !plain {
        return Err(Failure::Check(format!(
            "{json}: the file {file:?} is not inside the checkpoint directory: name it \
             relative to the directory, without '..' or a leading '/'"
        )));
    }
    let shown = dir.join(relative);
    let cannot_open =
        |path: &Path, e: io::Error| Failure::Usage(format!("{}: cannot open: {e}", path.display()));
    let dir_real = dir.canonicalize().map_err(|e| cannot_open(dir, e))?;
    let real = shown.canonicalize().map_err(|e| cannot_open(&shown, e))?;
    if !real.starts_with(&dir_real) || real == dir_real {
        return Err(Failure::Check(format!(
            "{json}: the file {file:?} resolves to {}, outside the checkpoint directory {}",
            real.display(),
            dir_real.display()
        )));
    }
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("freeset-input-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_file_is_read_up_to_its_bound() {
        let dir = scratch("bound");
        let path = dir.join("f");
        fs::write(&path, [7u8; 100]).unwrap();
        assert_eq!(read_bounded(&path, 100, "why").unwrap(), [7u8; 100]);
        let err = read_bounded(&path, 99, "the reason").unwrap_err();
        assert_eq!(err.code(), crate::exit::CHECK_FAILED);
        assert!(
            err.to_string().contains("more than 99 bytes, the reason"),
            "{err}"
        );
        assert!(err.to_string().contains(&path.display().to_string()));
        // Missing: usage.
        let err = read_bounded(&dir.join("missing"), 10, "why").unwrap_err();
        assert_eq!(err.code(), crate::exit::USAGE, "{err}");
        assert!(err.to_string().contains("cannot open"), "{err}");
        // A directory opens on Linux but cannot be read: usage.
        let err = read_bounded(&dir, 10, "why").unwrap_err();
        assert_eq!(err.code(), crate::exit::USAGE, "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_endless_source_stops_one_byte_past_the_bound() {
        assert_eq!(read_at_most(io::repeat(1), 1000, 0).unwrap(), None);
        assert_eq!(
            read_at_most(&[1u8; 5][..], 5, 99).unwrap(),
            Some(vec![1; 5])
        );
        assert_eq!(read_at_most(&[1u8; 6][..], 5, 0).unwrap(), None);
        assert_eq!(read_at_most(&[][..], 0, 0).unwrap(), Some(vec![]));
        if Path::new("/dev/zero").exists() {
            let err = read_bounded(Path::new("/dev/zero"), 1 << 16, "why").unwrap_err();
            assert_eq!(err.code(), crate::exit::CHECK_FAILED);
        }
    }

    #[test]
    fn names_in_a_checkpoint_stay_inside_its_directory() {
        let dir = scratch("inside");
        let outside = scratch("outside");
        fs::write(dir.join("a.ewah"), b"").unwrap();
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/b.ewah"), b"").unwrap();
        fs::write(outside.join("secret"), b"").unwrap();
        let json = "dir/checkpoint.json";

        assert_eq!(inside(&dir, "a.ewah", json).unwrap(), dir.join("a.ewah"));
        assert!(inside(&dir, "sub/b.ewah", json).is_ok());
        assert!(inside(&dir, "./a.ewah", json).is_ok());

        let secret = outside.join("secret");
        let escapes = [
            "",
            "/etc/passwd",
            "/dev/zero",
            "../outside/secret",
            "sub/../a.ewah",
            "..",
            secret.to_str().unwrap(),
        ];
        for name in escapes {
            let err = inside(&dir, name, json).unwrap_err();
            assert_eq!(err.code(), crate::exit::CHECK_FAILED, "{name}: {err}");
            assert!(err.to_string().starts_with(json), "{err}");
        }
        // "." is the directory itself, not a file in it.
        assert_eq!(
            inside(&dir, ".", json).unwrap_err().code(),
            crate::exit::CHECK_FAILED
        );
        // Missing inside: cannot be opened, usage.
        let err = inside(&dir, "missing.ewah", json).unwrap_err();
        assert_eq!(err.code(), crate::exit::USAGE, "{err}");

        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink(&secret, dir.join("link.ewah")).unwrap();
            symlink("/dev/zero", dir.join("zero.ewah")).unwrap();
            symlink("a.ewah", dir.join("alias.ewah")).unwrap();
            for name in ["link.ewah", "zero.ewah"] {
                let err = inside(&dir, name, json).unwrap_err();
                assert_eq!(err.code(), crate::exit::CHECK_FAILED, "{name}: {err}");
                assert!(err.to_string().contains("outside"), "{err}");
            }
            // A link that stays inside is fine.
            assert!(inside(&dir, "alias.ewah", json).is_ok());
        }
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&outside).unwrap();
    }
}
