//! Sizes and counts as the command line takes them: `4096`, `4K`, `4KB`,
//! `4KiB`, `1.5GiB`, and `TOTAL/BLOCK` grids such as `16TiB/512KiB`. Shared
//! by `freeset simulate` and `freeset inspect` (their `--blocks`,
//! `--block-size` and `--chunk-bytes`), so that the two read the same text
//! the same way.
//!
//! **Every unit is binary**: `K`, `KB` and `KiB` all mean 1024, `M`, `MB` and
//! `MiB` 1024², and so on up to `T`/`TB`/`TiB` (1024⁴), in any case (`4kb`
//! is `4KiB`). That is what storage people mean by a 4KB block; a decimal
//! kilobyte never sizes a block. `B` (or nothing) is bytes.
//!
//! What must never happen here: a value that is silently wrong. Zero, a
//! value past `u64`, a fraction that is not a whole number of bytes, an
//! unknown unit or anything else that is not the grammar below is an
//! [`SizeError`] that quotes the text; nothing rounds, wraps or saturates.
//!
//! ```text
//! size   = number [unit]          number = digits ["." digits]
//! unit   = "B" | "K" | "KB" | "KiB" | "M" | "MB" | "MiB"
//!        | "G" | "GB" | "GiB" | "T" | "TB" | "TiB"     (any case)
//! count  = number ["K" | "M" | "G" | "T"]              (any case)
//! blocks = count | size "/" size
//! ```
//!
//! Whitespace around the whole text and between the number and its unit is
//! allowed (`" 4 KiB "`), not inside either.
//!
//! ```
//! use freeset_cli::size::{parse_blocks, parse_size};
//!
//! assert_eq!(parse_size("4KB"), Ok(4096));
//! assert_eq!(parse_size("1.5k"), Ok(1536));
//! assert_eq!(parse_blocks("16TiB/512KiB"), Ok(1 << 25));
//! assert_eq!(parse_blocks("1M"), Ok(1 << 20)); // a count: 2^20 blocks
//! assert!(parse_size("0").is_err());
//! assert!(parse_blocks("4KB").is_err()); // a size, not a count: say 4KB/BLOCK
//! ```

/// A size or count the command line cannot take, quoting the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Empty, or not a number followed by a unit.
    #[error("'{0}' is not a size: write a number and an optional unit, such as 4096, 4K, 4KB or 4KiB (units K, M, G, T, all binary; B or none for bytes)")]
    NotASize(String),
    /// A unit the grammar does not know (`4XB`, `4PiB`, `4 bits`).
    #[error("unknown unit '{unit}' in '{text}': use B, K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB (binary, any case)")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// What stood where the unit goes.
        unit: String,
    },
    /// Zero, where at least one is needed.
    #[error("'{0}' is zero: it must be at least 1")]
    Zero(String),
    /// Past `u64::MAX`.
    #[error("'{0}' is more than 2^64 - 1")]
    Overflow(String),
    /// A fraction that leaves part of a byte or of a block (`0.5`, `1.1K`).
    #[error("'{0}' is not a whole number")]
    Fraction(String),
    /// A byte unit on a count of blocks: `--blocks 4KB` could mean 4096
    /// blocks or 4096 bytes of blocks.
    #[error("'{0}' is a size in bytes, not a number of blocks: write TOTAL/BLOCK (e.g. {0}/4KiB) or a count such as 4096 or 4K")]
    SizeNotCount(String),
    /// `TOTAL/BLOCK` where the total is not whole blocks.
    #[error("{total} bytes is not a whole number of {block}-byte blocks")]
    NotWholeBlocks {
        /// The total, in bytes.
        total: u64,
        /// The block size, in bytes.
        block: u64,
    },
}

/// The binary multiplier of a unit (`"KB"` is 2^10), `None` for a unit that
/// is not one. `count` allows only the bare multipliers `K`, `M`, `G`, `T`
/// (and none), which read as well for blocks as for bytes.
fn shift_of(unit: &str, count: bool) -> Option<u32> {
    let unit = unit.to_ascii_lowercase();
    let (letter, rest) = match unit.char_indices().nth(1) {
        Some((i, _)) => unit.split_at(i),
        None => (unit.as_str(), ""),
    };
    let shift = match letter {
        "" => return Some(0),
        "b" if rest.is_empty() && !count => return Some(0),
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    match rest {
        "" => Some(shift),
        "b" | "ib" if !count => Some(shift),
        _ => None,
    }
}

/// Parses `number [unit]` into a positive whole `u64`: the number times the
/// unit's binary multiplier, exactly.
fn parse(text: &str, count: bool) -> Result<u64, SizeError> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    let unit = unit.trim_start();
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) || fraction.contains('.') {
        return Err(SizeError::NotASize(text.to_string()));
    }
    let Some(shift) = shift_of(unit, count) else {
        if count && shift_of(unit, false).is_some() {
            return Err(SizeError::SizeNotCount(text.to_string()));
        }
        return Err(SizeError::UnknownUnit {
            text: text.to_string(),
            unit: unit.to_string(),
        });
    };
    let overflow = || SizeError::Overflow(text.to_string());
    // Digits only: the one way to fail is to be past u64.
    let whole: u64 = whole.parse().map_err(|_| overflow())?;
    let mut value = u128::from(whole) << shift;
    if !fraction.is_empty() {
        // The fraction's digits past the 19th cannot change a whole result
        // unless they are zeros; longer ones are refused rather than
        // rounded.
        let digits = fraction.trim_end_matches('0');
        if digits.len() > 19 {
            return Err(SizeError::Fraction(text.to_string()));
        }
        let scale = 10u128.pow(digits.len() as u32);
        let numerator = digits.parse::<u128>().unwrap_or(0) << shift;
        if numerator % scale != 0 {
            return Err(SizeError::Fraction(text.to_string()));
        }
        value += numerator / scale;
    }
    let value = u64::try_from(value).map_err(|_| overflow())?;
    if value == 0 {
        return Err(SizeError::Zero(text.to_string()));
    }
    Ok(value)
}

/// A size in bytes, at least 1: a number and an optional binary unit (see
/// the module doc).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    parse(text, false)
}

/// A count, at least 1: a number and an optional binary multiplier `K`, `M`,
/// `G` or `T` (`4K` is 4096). A byte unit (`4KB`, `4KiB`, `4B`) is refused:
/// see [`SizeError::SizeNotCount`].
pub fn parse_count(text: &str) -> Result<u64, SizeError> {
    parse(text, true)
}

/// The blocks of a grid: a count ([`parse_count`]), or `TOTAL/BLOCK`, two
/// sizes ([`parse_size`]) whose quotient is whole.
pub fn parse_blocks(text: &str) -> Result<u64, SizeError> {
    match text.split_once('/') {
        None => parse_count(text),
        Some((total, block)) => {
            let (total, block) = (parse_size(total)?, parse_size(block)?);
            if !total.is_multiple_of(block) {
                return Err(SizeError::NotWholeBlocks { total, block });
            }
            let blocks = total / block;
            if blocks == 0 {
                // The total is smaller than one block.
                return Err(SizeError::NotWholeBlocks { total, block });
            }
            Ok(blocks)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_is_binary_in_any_case() {
        for (unit, shift) in [("k", 10), ("m", 20), ("g", 30), ("t", 40)] {
            let upper = unit.to_ascii_uppercase();
            for spelling in [
                unit.to_string(),
                upper.clone(),
                format!("{unit}b"),
                format!("{upper}B"),
                format!("{upper}b"),
                format!("{upper}iB"),
                format!("{unit}ib"),
                format!("{upper}IB"),
            ] {
                assert_eq!(
                    parse_size(&format!("3{spelling}")),
                    Ok(3 << shift),
                    "{spelling}"
                );
                assert_eq!(
                    parse_size(&format!(" 3 {spelling}\t")),
                    Ok(3 << shift),
                    "{spelling}"
                );
            }
            assert_eq!(parse_count(&format!("3{unit}")), Ok(3 << shift));
            assert_eq!(parse_count(&format!("3{upper}")), Ok(3 << shift));
        }
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("4096b"), Ok(4096));
        assert_eq!(parse_count("4096"), Ok(4096));
    }

    #[test]
    fn fractions_must_give_whole_bytes() {
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("0.5K"), Ok(512));
        assert_eq!(parse_size("2.0"), Ok(2));
        assert_eq!(parse_size("1.25k"), Ok(1280));
        assert_eq!(parse_size("1.000000000000000000000000000K"), Ok(1024));
        assert_eq!(parse_count("1.5k"), Ok(1536));
        for bad in ["0.5", "1.1K", "1.0000000000000000000001T", "0.3T"] {
            assert_eq!(
                parse_size(bad),
                Err(SizeError::Fraction(bad.into())),
                "{bad}"
            );
        }
        for bad in [".5K", "1.", "1..5", "1.5.K", "1.2.3", "."] {
            assert!(
                matches!(parse_size(bad), Err(SizeError::NotASize(_))),
                "{bad}: {:?}",
                parse_size(bad)
            );
        }
    }

    #[test]
    fn the_edges_of_u64() {
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_size("18446744073709551615B"), Ok(u64::MAX));
        assert_eq!(parse_size("16777215T"), Ok(16_777_215 << 40));
        assert_eq!(parse_size("16777215.999999940395355224609375T").ok(), None);
        for bad in [
            "18446744073709551616",
            "99999999999999999999999999",
            "16777216T",
            "16777216TiB",
            "17179869184G",
            "18014398509481984K",
        ] {
            assert_eq!(
                parse_size(bad),
                Err(SizeError::Overflow(bad.into())),
                "{bad}"
            );
        }
        // The largest count below 2^64 in tebi: 2^24 - 1 T, plus a fraction.
        assert_eq!(
            parse_size("16777215.5T"),
            Ok((16_777_215 << 40) + (1 << 39))
        );
        assert_eq!(
            parse_size("16777215.9999999999999999999T"),
            Err(SizeError::Fraction("16777215.9999999999999999999T".into()))
        );
    }

    #[test]
    fn zero_and_garbage_are_refused() {
        for zero in ["0", "0K", "0.0GiB", "000", " 0 B"] {
            assert!(
                matches!(parse_size(zero), Err(SizeError::Zero(_))),
                "{zero}"
            );
        }
        assert!(matches!(parse_count("0"), Err(SizeError::Zero(_))));
        for garbage in ["", " ", "K", "KiB", "-5", "+5", "abc", "é"] {
            assert!(
                matches!(parse_size(garbage), Err(SizeError::NotASize(_))),
                "{garbage:?}: {:?}",
                parse_size(garbage)
            );
        }
        for unknown in [
            "4XB", "4PiB", "4P", "4Ki", "4kibb", "4bits", "4 bytes", "4iB", "4KiB5", "4 K iB",
            "1e6", "0x10", "4é",
        ] {
            assert!(
                matches!(parse_size(unknown), Err(SizeError::UnknownUnit { .. })),
                "{unknown:?}: {:?}",
                parse_size(unknown)
            );
        }
        let message = parse_size("4XB").unwrap_err().to_string();
        assert!(
            message.contains("'XB'") && message.contains("binary"),
            "{message}"
        );
    }

    #[test]
    fn counts_take_multipliers_not_byte_units() {
        for size in ["4KB", "4KiB", "4kib", "4B", "4 MB"] {
            assert_eq!(
                parse_count(size),
                Err(SizeError::SizeNotCount(size.trim().into())),
                "{size}"
            );
        }
        let message = parse_blocks("4KB").unwrap_err().to_string();
        assert!(message.contains("TOTAL/BLOCK"), "{message}");
        assert!(matches!(
            parse_count("4X"),
            Err(SizeError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn grids_are_counts_or_total_over_block() {
        assert_eq!(parse_blocks("16TiB/512KiB"), Ok(1 << 25));
        assert_eq!(parse_blocks("64MiB/4KiB"), Ok(16_384));
        assert_eq!(parse_blocks("256MB/4KB"), Ok(65_536));
        assert_eq!(parse_blocks("256mb/4k"), Ok(65_536));
        assert_eq!(parse_blocks("1GiB/4096"), Ok(1 << 18));
        assert_eq!(parse_blocks("4096B/512B"), Ok(8));
        assert_eq!(parse_blocks(" 1 GiB / 4 KiB "), Ok(1 << 18));
        assert_eq!(parse_blocks("1000"), Ok(1000));
        assert_eq!(parse_blocks(" 12 "), Ok(12));
        assert_eq!(parse_blocks("4k"), Ok(4096));
        assert_eq!(parse_blocks("16777215T/1"), Ok(16_777_215 << 40));
        assert_eq!(
            parse_blocks("3KiB/2KiB"),
            Err(SizeError::NotWholeBlocks {
                total: 3072,
                block: 2048
            })
        );
        assert_eq!(
            parse_blocks("1KiB/4KiB"),
            Err(SizeError::NotWholeBlocks {
                total: 1024,
                block: 4096
            })
        );
        for bad in [
            "",
            "0",
            "-5",
            "abc",
            "1e6",
            "1KiB/0",
            "0/4KiB",
            "1PiB/4KiB",
            "KiB/1",
            "99999999999TiB/1",
            "1/2/3",
            "/4K",
            "4K/",
            "18446744073709551616",
        ] {
            assert!(parse_blocks(bad).is_err(), "'{bad}' parsed");
        }
    }
}
