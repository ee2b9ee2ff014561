//! The operations of the `ops` target: every public operation of a
//! `FreeSet`, as a derived-`Arbitrary` enum. Arguments that depend on the
//! state (which reservation, which address) are selectors resolved against
//! the model when the operation runs, so that most operations are
//! meaningful whatever came before them.
//!
//! [`write_ops`] writes operations in the byte layout `arbitrary` reads
//! them from (the seeder turns conformance traces into seeds with it, and
//! checks each seed with [`parse_ops`]).

use arbitrary::{Arbitrary, Unstructured};

/// At most this many operations run per input.
pub const MAX_OPS: usize = 2000;

/// Which address an operation names.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addr {
    /// This address, as it is (0 and past the capacity are misuse).
    Raw(u32),
    /// The `k % n`-th acquired block (none acquired: address 1).
    Acquired(u16),
    /// The `k % n`-th acquired block that is not released yet.
    Releasable(u16),
    /// The `k % n`-th released or pending block.
    Released(u16),
    /// The `k % n`-th free block below the limit.
    Free(u16),
    /// The block `k % 128` after the limit (past the limit, maybe past the capacity).
    PastLimit(u16),
}

/// A trailer address: raw, or relative to the free blocks after decoding.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailerAddr {
    /// This address, as it is.
    Raw(u32),
    /// The free block (after decoding) that comes `skip` free blocks after
    /// the previous address of the list: valid lists, mostly.
    NextFree(u8),
}

/// The two trailer lists of an `open`: the first `len % 5` entries of each.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailers {
    pub acquired_len: u8,
    pub acquired: [TrailerAddr; 4],
    pub released_len: u8,
    pub released: [TrailerAddr; 4],
}

impl Trailers {
    /// Empty lists.
    pub const NONE: Trailers = Trailers {
        acquired_len: 0,
        acquired: [TrailerAddr::Raw(0); 4],
        released_len: 0,
        released: [TrailerAddr::Raw(0); 4],
    };

    /// Raw lists (at most 4 addresses each; more are dropped).
    pub fn raw(acquired: &[u64], released: &[u64]) -> Trailers {
        let mut t = Trailers::NONE;
        for (list, len, addresses) in [
            (&mut t.acquired, &mut t.acquired_len, acquired),
            (&mut t.released, &mut t.released_len, released),
        ] {
            *len = addresses.len().min(4) as u8;
            for (slot, &a) in list.iter_mut().zip(addresses) {
                *slot = TrailerAddr::Raw(a.min(u64::from(u32::MAX)) as u32);
            }
        }
        t
    }
}

/// One operation on the set under test (and on the model).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Replace the set with `FreeSet::new` (`opened`) or
    /// `FreeSet::unopened` of [`new_limit`]`(raw)` blocks: up to four
    /// shards, or (raw from [`LARGE_RAW_MIN`] on) around 64 shards. Raw 0
    /// asks for 0 blocks, which is misuse and keeps the current set.
    New {
        opened: bool,
        raw: u16,
    },
    /// `reserve(n)` (0 is misuse).
    Reserve(u32),
    /// `reserve(n)` with `n` the free blocks a reserve can still reach plus
    /// `extra % 4`: 0 succeeds at the very last one, more give none.
    ReserveReachable(u8),
    /// `acquire` with the `k % n`-th reservation ever made (live or stale).
    Acquire(u16),
    /// `acquire` until it gives none or fails.
    AcquireAll(u16),
    /// `forfeit` of the `k % n`-th reservation ever made.
    Forfeit(u16),
    /// `forfeit` every live reservation.
    ForfeitAll,
    Release(Addr),
    /// Release up to `count` releasable blocks, from the `start % n`-th on.
    ReleaseMany {
        start: u16,
        count: u8,
    },
    CheckpointNotDurable,
    CheckpointDurable,
    IsFree(Addr),
    IsReleased(Addr),
    /// `encode` (and `encode_with`, `encoded_size`, `encoder`).
    Encode,
    /// `encode`, then `open` a new set of the same limit from the bytes.
    Reopen(Trailers),
    /// `reset`.
    Reset,
    /// `open` of the current set from the `k % n`-th encoding seen (the
    /// first is the empty one).
    Open {
        encoding: u8,
        trailers: Trailers,
    },
    /// Replace the set with its clone.
    Clone,
}

/// Raw limits from this one on ask for a large set (1 in 256 raw values:
/// every check of a large set walks sixteen times the words of a set of
/// four shards, so a sequence makes one now and then, not every few
/// operations).
pub const LARGE_RAW_MIN: u16 = 0xff00;

/// The limit `Op::New { raw, .. }` asks for: 0 for raw 0,
/// [`large_limit`]`(raw as u8)` from [`LARGE_RAW_MIN`] on, else
/// [`crate::limit_of`]`(raw)` (`1..=LIMIT_MAX`; raw values up to
/// `LIMIT_MAX` map to themselves).
pub fn new_limit(raw: u16) -> u64 {
    match raw {
        0 => 0,
        LARGE_RAW_MIN.. => large_limit(raw as u8),
        _ => crate::limit_of(raw),
    }
}

/// The raw value [`new_limit`] maps to `limit` (0, a large limit, or one
/// up to `LIMIT_MAX`; others are clamped to `LIMIT_MAX`).
pub fn raw_of_new_limit(limit: u64) -> u16 {
    let base = large_limit(0);
    if limit == 0 {
        0
    } else if (base..=large_limit(255)).contains(&limit) {
        LARGE_RAW_MIN | (limit - base) as u16
    } else {
        crate::raw_of_limit(limit)
    }
}

/// A limit around 64 shards: `64 * 4096 - 128 + k`, on either side of the
/// first shard that needs a second word in a shard summary: the
/// one-bit-per-shard index and summaries span two words and the shard
/// groups of `open` are two.
pub fn large_limit(k: u8) -> u64 {
    64 * crate::SHARD_BLOCKS - 128 + u64::from(k)
}

/// An input of the `ops` target: the byte that picks the kernel tier, then
/// the operations ([`parse_ops`]). No byte at all picks tier 0.
pub fn parse_input(data: &[u8]) -> (u8, Vec<Op>) {
    let (&tier, ops) = data.split_first().unwrap_or((&0, &[]));
    (tier, parse_ops(ops))
}

/// The bytes [`parse_input`] reads `(tier, ops)` from.
pub fn write_input(tier: u8, ops: &[Op]) -> Vec<u8> {
    let mut out = vec![tier];
    out.extend_from_slice(&write_ops(ops));
    out
}

/// The operations `data` describes: `Op`s read one after the other until
/// the data ends (a field cut by the end reads as zeros), at most [`MAX_OPS`].
pub fn parse_ops(data: &[u8]) -> Vec<Op> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// The bytes [`parse_ops`] reads `ops` from.
pub fn write_ops(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        write_op(&mut out, op);
    }
    out
}

/// The `u32` a derived `Arbitrary` reads to choose variant `index` of `count`.
fn tag(out: &mut Vec<u8>, index: u64, count: u64) {
    let tag = ((index << 32).div_ceil(count)) as u32;
    debug_assert_eq!((u64::from(tag) * count) >> 32, index);
    out.extend_from_slice(&tag.to_le_bytes());
}

fn write_addr(out: &mut Vec<u8>, addr: &Addr) {
    const N: u64 = 6;
    match *addr {
        Addr::Raw(a) => {
            tag(out, 0, N);
            out.extend_from_slice(&a.to_le_bytes());
        }
        Addr::Acquired(k) => {
            tag(out, 1, N);
            out.extend_from_slice(&k.to_le_bytes());
        }
        Addr::Releasable(k) => {
            tag(out, 2, N);
            out.extend_from_slice(&k.to_le_bytes());
        }
        Addr::Released(k) => {
            tag(out, 3, N);
            out.extend_from_slice(&k.to_le_bytes());
        }
        Addr::Free(k) => {
            tag(out, 4, N);
            out.extend_from_slice(&k.to_le_bytes());
        }
        Addr::PastLimit(k) => {
            tag(out, 5, N);
            out.extend_from_slice(&k.to_le_bytes());
        }
    }
}

fn write_trailers(out: &mut Vec<u8>, t: &Trailers) {
    for (len, list) in [(t.acquired_len, &t.acquired), (t.released_len, &t.released)] {
        out.push(len);
        for a in list {
            match *a {
                TrailerAddr::Raw(v) => {
                    tag(out, 0, 2);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                TrailerAddr::NextFree(s) => {
                    tag(out, 1, 2);
                    out.push(s);
                }
            }
        }
    }
}

fn write_op(out: &mut Vec<u8>, op: &Op) {
    const N: u64 = 18;
    match *op {
        Op::New { opened, raw } => {
            tag(out, 0, N);
            out.push(u8::from(opened));
            out.extend_from_slice(&raw.to_le_bytes());
        }
        Op::Reserve(n) => {
            tag(out, 1, N);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Op::ReserveReachable(extra) => {
            tag(out, 2, N);
            out.push(extra);
        }
        Op::Acquire(k) => {
            tag(out, 3, N);
            out.extend_from_slice(&k.to_le_bytes());
        }
        Op::AcquireAll(k) => {
            tag(out, 4, N);
            out.extend_from_slice(&k.to_le_bytes());
        }
        Op::Forfeit(k) => {
            tag(out, 5, N);
            out.extend_from_slice(&k.to_le_bytes());
        }
        Op::ForfeitAll => tag(out, 6, N),
        Op::Release(a) => {
            tag(out, 7, N);
            write_addr(out, &a);
        }
        Op::ReleaseMany { start, count } => {
            tag(out, 8, N);
            out.extend_from_slice(&start.to_le_bytes());
            out.push(count);
        }
        Op::CheckpointNotDurable => tag(out, 9, N),
        Op::CheckpointDurable => tag(out, 10, N),
        Op::IsFree(a) => {
            tag(out, 11, N);
            write_addr(out, &a);
        }
        Op::IsReleased(a) => {
            tag(out, 12, N);
            write_addr(out, &a);
        }
        Op::Encode => tag(out, 13, N),
        Op::Reopen(t) => {
            tag(out, 14, N);
            write_trailers(out, &t);
        }
        Op::Reset => tag(out, 15, N),
        Op::Open { encoding, trailers } => {
            tag(out, 16, N);
            out.push(encoding);
            write_trailers(out, &trailers);
        }
        Op::Clone => tag(out, 17, N),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_ops_parse_back() {
        let t = Trailers {
            acquired_len: 2,
            acquired: [
                TrailerAddr::Raw(5),
                TrailerAddr::NextFree(3),
                TrailerAddr::Raw(0),
                TrailerAddr::NextFree(255),
            ],
            released_len: 9,
            released: [TrailerAddr::NextFree(0); 4],
        };
        let ops = vec![
            Op::New {
                opened: true,
                raw: 4096,
            },
            Op::New {
                opened: false,
                raw: 1,
            },
            Op::Reserve(70_000),
            Op::ReserveReachable(3),
            Op::Acquire(7),
            Op::AcquireAll(65535),
            Op::Forfeit(0),
            Op::ForfeitAll,
            Op::Release(Addr::Raw(4097)),
            Op::Release(Addr::Acquired(1)),
            Op::ReleaseMany {
                start: 9,
                count: 200,
            },
            Op::CheckpointNotDurable,
            Op::CheckpointDurable,
            Op::IsFree(Addr::Free(2)),
            Op::IsReleased(Addr::Released(3)),
            Op::IsFree(Addr::Releasable(4)),
            Op::IsFree(Addr::PastLimit(5)),
            Op::Encode,
            Op::Reopen(t),
            Op::Reset,
            Op::Open {
                encoding: 3,
                trailers: Trailers::raw(&[1, 2], &[3]),
            },
            Op::Clone,
            Op::New {
                opened: true,
                raw: LARGE_RAW_MIN | 200,
            },
        ];
        assert_eq!(parse_ops(&write_ops(&ops)), ops);
        assert_eq!(parse_input(&write_input(7, &ops)), (7, ops));
        assert_eq!(parse_input(&[]), (0, Vec::new()));
    }

    #[test]
    fn new_limits_round_trip() {
        for limit in [
            0,
            1,
            64,
            4097,
            crate::LIMIT_MAX,
            large_limit(0),
            large_limit(255),
        ] {
            assert_eq!(new_limit(raw_of_new_limit(limit)), limit);
        }
        assert!((1..LARGE_RAW_MIN).all(|r| (1..=crate::LIMIT_MAX).contains(&new_limit(r))));
        assert!((LARGE_RAW_MIN..=u16::MAX).all(|r| new_limit(r) >= large_limit(0)));
    }
}
