//! The codec's one-shot entry points: encode and decode a whole bitset.
//! They sit on top of both codecs and choose between them: the parallel one
//! (`parallel/`), which splits large inputs over the threads a
//! [`Parallelism`] names and runs the sequential codec on each part, or the
//! sequential one (`encode.rs`, `decode.rs`) directly. Nothing below imports
//! this file, so the layers only ever look down.

use super::{encode_size_max, trimmed_len};
use crate::error::DecodeError;
use crate::parallelism::Parallelism;

/// Canonical encoding of all of `words` (no trailing trim), on the current
/// rayon pool for large inputs (see [`Parallelism`]). The vector's capacity
/// is at most twice its length plus a page.
///
/// Like a std collection, it aborts the process when the memory for the
/// encoding cannot be allocated: [`try_encode_with`] returns an error
/// instead.
///
/// ```
/// let bytes = freeset::ewah::encode(&[0]);
/// assert_eq!(bytes, [2, 0, 0, 0, 0, 0, 0, 0]); // one zero word
/// ```
pub fn encode(words: &[u64]) -> Vec<u8> {
    encode_with(words, Parallelism::default())
}

/// Canonical encoding of `words` without its trailing zero words.
pub fn encode_trimmed(words: &[u64]) -> Vec<u8> {
    encode(&words[..trimmed_len(words)])
}

/// [`encode`], on the threads `parallelism` names: the same bytes anywhere.
pub fn encode_with(words: &[u64], parallelism: Parallelism) -> Vec<u8> {
    try_encode_with(words, parallelism).unwrap_or_else(|_| {
        let bytes = encode_size_max(words.len());
        std::alloc::handle_alloc_error(
            std::alloc::Layout::from_size_align(bytes, 1)
                .unwrap_or(std::alloc::Layout::new::<u8>()),
        )
    })
}

/// [`encode_with`], or an error when the memory for the encoding (room for
/// the worst case, [`encode_size_max`] bytes, while it is made) cannot be
/// allocated.
///
/// ```
/// use freeset::{ewah, Parallelism};
/// let bytes = ewah::try_encode_with(&[0, 7], Parallelism::SEQUENTIAL)?;
/// assert_eq!(bytes, ewah::encode(&[0, 7]));
/// # Ok::<(), std::collections::TryReserveError>(())
/// ```
pub fn try_encode_with(
    words: &[u64],
    parallelism: Parallelism,
) -> Result<Vec<u8>, std::collections::TryReserveError> {
    super::parallel::encode(words, parallelism)
}

/// Decodes `bytes` into `target` (its length is the capacity), zeroing the
/// words past the end of the stream, on the current rayon pool for large
/// targets. Returns the number of words the stream described.
pub fn decode_into(bytes: &[u8], target: &mut [u64]) -> Result<usize, DecodeError> {
    decode_into_with(bytes, target, Parallelism::default())
}

/// [`decode_into`], on the threads `parallelism` names: the same words and
/// errors anywhere.
pub fn decode_into_with(
    bytes: &[u8],
    target: &mut [u64],
    parallelism: Parallelism,
) -> Result<usize, DecodeError> {
    super::parallel::decode(bytes, target, false, parallelism, None, &mut 0)
}

/// Checks `bytes` as a stream for a target of `capacity_words` words without
/// writing anything; returns the number of words it describes.
///
/// ```
/// use freeset::ewah::{encode, validate};
/// assert_eq!(validate(&encode(&[1, 0, 0]), 4), Ok(3));
/// assert!(validate(&encode(&[1, 0, 0]), 2).is_err()); // past the capacity
/// ```
pub fn validate(bytes: &[u8], capacity_words: usize) -> Result<usize, DecodeError> {
    super::parallel::validate(bytes, capacity_words, usize::MAX, |_| {})
}

/// Decodes `bytes` for a target of `capacity_words` words and returns the
/// words the stream describes (the words past them, up to the capacity, are
/// zero). It validates first, so it allocates only what the stream describes
/// and nothing on error. A few bytes can describe billions of words: the
/// capacity is the caller's bound on memory, and words the allocator refuses
/// are an error ([`DecodeError::TooLarge`]), not an abort.
///
/// ```
/// use freeset::ewah::{decode, encode};
/// assert_eq!(decode(&encode(&[1, 2, 0]), 4).unwrap(), [1, 2, 0]);
/// assert!(decode(&[1, 2, 3], 4).is_err()); // not a whole word
/// ```
pub fn decode(bytes: &[u8], capacity_words: usize) -> Result<Vec<u64>, DecodeError> {
    let described = validate(bytes, capacity_words)?;
    let mut words = crate::memory::zeroed_words(described).ok_or(DecodeError::TooLarge {
        offset: bytes.len() as u64,
        words: described as u64,
    })?;
    let decoded = super::parallel::decode(
        bytes,
        &mut words,
        true,
        Parallelism::default(),
        None,
        &mut 0,
    );
    debug_assert_eq!(decoded, Ok(described));
    Ok(words)
}
