//! The checks of the set against the model: after every operation (counts,
//! highest addresses, every acquired block accounted for), after a restart
//! (block for block), and at checkpoints (the shape of the free space).
//!
//! What must never happen here: a change to the set or the model (checks
//! only read), or a check that takes the set's word for what is true.

use freeset::FreeSet;

use super::model::Model;

/// The checks after every operation: counts, highest addresses and the
/// engine's accounting of every acquired block. `reservations`: the jobs
/// active; `referenced`: the blocks the engine holds (live, held by jobs,
/// and the trailer not released yet). O(1).
pub(super) fn counts(
    set: &FreeSet,
    model: &Model,
    blocks: u64,
    reservations: u64,
    referenced: u64,
) -> Result<(), String> {
    let free = blocks - model.acquired.count();
    let pairs = [
        (
            "count_acquired",
            set.count_acquired(),
            model.acquired.count(),
        ),
        ("count_free", set.count_free(), free),
        (
            "count_released",
            set.count_released(),
            model.count_released(),
        ),
        ("count_reservations", set.count_reservations(), reservations),
    ];
    for (name, got, expected) in pairs {
        if got != expected {
            return Err(format!("{name}() = {got}, the model has {expected}"));
        }
    }
    for (name, got, expected) in [
        (
            "highest_acquired",
            set.highest_acquired(),
            model.acquired.highest(),
        ),
        (
            "highest_released",
            set.highest_released(),
            model.highest_released(),
        ),
    ] {
        if got != expected {
            return Err(format!("{name}() = {got:?}, the model has {expected:?}"));
        }
    }
    let accounted = referenced + model.count_released();
    if accounted != model.acquired.count() {
        return Err(format!(
            "{} blocks acquired but {accounted} accounted for (live, held by jobs, \
             released, trailer): blocks leaked or counted twice",
            model.acquired.count()
        ));
    }
    Ok(())
}

/// The opened set equals the model block for block (after [`counts`]).
/// With equal counts it is enough that every block the model holds
/// acquired (released) is so in the set: the sets then have the same
/// members.
pub(super) fn block_for_block(set: &FreeSet, model: &Model, id: u64) -> Result<(), String> {
    let query = |e: freeset::Error| format!("query after open failed: {e}");
    for address in model.acquired.ones() {
        if set.is_free(address).map_err(query)? {
            return Err(format!(
                "block {address} is free after open, checkpoint #{id} has it acquired"
            ));
        }
    }
    for &address in model.released.iter().chain(&model.pending) {
        if !set.is_released(address).map_err(query)? {
            return Err(format!(
                "block {address} is not released after open, checkpoint #{id} \
                 has it released"
            ));
        }
    }
    Ok(())
}

/// The shape of the free space at a checkpoint.
pub(super) struct Shape {
    pub(super) free: u64,
    pub(super) largest: u64,
    pub(super) fragmentation: f64,
    pub(super) occupancy: f64,
}

/// The set's own fragmentation score (`FreeSet::stats`, the one `inspect`
/// and the plot show), whose largest free extent must be the model's.
/// O(blocks / 64).
pub(super) fn shape(set: &FreeSet, model: &Model, blocks: u64) -> Result<Shape, String> {
    let stats = set.stats();
    let acquired = &model.acquired;
    let free = blocks - acquired.count();
    let largest = stats.largest_free_extent.map_or(0, |e| e.blocks);
    let model_largest = if free > 0 {
        acquired.largest_free_run()
    } else {
        0
    };
    if largest != model_largest {
        return Err(format!(
            "stats() finds a largest free extent of {largest} blocks, the model \
             {model_largest}"
        ));
    }
    debug_assert!(free == 0 || (largest >= 1 && largest <= free));
    Ok(Shape {
        free: stats.free_blocks,
        largest,
        fragmentation: stats.fragmentation,
        occupancy: acquired.count() as f64 / blocks as f64,
    })
}
