//! `freeset inspect`: reads a checkpoint's encoded bitsets (the bytes
//! `FreeSet::encode` or `encoder(..).write_to` write), checks them by opening
//! a set from them, and says what the free space looks like: a summary, JSON,
//! and a map of the shards (`--map FILE.svg` or `.png`).
//!
//! What lives here: the command line of `inspect`, the checkpoint directory
//! that `freeset simulate --save` writes and `inspect DIR` reads (its
//! `checkpoint.json` and both writer and reader, so they cannot drift apart),
//! and the report.
//!
//! What must never happen here: a panic or a half-printed report on bad
//! input. Every failure is one line naming the file (and, for an invalid
//! encoding, the byte offset the library's `DecodeError` gives), and exit
//! code 1. The checks are the library's own (`FreeSet::open`), never a second
//! validator that could disagree with it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use freeset::{Bitset, Error, FreeSet, SHARD_BLOCKS};
use serde::{Deserialize, Serialize};

use crate::draw;

/// The file of a checkpoint directory that says how to read the other two.
pub const CHECKPOINT_FILE: &str = "checkpoint.json";
/// The encoded bitsets of a checkpoint directory.
pub const ACQUIRED_FILE: &str = "acquired.ewah";
pub const RELEASED_FILE: &str = "released.ewah";
/// The value of `format` in `checkpoint.json`.
const FORMAT: &str = "freeset-checkpoint/1";

/// Options of `freeset inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Blocks of the grid: a number, or TOTAL/BLOCK sizes such as 4GiB/4KiB.
    /// Needed with files; a directory says it in checkpoint.json (given
    /// anyway, it opens the bitsets at this size instead).
    #[arg(long, value_parser = crate::simulate::parse_blocks)]
    blocks: Option<u64>,
    /// The files of the encoded acquired bitset and, optionally, of the
    /// released one (`-` reads standard input; without a released file
    /// nothing is released), or one directory written by `freeset simulate
    /// --save`.
    #[arg(required = true, num_args = 1..=2, value_name = "ACQUIRED [RELEASED] | DIR")]
    inputs: Vec<PathBuf>,
    /// One JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Draw the shards into FILE (.svg or .png): one cell per shard of 4096
    /// blocks, coloured by how full it is, marked when it holds released
    /// blocks.
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,
    /// Bytes per block, for the byte axes of the map and the sizes in the
    /// summary (units B, KiB, MiB, GiB).
    #[arg(long, default_value = "4KiB", value_parser = crate::simulate::parse_size)]
    block_size: u64,
}

/// `checkpoint.json`: how to open the two encodings of a checkpoint
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Always `freeset-checkpoint/1`.
    pub format: String,
    /// Blocks of the grid (the `blocks_count` to open with).
    pub blocks: u64,
    /// The file of the encoded acquired bitset, next to this one.
    pub acquired: String,
    /// The file of the encoded released bitset, next to this one.
    pub released: String,
    /// The blocks holding each encoding (the trailer), which `open` makes
    /// acquired and pending release.
    pub trailer_acquired: Vec<u64>,
    pub trailer_released: Vec<u64>,
    /// Where the checkpoint comes from, for people.
    #[serde(default)]
    pub source: String,
}

/// Writes a checkpoint directory (creating it): the two encodings and the
/// `checkpoint.json` that names them.
pub fn save(
    dir: &Path,
    blocks: u64,
    acquired: &[u8],
    released: &[u8],
    trailer_acquired: &[u64],
    trailer_released: &[u64],
    source: String,
) -> Result<(), String> {
    let failed = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    let checkpoint = Checkpoint {
        format: FORMAT.into(),
        blocks,
        acquired: ACQUIRED_FILE.into(),
        released: RELEASED_FILE.into(),
        trailer_acquired: trailer_acquired.to_vec(),
        trailer_released: trailer_released.to_vec(),
        source,
    };
    for (name, bytes) in [(ACQUIRED_FILE, acquired), (RELEASED_FILE, released)] {
        let path = dir.join(name);
        fs::write(&path, bytes).map_err(|e| failed(&path, e))?;
    }
    let path = dir.join(CHECKPOINT_FILE);
    let mut json = serde_json::to_string_pretty(&checkpoint).expect("plain data serializes");
    json.push('\n');
    fs::write(&path, json).map_err(|e| failed(&path, e))
}

/// The input of one inspection, read and not yet checked.
struct Input {
    blocks: u64,
    acquired_name: String,
    acquired: Vec<u8>,
    /// `None`: no released file was given (nothing released).
    released_name: Option<String>,
    released: Vec<u8>,
    /// Trailer lists and the file they came from (`checkpoint.json`).
    trailer_acquired: Vec<u64>,
    trailer_released: Vec<u64>,
    trailer_name: String,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| format!("standard input: {e}"))?;
        return Ok(bytes);
    }
    fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "standard input".into()
    } else {
        path.display().to_string()
    }
}

fn read_input(args: &Args) -> Result<Input, String> {
    let first = &args.inputs[0];
    if args.inputs.len() == 1 && first.is_dir() {
        return read_dir(first, args.blocks);
    }
    if args.inputs.iter().all(|p| p.as_os_str() == "-") && args.inputs.len() == 2 {
        return Err("standard input (-) can stand for only one of the two files".into());
    }
    let blocks = args.blocks.ok_or_else(|| {
        format!(
            "{}: --blocks N is needed with files (a directory written by `freeset simulate \
             --save` says it in its {CHECKPOINT_FILE})",
            name(first)
        )
    })?;
    let acquired = read(first)?;
    let (released_name, released) = match args.inputs.get(1) {
        Some(path) => (Some(name(path)), read(path)?),
        None => (None, Vec::new()),
    };
    Ok(Input {
        blocks,
        acquired_name: name(first),
        acquired,
        released_name,
        released,
        trailer_acquired: Vec::new(),
        trailer_released: Vec::new(),
        trailer_name: String::new(),
    })
}

fn read_dir(dir: &Path, blocks: Option<u64>) -> Result<Input, String> {
    let meta_path = dir.join(CHECKPOINT_FILE);
    let meta = read(&meta_path)?;
    let meta_name = meta_path.display().to_string();
    let checkpoint: Checkpoint =
        serde_json::from_slice(&meta).map_err(|e| format!("{meta_name}: {e}"))?;
    if checkpoint.format != FORMAT {
        return Err(format!(
            "{meta_name}: format {:?}, this freeset reads {FORMAT:?}",
            checkpoint.format
        ));
    }
    let acquired_path = dir.join(&checkpoint.acquired);
    let released_path = dir.join(&checkpoint.released);
    Ok(Input {
        blocks: blocks.unwrap_or(checkpoint.blocks),
        acquired_name: acquired_path.display().to_string(),
        acquired: read(&acquired_path)?,
        released_name: Some(released_path.display().to_string()),
        released: read(&released_path)?,
        trailer_acquired: checkpoint.trailer_acquired,
        trailer_released: checkpoint.trailer_released,
        trailer_name: meta_name,
    })
}

/// The library's error as one line that names the file it is about.
fn explain(error: Error, input: &Input) -> String {
    let released = || {
        input
            .released_name
            .clone()
            .unwrap_or_else(|| "the released bitset".into())
    };
    match error {
        Error::Decode { bitset, source } => {
            let file = match bitset {
                Bitset::Acquired => input.acquired_name.clone(),
                Bitset::Released => released(),
            };
            // The DecodeError's text starts with "byte offset N".
            format!(
                "{file}: invalid encoding of the {bitset} bitset at {source} \
                 (for {} blocks: {} bytes of bitset)",
                input.blocks,
                input.blocks.div_ceil(SHARD_BLOCKS) * SHARD_BLOCKS / 8
            )
        }
        Error::ReleasedNotAcquired(address) => format!(
            "{}: released block {address} is not acquired in {}",
            released(),
            input.acquired_name
        ),
        Error::Trailer { .. } => format!("{}: {error}", input.trailer_name),
        other => format!("{}: {other}", input.acquired_name),
    }
}

/// One bucket of the histogram of free extents.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Shortest and longest length the bucket holds.
    pub min_blocks: u64,
    pub max_blocks: u64,
    /// Free extents in it, and their free blocks.
    pub extents: u64,
    pub blocks: u64,
}

/// The largest free extent.
#[derive(Debug, Clone, Serialize)]
pub struct Largest {
    pub address: u64,
    pub blocks: u64,
}

/// What `inspect` found (also its JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub acquired_file: String,
    pub released_file: Option<String>,
    pub blocks: u64,
    pub shards: usize,
    pub block_size: u64,
    pub acquired: u64,
    /// Released blocks (the released bitset, plus the trailer after `open`).
    pub released: u64,
    pub free: u64,
    pub trailer_blocks: u64,
    pub free_extents: u64,
    pub largest_free_extent: Option<Largest>,
    pub fragmentation: f64,
    /// Non-empty buckets, shortest first.
    pub extents_by_length: Vec<Bucket>,
    pub encoded_acquired_bytes: u64,
    pub encoded_released_bytes: u64,
    /// Bytes of one raw bitset: the capacity over 8.
    pub bitset_bytes: u64,
    /// Both encodings over both raw bitsets.
    pub compression_ratio: f64,
}

/// Runs an inspection: the report, and the map drawn if asked for.
pub fn inspect(args: &Args) -> Result<Report, String> {
    let input = read_input(args)?;
    let mut set = FreeSet::unopened(input.blocks).map_err(|e| explain(e, &input))?;
    set.open(
        &input.acquired,
        &input.released,
        &input.trailer_acquired,
        &input.trailer_released,
    )
    .map_err(|e| explain(e, &input))?;
    let stats = set.stats();
    let bitset_bytes = set.capacity() / 8;
    let encoded = (input.acquired.len() + input.released.len()) as u64;
    let report = Report {
        acquired_file: input.acquired_name.clone(),
        released_file: input.released_name.clone(),
        blocks: input.blocks,
        shards: set.shards(),
        block_size: args.block_size,
        acquired: set.count_acquired(),
        released: set.count_released(),
        free: stats.free_blocks,
        trailer_blocks: (input.trailer_acquired.len() + input.trailer_released.len()) as u64,
        free_extents: stats.free_extents,
        largest_free_extent: stats.largest_free_extent.map(|e| Largest {
            address: e.address,
            blocks: e.blocks,
        }),
        fragmentation: stats.fragmentation,
        extents_by_length: (0..freeset::HISTOGRAM_BUCKETS)
            .filter(|&k| stats.extents_by_length[k] > 0)
            .map(|k| Bucket {
                min_blocks: 1 << k,
                max_blocks: ((1u128 << (k + 1)) - 1).min(u128::from(u64::MAX)) as u64,
                extents: stats.extents_by_length[k],
                blocks: stats.free_blocks_by_length[k],
            })
            .collect(),
        encoded_acquired_bytes: input.acquired.len() as u64,
        encoded_released_bytes: input.released.len() as u64,
        bitset_bytes,
        compression_ratio: encoded as f64 / (2 * bitset_bytes) as f64,
    };
    if let Some(path) = &args.map {
        let map = draw::Map {
            title: format!(
                "{}: {} blocks, {:.1}% acquired, fragmentation {:.3}",
                map_name(&input),
                draw::count(report.blocks),
                100.0 * report.acquired as f64 / report.blocks as f64,
                report.fragmentation
            ),
            blocks: input.blocks,
            block_size: args.block_size,
            shard_free: stats.shard_free_blocks.clone(),
            shard_released: released_by_shard(&input, set.capacity())?,
        };
        draw::map(path, &map)?;
    }
    Ok(report)
}

/// The name a map's title gives the input: the directory, or the file.
fn map_name(input: &Input) -> String {
    let path = Path::new(&input.acquired_name);
    if input.trailer_name.is_empty() {
        path.display().to_string()
    } else {
        path.parent()
            .map_or_else(|| path.display().to_string(), |d| d.display().to_string())
    }
}

/// Released blocks per shard: the released bitset (valid: `open` took it)
/// and the trailer, which `open` made pending release.
fn released_by_shard(input: &Input, capacity: u64) -> Result<Vec<u32>, String> {
    let words = freeset::ewah::decode(&input.released, (capacity / 64) as usize)
        .map_err(|e| format!("{}: {e}", input.released_name.clone().unwrap_or_default()))?;
    let mut shards = vec![0u32; (capacity / SHARD_BLOCKS) as usize];
    for (shard, chunk) in shards.iter_mut().zip(words.chunks(64)) {
        *shard = chunk.iter().map(|w| w.count_ones()).sum();
    }
    for &address in input.trailer_acquired.iter().chain(&input.trailer_released) {
        shards[((address - 1) / SHARD_BLOCKS) as usize] += 1;
    }
    Ok(shards)
}

fn percent(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// The summary, as `inspect` prints it.
pub fn summary(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let files = match &r.released_file {
        Some(released) => format!("{}, {released}", r.acquired_file),
        None => r.acquired_file.clone(),
    };
    line(format!("freeset inspect: {files}: valid"));
    line(format!(
        "  grid            {} blocks ({} at {} blocks), {} shards",
        draw::count(r.blocks),
        draw::bytes(r.blocks.saturating_mul(r.block_size)),
        draw::bytes(r.block_size),
        draw::count(r.shards as u64)
    ));
    line(format!(
        "  acquired        {} blocks ({:.1}%)",
        draw::count(r.acquired),
        percent(r.acquired, r.blocks)
    ));
    let trailer = if r.trailer_blocks > 0 {
        format!(", {} of them the trailer", draw::count(r.trailer_blocks))
    } else {
        String::new()
    };
    line(format!(
        "  released        {} blocks ({:.1}%{trailer}): free once the next checkpoint is durable",
        draw::count(r.released),
        percent(r.released, r.blocks)
    ));
    line(format!(
        "  free            {} blocks ({:.1}%) in {} extents",
        draw::count(r.free),
        percent(r.free, r.blocks),
        draw::count(r.free_extents)
    ));
    match &r.largest_free_extent {
        Some(e) => line(format!(
            "  largest free    {} blocks ({}) at address {}",
            draw::count(e.blocks),
            draw::bytes(e.blocks.saturating_mul(r.block_size)),
            draw::count(e.address)
        )),
        None => line("  largest free    none: no block is free".into()),
    }
    line(format!(
        "  fragmentation   {:.3} (0: one free extent; 1: every free block alone)",
        r.fragmentation
    ));
    if !r.extents_by_length.is_empty() {
        line("  free extents by length (blocks: extents, free blocks in them)".into());
        for b in &r.extents_by_length {
            let range = if b.min_blocks == b.max_blocks {
                draw::count(b.min_blocks)
            } else {
                format!(
                    "{}-{}",
                    draw::count(b.min_blocks),
                    draw::count(b.max_blocks)
                )
            };
            line(format!(
                "    {range:>25}: {:>12} {:>14}",
                draw::count(b.extents),
                draw::count(b.blocks)
            ));
        }
    }
    line(format!(
        "  encoded         acquired {} B, released {} B: {:.2}% of the raw bitsets (2 x {})",
        draw::count(r.encoded_acquired_bytes),
        draw::count(r.encoded_released_bytes),
        100.0 * r.compression_ratio,
        draw::bytes(r.bitset_bytes)
    ));
    out
}

/// Runs `freeset inspect`: exit code 0 with the report, 1 with one error line.
pub fn run(args: &Args) -> ExitCode {
    match inspect(args) {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("plain data serializes")
                );
            } else {
                print!("{}", summary(&report));
                if let Some(map) = &args.map {
                    println!("  map             {}", map.display());
                }
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(list: &[&str]) -> Args {
        let mut all = vec!["inspect"];
        all.extend_from_slice(list);
        Cli::try_parse_from(all).expect("valid flags").args
    }

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("freeset-inspect-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_saved_directory_reads_back() {
        let mut set = FreeSet::new(10_000).unwrap();
        let r = set.reserve(100).unwrap().unwrap();
        while set.acquire(&r).unwrap().is_some() {}
        set.forfeit(&r).unwrap();
        set.release(7).unwrap();
        let (acquired, released) = set.encode().unwrap();
        let dir = dir("saved");
        save(
            &dir,
            10_000,
            &acquired,
            &released,
            &[200],
            &[201],
            "test".into(),
        )
        .unwrap();
        let report = inspect(&args(&[dir.to_str().unwrap()])).unwrap();
        assert_eq!(report.acquired, 102); // 100 and the trailer
        assert_eq!(report.released, 3); // block 7 and the trailer
        assert_eq!(report.free, 10_000 - 102);
        assert_eq!(report.free_extents, 2); // 101..=199 and 202..=10000: the trailer splits them
        let text = summary(&report);
        assert!(text.contains("2 of them the trailer"), "{text}");
        // The JSON names every field.
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"fragmentation\":"), "{json}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_name_the_file_and_offset() {
        let dir = dir("errors");
        let garbage = dir.join("garbage");
        fs::write(&garbage, [0u8; 9]).unwrap(); // one empty marker, then a stray byte
        let err = inspect(&args(&["--blocks", "4096", garbage.to_str().unwrap()])).unwrap_err();
        assert!(
            err.contains("garbage") && err.contains("byte offset 8"),
            "{err}"
        );
        assert!(!err.contains('\n'));
        let err = inspect(&args(&[garbage.to_str().unwrap()])).unwrap_err();
        assert!(err.contains("--blocks"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
