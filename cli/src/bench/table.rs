//! What `bench` prints: the rows, the table and the JSON lines, and the
//! formatting of figures they share with `--peers` and `--sweep`.

use freeset_cli::workloads::{Name, Sizes, Unit};

use super::conditions::*;

/// One measured line: a workload on a number of threads.
pub(super) struct Row {
    pub(super) name: Name,
    pub(super) threads: usize,
    /// The workload cut into one independent sequential call per thread
    /// (`workloads::prepare_split`): the machine's yardstick for the row
    /// above it.
    pub(super) split: bool,
    pub(super) figures: Figures,
    pub(super) input: Input,
    pub(super) clock: Clock,
}

impl Row {
    /// The same workload's figure on one thread, for the speed-up.
    pub(super) fn one_thread<'r>(&self, rows: &'r [Row]) -> Option<&'r Row> {
        rows.iter().find(|r| r.name == self.name && r.threads == 1)
    }

    /// Codec figure as a fraction of memcpy on the same number of threads.
    pub(super) fn memcpy_fraction(&self, rows: &[Row]) -> Option<f64> {
        let memcpy = rows
            .iter()
            .find(|r| r.name == Name::Memcpy && r.threads == self.threads)?;
        Some(self.figures.median / memcpy.figures.median)
            .filter(|_| self.name.is_codec() || self.name.is_pass())
    }
}

/// The kernels in use and the CPU features the dispatch saw.
pub(super) fn machine() -> String {
    let features: Vec<&str> = freeset::kernels::cpu_features()
        .into_iter()
        .filter(|&(_, has)| has)
        .map(|(name, _)| name)
        .collect();
    format!(
        "kernels {}; CPU features {}",
        freeset::kernels::active().name(),
        features.join(" ")
    )
}

/// A figure with a unit suited to its size: ns, µs or ms for times.
pub(super) fn show(unit: Unit, value: f64) -> String {
    match unit {
        Unit::GBps => format!("{value:.2} GB/s"),
        Unit::NsPerOp if value >= 1e6 => format!("{:.2} ms", value / 1e6),
        Unit::NsPerOp if value >= 1e3 => format!("{:.2} µs", value / 1e3),
        Unit::NsPerOp => format!("{value:.2} ns"),
    }
}

pub(super) fn print_table(rows: &[Row], quick: bool) {
    println!();
    // The reference's figures were published from another run on another
    // machine: shown as they are, for orientation, and never divided by ours
    // (same-run ratios are `--peers`).
    println!(
        "{:<20} {:>7} {:>9} {:>6} {:>27} {:>5} {:>5} {:>7} {:>10} {:>22}",
        "workload",
        "threads",
        "median",
        "unit",
        "min-max",
        "input",
        "clock",
        "memcpy",
        "vs 1 thr.",
        "reference (other run)"
    );
    for row in rows {
        let (name, f) = (row.name, &row.figures);
        let unit = name.unit();
        let fraction = row
            .memcpy_fraction(rows)
            .map_or(String::new(), |x| format!("{:.0}%", 100.0 * x));
        let threads = if row.split {
            format!("{} split", row.threads)
        } else {
            row.threads.to_string()
        };
        let versus_one = match row.one_thread(rows) {
            Some(one) if row.threads > 1 => {
                let speedup = match unit {
                    Unit::NsPerOp => one.figures.median / f.median,
                    Unit::GBps => f.median / one.figures.median,
                };
                format!("{speedup:.2}x")
            }
            _ => String::new(),
        };
        let reference = match name.reference() {
            Some(reference) if !quick && name != Name::Memcpy => show(unit, reference),
            _ => String::new(),
        };
        let median = match unit {
            Unit::NsPerOp => format!("{:.1}", f.median),
            Unit::GBps => format!("{:.2}", f.median),
        };
        println!(
            "{:<20} {:>7} {:>9} {:>6} {:>27} {:>5} {:>5} {:>7} {:>10} {:>22}",
            name.as_str(),
            threads,
            median,
            unit.as_str(),
            format!("{} - {}", show(unit, f.min), show(unit, f.max)),
            row.input.as_str(),
            row.clock.as_str(),
            fraction,
            versus_one,
            reference
        );
    }
    println!("input: cold = the caches emptied before each timed run (one run per sample); warm = a short body looped, each run finding what the last left");
    println!("clock: cpu = the time the measuring thread ran (what other processes take of its core is not counted); wall = the time that passed (rows of several threads)");
    if rows.iter().any(|row| row.split) {
        println!(
            "split: the same bits cut into one set per thread, each encoded or opened by the sequential codec on its own thread, all at once (alternated with the row above): what this machine gives independent calls, the yardstick for a parallel call"
        );
    }
    if !quick {
        println!(
            "reference: the reference implementation's published figure (docs/workloads.md, another machine); not a same-run comparison"
        );
    }
}

pub(super) fn json_line(row: &Row, rows: &[Row], kernels: &str, sizes: Sizes) -> String {
    let (name, f) = (row.name, &row.figures);
    let blocks = name.blocks(sizes);
    let mut line = format!(
        r#"{{"workload":"{}","unit":"{}","median":{},"min":{},"max":{}"#,
        name.as_str(),
        name.unit().as_str(),
        f.median,
        f.min,
        f.max
    );
    if name.is_codec() || name.is_pass() {
        let fraction = row
            .memcpy_fraction(rows)
            .map_or("null".to_string(), |x| x.to_string());
        line += &format!(r#","memcpy_fraction":{fraction}"#);
    }
    line += &format!(
        r#","threads":{},"split":{},"input":"{}","clock":"{}","kernels":"{kernels}","blocks":{blocks}}}"#,
        row.threads,
        row.split,
        row.input.as_str(),
        row.clock.as_str()
    );
    line
}

/// Encoded sizes in binary units.
pub(super) fn show_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} B"),
    }
}

/// Three significant digits: per-block costs span orders of magnitude,
/// from the codec's (64 blocks a word, many words a vector) to an
/// acquire's (one block).
pub(super) fn significant(value: f64) -> String {
    let decimals = if value > 0.0 {
        (2 - value.log10().floor() as i32).max(0) as usize
    } else {
        0
    };
    format!("{value:.decimals$}")
}

/// The figures of one workload, in its unit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Figures {
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

/// Median, min and max of the repetitions.
pub(super) fn figures(mut values: Vec<f64>) -> Figures {
    values.sort_by(f64::total_cmp);
    Figures {
        median: values[values.len() / 2],
        min: values[0],
        max: values[values.len() - 1],
    }
}
