//! Bitset memory: where the library allocates words of a size an input
//! chose (a capacity, the words a stream describes, a copy of a set).
//!
//! What must never happen here: an abort when the allocator refuses (the
//! caller gets `None` and turns it into an error), or a pass over memory
//! that nothing has used yet.

use std::alloc::{self, Layout};

/// `words` zero words, or `None` when the allocator refuses. Like
/// `vec![0; words]` it asks for zeroed memory (calloc), which the system
/// hands out as untouched pages: a large set costs no pass over its bitsets
/// until they are used.
pub(crate) fn zeroed_words(words: usize) -> Option<Vec<u64>> {
    if words == 0 {
        return Some(Vec::new());
    }
    let layout = Layout::array::<u64>(words).ok()?;
    // SAFETY: the layout has a non-zero size (`words > 0`).
    let ptr = unsafe { alloc::alloc_zeroed(layout) }.cast::<u64>();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of
    // `words` `u64`s, which is the layout a `Vec<u64>` of capacity `words`
    // frees with; all `words` elements are initialised (all-zero bytes are a
    // valid `u64`).
    Some(unsafe { Vec::from_raw_parts(ptr, words, words) })
}

/// A copy of `words`, or `None` when the allocator refuses.
pub(crate) fn copied_words(words: &[u64]) -> Option<Vec<u64>> {
    let mut copy = Vec::new();
    copy.try_reserve_exact(words.len()).ok()?;
    copy.extend_from_slice(words);
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_words_are_zero_of_the_length_asked_or_none() {
        let words = zeroed_words(3 * 64 + 5).unwrap();
        assert_eq!(words.len(), 3 * 64 + 5);
        assert!(words.iter().all(|&w| w == 0));
        assert!(zeroed_words(0).unwrap().is_empty());
        // More bytes than an allocation may have, and more than the address
        // space holds. Through `black_box`: an allocation whose memory is
        // never used may be elided by the optimiser, which then takes it to
        // have succeeded (release builds did).
        let huge = |words| std::hint::black_box(zeroed_words(std::hint::black_box(words)));
        assert!(huge(usize::MAX / 4).is_none());
        assert!(huge(1 << 58).is_none());
    }
}
