//! Properties of the EWAH checkpoint codec (`docs/format.md`), through the
//! public API only.
//!
//! The oracle is a deliberately naive encoder and decoder written here from the
//! format's text, one word at a time:
//! - `ewah::encode` / `encode_trimmed` equal the naive canonical bytes, byte for
//!   byte, on word vectors mixing zero runs, one runs, literals and short
//!   alternations (0..=600 words);
//! - `decode` / `decode_into` round-trip every encoding into any capacity at
//!   least its length, overwrite the whole target, and return the number of
//!   words described;
//! - the streaming `Encoder` (chunks of varying sizes) concatenates to the
//!   one-shot bytes, fills every chunk unless the encoding ends, and is done
//!   exactly at the end; the streaming `Decoder` accepts any cut at word
//!   boundaries (empty chunks included) and agrees with one-shot decoding;
//! - `encode_size_max` bounds every encoding and is reached by all-literal input;
//! - on any byte string (random, structured, or a mutated valid encoding) the
//!   decoder never panics and agrees with the naive decoder: same words, or the
//!   same error with the same byte offset (the naive decoder mirrors the
//!   crate's precedence: the first overflowing marker among the whole words,
//!   then a trailing partial word, then missing literals);
//! - at the `FreeSet` level, `encoder(Bitset::..)` streamed in random chunks
//!   equals `encode()`, which equals the naive trimmed encoding of the bitsets,
//!   and `open` / `open_chunks` of those bytes with trailer blocks rebuild the
//!   same set plus the trailers (acquired and released).
//!
//! The marker count caps (2^31 - 1 uniform words, 2^32 - 1 literal words) cannot
//! be reached through the crate's encoder in a test (16 and 32 GiB of words) and
//! the crate exposes no way to lower them, so the caps of the crate's *encoder*
//! are only checked against the format's values of the public constants. The naive
//! encoder takes the caps as parameters: with small caps it produces valid,
//! capped streams that the crate's *decoder* must accept and expand exactly.

use freeset::ewah::{
    decode, decode_into, encode, encode_size_max, encode_trimmed, encoded_len, validate, Decoder,
    Encoder, LITERAL_COUNT_MAX, UNIFORM_COUNT_MAX,
};
use freeset::{Bitset, DecodeError, EncodeError, FreeSet, Parallelism, SHARD_BLOCKS};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

// ---- the naive codec, from docs/format.md -----------------------------------

const FORMAT_UNIFORM_MAX: u64 = (1 << 31) - 1;
const FORMAT_LITERAL_MAX: u64 = (1 << 32) - 1;

fn uniform(word: u64) -> bool {
    word == 0 || word == !0
}

fn marker_word(ones: bool, uniform_count: u64, literal_count: u64) -> u64 {
    u64::from(ones) | uniform_count << 1 | literal_count << 32
}

/// One marker of the naive encoding: its fields and its literal words.
#[derive(Debug)]
struct NaiveMarker {
    ones: bool,
    uniform_count: u64,
    literals: Vec<u64>,
}

/// The canonical markers of `words`, walking one word at a time, with the
/// count caps as parameters (both at least 1).
fn naive_markers(words: &[u64], uniform_cap: u64, literal_cap: u64) -> Vec<NaiveMarker> {
    assert!(uniform_cap >= 1 && literal_cap >= 1);
    assert!(uniform_cap <= FORMAT_UNIFORM_MAX && literal_cap <= FORMAT_LITERAL_MAX);
    let mut markers = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let first = words[i];
        let mut uniform_count = 0;
        if uniform(first) {
            while i < words.len() && words[i] == first && uniform_count < uniform_cap {
                uniform_count += 1;
                i += 1;
            }
        }
        let mut literals = Vec::new();
        while i < words.len() && !uniform(words[i]) && (literals.len() as u64) < literal_cap {
            literals.push(words[i]);
            i += 1;
        }
        markers.push(NaiveMarker {
            // A literal first word means an empty run with uniform bit 0.
            ones: first == !0,
            uniform_count,
            literals,
        });
    }
    markers
}

fn markers_to_bytes(markers: &[NaiveMarker]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for m in markers {
        let word = marker_word(m.ones, m.uniform_count, m.literals.len() as u64);
        bytes.extend_from_slice(&word.to_le_bytes());
        for w in &m.literals {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
    }
    bytes
}

fn naive_encode_capped(words: &[u64], uniform_cap: u64, literal_cap: u64) -> Vec<u8> {
    markers_to_bytes(&naive_markers(words, uniform_cap, literal_cap))
}

/// The canonical encoding with the format's caps.
fn naive_encode(words: &[u64]) -> Vec<u8> {
    naive_encode_capped(words, FORMAT_UNIFORM_MAX, FORMAT_LITERAL_MAX)
}

/// The format's trimmed encoding: the canonical markers without the trailing
/// ones whose uniform bit is 0 and literal count 0.
fn naive_encode_trimmed(words: &[u64]) -> Vec<u8> {
    let mut markers = naive_markers(words, FORMAT_UNIFORM_MAX, FORMAT_LITERAL_MAX);
    while markers
        .last()
        .is_some_and(|m| !m.ones && m.literals.is_empty())
    {
        markers.pop();
    }
    markers_to_bytes(&markers)
}

/// `words` without its trailing zero words.
fn without_trailing_zeros(words: &[u64]) -> &[u64] {
    let mut n = words.len();
    while n > 0 && words[n - 1] == 0 {
        n -= 1;
    }
    &words[..n]
}

fn padded(words: &[u64], capacity: usize) -> Vec<u64> {
    let mut out = words.to_vec();
    out.resize(capacity, 0);
    out
}

/// Decodes `bytes` into `capacity` words, one stream word at a time. Returns
/// the target and the number of words the stream described.
///
/// Precedence of errors, as in `ewah::decode_into`: the whole words are decoded
/// first and the first marker that would write past the capacity is an
/// `Overflow` at its offset; then a trailing partial word is a `Length` error
/// at its offset; then a marker whose literal words are missing is `Truncated`
/// at the marker's offset.
fn naive_decode(bytes: &[u8], capacity: usize) -> Result<(Vec<u64>, usize), DecodeError> {
    let whole = bytes.len() / 8;
    let word = |k: usize| u64::from_le_bytes(bytes[8 * k..8 * k + 8].try_into().unwrap());
    let mut out = vec![0u64; capacity];
    let mut pos = 0usize;
    let mut k = 0;
    let mut truncated = None;
    while k < whole {
        let marker = word(k);
        let ones = marker & 1 == 1;
        let uniform_count = (marker >> 1) & FORMAT_UNIFORM_MAX;
        let literal_count = marker >> 32;
        let end = pos as u64 + uniform_count + literal_count;
        if end > capacity as u64 {
            return Err(DecodeError::Overflow {
                offset: 8 * k as u64,
                end,
                capacity: capacity as u64,
            });
        }
        for _ in 0..uniform_count {
            out[pos] = if ones { !0 } else { 0 };
            pos += 1;
        }
        let marker_at = k;
        k += 1;
        let mut present = 0;
        while present < literal_count && k < whole {
            out[pos] = word(k);
            pos += 1;
            k += 1;
            present += 1;
        }
        if present < literal_count {
            truncated = Some(DecodeError::Truncated {
                offset: 8 * marker_at as u64,
                declared: literal_count,
                present,
            });
        }
    }
    if !bytes.len().is_multiple_of(8) {
        return Err(DecodeError::Length {
            offset: 8 * whole as u64,
            trailing: (bytes.len() % 8) as u64,
        });
    }
    match truncated {
        Some(error) => Err(error),
        None => Ok((out, pos)),
    }
}

// ---- helpers around the crate ----------------------------------------------

/// Cuts `bytes` at the word boundaries `picks` choose (duplicates give empty
/// chunks, so do picks at 0 and at the end); a trailing partial word, if any,
/// is a chunk of its own, as `decode_into` feeds it.
fn word_cuts<'b>(bytes: &'b [u8], picks: &[Index]) -> Vec<&'b [u8]> {
    let words = bytes.len() / 8;
    let mut cuts: Vec<usize> = picks.iter().map(|p| 8 * p.index(words + 1)).collect();
    cuts.push(0);
    cuts.push(8 * words);
    cuts.sort_unstable();
    let mut chunks: Vec<&[u8]> = cuts.windows(2).map(|c| &bytes[c[0]..c[1]]).collect();
    if !bytes.len().is_multiple_of(8) {
        chunks.push(&bytes[8 * words..]);
    }
    chunks
}

/// `bytes` cut at the byte offsets `picks` names (inside words too).
fn byte_cuts<'b>(bytes: &'b [u8], picks: &[Index]) -> Vec<&'b [u8]> {
    let mut cuts: Vec<usize> = picks.iter().map(|p| p.index(bytes.len() + 1)).collect();
    cuts.push(0);
    cuts.push(bytes.len());
    cuts.sort_unstable();
    cuts.windows(2).map(|c| &bytes[c[0]..c[1]]).collect()
}

/// Decodes `chunks` with the streaming decoder into `target`. Returns the words
/// written before `finish` and what `finish` (or the failing chunk) returned.
fn stream_decode(chunks: &[&[u8]], target: &mut [u64]) -> (usize, Result<usize, DecodeError>) {
    let mut decoder = Decoder::new(target);
    let mut written = 0;
    for chunk in chunks {
        if let Err(error) = decoder.decode_chunk(chunk) {
            return (decoder.words_written(), Err(error));
        }
        assert!(
            decoder.words_written() >= written,
            "words_written went back"
        );
        written = decoder.words_written();
    }
    (written, decoder.finish())
}

/// Streams `encoder` into chunks whose sizes cycle through `sizes`, checking
/// every call: whole words only, nothing written past what it reports, a full
/// chunk unless the encoding ends, `is_done` exactly at the end. `total` is the
/// length of the one-shot encoding.
fn stream_encode(
    mut encoder: Encoder<'_>,
    sizes: &[usize],
    total: usize,
) -> Result<Vec<u8>, TestCaseError> {
    let mut out = Vec::new();
    for &size in sizes.iter().cycle() {
        prop_assert_eq!(
            encoder.is_done(),
            out.len() == total,
            "is_done after {} of {} bytes",
            out.len(),
            total
        );
        if encoder.is_done() {
            break;
        }
        prop_assert!(out.len() < total, "encoder wrote past the one-shot length");
        let mut chunk = vec![0xa5u8; size];
        let n = match encoder.encode_chunk(&mut chunk) {
            Ok(n) => n,
            Err(error) => {
                // Only a chunk with no room for a word is refused, and it
                // is refused untouched.
                prop_assert_eq!(error, EncodeError::ChunkTooShort { len: size });
                prop_assert!(size < 8 && chunk.iter().all(|&b| b == 0xa5));
                continue;
            }
        };
        let room = size / 8 * 8;
        prop_assert!(
            n.is_multiple_of(8) && n <= room,
            "{} bytes into {}",
            n,
            size
        );
        prop_assert!(
            chunk[n..].iter().all(|&b| b == 0xa5),
            "bytes written past the {} reported",
            n
        );
        out.extend_from_slice(&chunk[..n]);
        if room > 0 {
            prop_assert!(n > 0, "no progress with a chunk of {} bytes", size);
        }
        if n < room {
            prop_assert!(
                encoder.is_done(),
                "a short chunk ({} of {}) before the end",
                n,
                room
            );
        }
    }
    let mut chunk = [0u8; 64];
    prop_assert_eq!(encoder.encode_chunk(&mut chunk), Ok(0));
    prop_assert_eq!(encoder.encode_chunk(&mut []), Ok(0));
    prop_assert!(encoder.is_done());
    Ok(out)
}

// ---- strategies ----------------------------------------------------------------

/// A word that is not uniform.
fn literal() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => any::<u64>().prop_map(|w| if uniform(w) { w ^ 1 } else { w }),
        1 => prop::sample::select(vec![1u64, !1, 1 << 63, !(1 << 63), 0x8000_0000_0000_0001]),
    ]
}

/// Zeros, ones and literals in about equal parts.
fn word() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(!0u64), literal()]
}

/// A stretch of 0..=130 words of one kind.
fn stretch() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        (0..=130usize).prop_map(|n| vec![0; n]),
        (0..=130usize).prop_map(|n| vec![!0; n]),
        vec(literal(), 0..=130),
        vec(word(), 0..=20),
    ]
}

/// A uniform stretch then a literal stretch, each 0..=130 words.
fn run_then_literals() -> impl Strategy<Value = Vec<u64>> {
    (any::<bool>(), 0..=130usize, vec(literal(), 0..=130)).prop_map(|(ones, n, literals)| {
        let mut words = vec![if ones { !0 } else { 0 }; n];
        words.extend(literals);
        words
    })
}

fn capped(parts: Vec<Vec<u64>>) -> Vec<u64> {
    let mut words = parts.concat();
    words.truncate(600);
    words
}

/// Long word vectors (up to 5000 words) of short stretches: many markers in
/// each 512-word window the encoder classifies at once, some longer than a
/// window, literal runs of every length around the encoder's 16-word copy,
/// and markers that start and end on and next to mask (64-word) edges.
fn long_words() -> impl Strategy<Value = Vec<u64>> {
    let piece = prop_oneof![
        4 => (0..=130usize, any::<bool>()).prop_map(|(n, ones)| vec![if ones { !0 } else { 0 }; n]),
        3 => vec(literal(), 0..=40),
        2 => vec(word(), 1..=12),
        1 => (500..=700usize, any::<bool>()).prop_map(|(n, ones)| vec![if ones { !0 } else { 0 }; n]),
        1 => vec(literal(), 500..=700),
    ];
    vec(piece, 0..=90).prop_map(|parts| {
        let mut words = parts.concat();
        words.truncate(5000);
        words
    })
}

/// Word vectors of 0..=600 words with a mix of patterns.
fn words() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        1 => Just(Vec::new()),
        2 => word().prop_map(|w| vec![w]),
        1 => (0..=600usize).prop_map(|n| vec![0; n]),
        1 => (0..=600usize).prop_map(|n| vec![!0; n]),
        2 => vec(literal(), 0..=600),
        2 => vec(word(), 0..=600),
        4 => vec(run_then_literals(), 0..=8).prop_map(capped),
        6 => vec(stretch(), 0..=12).prop_map(capped),
    ]
}

/// Chunk sizes for the streaming encoder: positive multiples of 8, small and
/// large, varying from chunk to chunk (one size when the vector has one).
fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(
        prop_oneof![
            3 => Just(8usize),
            3 => (1..=16usize).prop_map(|k| 8 * k),
            2 => (1..=700usize).prop_map(|k| 8 * k),
        ],
        1..=12,
    )
}

/// Any chunk size, including 0..8 bytes (no room for a word) and sizes with a
/// partial word of slack.
fn odd_chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![3 => 8..=200usize, 1 => 0..8usize], 1..=12)
        // At least one size with room for a word, or nothing ever progresses.
        .prop_map(|mut sizes| {
            if sizes.iter().all(|&s| s < 8) {
                sizes.push(8);
            }
            sizes
        })
}

/// A stream of small markers, each followed by about as many literal words as
/// it declares, with a few stray words; sometimes cut at a random word or byte,
/// sometimes followed by random bytes: mostly plausible, often invalid.
fn structured_bytes() -> impl Strategy<Value = Vec<u8>> {
    // Literal words given minus declared: mostly none, so that the stream
    // stays aligned on its markers.
    let skew = prop_oneof![30 => Just(0i64), 1 => Just(-1i64), 1 => Just(1i64)];
    let group = prop_oneof![
        24 => (any::<bool>(), 0..6u64, 0..6u64, skew, vec(word(), 6))
            .prop_map(|(ones, u, l, skew, literals)| {
                let given = (l as i64 + skew).max(0) as usize;
                let mut words = vec![marker_word(ones, u, l)];
                words.extend(literals.iter().cycle().take(given));
                words
            }),
        1 => any::<u64>().prop_map(|w| vec![w]),
    ];
    let cut = prop_oneof![
        2 => Just(None),
        1 => (any::<Index>(), any::<bool>()).prop_map(Some),
    ];
    let tail = prop_oneof![3 => Just(Vec::new()), 1 => vec(any::<u8>(), 1..=9)];
    (vec(group, 0..=8), cut, tail).prop_map(|(groups, cut, tail)| {
        let mut bytes: Vec<u8> = groups
            .concat()
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        match cut {
            None => {}
            Some((at, true)) => bytes.truncate(8 * at.index(bytes.len() / 8 + 1)),
            Some((at, false)) => bytes.truncate(at.index(bytes.len() + 1)),
        }
        bytes.extend(tail);
        bytes
    })
}

/// Words the whole-word markers of `bytes` describe, read as the decoder reads
/// them (saturating; no allocation): a capacity near it makes the outcome
/// depend on more than the first marker.
fn described_words(bytes: &[u8]) -> u64 {
    let whole = bytes.len() / 8;
    let (mut k, mut total) = (0, 0u64);
    while k < whole {
        let marker = u64::from_le_bytes(bytes[8 * k..8 * k + 8].try_into().unwrap());
        let literal_count = marker >> 32;
        total = total.saturating_add(((marker >> 1) & FORMAT_UNIFORM_MAX) + literal_count);
        k = k.saturating_add(1).saturating_add(literal_count as usize);
    }
    total
}

/// A capacity for decoding `bytes`: at random in `0..=48`, or within 3 words
/// of what the stream describes.
fn capacity_for(bytes: &[u8], near: bool, random: usize, delta: i64) -> usize {
    if near {
        (described_words(bytes).min(1 << 16) as i64 + delta).max(0) as usize
    } else {
        random
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index),
    Truncate(Index),
    Append(Vec<u8>),
    /// Sets the literal count field of a word to a small value.
    SetLiteralCount(Index, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::FlipBit),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        2 => vec(any::<u8>(), 1..=16).prop_map(Mutation::Append),
        2 => (any::<Index>(), 0..8u64).prop_map(|(i, n)| Mutation::SetLiteralCount(i, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    match mutation {
        Mutation::FlipBit(i) => {
            if !bytes.is_empty() {
                let bit = i.index(bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len() + 1)),
        Mutation::Append(tail) => bytes.extend_from_slice(tail),
        Mutation::SetLiteralCount(i, n) => {
            if bytes.len() >= 8 {
                let k = i.index(bytes.len() / 8);
                let w = u64::from_le_bytes(bytes[8 * k..8 * k + 8].try_into().unwrap());
                let w = (w & 0xffff_ffff) | n << 32;
                bytes[8 * k..8 * k + 8].copy_from_slice(&w.to_le_bytes());
            }
        }
    }
}

/// Checks the crate's decoders against the naive one on any input: one-shot
/// `decode` and `decode_into` (into a target full of garbage), and the
/// streaming decoder fed the same bytes cut at word boundaries.
fn check_against_naive(
    bytes: &[u8],
    capacity: usize,
    garbage: u64,
    picks: &[Index],
) -> Result<(), TestCaseError> {
    let want = naive_decode(bytes, capacity);
    let mut target = vec![garbage; capacity];
    let got = decode_into(bytes, &mut target);
    match &want {
        Ok((words, n)) => {
            prop_assert_eq!(&got, &Ok(*n));
            prop_assert_eq!(&target, words);
        }
        Err(error) => {
            prop_assert_eq!(&got, &Err(*error));
            let offset = error.offset();
            prop_assert_eq!(got.unwrap_err().offset(), offset);
            prop_assert!(offset <= bytes.len() as u64);
            match *error {
                DecodeError::Length { offset, trailing } => {
                    prop_assert_eq!(offset + trailing, bytes.len() as u64);
                }
                DecodeError::Truncated { offset, .. } | DecodeError::Overflow { offset, .. } => {
                    prop_assert!(offset.is_multiple_of(8) && offset + 8 <= bytes.len() as u64);
                }
                other => prop_assert!(false, "the naive decoder has no {:?}", other),
            }
        }
    }
    let one_shot = decode(bytes, capacity);
    match &want {
        Ok((words, n)) => {
            prop_assert_eq!(&one_shot, &Ok(words[..*n].to_vec()));
            prop_assert_eq!(validate(bytes, capacity), Ok(*n));
        }
        Err(error) => {
            prop_assert_eq!(&one_shot, &Err(*error));
            prop_assert_eq!(validate(bytes, capacity), Err(*error));
        }
    }
    // Streaming gives the same words and error however the stream is cut:
    // anywhere (inside words too); at word boundaries with the partial word
    // (if any) alone; and in one chunk, a partial word ending whole ones
    // (errors still come in stream order).
    for chunks in [
        byte_cuts(bytes, picks),
        word_cuts(bytes, picks),
        vec![bytes],
    ] {
        let mut target = vec![garbage; capacity];
        let (_, streamed) = stream_decode(&chunks, &mut target);
        match &want {
            Ok((words, n)) => {
                prop_assert_eq!(streamed, Ok(*n));
                prop_assert_eq!(&target, words);
            }
            Err(error) => prop_assert_eq!(streamed, Err(*error)),
        }
    }
    Ok(())
}

// ---- FreeSet level -------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// One session: reserve `n` blocks for each job, one after the other,
    /// acquire `take` blocks of each (all when `None`), forfeit them all. A job
    /// that takes fewer than it reserved leaves a hole before the next one.
    Acquire(Vec<(u64, Option<Index>)>),
    /// Release some held blocks while the checkpoint is durable: they go to
    /// `released`.
    Release(Vec<Index>),
    /// Checkpoint not durable, release some held blocks (pending), checkpoint
    /// durable: the released blocks become free, the pending ones released.
    Checkpoint(Vec<Index>),
}

fn op() -> impl Strategy<Value = Op> {
    let n = prop_oneof![1..=8u64, 1..=300u64, 1..=3000u64];
    let job = (n, prop::option::weighted(0.4, any::<Index>()));
    let picks = prop_oneof![vec(any::<Index>(), 0..=40), vec(any::<Index>(), 0..=400)];
    prop_oneof![
        4 => vec(job, 1..=4).prop_map(Op::Acquire),
        2 => picks.clone().prop_map(Op::Release),
        2 => picks.prop_map(Op::Checkpoint),
    ]
}

/// Limits of 1 to 3 shards: whole shards half the time, otherwise anything.
fn limit() -> impl Strategy<Value = u64> {
    (1..=3u64, prop_oneof![Just(0u64), 1..SHARD_BLOCKS])
        .prop_map(|(shards, short)| shards * SHARD_BLOCKS - short)
}

/// A set after `ops`, durable and with no reservation; also the addresses of
/// its released blocks.
fn build_set(limit: u64, ops: &[Op]) -> (FreeSet, Vec<u64>) {
    let mut set = FreeSet::new(limit).unwrap();
    let mut held: Vec<u64> = Vec::new(); // acquired, not released
    let mut released: Vec<u64> = Vec::new();
    let release_some = |set: &mut FreeSet, held: &mut Vec<u64>, picks: &[Index]| {
        let mut out = Vec::new();
        for pick in picks {
            if held.is_empty() {
                break;
            }
            let address = held.swap_remove(pick.index(held.len()));
            set.release(address).unwrap();
            out.push(address);
        }
        out
    };
    for op in ops {
        match op {
            Op::Acquire(jobs) => {
                let mut reservations = Vec::new();
                for (n, take) in jobs {
                    let Some(reservation) = set.reserve(*n).unwrap() else {
                        break;
                    };
                    let take = take.map_or(*n, |t| t.index(*n as usize + 1) as u64);
                    for _ in 0..take {
                        let address = set.acquire(&reservation).unwrap().expect("reserved");
                        assert!(address <= limit);
                        held.push(address);
                    }
                    reservations.push(reservation);
                }
                for reservation in &reservations {
                    set.forfeit(reservation).unwrap();
                }
            }
            Op::Release(picks) => {
                released.extend(release_some(&mut set, &mut held, picks));
            }
            Op::Checkpoint(picks) => {
                set.checkpoint_not_durable().unwrap();
                let pending = release_some(&mut set, &mut held, picks);
                set.checkpoint_durable().unwrap();
                released = pending;
            }
        }
    }
    released.sort_unstable();
    (set, released)
}

fn bits_to_words(addresses: &[u64], words: usize) -> Vec<u64> {
    let mut out = vec![0u64; words];
    for &a in addresses {
        out[((a - 1) / 64) as usize] |= 1 << ((a - 1) % 64);
    }
    out
}

/// Checks that `reopened` is `original` plus the trailer blocks, acquired and
/// released (pending), with the checkpoint not durable.
fn check_reopened(
    original: &FreeSet,
    reopened: &FreeSet,
    trailers: &[u64],
) -> Result<(), TestCaseError> {
    let t = trailers.len() as u64;
    prop_assert!(reopened.is_opened());
    prop_assert!(!reopened.is_checkpoint_durable());
    prop_assert_eq!(reopened.limit(), original.limit());
    prop_assert_eq!(reopened.capacity(), original.capacity());
    prop_assert_eq!(reopened.count_reservations(), 0);
    prop_assert_eq!(reopened.count_acquired(), original.count_acquired() + t);
    prop_assert_eq!(reopened.count_released(), original.count_released() + t);
    prop_assert_eq!(reopened.count_free(), original.count_free() - t);
    let mut acquired = original.acquired_words().to_vec();
    for (w, tw) in acquired
        .iter_mut()
        .zip(bits_to_words(trailers, original.acquired_words().len()))
    {
        *w |= tw;
    }
    prop_assert!(reopened.acquired_words() == acquired.as_slice());
    let top = trailers.iter().max().copied();
    prop_assert_eq!(
        reopened.highest_acquired(),
        original.highest_acquired().max(top)
    );
    prop_assert_eq!(
        reopened.highest_released(),
        original.highest_released().max(top)
    );
    for address in 1..=original.capacity() {
        let trailer = trailers.binary_search(&address).is_ok();
        prop_assert_eq!(
            reopened.is_free(address).unwrap(),
            original.is_free(address).unwrap() && !trailer,
            "is_free({})",
            address
        );
        prop_assert_eq!(
            reopened.is_released(address).unwrap(),
            original.is_released(address).unwrap() || trailer,
            "is_released({})",
            address
        );
    }
    Ok(())
}

// ---- tests ---------------------------------------------------------------------------

#[test]
fn spec_examples_and_constants() {
    assert_eq!(UNIFORM_COUNT_MAX, FORMAT_UNIFORM_MAX);
    assert_eq!(LITERAL_COUNT_MAX, FORMAT_LITERAL_MAX);
    assert_eq!(
        marker_word(true, FORMAT_UNIFORM_MAX, FORMAT_LITERAL_MAX),
        !0,
        "the three fields fill the word"
    );

    let le = |words: &[u64]| -> Vec<u8> { words.iter().flat_map(|w| w.to_le_bytes()).collect() };
    assert_eq!(encode(&[]), le(&[]));
    assert_eq!(encode(&[0]), le(&[0b10]));
    assert_eq!(encode(&[!0, !0]), le(&[0b101]));
    assert_eq!(encode(&[5]), le(&[1 << 32, 5]));
    // two zeros and a literal, two ones and a literal
    assert_eq!(
        encode(&[0, 0, 7, !0, !0, 9]),
        le(&[2 << 1 | 1 << 32, 7, 1 | 2 << 1 | 1 << 32, 9])
    );
    assert_eq!(encode_trimmed(&[0, 0, 0]), le(&[]));
    assert_eq!(encode_trimmed(&[!0, 0, 0]), le(&[0b11]));
    // Non-canonical but valid: an empty marker, a uniform word sent as a literal.
    assert_eq!(decode(&le(&[0, 1 << 32, !0]), 2), Ok(vec![!0]));
    // The precedence the naive decoder mirrors, on one small input each: stream
    // order, where missing literals are known only at the end of the stream.
    assert_eq!(
        decode(&[0xff; 9], 4),
        Err(DecodeError::Overflow {
            offset: 0,
            end: FORMAT_UNIFORM_MAX + FORMAT_LITERAL_MAX,
            capacity: 4
        })
    );
    let mut bytes = le(&[2 << 32, 5]);
    bytes.push(1);
    assert_eq!(
        decode(&bytes, 4),
        Err(DecodeError::Length {
            offset: 16,
            trailing: 1
        })
    );
    bytes.pop();
    assert_eq!(
        decode(&bytes, 4),
        Err(DecodeError::Truncated {
            offset: 0,
            declared: 2,
            present: 1
        })
    );
}

#[test]
fn size_max_formula() {
    let l = u128::from(FORMAT_LITERAL_MAX);
    for n in [
        0u64,
        1,
        2,
        600,
        FORMAT_LITERAL_MAX - 1,
        FORMAT_LITERAL_MAX,
        FORMAT_LITERAL_MAX + 1,
        2 * FORMAT_LITERAL_MAX,
        2 * FORMAT_LITERAL_MAX + 1,
        1 << 40,
    ] {
        let spec = 8 * u128::from(n).div_ceil(l) + 8 * u128::from(n);
        assert_eq!(encode_size_max(n as usize) as u128, spec, "n = {n}");
    }
    // Past what a usize holds, it saturates instead of wrapping (or
    // panicking with overflow checks on).
    for n in [usize::MAX, usize::MAX / 8, usize::MAX / 8 - 1] {
        let spec = 8 * (n as u128).div_ceil(l) + 8 * n as u128;
        assert!(spec > usize::MAX as u128);
        assert_eq!(encode_size_max(n), usize::MAX, "n = {n}");
    }
    // The largest count whose bound fits is still exact.
    let fits = (0..=usize::MAX / 8)
        .rev()
        .step_by(1 << 20)
        .find(|&n| 8 * (n as u128).div_ceil(l) + 8 * n as u128 <= usize::MAX as u128)
        .expect("some count fits");
    assert_eq!(
        encode_size_max(fits) as u128,
        8 * (fits as u128).div_ceil(l) + 8 * fits as u128
    );
}

#[test]
fn decode_of_more_words_than_memory_is_an_error_not_an_abort() {
    // 8000 bytes: 1000 markers of 2^31 - 1 one words each, about 2^41
    // words (16 TiB). Valid for a capacity of usize::MAX words; the
    // allocator refuses it, and decode says so.
    let marker = marker_word(true, (1 << 31) - 1, 0).to_le_bytes();
    let bytes: Vec<u8> = marker.iter().copied().cycle().take(8000).collect();
    let words = 1000 * ((1u64 << 31) - 1);
    assert_eq!(validate(&bytes, usize::MAX), Ok(words as usize));
    let error = decode(&bytes, usize::MAX).unwrap_err();
    assert_eq!(
        error,
        DecodeError::TooLarge {
            offset: 8000,
            words
        }
    );
    assert_eq!(error.offset(), 8000);
    assert!(error.to_string().contains("more than can be allocated"));
    // The same stream, small enough, decodes.
    let few = marker_word(true, 3, 0).to_le_bytes();
    assert_eq!(decode(&few, 3), Ok(vec![!0; 3]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// 1. One-shot encoding equals the naive canonical encoding.
    #[test]
    fn encode_is_the_naive_canonical_encoding(words in words()) {
        let bytes = encode(&words);
        prop_assert_eq!(&bytes, &naive_encode(&words));
        let trimmed = encode_trimmed(&words);
        prop_assert_eq!(&trimmed, &naive_encode(without_trailing_zeros(&words)));
        prop_assert_eq!(&trimmed, &naive_encode_trimmed(&words));
        prop_assert_eq!(encode_trimmed(&words), encode(without_trailing_zeros(&words)));
        // The naive decoder is the inverse of the naive encoder.
        prop_assert_eq!(naive_decode(&bytes, words.len()), Ok((words.clone(), words.len())));
    }

    /// 1. On long inputs too (the encoder's windows), one-shot, sequential,
    /// parallel in small segments, and streamed into chunks of any size.
    #[test]
    fn long_encodings_are_the_naive_canonical_encoding(
        words in long_words(),
        sizes in chunk_sizes(),
    ) {
        let want = naive_encode(&words);
        prop_assert_eq!(&encode(&words), &want);
        prop_assert_eq!(&freeset::ewah::encode_with(&words, Parallelism::SEQUENTIAL), &want);
        static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
        let pool = POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap());
        let parallel = Parallelism::pool(pool).min_words(64);
        prop_assert_eq!(&freeset::ewah::encode_with(&words, parallel), &want);
        prop_assert_eq!(encoded_len(&words), want.len());
        let streamed = stream_encode(Encoder::new(&words), &sizes, want.len())?;
        prop_assert_eq!(&streamed, &want);
        prop_assert_eq!(decode(&want, words.len()), Ok(words.clone()));
    }

    /// 2. Round trip into any capacity at least the length, over a target full
    /// of garbage; below the length it overflows, like the naive decoder.
    #[test]
    fn decode_round_trips(
        words in words(),
        extra in prop_oneof![Just(0usize), 0..70usize],
        short in any::<Index>(),
        garbage in any::<u64>(),
    ) {
        let capacity = words.len() + extra;
        let want = padded(&words, capacity);
        let trimmed_words = without_trailing_zeros(&words).len();
        for (bytes, described) in [
            (encode(&words), words.len()),
            (encode_trimmed(&words), trimmed_words),
        ] {
            prop_assert_eq!(decode(&bytes, capacity), Ok(want[..described].to_vec()));
            prop_assert_eq!(encoded_len(&words[..described]), bytes.len());
            let mut target = vec![garbage; capacity];
            prop_assert_eq!(decode_into(&bytes, &mut target), Ok(described));
            prop_assert_eq!(&target, &want);
            if described > 0 {
                let small = short.index(described);
                let got = decode(&bytes, small);
                prop_assert!(matches!(got, Err(DecodeError::Overflow { .. })), "{:?}", got);
                prop_assert_eq!(got.map(|_| ()), naive_decode(&bytes, small).map(|_| ()));
            }
        }
    }

    /// The naive encoder with small caps makes valid (capped) streams: the
    /// crate's decoder must expand them exactly, and the caps must show.
    #[test]
    fn decode_accepts_capped_streams(
        words in words(),
        uniform_cap in 1..=4u64,
        literal_cap in 1..=4u64,
        extra in 0..5usize,
    ) {
        let bytes = naive_encode_capped(&words, uniform_cap, literal_cap);
        for m in naive_markers(&words, uniform_cap, literal_cap) {
            prop_assert!(m.uniform_count <= uniform_cap);
            prop_assert!(m.literals.len() as u64 <= literal_cap);
            prop_assert!(m.uniform_count > 0 || !m.literals.is_empty());
        }
        let capacity = words.len() + extra;
        let mut target = vec![!0; capacity];
        prop_assert_eq!(decode_into(&bytes, &mut target), Ok(words.len()));
        prop_assert_eq!(target, padded(&words, capacity));
    }

    /// 3. The streaming encoder, chunk sizes varying, gives the one-shot bytes.
    #[test]
    fn streaming_encoder_matches_one_shot(words in words(), sizes in chunk_sizes()) {
        let one_shot = encode(&words);
        let streamed = stream_encode(Encoder::new(&words), &sizes, one_shot.len())?;
        prop_assert_eq!(streamed, one_shot);
        let one_shot = encode_trimmed(&words);
        let streamed = stream_encode(Encoder::trimmed(&words), &sizes, one_shot.len())?;
        prop_assert_eq!(streamed, one_shot);
    }

    /// 3b. Chunks that are not multiples of 8 (including shorter than a word)
    /// get whole words only, and no progress when shorter than a word.
    #[test]
    fn streaming_encoder_with_odd_chunks(words in words(), sizes in odd_chunk_sizes()) {
        let one_shot = encode(&words);
        let streamed = stream_encode(Encoder::new(&words), &sizes, one_shot.len())?;
        prop_assert_eq!(streamed, one_shot);
    }

    /// 4. The streaming decoder takes any cut at word boundaries.
    #[test]
    fn streaming_decoder_matches_one_shot(
        words in words(),
        picks in vec(any::<Index>(), 0..=12),
        extra in 0..5usize,
        garbage in any::<u64>(),
        trimmed in any::<bool>(),
    ) {
        let bytes = if trimmed { encode_trimmed(&words) } else { encode(&words) };
        let described = if trimmed { without_trailing_zeros(&words).len() } else { words.len() };
        let capacity = words.len() + extra;
        let chunks = word_cuts(&bytes, &picks);
        prop_assert_eq!(chunks.concat(), bytes.clone());
        let mut target = vec![garbage; capacity];
        let (written, finished) = stream_decode(&chunks, &mut target);
        prop_assert_eq!(finished, Ok(described));
        prop_assert_eq!(written, described);
        prop_assert_eq!(&target, &padded(&words, capacity));
        prop_assert_eq!(decode(&bytes, capacity), Ok(target[..described].to_vec()));
    }

    /// 5. `encode_size_max` bounds every encoding and all-literal input
    /// reaches it.
    #[test]
    fn size_max_bounds_and_is_reached(words in words(), literals in vec(literal(), 0..=600)) {
        prop_assert!(encode(&words).len() <= encode_size_max(words.len()));
        prop_assert!(encode_trimmed(&words).len() <= encode_size_max(words.len()));
        prop_assert_eq!(encode(&literals).len(), encode_size_max(literals.len()));
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// 6. Random byte strings of any length into small capacities.
    #[test]
    fn random_bytes_agree_with_naive(
        bytes in vec(any::<u8>(), 0..=80),
        capacity in 0..=40usize,
        garbage in any::<u64>(),
        picks in vec(any::<Index>(), 0..=6),
    ) {
        check_against_naive(&bytes, capacity, garbage, &picks)?;
    }

    /// 6. Plausible streams of small markers, cut and padded at random bytes.
    #[test]
    fn structured_bytes_agree_with_naive(
        bytes in structured_bytes(),
        near in any::<bool>(),
        random in 0..=48usize,
        delta in prop_oneof![1 => -3i64..=-1, 3 => 0i64..=3],
        garbage in any::<u64>(),
        picks in vec(any::<Index>(), 0..=6),
    ) {
        let capacity = capacity_for(&bytes, near, random, delta);
        check_against_naive(&bytes, capacity, garbage, &picks)?;
    }

    /// 6. Valid encodings with one or two faults.
    #[test]
    fn mutated_encodings_agree_with_naive(
        words in words(),
        trimmed in any::<bool>(),
        mutations in vec(mutation(), 1..=2),
        near in any::<bool>(),
        delta in -3i64..=3,
        garbage in any::<u64>(),
        picks in vec(any::<Index>(), 0..=6),
    ) {
        let mut bytes = if trimmed { encode_trimmed(&words) } else { encode(&words) };
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        // Near the words' length, or near what the mutated stream describes.
        let capacity = (words.len() as i64 + delta).max(0) as usize;
        let capacity = capacity_for(&bytes, near, capacity, delta);
        check_against_naive(&bytes, capacity, garbage, &picks)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// 7. A free set's streamed encoders equal its `encode`, which is the naive
    /// trimmed encoding of its bitsets; `open` and `open_chunks` of the bytes
    /// rebuild it, plus the trailer blocks.
    #[test]
    fn free_set_encodes_and_opens(
        limit in limit(),
        ops in vec(op(), 0..=12),
        sizes in chunk_sizes(),
        trailer_picks in vec((any::<Index>(), any::<bool>()), 0..=6),
        acquired_cuts in vec(any::<Index>(), 0..=8),
        released_cuts in vec(any::<Index>(), 0..=8),
    ) {
        let (set, released) = build_set(limit, &ops);
        let words = set.acquired_words().len();
        prop_assert_eq!(set.count_released(), released.len() as u64);
        let (acquired_bytes, released_bytes) = set.encode().unwrap();
        prop_assert_eq!(&acquired_bytes, &naive_encode_trimmed(set.acquired_words()));
        prop_assert_eq!(&released_bytes, &naive_encode_trimmed(&bits_to_words(&released, words)));

        for (bitset, bytes) in [
            (Bitset::Acquired, &acquired_bytes),
            (Bitset::Released, &released_bytes),
        ] {
            let streamed = stream_encode(set.encoder(bitset).unwrap(), &sizes, bytes.len())?;
            prop_assert_eq!(&streamed, bytes, "{:?}", bitset);
        }

        // Trailers: free blocks below the limit, split into the two lists.
        let free: Vec<u64> = (1..=limit).filter(|&a| set.is_free(a).unwrap()).collect();
        let (mut trailer_acquired, mut trailer_released) = (Vec::new(), Vec::new());
        if !free.is_empty() {
            for (pick, to_acquired) in &trailer_picks {
                let address = free[pick.index(free.len())];
                if trailer_acquired.contains(&address) || trailer_released.contains(&address) {
                    continue;
                }
                if *to_acquired {
                    trailer_acquired.push(address);
                } else {
                    trailer_released.push(address);
                }
            }
        }
        trailer_acquired.sort_unstable();
        trailer_released.sort_unstable();
        let mut trailers = [trailer_acquired.clone(), trailer_released.clone()].concat();
        trailers.sort_unstable();

        let mut opened = FreeSet::unopened(limit).unwrap();
        opened
            .open(&acquired_bytes, &released_bytes, &trailer_acquired, &trailer_released)
            .unwrap();
        check_reopened(&set, &opened, &trailers)?;

        // Streamed through one reused buffer, cut anywhere.
        let mut chunked = FreeSet::unopened(limit).unwrap();
        let mut stream = chunked.open_stream().unwrap();
        let mut buffer = vec![0u8; acquired_bytes.len().max(released_bytes.len())];
        for chunk in byte_cuts(&acquired_bytes, &acquired_cuts) {
            buffer[..chunk.len()].copy_from_slice(chunk);
            stream.push_acquired(&buffer[..chunk.len()]).unwrap();
        }
        for chunk in byte_cuts(&released_bytes, &released_cuts) {
            buffer[..chunk.len()].copy_from_slice(chunk);
            stream.push_released(&buffer[..chunk.len()]).unwrap();
        }
        stream.finish(&trailer_acquired, &trailer_released).unwrap();
        check_reopened(&set, &chunked, &trailers)?;

        // Through `std::io::Read` on both sides.
        let mut read = FreeSet::unopened(limit).unwrap();
        let reader = |bitset| set.encoder(bitset).unwrap().into_reader();
        read.open_from_readers(
            reader(Bitset::Acquired),
            reader(Bitset::Released),
            &trailer_acquired,
            &trailer_released,
        )
        .unwrap();
        check_reopened(&set, &read, &trailers)?;
        prop_assert_eq!(set.encoded_size(Bitset::Acquired).unwrap(), acquired_bytes.len() as u64);
        prop_assert_eq!(set.encoded_size(Bitset::Released).unwrap(), released_bytes.len() as u64);
    }
}
