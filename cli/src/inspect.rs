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
//! input, or a read without a bound. Every failure is one line naming the
//! file (and, for an invalid encoding, the byte offset the library's
//! `DecodeError` gives), with exit code 1 when the contents are wrong and 2
//! when a file cannot be opened or a flag is wrong (`crate::exit`). The
//! checks are the library's own (`FreeSet::open`), never a second validator
//! that could disagree with it. An encoded file is read only up to
//! `freeset::ewah::encode_size_max` of the capacity's words (a longer one is
//! no encoding the library wrote), `checkpoint.json` up to
//! [`CHECKPOINT_JSON_MAX`], and the files `checkpoint.json` names must lie
//! inside its directory (`crate::input::inside`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use freeset::{Bitset, Error, FreeSet, SHARD_BLOCKS};
use freeset_cli::size;
use serde::{Deserialize, Serialize};

use crate::draw;
use crate::exit::{self, Failure};
use crate::input;

/// The file of a checkpoint directory that says how to read the other two.
pub const CHECKPOINT_FILE: &str = "checkpoint.json";
/// The encoded bitsets of a checkpoint directory.
pub const ACQUIRED_FILE: &str = "acquired.ewah";
pub const RELEASED_FILE: &str = "released.ewah";
/// The value of `format` in `checkpoint.json`.
const FORMAT: &str = "freeset-checkpoint/1";
/// The most bytes a `checkpoint.json` may take: 16 MiB, over three times
/// what the largest checkpoint `freeset simulate` can save at its default
/// chunk size needs (its trailer lists: 2^32 blocks, two encodings of at most
/// `encode_size_max(2^26)` bytes in 4 KiB chunks, 262,146 addresses of up to
/// 10 digits, pretty-printed; a test checks it). [`save`] refuses to write a
/// longer one and `inspect` to read one.
pub const CHECKPOINT_JSON_MAX: u64 = 16 << 20;

/// Options of `freeset inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Blocks of the grid: a count such as 12288 or 12K, or TOTAL/BLOCK
    /// sizes such as 4GiB/4KiB (units K, M, G, T, all binary, any case).
    /// Needed with files; a directory says it in checkpoint.json (given
    /// anyway, it opens the bitsets at this size instead).
    #[arg(long, value_parser = size::parse_blocks)]
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
    /// summary: 4096, 4K, 4KB or 4KiB (units K, M, G, T, all binary, any
    /// case).
    #[arg(long, default_value = "4KiB", value_parser = size::parse_size)]
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
/// `checkpoint.json` that names them, announcing each file written on
/// stderr. A `checkpoint.json` longer than [`CHECKPOINT_JSON_MAX`] (trailer
/// lists of millions of addresses) is refused before anything is written.
pub fn save(
    dir: &Path,
    blocks: u64,
    acquired: &[u8],
    released: &[u8],
    trailer_acquired: &[u64],
    trailer_released: &[u64],
    source: String,
) -> Result<(), String> {
    let failed = |path: &Path, e: std::io::Error| format!("{}: cannot write: {e}", path.display());
    let checkpoint = Checkpoint {
        format: FORMAT.into(),
        blocks,
        acquired: ACQUIRED_FILE.into(),
        released: RELEASED_FILE.into(),
        trailer_acquired: trailer_acquired.to_vec(),
        trailer_released: trailer_released.to_vec(),
        source,
    };
    let path = dir.join(CHECKPOINT_FILE);
    let mut json = serde_json::to_string_pretty(&checkpoint).expect("plain data serializes");
    json.push('\n');
    if json.len() as u64 > CHECKPOINT_JSON_MAX {
        return Err(format!(
            "{}: {} bytes, more than the {CHECKPOINT_JSON_MAX} a checkpoint.json may take \
             (trailers of {} blocks): use larger chunks",
            path.display(),
            json.len(),
            trailer_acquired.len() + trailer_released.len()
        ));
    }
    fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    for (name, bytes) in [(ACQUIRED_FILE, acquired), (RELEASED_FILE, released)] {
        let file = dir.join(name);
        fs::write(&file, bytes).map_err(|e| failed(&file, e))?;
        exit::wrote(&file);
    }
    fs::write(&path, json).map_err(|e| failed(&path, e))?;
    exit::wrote(&path);
    Ok(())
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

/// The unopened set of `blocks` blocks, and the most bytes an encoding of
/// one of its bitsets can take, with the reason for the messages. `wrong`
/// classifies a refusal: a `--blocks` flag is usage, a `checkpoint.json`
/// field is contents.
fn grid(blocks: u64, wrong: impl Fn(String) -> Failure) -> Result<(FreeSet, u64, String), Failure> {
    let set = FreeSet::unopened(blocks).map_err(|e| wrong(e.to_string()))?;
    let words = usize::try_from(set.capacity() / 64).unwrap_or(usize::MAX);
    let bound = freeset::ewah::encode_size_max(words) as u64;
    let why = format!(
        "the most an encoding of {blocks} blocks ({words} words) can take: not an encoding \
         the library wrote"
    );
    Ok((set, bound, why))
}

/// The unopened set of the grid and the input to open it from.
fn read_input(args: &Args) -> Result<(FreeSet, Input), Failure> {
    let first = &args.inputs[0];
    if args.inputs.len() == 1 && first.is_dir() {
        return read_dir(first, args.blocks);
    }
    if args.inputs.iter().all(|p| p.as_os_str() == "-") && args.inputs.len() == 2 {
        return Err(Failure::Usage(
            "standard input (-) can stand for only one of the two files".into(),
        ));
    }
    let blocks = args.blocks.ok_or_else(|| {
        Failure::Usage(format!(
            "{}: --blocks N is needed with files (a directory written by `freeset simulate \
             --save` says it in its {CHECKPOINT_FILE})",
            input::name(first)
        ))
    })?;
    let (set, bound, why) = grid(blocks, |e| {
        Failure::Usage(format!("--blocks {blocks}: {e}"))
    })?;
    let acquired = input::read_bounded(first, bound, &why)?;
    let (released_name, released) = match args.inputs.get(1) {
        Some(path) => (
            Some(input::name(path)),
            input::read_bounded(path, bound, &why)?,
        ),
        None => (None, Vec::new()),
    };
    let input = Input {
        blocks,
        acquired_name: input::name(first),
        acquired,
        released_name,
        released,
        trailer_acquired: Vec::new(),
        trailer_released: Vec::new(),
        trailer_name: String::new(),
    };
    Ok((set, input))
}

fn read_dir(dir: &Path, blocks: Option<u64>) -> Result<(FreeSet, Input), Failure> {
    let meta_path = dir.join(CHECKPOINT_FILE);
    let meta = input::read_bounded(
        &meta_path,
        CHECKPOINT_JSON_MAX,
        "the most a checkpoint.json may take",
    )?;
    let meta_name = meta_path.display().to_string();
    let invalid = |e: String| Failure::Check(format!("{meta_name}: {e}"));
    let checkpoint: Checkpoint =
        serde_json::from_slice(&meta).map_err(|e| invalid(e.to_string()))?;
    if checkpoint.format != FORMAT {
        return Err(invalid(format!(
            "format {:?}, this freeset reads {FORMAT:?}",
            checkpoint.format
        )));
    }
    let (set, bound, why) = match blocks {
        Some(blocks) => grid(blocks, |e| {
            Failure::Usage(format!("--blocks {blocks}: {e}"))
        })?,
        None => grid(checkpoint.blocks, |e| {
            invalid(format!("blocks {}: {e}", checkpoint.blocks))
        })?,
    };
    let acquired_path = input::inside(dir, &checkpoint.acquired, &meta_name)?;
    let released_path = input::inside(dir, &checkpoint.released, &meta_name)?;
    let input = Input {
        blocks: blocks.unwrap_or(checkpoint.blocks),
        acquired: input::read_bounded(&acquired_path, bound, &why)?,
        acquired_name: acquired_path.display().to_string(),
        released: input::read_bounded(&released_path, bound, &why)?,
        released_name: Some(released_path.display().to_string()),
        trailer_acquired: checkpoint.trailer_acquired,
        trailer_released: checkpoint.trailer_released,
        trailer_name: meta_name,
    };
    Ok((set, input))
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
pub fn inspect(args: &Args) -> Result<Report, Failure> {
    if let Some(path) = &args.map {
        draw::check_path(path).map_err(Failure::Usage)?;
    }
    // The set is made before any file is read, so that a grid too large to
    // allocate is refused first, and the bound of the reads is its own.
    let (mut set, input) = read_input(args)?;
    set.open(
        &input.acquired,
        &input.released,
        &input.trailer_acquired,
        &input.trailer_released,
    )
    .map_err(|e| Failure::Check(explain(e, &input)))?;
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
            shard_released: released_by_shard(&input, set.capacity()).map_err(Failure::Check)?,
        };
        draw::map(path, &map).map_err(Failure::Usage)?;
        exit::wrote(path);
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

/// Runs `freeset inspect`: exit code 0 with the report; with one error
/// line, 1 when the contents are invalid and 2 when an input cannot be read
/// or a flag is wrong (`crate::exit`).
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
        Err(failure) => failure.report(),
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
        assert_eq!(err.code(), exit::CHECK_FAILED);
        let err = err.to_string();
        assert!(
            err.contains("garbage") && err.contains("byte offset 8"),
            "{err}"
        );
        assert!(!err.contains('\n'));
        let err = inspect(&args(&[garbage.to_str().unwrap()])).unwrap_err();
        assert_eq!(err.code(), exit::USAGE);
        assert!(err.to_string().contains("--blocks"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// An encoded file is read up to the encoding bound of the grid: one
    /// byte more is refused, before the library sees it, naming the file
    /// and the bound.
    #[test]
    fn encodings_longer_than_the_bound_are_refused() {
        let dir = dir("bound");
        // 4096 blocks: 64 words, at most 8 + 8 * 64 = 520 bytes.
        assert_eq!(freeset::ewah::encode_size_max(64), 520);
        // Empty markers (zero counts) are valid: 65 of them decode, but
        // no encoder writes them, and 520 bytes is the most it writes.
        let at_bound = dir.join("at");
        fs::write(&at_bound, [0u8; 520]).unwrap();
        let report = inspect(&args(&["--blocks", "4096", at_bound.to_str().unwrap()])).unwrap();
        assert_eq!(report.acquired, 0);
        let past = dir.join("past");
        fs::write(&past, [0u8; 528]).unwrap();
        let err = inspect(&args(&["--blocks", "4096", past.to_str().unwrap()])).unwrap_err();
        assert_eq!(err.code(), exit::CHECK_FAILED);
        let err = err.to_string();
        assert!(
            err.contains("past")
                && err.contains("more than 520 bytes")
                && err.contains("4096 blocks"),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The largest checkpoint `simulate --save` writes at its default chunk
    /// size fits the bound of checkpoint.json; one of 512-byte chunks is
    /// refused by `save`, before any file is written.
    #[test]
    fn checkpoint_json_bound_holds_the_largest_simulated_trailer() {
        let words = 1usize << 26; // 2^32 blocks
        let chunks = freeset::ewah::encode_size_max(words).div_ceil(4096) as u64;
        let trailer: Vec<u64> = (0..chunks).map(|i| (1 << 32) - i).collect();
        let dir = dir("json-bound");
        save(&dir, 1 << 32, &[], &[], &trailer, &trailer, "test".into()).unwrap();
        let len = fs::metadata(dir.join(CHECKPOINT_FILE)).unwrap().len();
        assert!(3 * len <= CHECKPOINT_JSON_MAX, "{len}");
        let chunks = freeset::ewah::encode_size_max(words).div_ceil(512) as u64;
        let trailer: Vec<u64> = (0..chunks).map(|i| (1 << 32) - i).collect();
        let fresh = dir.join("fresh");
        let err = save(&fresh, 1 << 32, &[], &[], &trailer, &trailer, "test".into()).unwrap_err();
        assert!(
            err.contains("more than") && err.contains("larger chunks"),
            "{err}"
        );
        assert!(!fresh.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
