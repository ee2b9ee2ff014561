//! The size of this CPU's last-level cache, as CPUID describes it.
//!
//! The codec asks it once, to decide from which size its large outputs bypass
//! the caches (see `ewah::Stores`). It is the one place the crate reads the
//! cache hierarchy; like the tier detection next to it, it reads no file and
//! no environment variable.
//!
//! What must never happen here: a wrong answer taken for a right one. A
//! description that cannot be read, or that makes no sense, gives `None`, and
//! the caller keeps a size that needs no cache figure.

/// One cache of a CPUID cache-description leaf (Intel's leaf 4, AMD's leaf
/// `0x8000_001D`: the same layout), from the leaf's `eax`, `ebx` and `ecx`:
/// its level (1 for L1) and its size in bytes, or `None` past the last cache
/// (type 0) and for an instruction cache (type 2), which holds no data.
pub(crate) fn described_cache(eax: u32, ebx: u32, ecx: u32) -> Option<(u32, usize)> {
    let kind = eax & 0x1f;
    if kind == 0 || kind == 2 {
        return None;
    }
    let level = (eax >> 5) & 0x7;
    // Each field holds its figure minus one.
    let line = (ebx & 0xfff) as usize + 1;
    let partitions = ((ebx >> 12) & 0x3ff) as usize + 1;
    let ways = (ebx >> 22) as usize + 1;
    let sets = ecx as usize + 1;
    let bytes = line
        .checked_mul(partitions)?
        .checked_mul(ways)?
        .checked_mul(sets)?;
    Some((level, bytes))
}

/// The largest data cache (the highest level wins) among the descriptions
/// `leaf` yields for subleaves 0, 1, ... until the first with type 0 (at most
/// 16 read: a leaf that never ends is not believed).
fn largest_described(leaf: impl Fn(u32) -> (u32, u32, u32)) -> Option<usize> {
    let mut largest: Option<(u32, usize)> = None;
    for subleaf in 0..16 {
        let (eax, ebx, ecx) = leaf(subleaf);
        if eax & 0x1f == 0 {
            return largest.map(|(_, bytes)| bytes);
        }
        if let Some((level, bytes)) = described_cache(eax, ebx, ecx) {
            if largest.is_none_or(|(l, _)| level >= l) {
                largest = Some((level, bytes));
            }
        }
    }
    None
}

/// Bytes of the last-level cache (the whole cache, shared by every core on
/// it), or `None` where CPUID does not describe one.
#[cfg(target_arch = "x86_64")]
pub(crate) fn last_level_bytes() -> Option<usize> {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // CPUID exists on every x86_64 CPU; leaves past the maximum a CPU
    // reports return unrelated data, so each is asked only below it.
    let max_basic = __cpuid(0).eax;
    let max_extended = __cpuid(0x8000_0000).eax;
    let ask = |leaf: u32| {
        move |subleaf: u32| {
            let r = __cpuid_count(leaf, subleaf);
            (r.eax, r.ebx, r.ecx)
        }
    };
    // Intel describes its caches in leaf 4; AMD leaves it empty and uses
    // 0x8000_001D (topology extensions), where Intel leaves that empty.
    let intel = (max_basic >= 4)
        .then(|| largest_described(ask(4)))
        .flatten();
    intel.or_else(|| {
        (max_extended >= 0x8000_001D)
            .then(|| largest_described(ask(0x8000_001D)))
            .flatten()
    })
}

/// Bytes of the last-level cache: not described off x86_64.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn last_level_bytes() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A description in the leaf's layout.
    fn leaf(kind: u32, level: u32, line: u32, partitions: u32, ways: u32, sets: u32) -> [u32; 3] {
        [
            kind | level << 5,
            (line - 1) | (partitions - 1) << 12 | (ways - 1) << 22,
            sets - 1,
        ]
    }

    #[test]
    fn a_description_gives_level_and_bytes() {
        // 32 KiB, 8-way L1 data; a 32 MiB, 16-way unified L3.
        let [a, b, c] = leaf(1, 1, 64, 1, 8, 64);
        assert_eq!(described_cache(a, b, c), Some((1, 32 << 10)));
        let [a, b, c] = leaf(3, 3, 64, 1, 16, 32768);
        assert_eq!(described_cache(a, b, c), Some((3, 32 << 20)));
        // Instruction caches and the end of the list are no data cache.
        let [a, b, c] = leaf(2, 1, 64, 1, 8, 64);
        assert_eq!(described_cache(a, b, c), None);
        assert_eq!(described_cache(0, b, c), None);
        // Every field at its maximum: 2^64 bytes, refused rather than
        // wrapped around.
        assert_eq!(described_cache(3 | 7 << 5, u32::MAX, u32::MAX), None);
        #[cfg(target_pointer_width = "64")]
        {
            let [a, b, _] = leaf(3, 3, 4096, 1024, 1024, 1);
            assert_eq!(described_cache(a, b, u32::MAX >> 1), Some((3, 1 << 63)));
        }
    }

    #[test]
    fn the_last_level_is_the_highest_described() {
        let caches = [
            leaf(1, 1, 64, 1, 12, 64),
            leaf(2, 1, 64, 1, 8, 64),
            leaf(3, 2, 64, 1, 16, 2048),
            leaf(3, 3, 64, 1, 15, 491520 / 15),
            [0, 0, 0],
        ];
        let at = |subleaf: u32| {
            let [a, b, c] = caches[subleaf as usize];
            (a, b, c)
        };
        assert_eq!(largest_described(at), Some(64 * 15 * (491520 / 15)));
        // No cache described, or a list that never ends: no answer.
        assert_eq!(largest_described(|_| (0, 0, 0)), None);
        let [a, b, c] = caches[0];
        assert_eq!(largest_described(|_| (a, b, c)), None);
    }

    #[test]
    fn this_cpu_describes_a_plausible_last_level() {
        // Where CPUID describes caches, the largest is at least a typical
        // L1 (16 KiB) and less than 16 GiB; elsewhere there is no answer.
        if let Some(bytes) = last_level_bytes() {
            assert!((16 << 10..16 << 30).contains(&bytes), "{bytes}");
        }
    }
}
