//! A failed `open` undoes only what it wrote: the set is empty and not
//! opened again, the error names the first fault, and a few bad bytes do not
//! cost a pass over (or the memory of) a large set's bitsets.
//!
//! Its own test binary: the memory test reads the process's resident size,
//! which tests running beside it in one process would disturb.

use freeset::ewah::encode_trimmed;
use freeset::{Bitset, DecodeError, Error, FreeSet, TrailerReason};

/// A set of `limit` blocks with `acquired` acquired, encoded, and a fresh
/// unopened set of the same limit.
fn encoded(limit: u64, acquired: &[u64]) -> (Vec<u8>, FreeSet) {
    let mut words = vec![0u64; limit.div_ceil(4096) as usize * 64];
    for &address in acquired {
        words[((address - 1) / 64) as usize] |= 1 << ((address - 1) % 64);
    }
    (encode_trimmed(&words), FreeSet::unopened(limit).unwrap())
}

/// Empty and not opened, and a valid open still works on it.
fn assert_back_to_empty(set: &mut FreeSet, limit: u64) {
    assert!(!set.is_opened());
    assert_eq!(set.count_acquired(), 0);
    assert_eq!(set.count_released(), 0);
    let (bytes, _) = encoded(limit, &[1]);
    set.open(&bytes, &[], &[], &[]).unwrap();
    assert_eq!(set.count_acquired(), 1);
    assert_eq!(set.highest_acquired(), Some(1));
}

#[test]
fn an_address_in_both_trailer_lists_is_named_in_the_released_list_and_sets_nothing() {
    let limit = 10_000;
    let (acquired, mut set) = encoded(limit, &[7, 5000]);
    // 300 is in both lists: the released list's position 2.
    let error = set
        .open(&acquired, &[], &[3, 300, 9000], &[1, 2, 300, 400])
        .unwrap_err();
    assert_eq!(
        error,
        Error::Trailer {
            list: Bitset::Released,
            position: 2,
            address: 300,
            reason: TrailerReason::AlreadyAcquired,
        }
    );
    assert_back_to_empty(&mut set, limit);
    // An address the decoded bitset holds is named in the list it is in,
    // before any address in both.
    let (acquired, mut set) = encoded(limit, &[7, 5000]);
    let error = set
        .open(&acquired, &[], &[3, 300], &[300, 5000])
        .unwrap_err();
    assert_eq!(
        error,
        Error::Trailer {
            list: Bitset::Released,
            position: 1,
            address: 5000,
            reason: TrailerReason::AlreadyAcquired,
        }
    );
    assert_back_to_empty(&mut set, limit);
}

#[test]
fn a_failed_open_after_decoding_clears_what_it_decoded() {
    let limit = 1 << 20;
    let blocks: Vec<u64> = (1..=limit).step_by(97).collect();
    let (acquired, mut set) = encoded(limit, &blocks);
    // The acquired bitset decodes whole; the released one is cut inside a
    // marker's literal words, after some of them were written.
    let (released, _) = encoded(limit, &blocks[..blocks.len() / 2]);
    let cut = &released[..released.len() - 8];
    let error = set.open(&acquired, cut, &[], &[]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Decode {
                bitset: Bitset::Released,
                source: DecodeError::Truncated { .. }
            }
        ),
        "{error}"
    );
    assert_back_to_empty(&mut set, limit);

    // A stream abandoned in the middle of its released bytes.
    let mut set = FreeSet::unopened(limit).unwrap();
    let mut stream = set.open_stream().unwrap();
    stream.push_acquired(&acquired).unwrap();
    stream
        .push_released(&released[..released.len() / 2])
        .unwrap();
    drop(stream);
    assert_back_to_empty(&mut set, limit);
}

/// The resident memory of this process, in bytes (Linux).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_few_bad_bytes_do_not_fault_in_a_large_set() {
    // 2^34 blocks: three bitsets of 2 GiB each, untouched pages until used.
    let limit = 1 << 34;
    let Ok(mut set) = FreeSet::unopened(limit) else {
        return; // an allocator that refuses 6 GiB of address space
    };
    let Some(before) = resident_bytes() else {
        return; // no /proc: nothing to measure
    };
    // A marker of one word of ones and 2^28 - 2 literal words (within the
    // capacity of 2^28 words) that never come: the stream is cut short.
    let marker: u64 = 1 | 1 << 1 | ((1 << 28) - 2) << 32;
    let error = set.open(&marker.to_le_bytes(), &[], &[], &[]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Decode {
                source: DecodeError::Truncated { .. },
                ..
            }
        ),
        "{error}"
    );
    // It wrote one word. Before, a failed open zeroed all three bitsets
    // whole: 6 GiB resident, for 8 bytes of input.
    let after = resident_bytes().unwrap();
    let grown = after.saturating_sub(before);
    assert!(
        grown < 256 << 20,
        "a failed open grew the resident memory by {grown} bytes"
    );
    assert!(!set.is_opened());
    assert_eq!(set.count_acquired(), 0);
    assert_eq!(set.count_free(), limit);
}
