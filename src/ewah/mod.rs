//! EWAH (enhanced word-aligned hybrid) encoding of `u64` bitsets, as persisted
//! in a checkpoint. The format is `docs/format.md` of the repository.
//!
//! The stream is little-endian `u64` words. A **marker** word holds a uniform bit
//! (bit 0), a uniform word count (bits 1..=31) and a literal word count (bits
//! 32..=63); it is followed by its literal words. Encoding is canonical, so the
//! bytes are a function of the words alone and can be compared byte for byte.
//!
//! - Encode: [`encode`] (one-shot), [`Encoder`] (into chunks of any size, or
//!   to a [`std::io::Write`] with [`Encoder::write_to`], or as a
//!   [`std::io::Read`] with [`Encoder::into_reader`]); [`encoded_len`] gives
//!   the exact size first, without encoding.
//! - Decode: [`decode`], [`decode_into`] (one-shot), [`Decoder`] (chunks cut
//!   anywhere, or as a [`std::io::Write`]); [`validate`] checks a stream
//!   without writing.
//! - Large inputs run on a rayon pool, with the same bytes and errors: see
//!   [`Parallelism`](crate::Parallelism) and the `_with` functions.
//!
//! Layout, in layers that only look down: `walk.rs` (the one marker walker
//! every reader uses) and `sink.rs` (the one output sink every encoder
//! writes through) at the bottom with this file's format (markers,
//! canonical form) and the decoder's write policy; `encode.rs`, `decode.rs`
//! and `stream.rs` (the sequential codec, one-shot and streamed); `parallel/`
//! (the parallel twins, which run the sequential codec on each part); and
//! `entry.rs` on top, the one-shot entry points that choose between them.
//!
//! What must never happen here: decoding writes or allocates past the target
//! capacity, or panics, on any input. Every invalid input gives a
//! [`DecodeError`](crate::DecodeError) naming the byte offset.

mod decode;
mod encode;
mod entry;
mod parallel;
mod sink;
mod stream;
mod walk;

pub use decode::Decoder;
pub use encode::{encoded_len, EncodeReader, Encoder};
pub use entry::{
    decode, decode_into, decode_into_with, encode, encode_trimmed, encode_with, try_encode_with,
    validate,
};

pub(crate) use decode::StreamState;
pub(crate) use parallel::decode as decode_parallel;

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::scan;

/// Most uniform words one marker can describe: 31 bits.
pub const UNIFORM_COUNT_MAX: u64 = (1 << 31) - 1;
/// Most literal words one marker can announce: 32 bits.
pub const LITERAL_COUNT_MAX: u64 = (1 << 32) - 1;

/// A decoded marker word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    /// Value of the uniform words: `false` for zeros, `true` for all ones.
    pub(crate) uniform_bit: bool,
    /// Number of uniform words, at most [`UNIFORM_COUNT_MAX`].
    pub(crate) uniform_count: u64,
    /// Number of literal words that follow the marker, at most [`LITERAL_COUNT_MAX`].
    pub(crate) literal_count: u64,
}

impl Marker {
    /// The marker as a stream word.
    pub(crate) fn to_word(self) -> u64 {
        debug_assert!(self.uniform_count <= UNIFORM_COUNT_MAX);
        debug_assert!(self.literal_count <= LITERAL_COUNT_MAX);
        u64::from(self.uniform_bit) | self.uniform_count << 1 | self.literal_count << 32
    }

    /// Any word is a valid marker; its fields are read as they are.
    pub(crate) fn from_word(word: u64) -> Marker {
        Marker {
            uniform_bit: word & 1 == 1,
            uniform_count: (word >> 1) & UNIFORM_COUNT_MAX,
            literal_count: word >> 32,
        }
    }
}

/// A word is uniform when it is all zeros or all ones.
#[inline]
pub(crate) fn is_uniform(word: u64) -> bool {
    word == 0 || word == !0
}

/// The most bytes an encoding of `words` words can take:
/// `8 * ceil(words / (2^32 - 1)) + 8 * words`, or `usize::MAX` when that
/// does not fit in a `usize` (no slice of that many words can exist).
pub fn encode_size_max(words: usize) -> usize {
    let literal_max = LITERAL_COUNT_MAX as usize;
    words
        .div_ceil(literal_max)
        .checked_add(words)
        .and_then(|total| total.checked_mul(8))
        .unwrap_or(usize::MAX)
}

/// Number of words left once trailing zero words are dropped: encoding
/// `&words[..trimmed_len(words)]` gives the canonical encoding of `words`
/// without its trailing zero-run markers, which is what the free set
/// persists.
pub(crate) fn trimmed_len(words: &[u64]) -> usize {
    words.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1)
}

/// The marker canonical encoding emits at word `pos` (`pos < words.len()`):
/// the definition the encoder follows (it finds the same counts with the
/// scan kernels, fused with the copy of the literals), which debug builds
/// check it against.
pub(crate) fn marker_at(words: &[u64], pos: usize) -> Marker {
    debug_assert!(pos < words.len());
    let first = words[pos];
    let mut end = pos;
    let (uniform_bit, uniform_count) = if is_uniform(first) {
        let cap = (words.len() - pos).min(UNIFORM_COUNT_MAX as usize);
        end = pos + scan::uniform_run(&words[pos..pos + cap], first, cap);
        (first == !0, (end - pos) as u64)
    } else {
        (false, 0)
    };
    let cap = (words.len() - end).min(LITERAL_COUNT_MAX as usize);
    let literal_count = scan::literal_run(&words[end..end + cap], cap) as u64;
    Marker {
        uniform_bit,
        uniform_count,
        literal_count,
    }
}

/// Bytes of output from which the codec treats it as large: 4 MiB.
///
/// A one-pass write larger than the private caches of a core (L2 is 512 KiB
/// to 2 MiB on x86 cores) leaves them as it goes, so the codec prefetches
/// the input of a large encode, counts the bits it decodes into a large
/// target on the way rather than by reading them back, and streams its
/// stores past the caches when the output is large for the last-level cache
/// too ([`Stores`]). Below this size the output may still be in cache for
/// its reader (a checkpoint written right away, a bitset searched right
/// after opening), and plain copies keep it there. The size is a property
/// of cache hierarchies, not a tuned figure: `freeset bench --sweep` shows
/// both sides of it.
pub(crate) const LARGE_MIN_BYTES: usize = 4 << 20;

/// How the codec writes an output, chosen from its size once per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stores {
    /// Below [`LARGE_MIN_BYTES`]: ordinary stores through `memcpy` and
    /// `memset`, and decoded bits counted from cache when reported.
    Small,
    /// Large, but small next to the last-level cache: ordinary stores, so
    /// that the output stays in that cache for its reader, counted on the
    /// way.
    Large,
    /// Large for the last-level cache too: streaming stores, which skip the
    /// read of each line before its write (read for ownership) that ordinary
    /// stores pay. The caller fences them. A decoder prefetches the target
    /// lines its few ordinary stores (the ends of short runs) will need.
    Streamed,
}

impl Stores {
    /// The stores for an output of `bytes` bytes.
    #[inline]
    pub(crate) fn for_bytes(bytes: usize) -> Stores {
        if bytes < LARGE_MIN_BYTES {
            Stores::Small
        } else if bytes < stream_min_bytes() {
            Stores::Large
        } else {
            Stores::Streamed
        }
    }

    /// Whether the output is [`Stores::Large`] or [`Stores::Streamed`].
    #[inline]
    pub(crate) fn large(self) -> bool {
        self != Stores::Small
    }

    /// Whether the stores stream.
    #[inline]
    pub(crate) fn stream(self) -> bool {
        self == Stores::Streamed
    }
}

/// How a decoder into a large target counts the set bits of the short
/// literal runs it copies (a few words between two fills; on the `runs`
/// fill, one in ten words). Fills are counted from their length either way,
/// and long literal runs on the way by the copy kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counting {
    /// With the tier's shard counter, over the whole window when it is
    /// reported (read back from L1, fills included): for a tier that counts
    /// eight words an instruction (AVX-512 `vpopcntq`), reading the fills
    /// back costs less than a count per literal run.
    Bulk,
    /// A word at a time as it is copied, one `popcnt` each: no window is
    /// read back. With a slower shard counter (AVX2's nibble table takes
    /// about seven instructions per four words) counting only the literals
    /// costs less (measured on the `runs` fill: `perf/notes.md`).
    OnTheWay,
}

impl Counting {
    /// The counting that suits the kernel tier in use.
    pub(crate) fn for_active_tier() -> Counting {
        if scan::active() == scan::Tier::Avx512 {
            Counting::Bulk
        } else {
            Counting::OnTheWay
        }
    }
}

/// Bytes of output from which stores stream (0 until first asked).
static STREAM_MIN_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Bytes of output from which the codec streams its stores: a quarter of
/// the last-level cache, and at least [`LARGE_MIN_BYTES`].
///
/// A quarter of the last-level cache is where glibc's `memcpy` (2.38 on)
/// turns to streaming stores: a pass that large, with its input going
/// through the same cache, has pushed most of its own early lines out by
/// the time it ends, so keeping them in cache buys their reader little, and
/// ordinary stores would still read every line before writing it. A machine
/// with a huge shared L3 keeps a 16 MiB bitset in it; one with 32 MiB
/// shared among neighbours does not. Where CPUID describes no cache, every
/// large output streams.
fn stream_min_bytes() -> usize {
    let known = STREAM_MIN_BYTES.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    let bytes = crate::cache::last_level_bytes()
        .map_or(LARGE_MIN_BYTES, |cache| (cache / 4).max(LARGE_MIN_BYTES));
    // Every thread computes the same figure: whichever store lands is right.
    STREAM_MIN_BYTES.store(bytes, Ordering::Relaxed);
    bytes
}

/// Sets the size from which outputs stream, or (`None`) goes back to the
/// cache's: tests take both kinds of large output on any machine. A call in
/// flight keeps the choice it made.
#[cfg(test)]
pub(crate) fn set_stream_min_bytes(bytes: Option<usize>) {
    assert!(bytes.is_none_or(|b| b >= LARGE_MIN_BYTES));
    STREAM_MIN_BYTES.store(bytes.unwrap_or(0), Ordering::Relaxed);
}

/// Bytes the codec's ordinary copies (outputs that do not stream) hand
/// to one `memcpy` at most: 2 KiB.
///
/// glibc copies from 4 KiB up (its `rep_movsb_threshold` with AVX2) with
/// `rep movsb`, which AMD cores run slowly when source and destination are
/// not aligned alike, and the codec's copies never are (a marker word shifts
/// the stream by 8 bytes against the bitset). Measured on an AMD EPYC (AVX2),
/// 2 KiB copies were more than twice as fast as 4 KiB ones
/// (`perf/notes.md`).
pub(crate) const COPY_BYTES_MAX: usize = 2048;

/// Copies `src` into `dst` (the same length) with `memcpy`, in pieces of at
/// most [`COPY_BYTES_MAX`].
#[inline]
pub(crate) fn copy_pieces(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    if src.len() <= COPY_BYTES_MAX {
        dst.write_copy_of_slice(src);
        return;
    }
    for (d, s) in dst
        .chunks_mut(COPY_BYTES_MAX)
        .zip(src.chunks(COPY_BYTES_MAX))
    {
        d.write_copy_of_slice(s);
    }
}

/// Reads little-endian `bytes` (exactly `8 * words.len()` long) into
/// `words` with ordinary stores.
#[inline]
fn read_words(words: &mut [u64], bytes: &[u8]) {
    debug_assert_eq!(bytes.len(), words.len() * 8);
    if cfg!(target_endian = "little") {
        let target: &mut [u8] = bytemuck::cast_slice_mut(words);
        // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and only
        // initialised bytes are written through the view.
        let target: &mut [MaybeUninit<u8>] =
            unsafe { std::slice::from_raw_parts_mut(target.as_mut_ptr().cast(), target.len()) };
        copy_pieces(target, bytes);
    } else {
        for (dst, b) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *dst = u64::from_le_bytes(b.try_into().expect("chunks_exact(8)"));
        }
    }
}

/// Fences this thread's streamed stores when dropped, so that every return
/// path (errors too) leaves them visible to whoever the result goes to next.
pub(crate) struct FenceOnDrop(pub(crate) bool);

impl Drop for FenceOnDrop {
    fn drop(&mut self) {
        if self.0 {
            scan::stream_fence();
        }
    }
}

/// Told `(first, len, counts)` once words `[first, first + len)` of a bitset
/// are written: `counts[k]` is the number of set bits among them in shard
/// `first / 64 + k` (64 words). Reports of one decoding never overlap.
pub(crate) type OnCounts<'a> = &'a (dyn Fn(usize, usize, &[u32]) + Sync);

/// Literal runs this short (half a shard) are copied inline: the kernel
/// call costs more than the copy.
const SHORT_WORDS: usize = 32;

/// Fills this long (4 KiB) or longer into a large target are counted from
/// their length: a read back would find their first words gone from L1.
const LONG_FILL_MIN_WORDS: usize = 512;

/// How far ahead of its reads an encoder prefetches its large input: 4 KiB.
const PREFETCH_WORDS: usize = 512;

/// Prefetches the lines of `words` not prefetched yet (from `*prefetched`,
/// or from `from` if that is further) up to [`PREFETCH_WORDS`] past `from`,
/// and moves `*prefetched` there: the encoder's input. `usize::MAX` in
/// `*prefetched` turns it off.
#[inline]
fn prefetch_ahead(words: &[u64], from: usize, prefetched: &mut usize) {
    let until = (from + PREFETCH_WORDS).min(words.len());
    let mut at = (*prefetched).max(from);
    while at < until {
        scan::prefetch(&words[at]);
        at += 8;
    }
    *prefetched = at;
}

/// Most words a decoder reports at once: 32 KiB, 65 shards at most.
const REPORT_WORDS: usize = 4096;

/// How a decoder writes its target: where the target lies in the bitset,
/// how it stores ([`Stores`]), and who hears of the set bits written. It gathers
/// the counts of consecutive steps (a stream of short runs takes many) into
/// one report of up to [`REPORT_WORDS`] words.
pub(crate) struct Output<'a> {
    /// Target word 0 is word `base` of the bitset (shards count from 0 there).
    base: usize,
    /// How words are stored (streamed ones: the caller fences).
    stores: Stores,
    /// How the short literal runs of a large target are counted.
    counting: Counting,
    on_counts: Option<OnCounts<'a>>,
    /// [`Output::counts_on_the_way`], worked out once.
    on_the_way: bool,
    /// Zero, in a way the compiler cannot see through (see `copy_short`).
    opaque_zero: u64,
    /// The words gathered for the next report: `[window, window + len)` of
    /// the bitset, and the set bits of each shard they span.
    window: usize,
    len: usize,
    counts: [u32; REPORT_WORDS / 64 + 1],
    /// The window's words were all written with ordinary stores: their bits
    /// are counted from the target when it is reported (in cache then),
    /// rather than on the way. Only for small targets and
    /// [`Counting::Bulk`].
    deferred: bool,
}

impl<'a> Output<'a> {
    pub(crate) fn new(
        base: usize,
        stores: Stores,
        counting: Counting,
        on_counts: Option<OnCounts<'a>>,
    ) -> Self {
        Output {
            base,
            stores,
            counting,
            on_counts,
            on_the_way: counting == Counting::OnTheWay && stores.large() && on_counts.is_some(),
            opaque_zero: std::hint::black_box(0),
            window: base,
            len: 0,
            counts: [0; REPORT_WORDS / 64 + 1],
            deferred: false,
        }
    }

    /// Plain stores into a target that is a bitset of its own, nobody told.
    pub(crate) fn plain() -> Output<'static> {
        Output::new(0, Stores::Small, Counting::Bulk, None)
    }

    /// Whether the target is written a whole line at a time with streaming
    /// stores (`stream.rs`).
    #[inline]
    pub(super) fn streams(&self) -> bool {
        self.stores.stream()
    }

    /// Whether short literal runs are counted word by word as they are
    /// copied ([`Counting::OnTheWay`] into a large target, with a listener):
    /// the decoder then runs compiled with `popcnt` where the CPU has it.
    #[inline]
    pub(super) fn counts_on_the_way(&self) -> bool {
        self.on_the_way
    }

    /// Adds words `[first, first + n)` of the bitset to what is gathered,
    /// after a report if they do not fit or are counted the other way (see
    /// `deferred`).
    #[inline(always)]
    fn gather(&mut self, target: &[u64], first: usize, n: usize, deferred: bool) {
        debug_assert!(n <= REPORT_WORDS && first >= self.window + self.len);
        let end = first + n;
        if end - self.window > REPORT_WORDS
            || first != self.window + self.len
            || (deferred != self.deferred && self.len > 0)
        {
            self.report(target);
            self.window = first;
        }
        self.deferred = deferred;
        self.len = end - self.window;
    }

    /// [`gather`](Self::gather) for words counted on the way: their counts.
    #[inline(always)]
    fn gather_counted(&mut self, target: &[u64], first: usize, n: usize) -> &mut [u32] {
        self.gather(target, first, n, false);
        let k = first / 64 - self.window / 64;
        &mut self.counts[k..k + scan::shards_spanned(first, n)]
    }

    /// Reports what is gathered, if anyone listens. A deferred window is
    /// counted now, from `target` (the words were written with ordinary
    /// stores a moment ago: they are in cache).
    pub(crate) fn report(&mut self, target: &[u64]) {
        if self.len > 0 {
            let spanned = scan::shards_spanned(self.window, self.len);
            if let Some(report) = self.on_counts {
                let counts = &mut self.counts[..spanned];
                if self.deferred {
                    let words = &target[self.window - self.base..][..self.len];
                    scan::streamed::check_read(words);
                    count_by_shard(words, self.window, counts);
                }
                report(self.window, self.len, counts);
            }
            self.counts[..spanned].fill(0);
        }
        self.window += self.len;
        self.len = 0;
    }

    /// Copies the little-endian literal `bytes` to `target[out..]`, and
    /// counts their bits by shard: on the way, or when the window is
    /// reported (see [`Counting`]). Not for a streamed target (`stream.rs`).
    #[inline(always)]
    pub(super) fn literals(&mut self, target: &mut [u64], out: usize, bytes: &[u8]) {
        debug_assert!(bytes.len().is_multiple_of(8) && !self.stores.stream());
        let n = bytes.len() / 8;
        if n <= REPORT_WORDS {
            self.literal_piece(target, out, bytes);
        } else {
            for (k, piece) in bytes.chunks(8 * REPORT_WORDS).enumerate() {
                self.literal_piece(target, out + k * REPORT_WORDS, piece);
            }
        }
    }

    /// One piece of `literals`, of at most [`REPORT_WORDS`] words.
    #[inline(always)]
    fn literal_piece(&mut self, target: &mut [u64], at: usize, piece: &[u8]) {
        let (first, n) = (self.base + at, piece.len() / 8);
        let short = n <= SHORT_WORDS;
        if !self.stores.large() || (short && self.counting == Counting::Bulk) {
            // A small target (in cache), or a few words between runs: an
            // ordinary copy, counted with its neighbours when the window is
            // reported (from L1 then).
            self.gather(target, first, n, true);
            read_words(&mut target[at..at + n], piece);
        } else if short {
            // A few words between runs, counted as they are copied.
            let listening = self.on_counts.is_some();
            let zero = self.opaque_zero;
            let counts = self.gather_counted(target, first, n);
            let words = &mut target[at..at + n];
            if listening {
                copy_counting_short(words, piece, first, counts, zero);
            } else {
                read_words(words, piece);
            }
        } else {
            // A long copy into a large target: counted on the way, as a
            // read back would find the first words of a long piece gone
            // from L1.
            let counts = self.gather_counted(target, first, n);
            scan::copy_in(&mut target[at..at + n], piece, first, counts, false);
        }
    }

    /// Fills `target[out..out + count]` with uniform words (not zero words
    /// onto a zeroed target: those are there already) and counts the ones.
    /// Not for a streamed target (`stream.rs`).
    #[inline(always)]
    pub(super) fn fill(
        &mut self,
        target: &mut [u64],
        out: usize,
        count: usize,
        ones: bool,
        zeroed: bool,
    ) {
        debug_assert!(!self.stores.stream());
        // Long fills of a large target are counted without a read back; a
        // short one is read back with the literals around it (unless nothing
        // is read back: see `Counting`).
        let long = self.stores.large() && count >= LONG_FILL_MIN_WORDS;
        if ones || !zeroed {
            // Uniform words are uniform bytes: one `memset`.
            let value: u8 = if ones { 0xff } else { 0 };
            bytemuck::cast_slice_mut::<u64, u8>(&mut target[out..out + count]).fill(value);
        }
        if count <= REPORT_WORDS {
            self.fill_piece(target, self.base + out, count, ones, long);
            return;
        }
        let mut at = out;
        while at < out + count {
            let n = (out + count - at).min(REPORT_WORDS);
            self.fill_piece(target, self.base + at, n, ones, long);
            at += n;
        }
    }

    /// Gathers (or counts) words `[first, first + n)` of a fill.
    #[inline(always)]
    fn fill_piece(&mut self, target: &[u64], first: usize, n: usize, ones: bool, long: bool) {
        if !ones && n == REPORT_WORDS {
            // A long zero run holds no bit: nothing to gather.
            self.report(target);
            self.window = first + n;
        } else if ones && (long || self.on_the_way) {
            // A long fill of a large target, or any when nothing is read
            // back: counted here.
            let counts = self.gather_counted(target, first, n);
            for (k, c) in counts.iter_mut().enumerate() {
                let shard_start = (first / 64 + k) * 64;
                let words = (shard_start + 64).min(first + n) - shard_start.max(first);
                *c += 64 * words as u32;
            }
        } else {
            // Ones written the ordinary way: counted when reported. Zeros
            // hold no bit, whether written or already in place: they join
            // the window as it is.
            let deferred = ones || self.deferred;
            self.gather(target, first, n, deferred);
        }
    }
}

/// Copies the little-endian `bytes` (at most [`SHORT_WORDS`] words) into
/// `words`, word `first` on of the bitset, and adds their set bits to
/// `counts`, whose entry 0 is the shard of `first` (they span two shards at
/// most). `zero` is 0 (see [`copy_short`]).
#[inline(always)]
fn copy_counting_short(
    words: &mut [u64],
    bytes: &[u8],
    first: usize,
    counts: &mut [u32],
    zero: u64,
) {
    const { assert!(SHORT_WORDS <= 64) };
    debug_assert!(words.len() <= SHORT_WORDS);
    debug_assert_eq!(counts.len(), scan::shards_spanned(first, words.len()));
    if words.is_empty() {
        return;
    }
    let split = (64 - first % 64).min(words.len());
    let (head, tail) = words.split_at_mut(split);
    let (head_bytes, tail_bytes) = bytes.split_at(8 * split);
    counts[0] += copy_short(head, head_bytes, zero);
    if !tail.is_empty() {
        counts[1] += copy_short(tail, tail_bytes, zero);
    }
}

/// Copies the little-endian `bytes` (at most [`SHORT_WORDS`] words) into
/// `words` with ordinary stores, inline, and returns their set bits, counted
/// from the loaded words (a read back of the target would wait on the
/// stores; a caller that drops the count does not pay for it).
///
/// The words are stored as `value ^ zero`, where `zero` is 0 made opaque
/// once per decoder ([`Output::opaque_zero`]): a plain copy loop is what
/// LLVM turns into a `memcpy` call (and a second loop for the count), and
/// the call, with its size checks, costs more than a copy of a few words.
#[inline(always)]
fn copy_short(words: &mut [u64], bytes: &[u8], zero: u64) -> u32 {
    debug_assert!(words.len() <= SHORT_WORDS && bytes.len() == 8 * words.len());
    debug_assert_eq!(zero, 0);
    let mut bits = 0;
    for (word, b) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let value = u64::from_le_bytes(b.try_into().expect("chunks_exact(8)"));
        *word = value ^ zero;
        bits += value.count_ones();
    }
    bits
}

/// The set bits of `words` (word `first` on of the bitset) into `counts`,
/// shard by shard: whole shards through the batch kernel.
fn count_by_shard(words: &[u64], first: usize, counts: &mut [u32]) {
    debug_assert_eq!(counts.len(), scan::shards_spanned(first, words.len()));
    let head = ((64 - first % 64) % 64).min(words.len());
    let whole = (words.len() - head) / 64;
    let mut k = 0;
    if head > 0 {
        counts[0] = scan::count_ones(&words[..head]) as u32;
        k = 1;
    }
    scan::count_ones_by_64(&words[head..head + 64 * whole], &mut counts[k..k + whole]);
    let tail = &words[head + 64 * whole..];
    if !tail.is_empty() {
        counts[k + whole] = scan::count_ones(tail) as u32;
    }
}

#[cfg(test)]
mod tests;
