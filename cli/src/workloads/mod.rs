//! The standard benchmark workloads (`docs/workloads.md`): their
//! setup, their timed body, and the fill patterns they are built from.
//!
//! `freeset bench`, the criterion benches and the iai-callgrind benches all
//! call this module, so every workload exists once. A workload is prepared
//! (untimed), then [`Workload::run`] is the timed body and [`Workload::rearm`]
//! brings the state back (untimed) for the next repetition.
//!
//! The files, each importing only those above it in this list: `spec.rs`
//! (names, sizes, the trait), `fills.rs` (the fills), `acquire.rs`,
//! `extent.rs`, `codec.rs` and `queries.rs` (the workloads), `split.rs`
//! (splits of the codec workloads), `prepare.rs` (a workload by name). This
//! file only declares them and names what the rest of the command line uses.
//!
//! Everything here is seeded and repeatable. Fill patterns build the bitsets
//! directly (through [`FreeSet::from_acquired_words`], which derives the index
//! and counters), never through millions of acquires. Nothing here may be timed
//! that the workload's definition does not time.

mod acquire;
mod codec;
mod extent;
mod fills;
mod prepare;
mod queries;
mod spec;
mod split;

pub use acquire::INTERLEAVED_JOBS;
pub use extent::{run_extents, EXTENT_LENGTHS};
pub use fills::{fill, fill_random, set_of, Fill, Rng};
pub use prepare::{prepare, prepare_from};
pub use spec::{Name, Sizes, Unit, Workload, SEED};
pub use split::{pinned_pool, prepare_split};

#[cfg(test)]
mod tests {
    use super::fills::*;
    use super::spec::*;
    use super::split::*;
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in Name::ALL {
            assert_eq!(name.as_str().parse::<Name>(), Ok(name));
        }
        assert!("nope".parse::<Name>().is_err());
    }

    #[test]
    fn random_fill_has_the_density_asked_for() {
        let mut rng = Rng::new(1);
        for p in [0.1, 0.5, 0.9] {
            let mut words = vec![0u64; 4096];
            fill_random(&mut words, 4096 * 64, p, &mut rng);
            let density =
                words.iter().map(|w| w.count_ones() as u64).sum::<u64>() as f64 / (4096.0 * 64.0);
            assert!((density - p).abs() < 0.01, "p = {p}, density = {density}");
        }
    }

    #[test]
    fn runs_fill_follows_the_pattern() {
        let mut rng = Rng::new(2);
        let mut words = vec![0x1234u64; 100_000];
        fill_runs(&mut words, &mut rng);
        let uniform = words.iter().filter(|&&w| w == 0 || w == !0).count();
        // Expected share of uniform words: 63.5 / (63.5 + 7.5), about 0.89.
        let share = uniform as f64 / words.len() as f64;
        assert!((share - 0.89).abs() < 0.03, "uniform share {share}");
    }

    #[test]
    fn fills_are_the_bits_the_workloads_always_drew() {
        // `fill` took over the drawing from `prepare`: the same generator in
        // the same order, so figures (and instruction counts) stay comparable
        // with those measured before it.
        let sizes = Sizes {
            small: 1 << 17,
            large: 1 << 18,
        };
        let rng = |name: Name| Rng::new(SEED ^ name as u64);
        let random = |name, blocks, p| random_set(blocks, p, &mut rng(name));
        let runs = |name, blocks| runs_set(blocks, &mut rng(name));
        let old = [
            (
                Name::AcquireFragmented,
                random(Name::AcquireFragmented, 1 << 17, 0.5),
            ),
            (Name::Reserve100k, random(Name::Reserve100k, 1 << 17, 0.9)),
            (Name::EncodeRuns, runs(Name::EncodeRuns, 1 << 18)),
            (Name::OpenRandom, random(Name::OpenRandom, 1 << 18, 0.5)),
            (Name::CountFree, random(Name::CountFree, 1 << 18, 0.5)),
        ];
        for (name, set) in old {
            let fill = fill(name, sizes, SEED).unwrap();
            assert_eq!(fill.acquired, set.acquired_words(), "{}", name.as_str());
            assert!(fill.released.iter().all(|&w| w == 0));
        }
        let empty = fill(Name::AcquireFill, sizes, SEED).unwrap();
        assert_eq!(empty.count_free(), 1 << 17);
        assert_eq!(fill(Name::Checkpoint10pct, sizes, SEED), None);
    }

    #[test]
    fn highest_released_releases_about_half_of_the_first_64000_blocks() {
        let fill = fill(Name::HighestReleased, Sizes::QUICK, SEED).unwrap();
        let acquired = fill.blocks - fill.count_free();
        let released: u64 = fill
            .released
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        assert!(fill
            .released
            .iter()
            .zip(&fill.acquired)
            .all(|(r, a)| r & !a == 0));
        assert!((acquired as f64 - 32_000.0).abs() < 1_000.0, "{acquired}");
        assert!((released as f64 / acquired as f64 - 0.5).abs() < 0.02);
        let set = set_of(fill.clone());
        assert_eq!(set.count_released(), released);
        assert!(set.highest_released().unwrap() <= 64_000);
        assert!(set.is_checkpoint_durable());
    }

    #[test]
    fn a_split_holds_the_same_bits_in_whole_shards() {
        let sizes = Sizes {
            small: 1 << 17,
            large: (1 << 17) + 4096 * 3 + 64,
        };
        let whole = fill(Name::EncodeRuns, sizes, SEED).unwrap();
        for parts in 1..=5 {
            let fills = split_fill(&whole, parts);
            assert_eq!(fills.len(), parts);
            let acquired: Vec<u64> = fills.iter().flat_map(|f| f.acquired.clone()).collect();
            assert_eq!(acquired, whole.acquired, "{parts} parts");
            assert_eq!(fills.iter().map(|f| f.blocks).sum::<u64>(), whole.blocks);
            for part in &fills[..parts - 1] {
                assert_eq!(part.blocks % freeset::SHARD_BLOCKS, 0);
                assert_eq!(part.acquired.len() as u64 * 64, part.blocks);
            }
        }
        // More parts than shards: one shard each.
        let tiny = Fill {
            blocks: 3 * 4096,
            acquired: vec![5; 3 * 64],
            released: vec![0; 3 * 64],
        };
        assert_eq!(split_fill(&tiny, 8).len(), 3);
        for name in Name::ALL {
            let whole = fill(name, Sizes::CALLGRIND, SEED);
            assert!(whole.is_some() || !name.is_codec(), "{}", name.as_str());
            let split = whole.and_then(|whole| prepare_split(name, &whole, 2));
            assert_eq!(split.is_some(), name.is_codec(), "{}", name.as_str());
            if let Some(mut split) = split {
                // Every part's bytes: the whole bitset's, cut in two.
                assert_eq!(split.run(), Sizes::CALLGRIND.large / 8);
                split.rearm();
                assert_eq!(split.run(), Sizes::CALLGRIND.large / 8);
            }
        }
    }

    #[test]
    fn every_workload_runs_at_a_tiny_size() {
        let sizes = Sizes {
            small: 1 << 17,
            large: 1 << 17,
        };
        for name in Name::ALL {
            if name == Name::Reserve100k {
                continue; // needs 100,000 free blocks at 10% free: S >= 2^20
            }
            let mut workload = prepare(name, sizes, SEED);
            assert_eq!(workload.name(), name);
            let units = workload.run();
            assert!(units > 0);
            workload.rearm();
            assert_eq!(
                workload.run(),
                units,
                "{}: the same work after rearm",
                name.as_str()
            );
        }
        let mut reserve = prepare(Name::Reserve100k, Sizes::CALLGRIND, SEED);
        assert_eq!(reserve.run(), 100);
    }
}
