//! The scan algorithms, written once over a small vector trait.
//!
//! Each SIMD tier supplies a [`Lanes`] type (a few `u64` lanes with compare
//! and popcount) and instantiates these functions inside its own
//! `#[target_feature]` functions, so that everything here inlines into code
//! compiled for that tier's instructions. Partial words at the ends of a range
//! and the last few words that do not fill a vector go through the scalar
//! kernels: the vector loop only ever sees whole, aligned-to-the-range chunks.
//!
//! Nothing here may use an instruction directly; that belongs to the tiers.
//!
//! Soundness rests on types: a [`Lanes`] value can only be made by the
//! `unsafe` [`Lanes::load`], whose contract is that the CPU supports the
//! vector type's features, so a value is itself the proof and its methods are
//! safe. Every function here that loads lanes is an `unsafe fn` that passes the
//! same contract on to its caller.

use super::scalar;

/// A vector of `WORDS` `u64` lanes.
pub(crate) trait Lanes: Copy {
    /// Lanes per vector.
    const WORDS: usize;
    /// Loads `chunk` (exactly `WORDS` words).
    ///
    /// # Safety
    ///
    /// The CPU supports this vector type's features (for the `std::arch`
    /// types, those their tier's `#[target_feature]` functions enable). A value
    /// of the type exists only once this has been promised, which is what
    /// makes the methods below safe.
    unsafe fn load(chunk: &[u64]) -> Self;
    /// Bit `i` set when lane `i` equals `value`.
    fn eq_bits(self, value: u64) -> u32;
    /// Bit `i` set when lane `i` is 0 or all ones.
    fn uniform_bits(self) -> u32;
    /// Total set bits over all lanes.
    fn count_ones(self) -> u64;

    /// Total set bits of 64 words (exactly; a shard). Tiers that can add up
    /// many vectors before one horizontal sum override it: a sum per vector
    /// costs more than the popcount itself.
    ///
    /// # Safety
    ///
    /// As [`Lanes::load`].
    #[inline(always)]
    unsafe fn count_ones_64(chunk: &[u64]) -> u64 {
        assert_eq!(chunk.len(), 64);
        chunk
            .chunks_exact(Self::WORDS)
            // SAFETY: the CPU supports the features (this function's contract).
            .map(|c| unsafe { Self::load(c) }.count_ones())
            .sum()
    }
}

/// All lanes' bits set in an `eq_bits` result.
#[inline(always)]
fn all<V: Lanes>() -> u32 {
    (1u32 << V::WORDS) - 1
}

/// Set bits of each 64-word chunk of `words` into `counts`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
pub(crate) unsafe fn count_ones_by_64<V: Lanes>(words: &[u64], counts: &mut [u32]) {
    assert_eq!(words.len(), counts.len() * 64);
    for (chunk, count) in words.chunks_exact(64).zip(counts) {
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        *count = unsafe { V::count_ones_64(chunk) } as u32;
    }
}

/// Number of set bits in `words`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
pub(crate) unsafe fn count_ones<V: Lanes>(words: &[u64]) -> u64 {
    let chunks = words.chunks_exact(V::WORDS);
    let tail = scalar::count_ones(chunks.remainder());
    chunks
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        .map(|c| unsafe { V::load(c) }.count_ones())
        .sum::<u64>()
        + tail
}

/// First index in `words` whose word is not `value`, or `words.len()`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
unsafe fn skip_equal<V: Lanes>(words: &[u64], value: u64) -> usize {
    // Two vectors a step: one branch per two, and twice the loads in
    // flight when the words come from memory (the codec's runs).
    let mut pairs = words.chunks_exact(2 * V::WORDS);
    let both = all::<V>() | all::<V>() << V::WORDS;
    let mut base = 0;
    for pair in pairs.by_ref() {
        let (a, b) = pair.split_at(V::WORDS);
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        let equal = unsafe { V::load(a).eq_bits(value) | V::load(b).eq_bits(value) << V::WORDS };
        if equal != both {
            return base + (!equal).trailing_zeros() as usize;
        }
        base += 2 * V::WORDS;
    }
    let mut chunks = pairs.remainder().chunks_exact(V::WORDS);
    for chunk in chunks.by_ref() {
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        let equal = unsafe { V::load(chunk) }.eq_bits(value);
        if equal != all::<V>() {
            return base + (!equal).trailing_zeros() as usize;
        }
        base += V::WORDS;
    }
    base + chunks
        .remainder()
        .iter()
        .take_while(|&&w| w == value)
        .count()
}

/// Index of the first zero bit in `[from, to)`, or `None`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
pub(crate) unsafe fn first_zero<V: Lanes>(words: &[u64], from: usize, to: usize) -> Option<usize> {
    debug_assert!(from <= to && to <= words.len() * 64);
    // Whole words strictly inside the range go through the vectors; the
    // first and last (partial) words through the scalar kernel.
    let first_whole = from.div_ceil(64);
    let last_whole = to / 64;
    if first_whole >= last_whole {
        return scalar::first_zero(words, from, to);
    }
    if let Some(b) = scalar::first_zero(words, from, first_whole * 64) {
        return Some(b);
    }
    // SAFETY: the CPU supports `V`'s features (this function's contract).
    let i = first_whole + unsafe { skip_equal::<V>(&words[first_whole..last_whole], !0) };
    if i < last_whole {
        return Some(i * 64 + (!words[i]).trailing_zeros() as usize);
    }
    scalar::first_zero(words, last_whole * 64, to)
}

/// Index of the `n`-th (1-based) zero bit in `[from, to)`, or how many zero
/// bits the range holds.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
pub(crate) unsafe fn nth_zero<V: Lanes>(
    words: &[u64],
    from: usize,
    to: usize,
    n: u64,
) -> Result<usize, u64> {
    debug_assert!(n >= 1);
    debug_assert!(from <= to && to <= words.len() * 64);
    let first_whole = from.div_ceil(64);
    let last_whole = to / 64;
    if first_whole >= last_whole {
        return scalar::nth_zero(words, from, to, n);
    }
    let mut left = n;
    match scalar::nth_zero(words, from, first_whole * 64, left) {
        Ok(b) => return Ok(b),
        Err(seen) => left -= seen,
    }
    // Skip whole vectors by their zero count; the vector that holds the
    // answer is searched a word at a time.
    let mut i = first_whole;
    while i + V::WORDS <= last_whole {
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        let lanes = unsafe { V::load(&words[i..i + V::WORDS]) };
        let zeros = (V::WORDS as u64 * 64) - lanes.count_ones();
        if zeros >= left {
            break;
        }
        left -= zeros;
        i += V::WORDS;
    }
    match scalar::nth_zero(words, i * 64, to, left) {
        Ok(b) => Ok(b),
        Err(seen) => Err(n - left + seen),
    }
}

/// Number of leading words equal to `value`, at most `max`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
pub(crate) unsafe fn uniform_run<V: Lanes>(words: &[u64], value: u64, max: usize) -> usize {
    let words = &words[..words.len().min(max)];
    // SAFETY: the CPU supports `V`'s features (this function's contract).
    unsafe { skip_equal::<V>(words, value) }
}

/// Which words of `words` are 0 and which are all ones, as masks of 64
/// words each (bit `i % 64` of `zeros[i / 64]` for word `i`): a fixed number
/// of loads and compares and no branch on the data, so the encoder learns
/// where runs end without a mispredicted branch at each end.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
pub(crate) unsafe fn classify<V: Lanes>(words: &[u64], zeros: &mut [u64], ones: &mut [u64]) {
    assert!(words.len() == 64 * zeros.len() && ones.len() == zeros.len());
    for ((chunk, z), o) in words.chunks_exact(64).zip(zeros).zip(ones) {
        // From the last vector to the first, each shifting the bits gathered
        // so far up: a chain the compiler keeps in scalar registers (as one
        // OR reduction it shuffles bytes through vector registers, 3x the
        // instructions).
        let (mut zero_bits, mut one_bits) = (0u64, 0u64);
        for lanes in chunk.rchunks_exact(V::WORDS) {
            // SAFETY: the CPU supports `V`'s features (this function's contract).
            let lanes = unsafe { V::load(lanes) };
            zero_bits = zero_bits << V::WORDS | u64::from(lanes.eq_bits(0));
            one_bits = one_bits << V::WORDS | u64::from(lanes.eq_bits(!0));
        }
        (*z, *o) = (zero_bits, one_bits);
    }
}

/// Number of leading words that are neither 0 nor all ones, at most `max`.
///
/// # Safety
///
/// The CPU supports `V`'s features (see [`Lanes::load`]).
#[inline(always)]
pub(crate) unsafe fn literal_run<V: Lanes>(words: &[u64], max: usize) -> usize {
    let words = &words[..words.len().min(max)];
    let mut chunks = words.chunks_exact(V::WORDS);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        // SAFETY: the CPU supports `V`'s features (this function's contract).
        let uniform = unsafe { V::load(chunk) }.uniform_bits();
        if uniform != 0 {
            return base + uniform.trailing_zeros() as usize;
        }
        base += V::WORDS;
    }
    base + scalar::literal_run(chunks.remainder(), usize::MAX)
}
