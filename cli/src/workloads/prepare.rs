//! Preparing a workload by name: the one place that knows every workload.

use super::acquire::*;
use super::codec::*;
use super::extent;
use super::fills::*;
use super::queries::*;
use super::spec::*;

/// Prepares a workload at the given sizes (untimed; slow at L, where it
/// builds sets of 2^27 blocks).
pub fn prepare(name: Name, sizes: Sizes, seed: u64) -> Box<dyn Workload> {
    prepare_from(name, sizes, seed, fill(name, sizes, seed))
}

/// [`prepare`] from the workload's fill, drawn already (`fill(name, sizes,
/// seed)`, `None` for a workload not built from bitsets): a caller that
/// needs the fill too (for [`prepare_split`]) draws it once.
pub fn prepare_from(name: Name, sizes: Sizes, seed: u64, fill: Option<Fill>) -> Box<dyn Workload> {
    let set = || set_of(fill.expect("a workload built from bitsets"));
    match name {
        Name::AcquireFill | Name::AcquireFragmented => Box::new(AcquireAll::new(name, set())),
        Name::AcquireInterleaved => Box::new(AcquireInterleaved::new(set())),
        Name::AcquireExtent => Box::new(extent::AcquireExtent::new(set())),
        Name::AcquireParallel | Name::AcquireParallelMutex => {
            Box::new(AcquireParallel::new(name, set()))
        }
        Name::Reserve100k => Box::new(Reserve100k { set: set() }),
        Name::Checkpoint10pct => {
            let mut rng = Rng::new(seed ^ name as u64);
            Box::new(Checkpoint::new(sizes.small, &mut rng))
        }
        Name::EncodeRuns | Name::EncodeRandom => Box::new(Encode { name, set: set() }),
        Name::OpenRuns | Name::OpenRandom => Box::new(Open::new(name, set())),
        Name::CountFree | Name::HighestAcquired | Name::HighestReleased => {
            Box::new(Query { name, set: set() })
        }
        Name::Stats => Box::new(StatsPass { set: set() }),
        Name::Memcpy => {
            let bytes = (sizes.large / 8) as usize;
            let source: Vec<u8> = (0..bytes).map(|i| i as u8).collect();
            Box::new(Memcpy {
                source,
                target: vec![0; bytes],
            })
        }
    }
}
