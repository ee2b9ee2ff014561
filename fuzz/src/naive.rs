//! A naive EWAH codec and a naive `open`, written from `docs/format.md` and
//! `docs/behaviour.md` alone: a word at a time, no scans, no chunks, no threads. The targets
//! compare the crate against these.
//!
//! Which error a bad input gets when it has several problems is the crate's
//! choice (the spec only asks for an error naming the byte offset); the
//! order here is the one a single pass in stream order finds them in, which
//! is the order `freeset` documents for its decoders: a marker that passes
//! the capacity, as soon as it is read; then a length that is not a
//! multiple of 8; then missing literal words at the end.

use freeset::{Bitset, DecodeError, Error, TrailerReason};

use crate::capacity_of;

const UNIFORM_COUNT_MAX: u64 = (1 << 31) - 1;
const LITERAL_COUNT_MAX: u64 = (1 << 32) - 1;

fn is_uniform(word: u64) -> bool {
    word == 0 || word == !0
}

/// Canonical encoding of `words` (no trim): `docs/format.md`, word by word.
pub fn encode(words: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let first = words[i];
        let mut uniform = 0u64;
        if is_uniform(first) {
            while i < words.len() && words[i] == first && uniform < UNIFORM_COUNT_MAX {
                uniform += 1;
                i += 1;
            }
        }
        let start = i;
        while i < words.len() && !is_uniform(words[i]) && ((i - start) as u64) < LITERAL_COUNT_MAX {
            i += 1;
        }
        let ones = is_uniform(first) && first == !0;
        let marker = u64::from(ones) | uniform << 1 | ((i - start) as u64) << 32;
        out.extend_from_slice(&marker.to_le_bytes());
        for w in &words[start..i] {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out
}

/// [`encode`] without the trailing markers whose uniform bit is 0 and whose
/// literal count is 0: what `FreeSet::encode` persists.
pub fn encode_trimmed(words: &[u64]) -> Vec<u8> {
    let mut bytes = encode(words);
    loop {
        let n = bytes.len();
        if n < 8 {
            return bytes;
        }
        let last = u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
        // A marker whose literal count is 0 is the last word only if it is a
        // marker: walk the stream to know. Markers are cheap to re-find.
        if last & 1 == 0 && last >> 32 == 0 && ends_with_marker(&bytes) {
            bytes.truncate(n - 8);
        } else {
            return bytes;
        }
    }
}

/// Whether the last word of a canonical stream is a marker (not a literal).
fn ends_with_marker(bytes: &[u8]) -> bool {
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let mut i = 0;
    let mut last_marker = None;
    while i < words.len() {
        last_marker = Some(i);
        i += 1 + (words[i] >> 32) as usize;
    }
    last_marker == Some(words.len() - 1)
}

/// Decodes `bytes` for a target of `capacity` words: the words the stream
/// describes (not padded to the capacity), or the error a single pass in
/// stream order meets first.
pub fn decode(bytes: &[u8], capacity: usize) -> Result<Vec<u64>, DecodeError> {
    let mut out = Vec::new();
    decode_to(bytes, capacity, &mut out).map(|()| out)
}

/// [`decode`] into `out` (cleared first; its memory is reused): on success
/// `out` holds the described words, on error anything.
pub fn decode_to(bytes: &[u8], capacity: usize, out: &mut Vec<u64>) -> Result<(), DecodeError> {
    out.clear();
    let whole = bytes.len() - bytes.len() % 8;
    let mut at = 0;
    // (marker offset, literal words declared, literal words read)
    let mut open_marker: Option<(u64, u64, u64)> = None;
    while at < whole {
        let word = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if let Some((offset, declared, read)) = open_marker {
            if read < declared {
                out.push(word);
                open_marker = Some((offset, declared, read + 1));
                at += 8;
                continue;
            }
        }
        let uniform = (word >> 1) & UNIFORM_COUNT_MAX;
        let literals = word >> 32;
        let end = out.len() as u64 + uniform + literals;
        if end > capacity as u64 {
            return Err(DecodeError::Overflow {
                offset: at as u64,
                end,
                capacity: capacity as u64,
            });
        }
        let fill = if word & 1 == 1 { !0 } else { 0 };
        for _ in 0..uniform {
            out.push(fill);
        }
        open_marker = Some((at as u64, literals, 0));
        at += 8;
    }
    if whole < bytes.len() {
        return Err(DecodeError::Length {
            offset: whole as u64,
            trailing: (bytes.len() - whole) as u64,
        });
    }
    if let Some((offset, declared, read)) = open_marker {
        if read < declared {
            return Err(DecodeError::Truncated {
                offset,
                declared,
                present: read,
            });
        }
    }
    Ok(())
}

/// One bit per block, read and written a block at a time; only the
/// aggregates (counts, highest) look at whole words, with `count_ones` and
/// `leading_zeros`. (Not `Vec<bool>`: the targets are built with
/// comparison tracing, and a compare per block made the model the bulk of
/// an execution.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// `blocks` clear bits (a whole number of words).
    pub fn new(blocks: u64) -> Self {
        Bits(vec![0; blocks.div_ceil(64) as usize])
    }

    /// The blocks of `words`, padded with zeros (or cut) to `blocks`.
    pub fn from_words(words: &[u64], blocks: u64) -> Self {
        let mut bits = Bits::new(blocks);
        let n = bits.0.len().min(words.len());
        bits.0[..n].copy_from_slice(&words[..n]);
        bits
    }

    pub fn len(&self) -> u64 {
        self.0.len() as u64 * 64
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, block: u64) -> bool {
        self.0[(block / 64) as usize] >> (block % 64) & 1 == 1
    }

    pub fn set(&mut self, block: u64, value: bool) {
        let word = &mut self.0[(block / 64) as usize];
        *word = *word & !(1 << (block % 64)) | u64::from(value) << (block % 64);
    }

    pub fn words(&self) -> &[u64] {
        &self.0
    }

    pub fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Set bits below `end`.
    pub fn count_below(&self, end: u64) -> u64 {
        let full = (end / 64) as usize;
        let mut n: u64 = self.0[..full]
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        if !end.is_multiple_of(64) {
            n += u64::from((self.0[full] & ((1 << (end % 64)) - 1)).count_ones());
        }
        n
    }

    /// Highest set block, as an address (1-based).
    pub fn highest(&self) -> Option<u64> {
        let i = self.0.iter().rposition(|&w| w != 0)?;
        Some(i as u64 * 64 + 63 - u64::from(self.0[i].leading_zeros()) + 1)
    }

    /// Set blocks, as addresses (1-based), in order (a word at a time: the
    /// lowest set bit, cleared, until none is left).
    pub fn addresses(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for (i, &word) in self.0.iter().enumerate() {
            let mut w = word;
            while w != 0 {
                out.push(i as u64 * 64 + u64::from(w.trailing_zeros()) + 1);
                w &= w - 1;
            }
        }
        out
    }

    /// The lowest block set here and clear in `other`.
    pub fn first_and_not(&self, other: &Bits) -> Option<u64> {
        self.0
            .iter()
            .zip(&other.0)
            .enumerate()
            .find(|(_, (a, b))| *a & !*b != 0)
            .map(|(i, (a, b))| i as u64 * 64 + u64::from((a & !b).trailing_zeros()))
    }

    /// Either set.
    pub fn or(&self, other: &Bits) -> Bits {
        Bits(self.0.iter().zip(&other.0).map(|(a, b)| a | b).collect())
    }

    /// Set here and clear in `other`.
    pub fn and_not(&self, other: &Bits) -> Bits {
        Bits(self.0.iter().zip(&other.0).map(|(a, b)| a & !b).collect())
    }

    /// The clear blocks below `end`, as set bits.
    pub fn clear_below(&self, end: u64) -> Bits {
        let words = self.0.iter().enumerate().map(|(i, w)| {
            let first = i as u64 * 64;
            let below = if end >= first + 64 {
                !0
            } else if end <= first {
                0
            } else {
                (1u64 << (end - first)) - 1
            };
            !w & below
        });
        Bits(words.collect())
    }

    /// Set bits in `[from, to)`.
    pub fn count_range(&self, from: u64, to: u64) -> u64 {
        if from >= to {
            return 0;
        }
        self.count_below(to) - self.count_below(from)
    }

    /// The `k`-th set block (0-based), in order.
    pub fn nth_set(&self, mut k: u64) -> Option<u64> {
        for (i, &w) in self.0.iter().enumerate() {
            let ones = u64::from(w.count_ones());
            if k >= ones {
                k -= ones; // the whole word is before it
                continue;
            }
            return (0..64)
                .filter(|&bit| w >> bit & 1 == 1)
                .nth(k as usize)
                .map(|bit| i as u64 * 64 + bit);
        }
        None
    }

    /// The `n`-th clear block (1-based) at or after `from`.
    pub fn nth_clear_from(&self, from: u64, n: u64) -> Option<u64> {
        debug_assert!(n >= 1);
        let clear = self.clear_below(self.len());
        let before = clear.count_below(from.min(self.len()));
        clear.nth_set(before + n - 1)
    }
}

/// A free set as `docs/behaviour.md` describes it: one bit per block of the
/// capacity for each of `acquired`, `released` and `pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub limit: u64,
    pub acquired: Bits,
    pub released: Bits,
    pub pending: Bits,
}

impl State {
    /// Empty, of `limit` blocks.
    pub fn empty(limit: u64) -> Self {
        let capacity = capacity_of(limit);
        State {
            limit,
            acquired: Bits::new(capacity),
            released: Bits::new(capacity),
            pending: Bits::new(capacity),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.acquired.len()
    }

    pub fn count_free(&self) -> u64 {
        self.limit - self.acquired.count_below(self.limit)
    }

    pub fn count_acquired(&self) -> u64 {
        self.acquired.count()
    }

    pub fn count_released(&self) -> u64 {
        let (r, p) = (&self.released.0, &self.pending.0);
        r.iter()
            .zip(p)
            .map(|(r, p)| u64::from((r | p).count_ones()))
            .sum()
    }

    pub fn highest_acquired(&self) -> Option<u64> {
        self.acquired.highest()
    }

    pub fn highest_released(&self) -> Option<u64> {
        let (r, p) = (&self.released.0, &self.pending.0);
        let i = r.iter().zip(p).rposition(|(r, p)| r | p != 0)?;
        Some(i as u64 * 64 + 64 - u64::from((r[i] | p[i]).leading_zeros()))
    }

    /// Addresses (1-based) that are released or pending.
    pub fn released_addresses(&self) -> Vec<u64> {
        self.released.or(&self.pending).addresses()
    }
}

/// `open` of a fresh set of `limit` blocks (`docs/behaviour.md`), with the error
/// the crate is expected to give. The checks run in the order the spec
/// lists them: the acquired encoding, the released encoding, released bits
/// that are not acquired (the lowest one is named), then the trailer lists:
/// each list on its own (0, past the limit, out of order, acquired after
/// decoding), the acquired list first, and only then an address in both
/// lists (named at its position in the released list).
pub fn open(
    limit: u64,
    acquired: &[u8],
    released: &[u8],
    trailer_acquired: &[u64],
    trailer_released: &[u64],
) -> Result<State, Error> {
    let mut state = State::empty(limit);
    let words = (state.capacity() / 64) as usize;
    let acquired_words = decode(acquired, words).map_err(|source| Error::Decode {
        bitset: Bitset::Acquired,
        source,
    })?;
    let released_words = decode(released, words).map_err(|source| Error::Decode {
        bitset: Bitset::Released,
        source,
    })?;
    state.acquired = Bits::from_words(&acquired_words, state.capacity());
    state.released = Bits::from_words(&released_words, state.capacity());
    if let Some(b) = state.released.first_and_not(&state.acquired) {
        return Err(Error::ReleasedNotAcquired(b + 1));
    }
    let lists = [
        (Bitset::Acquired, trailer_acquired),
        (Bitset::Released, trailer_released),
    ];
    for (list, addresses) in lists {
        let mut previous = 0;
        for (position, &address) in addresses.iter().enumerate() {
            let reason = if address == 0 {
                Some(TrailerReason::Zero)
            } else if address > limit {
                Some(TrailerReason::PastLimit)
            } else if address <= previous {
                Some(TrailerReason::OutOfOrder)
            } else if state.acquired.get(address - 1) {
                Some(TrailerReason::AlreadyAcquired)
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::Trailer {
                    list,
                    position,
                    address,
                    reason,
                });
            }
            previous = address;
        }
    }
    for (position, &address) in trailer_released.iter().enumerate() {
        if trailer_acquired.contains(&address) {
            return Err(Error::Trailer {
                list: Bitset::Released,
                position,
                address,
                reason: TrailerReason::AlreadyAcquired,
            });
        }
    }
    for &address in trailer_acquired.iter().chain(trailer_released) {
        state.acquired.set(address - 1, true);
        state.pending.set(address - 1, true);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_the_spec() {
        assert_eq!(encode(&[]), Vec::<u8>::new());
        assert_eq!(encode(&[0]), 2u64.to_le_bytes());
        assert_eq!(encode_trimmed(&[0, 0, 0]), Vec::<u8>::new());
        let mut one_literal = (1u64 << 32).to_le_bytes().to_vec();
        one_literal.extend_from_slice(&0xau64.to_le_bytes());
        assert_eq!(encode_trimmed(&[0xa, 0, 0]), one_literal);
        // A trailing literal that looks like an empty marker stays.
        let words = [2u64 << 1, 0]; // a literal equal to a zero-run marker word
        assert_eq!(decode(&encode_trimmed(&words), 4).unwrap(), [4]);
    }

    #[test]
    fn errors_in_stream_order() {
        assert_eq!(
            decode(&[1, 0], 1),
            Err(DecodeError::Length {
                offset: 0,
                trailing: 2
            })
        );
        assert_eq!(
            decode(&(2u64 << 32).to_le_bytes(), 4),
            Err(DecodeError::Truncated {
                offset: 0,
                declared: 2,
                present: 0
            })
        );
        assert_eq!(
            decode(&7u64.to_le_bytes(), 2),
            Err(DecodeError::Overflow {
                offset: 0,
                end: 3,
                capacity: 2
            })
        );
        // Overflow comes before a bad length, which comes before truncation.
        let mut bytes = 7u64.to_le_bytes().to_vec();
        bytes.push(1);
        assert!(matches!(
            decode(&bytes, 2),
            Err(DecodeError::Overflow { .. })
        ));
        let mut bytes = (2u64 << 32).to_le_bytes().to_vec();
        bytes.push(1);
        assert!(matches!(decode(&bytes, 4), Err(DecodeError::Length { .. })));
    }

    #[test]
    fn bit_searches_agree_with_a_walk() {
        let mut bits = Bits::new(256);
        for b in [0, 1, 5, 63, 64, 100, 127, 128, 200, 255] {
            bits.set(b, true);
        }
        let set: Vec<u64> = (0..256).filter(|&b| bits.get(b)).collect();
        let clear: Vec<u64> = (0..256).filter(|&b| !bits.get(b)).collect();
        for (k, &b) in set.iter().enumerate() {
            assert_eq!(bits.nth_set(k as u64), Some(b));
        }
        assert_eq!(bits.nth_set(set.len() as u64), None);
        for from in [0, 1, 2, 63, 64, 65, 130, 255, 256] {
            let after: Vec<u64> = clear.iter().copied().filter(|&b| b >= from).collect();
            for n in 1..=after.len() as u64 + 1 {
                assert_eq!(
                    bits.nth_clear_from(from, n),
                    after.get(n as usize - 1).copied()
                );
            }
            for to in [0, 1, 64, 100, 256] {
                let want = set.iter().filter(|&&b| b >= from && b < to).count() as u64;
                assert_eq!(bits.count_range(from, to), want);
            }
        }
        let addresses: Vec<u64> = set.iter().map(|b| b + 1).collect();
        assert_eq!(bits.addresses(), addresses);
        let mut other = Bits::new(256);
        assert_eq!(bits.first_and_not(&other), Some(0));
        for b in [0, 1, 5, 63] {
            other.set(b, true);
        }
        assert_eq!(bits.first_and_not(&other), Some(64));
        assert_eq!(bits.first_and_not(&bits), None);
        let free = bits.clear_below(130);
        assert_eq!(free.count(), 130 - bits.count_below(130));
        assert!(!free.get(130) && !free.get(0) && free.get(2));
    }

    #[test]
    fn released_aggregates_are_those_of_the_union() {
        let mut state = State::empty(4096 + 7);
        assert_eq!(
            (state.count_released(), state.highest_released()),
            (0, None)
        );
        for (b, pending) in [(0, false), (70, true), (4100, false), (4101, true)] {
            state.acquired.set(b, true);
            if pending {
                state.pending.set(b, true);
            } else {
                state.released.set(b, true);
            }
            let union = state.released.or(&state.pending);
            assert_eq!(state.count_released(), union.count());
            assert_eq!(state.highest_released(), union.highest());
            assert_eq!(state.highest_released(), Some(b + 1));
        }
    }

    #[test]
    fn round_trips() {
        let words = [0, 0, 5, !0, !0, 7, 9, 0, !0];
        assert_eq!(decode(&encode(&words), 9).unwrap(), words);
        assert_eq!(decode(&encode_trimmed(&words), 9).unwrap(), words);
        let trailing = [3, 0, 0];
        assert_eq!(decode(&encode_trimmed(&trailing), 3).unwrap(), [3]);
    }
}
