//! Whether a run tested what its settings ask for: every count the
//! settings can make non-zero must be non-zero over the run's seeds
//! together, or the run fails (exit 1) saying which and why, unless
//! `--allow-empty` accepts it (all counts, or those named).
//!
//! A count is required when the settings can make it: checkpoints written
//! and made durable, blocks acquired and released, always; crashes and
//! restarts from the latest checkpoint and from the initial state when the
//! crash rate is above zero; restarts after a fallback when, besides, a
//! write can be faulty (lost, misdirected or flip rate above zero); and
//! each fault kind with a rate above zero injected and detected (torn
//! faults only with crashes, which tear).
//!
//! What must never happen here: a count required that the settings cannot
//! make (a run that could never pass), or a run that tested nothing
//! reported as passed.

use super::config::{Config, FaultKind};
use super::report::Counts;

/// A required count that is zero, and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Empty {
    pub(super) name: String,
    pub(super) why: String,
}

/// Every count's name, as `--allow-empty` and the JSON's `empty` take it.
pub(super) fn names() -> Vec<String> {
    let mut names: Vec<String> = [
        "checkpoints",
        "checkpoints_durable",
        "acquires",
        "releases",
        "crashes",
        "restarts_latest",
        "restarts_fallback",
        "restarts_initial",
    ]
    .map(String::from)
    .to_vec();
    for kind in FaultKind::ALL {
        for what in ["injected", "detected"] {
            names.push(format!("faults.{}.{what}", kind.name()));
        }
    }
    names
}

/// The count named `name` (one of [`names`]).
fn value(counts: &Counts, name: &str) -> u64 {
    match name {
        "checkpoints" => counts.checkpoints_written,
        "checkpoints_durable" => counts.checkpoints_durable,
        "acquires" => counts.acquires,
        "releases" => counts.releases,
        "crashes" => counts.crashes,
        "restarts_latest" => counts.restarts_latest,
        "restarts_fallback" => counts.restarts_fallback,
        "restarts_initial" => counts.restarts_initial,
        _ => {
            let kind = fault_kind(name).expect("a name of `names`");
            let faults = counts.faults[kind.index()];
            if name.ends_with(".injected") {
                faults.injected
            } else {
                faults.detected
            }
        }
    }
}

fn fault_kind(name: &str) -> Option<FaultKind> {
    FaultKind::ALL
        .into_iter()
        .find(|kind| name.split('.').nth(1) == Some(kind.name()))
}

/// Why `name` must not be zero under `config`, or `None` when the
/// settings cannot make it.
fn requirement(config: &Config, name: &str) -> Option<String> {
    let crashes = config.crash_rate > 0.0;
    let rates = config.faults;
    let writes_fault = rates.per_write() > 0.0;
    let more = "raise --ops or --seeds";
    Some(match name {
        "checkpoints" | "checkpoints_durable" => format!(
            "a checkpoint is written every {} operations and made durable once verified: \
             {more}, or lower --crash-rate",
            config.checkpoint_every
        ),
        "acquires" | "releases" => format!("jobs did no work: {more}, or lower --crash-rate"),
        "crashes" | "restarts_latest" if crashes => format!("{more}, or raise --crash-rate"),
        "restarts_initial" if crashes => format!(
            "it needs a crash before the first checkpoint (in the first {} operations \
             of a seed): raise --seeds or --crash-rate",
            config.checkpoint_every
        ),
        "restarts_fallback" if crashes && writes_fault => format!(
            "it needs a crash while a checkpoint with a faulty trailer block is in \
             flight: {more}, or raise --crash-rate or the fault rates"
        ),
        _ => {
            let kind = fault_kind(name)?;
            let rate = rates.rate(kind);
            if rate == 0.0 || (kind == FaultKind::Torn && !crashes) {
                return None;
            }
            format!("the {} rate is {rate}: {more}, or raise it", kind.name())
        }
    })
}

/// The required counts that are zero in `counts` (a run's, all its seeds
/// together), in the order of [`names`].
pub(super) fn empty(counts: &Counts, config: &Config) -> Vec<Empty> {
    names()
        .into_iter()
        .filter(|name| value(counts, name) == 0)
        .filter_map(|name| requirement(config, &name).map(|why| Empty { name, why }))
        .collect()
}

/// `--allow-empty`'s value: `all`, or names of [`names`] separated by
/// commas.
pub(super) fn parse_allowed(text: &str) -> Result<Vec<String>, String> {
    let known = names();
    if text == "all" {
        return Ok(known);
    }
    text.split(',')
        .map(|name| {
            let name = name.trim();
            if known.iter().any(|k| k == name) {
                Ok(name.to_string())
            } else {
                Err(format!(
                    "'{name}' is no count: all, or some of {}",
                    known.join(", ")
                ))
            }
        })
        .collect()
}
