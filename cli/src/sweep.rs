//! What `freeset bench --sweep` runs over: the sizes (2^20 to 2^30 blocks,
//! every other power of two), the workloads (acquire, encode and open of
//! the standard fills, on one thread), and the machine's data caches, so that
//! each size is labelled with the smallest cache one bitset fits in.
//!
//! The measuring lives in `freeset bench` (`src/bench.rs`); here are only the
//! pure parts it needs, so that they are tested. What must never happen here:
//! a cache size guessed rather than read (an unreadable one is "unknown"), or
//! a size whose bitsets the machine cannot hold (2^30 blocks is 128 MiB per
//! bitset; a set has three, and a workload at most two sets).

use std::path::Path;

use crate::workloads::Name;

/// Log2 of the block counts of the sweep: 2^20 (128 KiB per bitset, inside
/// L2 on most machines) to 2^30 (128 MiB, past every L3), four times larger
/// each step.
pub const LOG2_BLOCKS: [u32; 6] = [20, 22, 24, 26, 28, 30];

/// The largest size of `--quick` sweeps: 2^24 blocks, 2 MiB per bitset.
pub const QUICK_MAX_LOG2: u32 = 24;

/// The workloads of the sweep, each at every size: `acquire_fill` (an empty
/// set acquired whole), `encode_random` and `open_random` (`random(0.5)`).
pub const WORKLOADS: [Name; 3] = [Name::AcquireFill, Name::EncodeRandom, Name::OpenRandom];

/// The block counts of the sweep, smallest first, up to 2^`max_log2`.
pub fn blocks(max_log2: u32) -> Vec<u64> {
    LOG2_BLOCKS
        .into_iter()
        .filter(|&n| n <= max_log2)
        .map(|n| 1u64 << n)
        .collect()
}

/// One data (or unified) cache level of the CPU the process runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cache {
    /// 1 for L1, 2 for L2, ...
    pub level: u8,
    /// Size in bytes.
    pub bytes: u64,
}

/// The data and unified caches of CPU 0, smallest level first, from
/// `/sys/devices/system/cpu/cpu0/cache`; `None` where that cannot be read
/// (not Linux, a container hiding it).
pub fn caches() -> Option<Vec<Cache>> {
    caches_in(Path::new("/sys/devices/system/cpu/cpu0/cache"))
}

/// The caches described under `dir` (one `index*` directory per cache, with
/// `level`, `type` and `size` files, as Linux lays them out).
pub fn caches_in(dir: &Path) -> Option<Vec<Cache>> {
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let mut caches = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        let is_index = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("index"));
        if !is_index {
            continue;
        }
        // Instruction caches never hold a bitset.
        if read(&path.join("type"))?.trim() == "Instruction" {
            continue;
        }
        let level = read(&path.join("level"))?.trim().parse().ok()?;
        let bytes = parse_size(&read(&path.join("size"))?)?;
        caches.push(Cache { level, bytes });
    }
    caches.sort_by_key(|c| c.level);
    caches.dedup_by_key(|c| c.level);
    (!caches.is_empty()).then_some(caches)
}

/// A cache size as Linux writes it: `32K`, `512K`, `32768K`, `1M`, or bytes
/// (the command line's size syntax, `crate::size`, which reads these as
/// Linux means them: binary).
pub fn parse_size(text: &str) -> Option<u64> {
    crate::size::parse_size(text).ok()
}

/// Bytes in binary units: `128 KiB`, `32 MiB`.
pub fn show_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b.is_multiple_of(1 << 30) => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b.is_multiple_of(1 << 20) => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b.is_multiple_of(1 << 10) => format!("{} KiB", b >> 10),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b => format!("{b} B"),
    }
}

/// The smallest cache `bytes` fit in (`L2 (512 KiB)`), `memory` past the
/// last one, or `unknown` when the caches could not be read. One bitset
/// fitting is the note: a workload touches more (the other bitsets, the
/// encoded bytes), so at the exact size of a cache it already spills.
pub fn fits(bytes: u64, caches: Option<&[Cache]>) -> String {
    let Some(caches) = caches else {
        return "unknown".to_string();
    };
    match caches.iter().find(|c| bytes <= c.bytes) {
        Some(c) => format!("L{} ({})", c.level, show_bytes(c.bytes)),
        None => match caches.last() {
            Some(last) => format!("memory (> L{})", last.level),
            None => "memory".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sizes_go_from_2_20_to_2_30_by_fours() {
        let all = blocks(30);
        assert_eq!(all, [1 << 20, 1 << 22, 1 << 24, 1 << 26, 1 << 28, 1 << 30]);
        assert!(all.windows(2).all(|w| w[1] == 4 * w[0]));
        // One bitset at the largest size: 128 MiB.
        assert_eq!(all.last().unwrap() / 8, 128 << 20);
        assert_eq!(blocks(QUICK_MAX_LOG2), [1 << 20, 1 << 22, 1 << 24]);
    }

    #[test]
    fn cache_sizes_parse_as_linux_writes_them() {
        assert_eq!(parse_size("32K\n"), Some(32 << 10));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("12Q"), None);
    }

    #[test]
    fn a_bitset_is_labelled_with_the_smallest_cache_it_fits() {
        let caches = [
            Cache {
                level: 1,
                bytes: 32 << 10,
            },
            Cache {
                level: 2,
                bytes: 512 << 10,
            },
            Cache {
                level: 3,
                bytes: 32 << 20,
            },
        ];
        let fits = |bytes| fits(bytes, Some(&caches));
        assert_eq!(fits(128 << 10), "L2 (512 KiB)");
        assert_eq!(fits(512 << 10), "L2 (512 KiB)");
        assert_eq!(fits(2 << 20), "L3 (32 MiB)");
        assert_eq!(fits(128 << 20), "memory (> L3)");
        assert_eq!(super::fits(1, None), "unknown");
    }

    #[test]
    fn caches_are_read_from_a_sysfs_layout() {
        let dir = std::env::temp_dir().join(format!("freeset-sweep-{}", std::process::id()));
        let index = |i: u32, level: &str, kind: &str, size: &str| {
            let d = dir.join(format!("index{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("level"), level).unwrap();
            std::fs::write(d.join("type"), kind).unwrap();
            std::fs::write(d.join("size"), size).unwrap();
        };
        index(0, "1\n", "Data\n", "48K\n");
        index(1, "1\n", "Instruction\n", "32K\n");
        index(2, "2\n", "Unified\n", "2048K\n");
        let caches = caches_in(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            caches.unwrap(),
            [
                Cache {
                    level: 1,
                    bytes: 48 << 10
                },
                Cache {
                    level: 2,
                    bytes: 2 << 20
                }
            ]
        );
        assert_eq!(caches_in(Path::new("/nonexistent/cache")), None);
    }
}
