//! The font of the pictures' text.
//!
//! Text needs a font even in SVG (`plotters` measures labels to lay the
//! chart out), and this crate is built without the system font stack
//! (`font-kit`, which links fontconfig and freetype): it uses `ab_glyph`
//! with a TrueType file read at run time, DejaVu Sans from Debian's
//! `fonts-dejavu-core` by default, or the file `FREESET_FONT` names.
//!
//! What must never happen here: a read of a font file without a bound (a
//! path may name `/dev/zero`), or a second registration of the font.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::style::FontStyle;

/// The environment variable naming a TrueType font file for the text.
pub const FONT_VAR: &str = "FREESET_FONT";

/// Where the font is looked for when `FREESET_FONT` is not set: Debian's
/// `fonts-dejavu-core`, and the same font where other systems put it.
const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

/// The font family every label is drawn with.
pub(super) const FAMILY: &str = "sans-serif";

/// Registers the font once per process; every drawing calls it first.
pub(super) fn font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates: Vec<PathBuf> = match std::env::var_os(FONT_VAR) {
            Some(path) => vec![PathBuf::from(path)],
            None => FONT_PATHS.iter().map(PathBuf::from).collect(),
        };
        let Some((path, bytes)) = candidates
            .iter()
            .find_map(|path| read_font(path).map(|bytes| (path, bytes)))
        else {
            return Err(format!(
                "no font for the picture's text: install Debian's fonts-dejavu-core, or set \
                 {FONT_VAR} to a TrueType file (looked at {})",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        // plotters keeps fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{}: not a TrueType font", path.display()))
    })
    .clone()
}

/// The most bytes a font file may take: 64 MiB (DejaVu Sans is under 1 MiB,
/// the largest CJK fonts about 20 MiB). A longer file, or `/dev/zero`, is no
/// font and is not read past that.
const FONT_BYTES_MAX: u64 = 64 << 20;

/// The bytes of the font file at `path`, `None` if it cannot be read or is
/// longer than [`FONT_BYTES_MAX`].
pub(super) fn read_font(path: &Path) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(FONT_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= FONT_BYTES_MAX).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_font_file_is_read_up_to_its_bound() {
        assert_eq!(read_font(Path::new("/nonexistent/font.ttf")), None);
        if Path::new("/dev/zero").exists() {
            // Endless: refused after FONT_BYTES_MAX + 1 bytes.
            assert_eq!(read_font(Path::new("/dev/zero")), None);
        }
    }
}
