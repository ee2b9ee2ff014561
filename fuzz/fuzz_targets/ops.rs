//! `ops`: a sequence of operations (`freeset_fuzz::ops::Op`, derived
//! `Arbitrary`: new or unopened, reserve, acquire, forfeit, release,
//! checkpoint_not_durable, checkpoint_durable, is_free, is_released,
//! encode, reopen with trailer lists, reset, open, clone) run against the
//! crate and against a naive model written below from `docs/behaviour.md`:
//! one bit per block for `acquired`, `released` and `pending`, read and
//! written block by block (`freeset_fuzz::naive::Bits`), plus
//! `reserved_until`, the active reservation count, the session, the
//! `forfeiting`, `opened` and `durable` flags and an identity per set
//! object. Limits are in `1..=3*4096+5` (up to four shards), or, for 1 in
//! 256 raw limits of `Op::New`, around 64 shards (where the shard
//! summaries and the shard groups of `open` need a second word).
//!
//! Input layout (`freeset_fuzz::ops::parse_input`): one byte that picks
//! the kernel tier the sequence runs under (`kernels::available()[byte %
//! n]`, forced with `kernels::force`: every tier this CPU can run is
//! covered across the corpus, one per input), then the operations.
//!
//! Checks, under the tier the input picks:
//! - every operation gives the model's result: the same `Ok` value
//!   (reservation range and session, address, `bool`, encoded bytes) or
//!   both fail (misuse); `open` fails with exactly the error of the naive
//!   `open` (`freeset_fuzz::naive::open`);
//! - after every operation, whether it succeeded or not: `limit`,
//!   `capacity`, `is_opened`, `is_checkpoint_durable` and every count equal
//!   the model's (so a misuse that changed something shows at once); after
//!   every operation that changes many blocks (or none: new, reset, open,
//!   clone, checkpoints, encode, the `*All` and `*Many` ones) and after
//!   every 8th, also `highest_acquired`, `highest_released` and every word
//!   of `acquired_words`;
//! - `encode`, `encode_with` (pool of 2, `min_words(1)`), `encoded_size` and
//!   a chunked `encoder` give the model's canonical trimmed bytes (or all
//!   fail);
//! - at the end, the `acquired`, `released` and `pending` bitsets (read
//!   through the accessors, and through a clone moved on by a durable
//!   checkpoint: `freeset_fuzz::bitsets_through_checkpoint`) equal the
//!   model's, and
//!   `is_free` / `is_released` agree on a sample of blocks.
//!
//! The model's session follows the crate where the reference is silent: `open` (and
//! a clone) start a new session, as `reset` and the last `forfeit` do.
//!
//! A bug is any difference, a panic (including a debug assertion of the
//! crate: the targets are built with `--debug-assertions`), or an ASan report.
#![no_main]

use freeset::ewah::Encoder;
use freeset::kernels::{self, Tier};
use freeset::{Bitset, Error, FreeSet, Reservation};
use freeset_fuzz::naive::{self, Bits};
use freeset_fuzz::ops::{new_limit, parse_input, Addr, Op, TrailerAddr, Trailers};
use freeset_fuzz::{bitsets, bitsets_through_checkpoint, capacity_of, parallel};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

// ---- kernel tiers ------------------------------------------------------------

/// The kernel tier `selector` picks among every tier this CPU can run
/// (`freeset::kernels::available()`, fastest first, the scalar oracle
/// last). The model, not the tiers, is the oracle; a tier that answers
/// differently shows as a difference from the model under that tier.
fn tier(selector: u8) -> Tier {
    static TIERS: OnceLock<Vec<Tier>> = OnceLock::new();
    let tiers = TIERS.get_or_init(kernels::available);
    tiers[usize::from(selector) % tiers.len()]
}

/// Makes `tier` the one the crate uses from now on (process-wide).
fn force(tier: Tier) {
    kernels::force(tier).expect("an available tier");
    assert_eq!(kernels::active(), tier);
}

/// The full check (every count recounted from the model's blocks, every
/// word compared) runs after every operation that changes many blocks and
/// after every this-many operations; the others compare the counts the
/// model keeps up to date. A difference the cheap check cannot see shows
/// at most this many operations late.
const FULL_CHECK_EVERY: usize = 8;

fuzz_target!(|data: &[u8]| {
    let (selector, ops) = parse_input(data);
    let tier = tier(selector);
    force(tier);
    let mut h = Harness::new(&ops);
    for (i, op) in ops.iter().enumerate() {
        h.at = i;
        h.step(op);
        let heavy = !matches!(
            op,
            Op::Reserve(_)
                | Op::ReserveReachable(_)
                | Op::Acquire(_)
                | Op::Forfeit(_)
                | Op::Release(_)
                | Op::IsFree(_)
                | Op::IsReleased(_)
        );
        h.check(
            format_args!("after op {i} ({tier})"),
            heavy || i % FULL_CHECK_EVERY == 0,
        );
    }
    h.check(format_args!("at the end ({tier})"), true);
    h.check_every_block();
});

// ---- the model ------------------------------------------------------------------

/// The model's verdict on a misuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Misuse;

/// A reservation as the model sees it; `identity` names the set object.
#[derive(Debug, Clone, Copy)]
struct ModelReservation {
    identity: u64,
    session: u64,
    base: u64,
    count: u64,
}

#[derive(Debug, Clone)]
struct Model {
    identity: u64,
    state: naive::State,
    /// Counts kept up to date by `acquire` and `release` and recounted from
    /// `state` by every other change, so that the cheap check after every
    /// operation need not walk the blocks; the full check recounts them.
    acquired_count: u64,
    free_count: u64,
    released_count: u64,
    reserved_until: u64,
    active: u64,
    session: u64,
    forfeiting: bool,
    /// Bases of the session's reservations forfeited so far: a second
    /// forfeit of one is misuse.
    forfeited: Vec<u64>,
    opened: bool,
    durable: bool,
}

impl Model {
    fn unopened(identity: u64, limit: u64) -> Self {
        Model {
            identity,
            state: naive::State::empty(limit),
            acquired_count: 0,
            free_count: limit,
            released_count: 0,
            reserved_until: 0,
            active: 0,
            session: 1,
            forfeiting: false,
            forfeited: Vec::new(),
            opened: false,
            durable: true,
        }
    }

    fn limit(&self) -> u64 {
        self.state.limit
    }

    /// The counts, from the blocks.
    fn recount(&mut self) {
        self.acquired_count = self.state.count_acquired();
        self.free_count = self.state.count_free();
        self.released_count = self.state.count_released();
    }

    fn capacity(&self) -> u64 {
        self.state.capacity()
    }

    fn acquired(&self, block: u64) -> bool {
        self.state.acquired.get(block)
    }

    fn released(&self, block: u64) -> bool {
        self.state.released.get(block) || self.state.pending.get(block)
    }

    fn end_session(&mut self) {
        self.reserved_until = 0;
        self.active = 0;
        self.session += 1;
        self.forfeiting = false;
        self.forfeited.clear();
    }

    /// Free blocks a reserve can reach: at or after `reserved_until`, below the limit.
    fn reachable(&self) -> u64 {
        let (from, limit) = (self.reserved_until, self.limit());
        limit.saturating_sub(from) - self.state.acquired.count_range(from, limit)
    }

    fn reserve(&mut self, n: u64) -> Result<Option<ModelReservation>, Misuse> {
        if n == 0 || !self.opened || self.forfeiting {
            return Err(Misuse);
        }
        let from = self.reserved_until;
        match self.state.acquired.nth_clear_from(from, n) {
            Some(e) if e < self.limit() => {
                self.reserved_until = e + 1;
                self.active += 1;
                Ok(Some(ModelReservation {
                    identity: self.identity,
                    session: self.session,
                    base: from,
                    count: e + 1 - from,
                }))
            }
            _ => Ok(None),
        }
    }

    fn check_reservation(&self, r: &ModelReservation) -> Result<(), Misuse> {
        if r.identity != self.identity || r.session != self.session || self.active == 0 {
            return Err(Misuse);
        }
        Ok(())
    }

    /// `acquire`, with the walk over the reservation's range starting at
    /// `from` instead of its base: `AcquireAll` passes the block after the
    /// one it got last, which is the same answer (every block of the range
    /// before it is acquired) without walking them all again each time.
    fn acquire_from(&mut self, r: &ModelReservation, from: u64) -> Result<Option<u64>, Misuse> {
        self.check_reservation(r)?;
        for block in from.max(r.base)..r.base + r.count {
            if !self.acquired(block) {
                self.state.acquired.set(block, true);
                self.acquired_count += 1;
                self.free_count -= 1; // reservations lie below the limit
                return Ok(Some(block + 1));
            }
        }
        Ok(None)
    }

    fn forfeit(&mut self, r: &ModelReservation) -> Result<(), Misuse> {
        self.check_reservation(r)?;
        // The ranges of a session never overlap: the base names one.
        if self.forfeited.contains(&r.base) {
            return Err(Misuse);
        }
        self.forfeited.push(r.base);
        self.active -= 1;
        if self.active == 0 {
            self.end_session();
        } else {
            self.forfeiting = true;
        }
        Ok(())
    }

    fn release(&mut self, address: u64) -> Result<(), Misuse> {
        if address == 0 || address > self.capacity() {
            return Err(Misuse);
        }
        let block = address - 1;
        if !self.acquired(block) || self.released(block) {
            return Err(Misuse);
        }
        if self.durable {
            self.state.released.set(block, true);
        } else {
            self.state.pending.set(block, true);
        }
        self.released_count += 1;
        Ok(())
    }

    fn checkpoint_not_durable(&mut self) -> Result<(), Misuse> {
        if !self.opened || !self.durable {
            return Err(Misuse);
        }
        self.durable = false;
        Ok(())
    }

    fn checkpoint_durable(&mut self) -> Result<(), Misuse> {
        if !self.opened || self.durable || self.active > 0 {
            return Err(Misuse);
        }
        // The released blocks become free, the pending ones released.
        let s = &mut self.state;
        s.acquired = s.acquired.and_not(&s.released);
        s.released = std::mem::replace(&mut s.pending, Bits::new(s.acquired.len()));
        self.durable = true;
        self.recount();
        Ok(())
    }

    fn is_free(&self, address: u64) -> Result<bool, Misuse> {
        if address == 0 || address > self.capacity() {
            return Err(Misuse);
        }
        Ok(!self.acquired(address - 1))
    }

    fn is_released(&self, address: u64) -> Result<bool, Misuse> {
        if address == 0 || address > self.capacity() {
            return Err(Misuse);
        }
        Ok(self.released(address - 1))
    }

    fn encode(&self) -> Result<(Vec<u8>, Vec<u8>), Misuse> {
        if !self.opened || !self.durable || self.active > 0 {
            return Err(Misuse);
        }
        Ok((
            naive::encode_trimmed(self.state.acquired.words()),
            naive::encode_trimmed(self.state.released.words()),
        ))
    }

    /// `open` of this (unopened) model: the naive open, then a new session.
    fn open(
        &mut self,
        acquired: &[u8],
        released: &[u8],
        trailer_acquired: &[u64],
        trailer_released: &[u64],
    ) -> Result<(), Result<Error, Misuse>> {
        if self.opened {
            return Err(Err(Misuse));
        }
        let state = naive::open(
            self.limit(),
            acquired,
            released,
            trailer_acquired,
            trailer_released,
        )
        .map_err(Ok)?;
        self.state = state;
        self.recount();
        self.end_session();
        self.opened = true;
        self.durable = false;
        Ok(())
    }

    fn reset(&mut self) {
        let session = self.session + 1;
        *self = Model {
            session,
            ..Model::unopened(self.identity, self.limit())
        };
    }

    /// Blocks that are acquired and not released yet.
    fn releasable(&self) -> Bits {
        let released = self.state.released.or(&self.state.pending);
        self.state.acquired.and_not(&released)
    }
}

// ---- the harness ------------------------------------------------------------------

/// The crate and the model side by side.
struct Harness<'o> {
    set: FreeSet,
    model: Model,
    /// Every reservation ever made (of this set object or an earlier one)
    /// plus two of an unrelated set, in the order they were made.
    pool: Vec<(Reservation, ModelReservation)>,
    /// Every encoding seen (the empty one first), for `Op::Open`.
    encodings: Vec<(Vec<u8>, Vec<u8>)>,
    next_identity: u64,
    /// The sequence, and the operation running, for messages.
    ops: &'o [Op],
    at: usize,
}

/// Identity of the reservations of a set the model does not track.
const FOREIGN: u64 = 0;

/// The set every sequence starts with.
const START_LIMIT: u64 = 4096 + 100;

impl<'o> Harness<'o> {
    fn new(ops: &'o [Op]) -> Self {
        // Made once per process: a reservation names its set by a key no
        // other set ever gets, so these stay foreign to every set below.
        static FOREIGN_RESERVATIONS: OnceLock<Vec<(Reservation, ModelReservation)>> =
            OnceLock::new();
        let pool = FOREIGN_RESERVATIONS
            .get_or_init(|| {
                let mut other = FreeSet::new(START_LIMIT).expect("a small set");
                [1, 2]
                    .map(|n| {
                        let r = other
                            .reserve(n)
                            .expect("an opened set")
                            .expect("free blocks");
                        let m = ModelReservation {
                            identity: FOREIGN,
                            session: r.session(),
                            base: r.block_base(),
                            count: r.block_count(),
                        };
                        (r, m)
                    })
                    .to_vec()
            })
            .clone();
        Harness {
            set: FreeSet::new(START_LIMIT).expect("a small set"),
            model: Model {
                opened: true,
                ..Model::unopened(1, START_LIMIT)
            },
            pool,
            encodings: vec![(Vec::new(), Vec::new())],
            next_identity: 2,
            ops,
            at: 0,
        }
    }

    fn context(&self) -> String {
        let to = (self.at + 1).min(self.ops.len());
        let from = to.saturating_sub(20);
        let last: Vec<String> = (from..to)
            .map(|i| format!("{i}: {:?}", self.ops[i]))
            .collect();
        format!(
            "limit {}, last operations:\n  {}",
            self.model.limit(),
            last.join("\n  ")
        )
    }

    fn same<T: PartialEq + std::fmt::Debug>(
        &self,
        what: std::fmt::Arguments,
        got: &Result<T, Error>,
        want: &Result<T, Misuse>,
    ) {
        match (got, want) {
            (Ok(g), Ok(w)) if g == w => {}
            (Err(_), Err(Misuse)) => {}
            _ => panic!("{what}: crate {got:?}, model {want:?}\n{}", self.context()),
        }
    }

    fn identity(&mut self) -> u64 {
        self.next_identity += 1;
        self.next_identity - 1
    }

    fn address(&self, addr: &Addr) -> u64 {
        let m = &self.model;
        let nth = |blocks: &Bits, k: u16| {
            let n = blocks.count();
            if n == 0 {
                1
            } else {
                blocks.nth_set(u64::from(k) % n).expect("k < n") + 1
            }
        };
        match *addr {
            Addr::Raw(a) => u64::from(a),
            Addr::Acquired(k) => nth(&m.state.acquired, k),
            Addr::Releasable(k) => nth(&m.releasable(), k),
            Addr::Released(k) => nth(&m.state.released.or(&m.state.pending), k),
            Addr::Free(k) => nth(&m.state.acquired.clear_below(m.limit()), k),
            Addr::PastLimit(k) => m.limit() + 1 + u64::from(k) % 128,
        }
    }

    fn pick(&self, k: u16) -> Option<(Reservation, ModelReservation)> {
        (!self.pool.is_empty()).then(|| self.pool[usize::from(k) % self.pool.len()])
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::New { opened, raw } => {
                let limit = new_limit(raw);
                let made = if opened {
                    FreeSet::new(limit)
                } else {
                    FreeSet::unopened(limit)
                };
                match made {
                    Ok(set) => {
                        assert!(limit > 0, "new(0) must fail");
                        self.set = set;
                        let identity = self.identity();
                        self.model = Model {
                            opened,
                            ..Model::unopened(identity, limit)
                        };
                    }
                    Err(e) => assert!(limit == 0 && e == Error::ZeroBlocks, "new({limit}): {e}"),
                }
            }
            Op::Reserve(n) => self.reserve(u64::from(n)),
            Op::ReserveReachable(extra) => {
                let n = self.model.reachable() + u64::from(extra % 4);
                self.reserve(n);
            }
            Op::Acquire(k) => {
                if let Some((r, m)) = self.pick(k) {
                    let got = self.set.acquire(&r);
                    let want = self.model.acquire_from(&m, m.base);
                    self.same(format_args!("acquire"), &got, &want);
                }
            }
            Op::AcquireAll(k) => {
                if let Some((r, m)) = self.pick(k) {
                    let mut from = m.base;
                    loop {
                        let got = self.set.acquire(&r);
                        let want = self.model.acquire_from(&m, from);
                        self.same(format_args!("acquire (all)"), &got, &want);
                        match got {
                            Ok(Some(address)) => from = address,
                            _ => break,
                        }
                    }
                }
            }
            Op::Forfeit(k) => {
                if let Some((r, m)) = self.pick(k) {
                    let got = self.set.forfeit(&r);
                    let want = self.model.forfeit(&m);
                    self.same(format_args!("forfeit"), &got, &want);
                }
            }
            Op::ForfeitAll => {
                let live: Vec<_> = self
                    .pool
                    .iter()
                    .filter(|(_, m)| {
                        m.identity == self.model.identity && m.session == self.model.session
                    })
                    .copied()
                    .collect();
                for (r, m) in live {
                    let got = self.set.forfeit(&r);
                    let want = self.model.forfeit(&m);
                    self.same(format_args!("forfeit (all)"), &got, &want);
                }
            }
            Op::Release(addr) => {
                let a = self.address(&addr);
                let got = self.set.release(a);
                let want = self.model.release(a);
                self.same(format_args!("release({a})"), &got, &want);
            }
            Op::ReleaseMany { start, count } => {
                let releasable = self.model.releasable().addresses();
                if !releasable.is_empty() {
                    let from = usize::from(start) % releasable.len();
                    for &a in releasable[from..].iter().take(usize::from(count)) {
                        let got = self.set.release(a);
                        let want = self.model.release(a);
                        self.same(format_args!("release({a})"), &got, &want);
                    }
                }
            }
            Op::CheckpointNotDurable => {
                let got = self.set.checkpoint_not_durable();
                let want = self.model.checkpoint_not_durable();
                self.same(format_args!("checkpoint_not_durable"), &got, &want);
            }
            Op::CheckpointDurable => {
                let got = self.set.checkpoint_durable();
                let want = self.model.checkpoint_durable();
                self.same(format_args!("checkpoint_durable"), &got, &want);
            }
            Op::IsFree(addr) => {
                let a = self.address(&addr);
                self.same(
                    format_args!("is_free({a})"),
                    &self.set.is_free(a),
                    &self.model.is_free(a),
                );
            }
            Op::IsReleased(addr) => {
                let a = self.address(&addr);
                self.same(
                    format_args!("is_released({a})"),
                    &self.set.is_released(a),
                    &self.model.is_released(a),
                );
            }
            Op::Encode => {
                self.encode();
            }
            Op::Reopen(trailers) => {
                let Some((acquired, released)) = self.encode() else {
                    return;
                };
                let decoded = self.model.state.acquired.clone();
                let (ta, tr) = self.trailers(&trailers, &decoded);
                let limit = self.model.limit();
                let mut set = FreeSet::unopened(limit).expect("a small set");
                let identity = self.identity();
                let mut model = Model::unopened(identity, limit);
                let got = set.open(&acquired, &released, &ta, &tr);
                let want = model.open(&acquired, &released, &ta, &tr);
                self.same_open("reopen", &got, &want);
                if got.is_ok() {
                    self.set = set;
                    self.model = model;
                }
            }
            Op::Reset => {
                self.set.reset();
                self.model.reset();
            }
            Op::Open { encoding, trailers } => {
                let (acquired, released) =
                    self.encodings[usize::from(encoding) % self.encodings.len()].clone();
                let words = (self.model.capacity() / 64) as usize;
                let decoded = naive::decode(&acquired, words)
                    .map(|w| Bits::from_words(&w, self.model.capacity()))
                    .unwrap_or_else(|_| Bits::new(self.model.capacity()));
                let (ta, tr) = self.trailers(&trailers, &decoded);
                let got = self.set.open(&acquired, &released, &ta, &tr);
                let want = self.model.open(&acquired, &released, &ta, &tr);
                self.same_open("open", &got, &want);
            }
            Op::Clone => {
                self.set = self.set.clone();
                self.model.identity = self.identity();
                self.model.end_session();
            }
        }
    }

    fn same_open(
        &self,
        what: &str,
        got: &Result<(), Error>,
        want: &Result<(), Result<Error, Misuse>>,
    ) {
        match (got, want) {
            (Ok(()), Ok(())) => {}
            (Err(_), Err(Err(Misuse))) => {}
            (Err(g), Err(Ok(w))) if g == w => {}
            _ => panic!("{what}: crate {got:?}, model {want:?}\n{}", self.context()),
        }
    }

    fn reserve(&mut self, n: u64) {
        let got = self.set.reserve(n);
        let want = self.model.reserve(n);
        let got_view = got
            .as_ref()
            .map(|o| o.map(|r| (r.block_base(), r.block_count(), r.session())))
            .map_err(Clone::clone);
        let want_view = want.map(|o| o.map(|m| (m.base, m.count, m.session)));
        self.same(format_args!("reserve({n})"), &got_view, &want_view);
        if let (Ok(Some(r)), Ok(Some(m))) = (got, want) {
            self.pool.push((r, m));
        }
    }

    /// Every way to encode the set agrees with the model; the bytes, if any.
    fn encode(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        let want = self.model.encode();
        let got = self.set.encode();
        self.same(format_args!("encode"), &got, &want);
        self.same(
            format_args!("encode_with(pool of 2)"),
            &self.set.encode_with(parallel()),
            &want,
        );
        for (bitset, bytes) in [
            (Bitset::Acquired, want.as_ref().map(|w| &w.0)),
            (Bitset::Released, want.as_ref().map(|w| &w.1)),
        ] {
            let size = self.set.encoded_size(bitset);
            self.same(
                format_args!("encoded_size"),
                &size,
                &bytes.map(|b| b.len() as u64).map_err(|_| Misuse),
            );
            let chunked = self.set.encoder(bitset).map(encode_in_chunks);
            self.same(
                format_args!("encoder"),
                &chunked,
                &bytes.cloned().map_err(|_| Misuse),
            );
        }
        let bytes = got.ok()?;
        if self.encodings.last() != Some(&bytes) && self.encodings.len() < 64 {
            self.encodings.push(bytes.clone());
        }
        Some(bytes)
    }

    /// The trailer lists of `t`, resolved against `decoded` (the acquired
    /// blocks after decoding): raw addresses as they are; `NextFree(s)` is
    /// the free block `s` free blocks after the previous address of the
    /// list (past the limit when there is none).
    fn trailers(&self, t: &Trailers, decoded: &Bits) -> (Vec<u64>, Vec<u64>) {
        let limit = self.model.limit();
        let resolve = |len: u8, list: &[TrailerAddr; 4]| {
            let mut out = Vec::new();
            let mut previous = 0u64;
            for a in list.iter().take(usize::from(len % 5)) {
                let address = match *a {
                    TrailerAddr::Raw(v) => u64::from(v),
                    TrailerAddr::NextFree(skip) => (previous..limit)
                        .filter(|&b| !decoded.get(b))
                        .nth(usize::from(skip))
                        .map_or(limit + 1, |b| b + 1),
                };
                out.push(address);
                previous = address;
            }
            out
        };
        (
            resolve(t.acquired_len, &t.acquired),
            resolve(t.released_len, &t.released),
        )
    }

    /// The observable state equals the model's: the flags and the counts
    /// the model keeps; with `full`, also `highest_*` and every word of
    /// `acquired`.
    fn check(&self, when: std::fmt::Arguments, full: bool) {
        let (s, m) = (&self.set, &self.model);
        let st = &m.state;
        let view = (
            s.limit(),
            s.capacity(),
            s.is_opened(),
            s.is_checkpoint_durable(),
            s.count_free(),
            s.count_acquired(),
            s.count_released(),
            s.count_reservations(),
        );
        let want = (
            m.limit(),
            capacity_of(m.limit()),
            m.opened,
            m.durable,
            m.free_count,
            m.acquired_count,
            m.released_count,
            m.active,
        );
        assert!(
            view == want,
            "{when}: (limit, capacity, opened, durable, free, acquired, released, reservations): \
             crate {view:?}, model {want:?}\n{}",
            self.context()
        );
        if !full {
            return;
        }
        let highest = (s.highest_acquired(), s.highest_released());
        let want = (st.highest_acquired(), st.highest_released());
        assert!(
            highest == want,
            "{when}: (highest_acquired, highest_released): crate {highest:?}, model {want:?}\n{}",
            self.context()
        );
        assert!(
            s.acquired_words() == st.acquired.words(),
            "{when}: acquired words differ\n{}",
            self.context()
        );
    }

    /// The model's counts are those of its blocks (a check of the harness:
    /// the counts after each operation are compared with the crate's), the
    /// three bitsets equal the model's (see `freeset_fuzz::bitsets`),
    /// and `is_free` and `is_released` agree on the blocks around every word
    /// boundary, every 61st block and just past the capacity.
    fn check_every_block(&self) {
        let (m, st) = (&self.model, &self.model.state);
        let counted = (st.count_free(), st.count_acquired(), st.count_released());
        assert_eq!(
            counted,
            (m.free_count, m.acquired_count, m.released_count),
            "at the end: the model's counts are off (a harness bug)"
        );
        let (acquired, released, pending) = bitsets(&self.set);
        assert!(
            bitsets_through_checkpoint(&self.set)
                == (acquired.clone(), released.clone(), pending.clone()),
            "at the end: the bitsets a checkpoint shows are not those of the accessors\n{}",
            self.context()
        );
        let want = (st.acquired.words(), st.released.words(), st.pending.words());
        assert!(
            (&acquired[..], &released[..], &pending[..]) == want,
            "at the end: the (acquired, released, pending) bitsets differ\n{}",
            self.context()
        );
        let capacity = self.model.capacity();
        let sample = (0..=capacity + 1)
            .step_by(61)
            .chain((64..=capacity).step_by(64))
            .chain((65..=capacity + 1).step_by(64))
            .chain([0, 1, capacity, capacity + 1]);
        for a in sample {
            self.same(
                format_args!("is_free({a})"),
                &self.set.is_free(a),
                &self.model.is_free(a),
            );
            self.same(
                format_args!("is_released({a})"),
                &self.set.is_released(a),
                &self.model.is_released(a),
            );
        }
    }
}

/// The encoder's bytes, in chunks of 24 bytes (three words).
fn encode_in_chunks(mut encoder: Encoder<'_>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 24];
    while !encoder.is_done() {
        let n = encoder
            .encode_chunk(&mut chunk)
            .expect("24 bytes hold a word");
        bytes.extend_from_slice(&chunk[..n]);
    }
    bytes
}
