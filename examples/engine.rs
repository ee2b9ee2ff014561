//! An engine's checkpoint cycle on real files, with the standard library
//! only: `cargo run --example engine`.
//!
//! The engine keeps a data file of `BLOCKS` blocks of `BLOCK_SIZE` bytes
//! (block at address `a` at byte `a * BLOCK_SIZE`; address 0 is never
//! handed out) and a small superblock file. It
//!
//! 1. creates a free set, reserves blocks for three jobs, and lets the jobs
//!    acquire in turn, writing each block;
//! 2. forfeits the reservations and releases some blocks (they become free
//!    once the next checkpoint is durable);
//! 3. writes a checkpoint through [`FreeSet::checkpoint`]: every chunk of
//!    the encoding into the trailer block the set names, then `sync_all`;
//!    `commit` acquires the trailer and returns the lists and lengths;
//! 4. writes the superblock (trailer lists, lengths and an FNV-1a checksum
//!    of the chunks, computed here) to a temporary file, syncs it and
//!    renames it into place: the checkpoint is durable, and the engine says
//!    so with `checkpoint_durable()`;
//! 5. drops everything, then restarts: reads the superblock, reads the
//!    chunks block by block into one buffer through `open_stream`, checks
//!    the checksum before finishing the open, and compares the reopened set
//!    with the state the checkpoint holds.
//!
//! The same cycle runs as a test (`tests/engine_example.rs` includes this
//! file and calls [`run`]).

use std::error::Error;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use freeset::{FreeSet, Trailer};

/// Blocks of the data file.
pub const BLOCKS: u64 = 1 << 16;
/// Bytes per block: one chunk of the checkpoint's encoding per block.
pub const BLOCK_SIZE: usize = 512;

/// FNV-1a, 64 bits: the engine's own checksum of the encodings.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// What the superblock holds: the trailer and the checksum of its chunks.
struct Superblock {
    trailer: Trailer,
    checksum: u64,
}

impl Superblock {
    fn to_text(&self) -> String {
        let list = |addresses: &[u64]| {
            addresses
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "acquired_len {}\nreleased_len {}\nacquired {}\nreleased {}\nchecksum {:016x}\n",
            self.trailer.acquired_len,
            self.trailer.released_len,
            list(&self.trailer.acquired),
            list(&self.trailer.released),
            self.checksum
        )
    }

    fn from_text(text: &str) -> Result<Superblock, Box<dyn Error>> {
        let mut superblock = Superblock {
            trailer: Trailer::default(),
            checksum: 0,
        };
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let list = || -> Result<Vec<u64>, std::num::ParseIntError> {
                value.split_whitespace().map(str::parse).collect()
            };
            match key {
                "acquired_len" => superblock.trailer.acquired_len = value.parse()?,
                "released_len" => superblock.trailer.released_len = value.parse()?,
                "acquired" => superblock.trailer.acquired = list()?,
                "released" => superblock.trailer.released = list()?,
                "checksum" => superblock.checksum = u64::from_str_radix(value, 16)?,
                _ => return Err(format!("superblock: unknown line {line:?}").into()),
            }
        }
        Ok(superblock)
    }
}

/// Writes `bytes` at the block `address` of the data file.
fn write_block(data: &mut File, address: u64, bytes: &[u8]) -> std::io::Result<()> {
    data.seek(SeekFrom::Start(address * BLOCK_SIZE as u64))?;
    data.write_all(bytes)
}

/// Reads `buffer.len()` bytes from the block `address` of the data file.
fn read_block(data: &mut File, address: u64, buffer: &mut [u8]) -> std::io::Result<()> {
    data.seek(SeekFrom::Start(address * BLOCK_SIZE as u64))?;
    data.read_exact(buffer)
}

/// Runs the whole cycle in `dir` (which must exist) and says what it did.
pub fn run(dir: &Path) -> Result<String, Box<dyn Error>> {
    let data_path = dir.join("data");
    let superblock_path = dir.join("superblock");
    let mut report = String::new();

    // 1. Three jobs acquire in turn and write their blocks.
    let mut data = File::options()
        .create(true)
        .read(true)
        .write(true)
        .truncate(true)
        .open(&data_path)?;
    let mut set = FreeSet::new(BLOCKS)?;
    let mut jobs = Vec::new();
    for n in [300, 500, 200] {
        jobs.push(set.reserve(n)?.ok_or("no room for a job")?);
    }
    let mut written = Vec::new();
    let mut block = vec![0u8; BLOCK_SIZE];
    let mut live = jobs.len();
    while live > 0 {
        live = 0;
        for job in &jobs {
            if let Some(address) = set.acquire(job)? {
                block.fill(address as u8);
                write_block(&mut data, address, &block)?;
                written.push(address);
                live += 1;
            }
        }
    }
    report += &format!(
        "3 jobs acquired {} blocks in turn (job ranges {:?})\n",
        written.len(),
        jobs.iter().map(|j| j.addresses()).collect::<Vec<_>>()
    );

    // 2. The jobs are done; some blocks are no longer needed.
    for job in &jobs {
        set.forfeit(job)?;
    }
    for &address in written.iter().step_by(7) {
        set.release(address)?;
    }
    report += &format!("released {} blocks\n", set.count_released());

    // 3. The checkpoint: each chunk into the block the set names.
    let mut checkpoint = set.checkpoint(BLOCK_SIZE)?;
    let mut checksum = Fnv::new();
    while let Some(chunk) = checkpoint.next_chunk(&mut block)? {
        checksum.update(&block[..chunk.len]);
        write_block(&mut data, chunk.address, &block[..chunk.len])?;
    }
    data.sync_all()?;
    let trailer = checkpoint.commit()?;
    report += &format!(
        "checkpoint: {} + {} bytes in trailer blocks {:?} and {:?}\n",
        trailer.acquired_len, trailer.released_len, trailer.acquired, trailer.released
    );
    // What a restart from this checkpoint opens: the set as it is now, with
    // the trailer pending release (the next checkpoint would release it).
    let mut expected = set.try_clone()?;
    for address in expected.take_last_trailer() {
        expected.release(address)?;
    }

    // 4. The superblock, written aside and renamed into place.
    let superblock = Superblock {
        trailer,
        checksum: checksum.0,
    };
    let staging: PathBuf = dir.join("superblock.new");
    let mut file = File::create(&staging)?;
    file.write_all(superblock.to_text().as_bytes())?;
    file.sync_all()?;
    fs::rename(&staging, &superblock_path)?;
    File::open(dir)?.sync_all()?; // the rename itself
    set.checkpoint_durable()?;
    report += &format!(
        "durable: {} blocks free, {} acquired\n",
        set.count_free(),
        set.count_acquired()
    );
    drop((set, data, superblock));

    // 5. Restart from the files alone.
    let superblock = Superblock::from_text(&fs::read_to_string(&superblock_path)?)?;
    let trailer = &superblock.trailer;
    let mut data = File::open(&data_path)?;
    let mut reopened = FreeSet::unopened(BLOCKS)?;
    let mut open = reopened.open_stream()?;
    let mut checksum = Fnv::new();
    for (addresses, len, acquired) in [
        (&trailer.acquired, trailer.acquired_len, true),
        (&trailer.released, trailer.released_len, false),
    ] {
        let mut left = len;
        for &address in addresses {
            let n = left.min(BLOCK_SIZE as u64) as usize;
            read_block(&mut data, address, &mut block[..n])?;
            checksum.update(&block[..n]);
            if acquired {
                open.push_acquired(&block[..n])?;
            } else {
                open.push_released(&block[..n])?;
            }
            left -= n as u64;
        }
    }
    if checksum.0 != superblock.checksum {
        // Dropping the stream leaves the set empty and not opened.
        return Err(format!(
            "checksum mismatch: superblock {:016x}, chunks {:016x}",
            superblock.checksum, checksum.0
        )
        .into());
    }
    open.finish(&trailer.acquired, &trailer.released)?;
    if reopened != expected {
        return Err("the reopened set differs from the checkpoint's state".into());
    }
    // The blocks the checkpoint holds live still hold their writes.
    for &address in written
        .iter()
        .filter(|&&a| !reopened.is_released(a).unwrap_or(true))
    {
        read_block(&mut data, address, &mut block)?;
        if block.iter().any(|&b| b != address as u8) {
            return Err(format!("block {address} lost its write").into());
        }
    }
    report += &format!(
        "reopened: {} acquired, {} released (the trailer pending), equal to the checkpoint's state\n",
        reopened.count_acquired(),
        reopened.count_released()
    );
    Ok(report)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("freeset-engine-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let result = run(&dir);
    fs::remove_dir_all(&dir)?;
    print!("{}", result?);
    Ok(())
}
