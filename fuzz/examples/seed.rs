//! Writes seed corpora for the fuzz targets from the conformance traces.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seed -- [TRACES_DIR] [CORPUS_DIR]
//! ```
//!
//! (defaults: `tests/conformance` and `fuzz/corpus`, from the repository
//! root). Each target gets at most [`PER_TARGET`] files named `seed-*`:
//! - `decode`: the `ewah_decode CAPACITY HEX` streams, at their capacity and
//!   one word short of it, cut in a few ways; and the `ewah_encode` results;
//! - `open`: the `open N HEX HEX LIST LIST` lines, and the `encode` results
//!   of the traces with the trailer lists of the `reopen` that follows;
//! - `roundtrip`: the `encode` results and the `ewah_encode` results as the
//!   words, with a few chunk and read sizes;
//! - `ops`: the operation lines of every trace (the first [`OPS_PER_SEED`]
//!   of each piece), in the byte layout the `ops` target parses, under
//!   kernel tiers in turn.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use freeset_fuzz::input::{DecodeInput, OpenInput, RoundtripInput};
use freeset_fuzz::ops::{parse_input, raw_of_new_limit, write_input, Addr, Op, Trailers};
use freeset_fuzz::{naive, raw_of_limit, LIMIT_MAX};

const PER_TARGET: usize = 60;
const OPS_PER_SEED: usize = 300;
/// Streams longer than this are not used (the corpus stays small).
const MAX_STREAM: usize = 16 << 10;

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn list(s: &str) -> Vec<u64> {
    if s == "-" {
        return Vec::new();
    }
    s.split(',')
        .map(|a| a.parse().expect("an address"))
        .collect()
}

/// Keeps at most `n` items, spread evenly.
fn spread<T: Clone>(items: &[T], n: usize) -> Vec<T> {
    if items.len() <= n {
        return items.to_vec();
    }
    (0..n).map(|i| items[i * items.len() / n].clone()).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let traces = PathBuf::from(args.get(1).map_or("tests/conformance", String::as_str));
    let corpus = PathBuf::from(args.get(2).map_or("fuzz/corpus", String::as_str));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&traces)
        .expect("the traces directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "trace"))
        .collect();
    files.sort();

    let mut seeds: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
    let cuts: [&[u8]; 4] = [&[], &[3], &[8, 0, 13], &[1]];
    let mut decode = Vec::new();
    let mut open = Vec::new();
    let mut roundtrip = Vec::new();
    let mut ops = Vec::new();

    for file in &files {
        let text = std::fs::read_to_string(file).expect("a trace");
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        let mut limit = 0u64;
        let mut trace_ops = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let (call, result) = line.split_once(" => ").unwrap_or((line, ""));
            let f: Vec<&str> = call.split_whitespace().collect();
            match f[0] {
                "ewah_decode" => {
                    let capacity: usize = f[1].parse().expect("a capacity");
                    let stream = unhex(f[2]);
                    if capacity <= 65535 && stream.len() <= MAX_STREAM {
                        for (k, cap) in [capacity, capacity.saturating_sub(1)]
                            .into_iter()
                            .enumerate()
                        {
                            let c = cuts[(decode.len() + k) % cuts.len()];
                            decode.push(
                                DecodeInput {
                                    capacity: cap,
                                    cuts: c,
                                    stream: &stream,
                                }
                                .to_bytes(),
                            );
                        }
                    }
                }
                "ewah_encode" => {
                    let words = unhex(f[1]);
                    let stream = unhex(result);
                    let n = words.len() / 8;
                    if n <= 65535 && stream.len() <= MAX_STREAM {
                        let c = cuts[decode.len() % cuts.len()];
                        decode.push(
                            DecodeInput {
                                capacity: n,
                                cuts: c,
                                stream: &stream,
                            }
                            .to_bytes(),
                        );
                        let limit = (n as u64 * 64).clamp(1, LIMIT_MAX);
                        roundtrip.push(
                            RoundtripInput {
                                limit_raw: raw_of_limit(limit),
                                other_limit_raw: raw_of_limit(limit / 2 + 1),
                                release_stride: (roundtrip.len() % 5) as u8,
                                chunk_sizes: cuts[roundtrip.len() % cuts.len()],
                                read_sizes: &[1, 7, 64],
                                words: &stream,
                            }
                            .to_bytes(),
                        );
                    }
                }
                "new" => {
                    limit = f[1].parse().expect("a limit");
                    trace_ops.push(Op::New {
                        opened: true,
                        raw: raw_of_new_limit(limit),
                    });
                }
                "open" => {
                    let n: u64 = f[1].parse().expect("a limit");
                    let (a, r) = (unhex(f[2]), unhex(f[3]));
                    let to16 = |l: Vec<u64>| l.into_iter().map(|x| x.min(65535) as u16).collect();
                    open.push(
                        OpenInput {
                            limit_raw: raw_of_limit(n),
                            flags: 0,
                            cuts: &[5],
                            trailer_acquired: to16(list(f[4])),
                            trailer_released: to16(list(f[5])),
                            acquired: &a,
                            released: &r,
                        }
                        .to_bytes(),
                    );
                }
                "encode" => {
                    trace_ops.push(Op::Encode);
                    let Some((a, r)) = result
                        .strip_prefix("acquired=")
                        .and_then(|x| x.split_once(" released="))
                    else {
                        continue; // an error
                    };
                    let (a, r) = (unhex(a), unhex(r));
                    if a.len() > MAX_STREAM || r.len() > MAX_STREAM {
                        continue;
                    }
                    // The trailers of the reopen that follows, if any.
                    let (ta, tr) = lines[i + 1..]
                        .iter()
                        .take(3)
                        .find_map(|l| {
                            let f: Vec<&str> = l.split_whitespace().collect();
                            (f[0] == "reopen").then(|| (list(f[1]), list(f[2])))
                        })
                        .unwrap_or_default();
                    let to16 = |l: &[u64]| l.iter().map(|&x| x.min(65535) as u16).collect();
                    open.push(
                        OpenInput {
                            limit_raw: raw_of_limit(limit),
                            flags: (open.len() % 2) as u8,
                            cuts: cuts[open.len() % cuts.len()],
                            trailer_acquired: to16(&ta),
                            trailer_released: to16(&tr),
                            acquired: &a,
                            released: &r,
                        }
                        .to_bytes(),
                    );
                    if naive::decode(
                        &a,
                        (freeset_fuzz::capacity_of(limit.min(LIMIT_MAX)) / 64) as usize,
                    )
                    .is_ok()
                    {
                        roundtrip.push(
                            RoundtripInput {
                                limit_raw: raw_of_limit(limit),
                                other_limit_raw: raw_of_limit(limit.saturating_sub(4096).max(1)),
                                release_stride: (roundtrip.len() % 7) as u8,
                                chunk_sizes: cuts[roundtrip.len() % cuts.len()],
                                read_sizes: &[3, 8, 200],
                                words: &a,
                            }
                            .to_bytes(),
                        );
                    }
                }
                "reserve" => trace_ops.push(Op::Reserve(f[1].parse().expect("n"))),
                // Reservation `rK` is the K-th reserve that succeeded; the
                // harness's pool starts with two reservations of another set.
                "acquire" | "forfeit" => {
                    let k: u16 = f[1][1..]
                        .parse::<u32>()
                        .expect("rK")
                        .saturating_add(2)
                        .min(65535) as u16;
                    trace_ops.push(if f[0] == "acquire" {
                        Op::Acquire(k)
                    } else {
                        Op::Forfeit(k)
                    });
                }
                "release" => trace_ops.push(Op::Release(Addr::Raw(f[1].parse().expect("address")))),
                "is_free" => trace_ops.push(Op::IsFree(Addr::Raw(f[1].parse().expect("address")))),
                "is_released" => {
                    trace_ops.push(Op::IsReleased(Addr::Raw(f[1].parse().expect("address"))))
                }
                "checkpoint_not_durable" => trace_ops.push(Op::CheckpointNotDurable),
                "checkpoint_durable" => trace_ops.push(Op::CheckpointDurable),
                "reopen" => trace_ops.push(Op::Reopen(Trailers::raw(&list(f[1]), &list(f[2])))),
                _ => {} // counts, highest: the target checks them after every operation
            }
        }
        // The first pieces of each trace: its start, and one from the middle.
        if !trace_ops.is_empty() {
            let new = trace_ops[0];
            ops.push(trace_ops[..trace_ops.len().min(OPS_PER_SEED)].to_vec());
            if trace_ops.len() > 2 * OPS_PER_SEED {
                let mid = trace_ops.len() / 2;
                // Reservations of the middle refer to the trace's own
                // numbering: they mostly become stale ones, which is fine.
                let mut piece = vec![new];
                piece.extend_from_slice(&trace_ops[mid..mid + OPS_PER_SEED]);
                ops.push(piece);
            }
        }
    }

    seeds.insert("decode", spread(&decode, PER_TARGET));
    seeds.insert("open", spread(&open, PER_TARGET));
    seeds.insert("roundtrip", spread(&roundtrip, PER_TARGET));
    // The kernel tier byte goes round the tiers (`ops` takes it modulo
    // the number of tiers the CPU has).
    let ops_bytes: Vec<Vec<u8>> = ops
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let bytes = write_input(i as u8, o);
            assert_eq!(
                parse_input(&bytes),
                (i as u8, o.clone()),
                "an ops seed parses back"
            );
            bytes
        })
        .collect();
    seeds.insert("ops", spread(&ops_bytes, PER_TARGET));

    for (target, files) in &seeds {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("the corpus directory");
        write_all(&dir, files);
        println!("{target}: {} seeds", files.len());
    }
}

fn write_all(dir: &Path, files: &[Vec<u8>]) {
    for (i, bytes) in files.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), bytes).expect("a seed file");
    }
}
