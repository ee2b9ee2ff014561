//! What `--save` and `--plot` write from a run that passed: the last
//! durable checkpoint, as a directory `freeset inspect` reads, and the
//! free space over time. [`Record`] is what the run keeps for them.
//!
//! What must never happen here: a file written for a run that failed.

use std::path::Path;

use super::config::Config;
use super::report::Summary;
use crate::exit;

/// What a run keeps besides its [`Summary`], when asked: for `--plot` and
/// `--save`. Asking changes nothing in the run.
#[derive(Debug, Default)]
pub struct Record {
    /// Keep `FreeSet::stats` at every checkpoint written in `samples`, and
    /// the crashes in `crashes`, the first [`PLOT_POINTS_MAX`](super::config::PLOT_POINTS_MAX) of each.
    pub sample: bool,
    pub samples: Vec<crate::draw::Sample>,
    /// The operations at which the engine crashed.
    pub crashes: Vec<u64>,
    /// Keep the last durable checkpoint at the end of the run in `durable`.
    pub keep_durable: bool,
    pub durable: Option<Durable>,
}

/// A durable checkpoint as a restart reads it: both encodings, read back
/// from the trailer, and the trailer's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durable {
    /// 0 for the empty grid the run starts from, then 1, 2, ... as written.
    pub id: u64,
    pub acquired: Vec<u8>,
    pub released: Vec<u8>,
    pub trailer_acquired: Vec<u64>,
    pub trailer_released: Vec<u64>,
}

/// Writes what `--save` and `--plot` ask for, from the runs of one seed
/// that passed (one per mode: two with `--compare-reuse`, the last one's
/// checkpoint saved and time line drawn, the other's blocks held drawn
/// beside it), and names each file written on stderr.
pub(super) fn save_and_plot(
    save: Option<&Path>,
    plot: Option<&Path>,
    config: &Config,
    runs: &[(Summary, Record)],
) -> Result<(), String> {
    let Some((summary, record)) = runs.last() else {
        return Ok(());
    };
    if let (Some(dir), Some(durable)) = (save, &record.durable) {
        crate::inspect::save(
            dir,
            config.blocks,
            &durable.acquired,
            &durable.released,
            &durable.trailer_acquired,
            &durable.trailer_released,
            format!(
                "freeset simulate: checkpoint #{} of seed {}, the last durable after {} \
                 operations",
                durable.id, config.seed, config.ops
            ),
        )?;
    }
    if let Some(path) = plot {
        let mode = |s: &Summary| {
            if s.immediate_reuse {
                "immediate reuse"
            } else {
                "release at durable"
            }
        };
        let timeline = crate::draw::Timeline {
            title: format!(
                "freeset simulate: seed {}, {} blocks, {} workload, {} checkpoints, {} crashes",
                config.seed,
                crate::draw::count(config.blocks),
                summary.workload.name(),
                crate::draw::count(summary.counts.checkpoints_written),
                summary.counts.crashes
            ),
            blocks: config.blocks,
            samples: record.samples.clone(),
            crashes: record.crashes.clone(),
            mode: format!(
                "{}: space amplification {:.2}",
                mode(summary),
                summary.space_amplification()
            ),
            other: runs
                .first()
                .filter(|_| runs.len() > 1)
                .map(|(other, record)| crate::draw::Other {
                    mode: format!(
                        "{}: space amplification {:.2}",
                        mode(other),
                        other.space_amplification()
                    ),
                    samples: record.samples.clone(),
                }),
        };
        crate::draw::timeline(path, &timeline)?;
        exit::wrote(path);
    }
    Ok(())
}
