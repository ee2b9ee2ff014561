//! The model's bitset: its own account of the acquired blocks, kept apart
//! from the set it checks.
//!
//! What must never happen here: a use of `freeset` (the model never asks
//! the set what is true).

/// A bitset over the addresses `1..=limit`, stored only up to the word of its
/// highest set bit (the words past the vector are zero): snapshots, scans and
/// `highest` cost what the grid uses, not its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bits {
    /// Word `i` holds addresses `64 * i ..`; the last word is never zero.
    words: Vec<u64>,
    limit: u64,
    count: u64,
}

impl Bits {
    pub(super) fn new(limit: u64) -> Self {
        Bits {
            words: Vec::new(),
            limit,
            count: 0,
        }
    }

    pub(super) fn get(&self, address: u64) -> bool {
        debug_assert!((1..=self.limit).contains(&address));
        self.words
            .get((address / 64) as usize)
            .is_some_and(|word| word >> (address % 64) & 1 == 1)
    }

    pub(super) fn set(&mut self, address: u64) {
        debug_assert!(!self.get(address));
        let index = (address / 64) as usize;
        if index >= self.words.len() {
            self.words.resize(index + 1, 0);
        }
        self.words[index] |= 1 << (address % 64);
        self.count += 1;
    }

    pub(super) fn clear(&mut self, address: u64) {
        debug_assert!(self.get(address));
        self.words[(address / 64) as usize] &= !(1 << (address % 64));
        self.count -= 1;
        // Keeps the last word non-zero. Each word popped was pushed once, so
        // this is O(1) amortized.
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }

    pub(super) fn count(&self) -> u64 {
        self.count
    }

    pub(super) fn highest(&self) -> Option<u64> {
        let (&last, below) = self.words.split_last()?;
        debug_assert_ne!(last, 0);
        Some(below.len() as u64 * 64 + 63 - u64::from(last.leading_zeros()))
    }

    /// The set addresses, in order.
    pub(super) fn ones(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let bit = bits.trailing_zeros();
                    bits &= bits - 1;
                    i as u64 * 64 + u64::from(bit)
                })
            })
        })
    }

    /// Length of the longest run of free addresses in `1..=limit`.
    pub(super) fn largest_free_run(&self) -> u64 {
        let (mut run, mut best) = (0u64, 0u64);
        for (i, &word) in self.words.iter().enumerate() {
            // Address 0 and addresses past the limit count as acquired.
            let first = i as u64 * 64;
            let mut valid = !0u64;
            if i == 0 {
                valid &= !1;
            }
            if first + 64 > self.limit + 1 {
                valid &= (1 << (self.limit + 1 - first)) - 1;
            }
            let free = !word & valid;
            if free == !0 {
                run += 64;
                continue;
            }
            // The low free bits end the run coming from below, the high ones
            // start the next; runs inside the word stand alone.
            best = best.max(run + u64::from(free.trailing_ones()));
            best = best.max(longest_ones(free));
            run = u64::from(free.leading_ones());
        }
        // Past the stored words everything up to the limit is free.
        let stored_end = (self.words.len() as u64 * 64).max(1);
        best.max(run + (self.limit + 1).saturating_sub(stored_end))
    }
}

/// Length of the longest run of one bits in `word`.
pub(super) fn longest_ones(mut word: u64) -> u64 {
    let mut length = 0;
    while word != 0 {
        word &= word << 1;
        length += 1;
    }
    length
}
