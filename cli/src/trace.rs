//! Conformance traces (`docs/trace-format.md`): parse a line, run it against a
//! [`FreeSet`], and format the result exactly as the reference does.
//!
//! One [`Replayer`] holds the state of one trace file: the current set and the
//! reservations by their trace number `rK`. It never panics on text: a line it
//! cannot read (an unknown operation, missing or extra arguments, a number
//! that is not a digit string, an operation before `new`) is a [`Malformed`]
//! value naming what was wrong. Misuse and bad input on a well-formed line
//! are a result that starts with `error`, as in the traces, and change
//! nothing: misuse of the set, a reservation `rK` never made, bad hex, bytes
//! that are not whole words, a number past `u64` (read as `u64::MAX`) that
//! the operation cannot take.

use std::fmt::Write as _;
use std::io::{self, BufRead, Read};

use freeset::ewah;
use freeset::{FreeSet, Parallelism, Reservation};

/// A line the replayer cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed line: {0}")]
pub struct Malformed(pub String);

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// One operation line, split at its first `=>` (with any whitespace, or
/// none, around it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number in the file.
    pub number: usize,
    /// The operation and its arguments.
    pub op: &'a str,
    /// The recorded result, if the line has one, trimmed (runs of whitespace
    /// inside it are left as written: [`matches()`] treats each as one space).
    pub expected: Option<&'a str>,
}

/// The operation lines of a trace: comments and blank lines are skipped.
/// Lines may end in CRLF or trailing whitespace, and `=>` may have any
/// whitespace around it (tabs, several spaces).
pub fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| parse_line(i + 1, raw))
}

/// Line `number` of a trace, `None` for a comment or a blank line.
fn parse_line(number: usize, raw: &str) -> Option<Line<'_>> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (op, expected) = match line.split_once("=>") {
        Some((op, expected)) => (op.trim(), Some(expected.trim())),
        None => (line, None),
    };
    Some(Line {
        number,
        op,
        expected,
    })
}

/// The longest line, in bytes without its newline, that a trace read from a
/// file may have: 1 GiB. What a legitimate line can hold is set by the
/// grids a trace works on: an `open` line carries the hex of two encodings
/// (twice their bytes each), an `encode` result the same, and an encoding of
/// `W` words takes at most `freeset::ewah::encode_size_max(W)` bytes. 1 GiB
/// holds two worst-case encodings of a grid of 2^31 - 2^24 blocks, with
/// more than 7 MiB to spare for the rest of the line (a test checks the
/// sum), and the
/// longest `ewah_decode` line ([`DECODE_WORDS_MAX`] words of result). A
/// longer line is refused as a [`Problem`], and the rest of its file is not
/// read, rather than buffered until the machine runs out of memory.
pub const LINE_BYTES_MAX: usize = 1 << 30;

/// Reads a trace from `reader` one line at a time and calls `each` with
/// each operation line, or with the [`Problem`] of a line that cannot be
/// read: one that is not UTF-8 (reading goes on), or one longer than
/// `line_max` bytes (see [`LINE_BYTES_MAX`]; reading stops there, since
/// no line of the rest can be trusted to start where a line starts). At
/// most `line_max + 1` bytes are held at a time. `Err` only when reading
/// itself fails.
pub fn read_lines(
    mut reader: impl BufRead,
    line_max: usize,
    mut each: impl FnMut(Result<Line<'_>, Problem>),
) -> io::Result<()> {
    let mut buffer = Vec::new();
    let mut number = 0;
    loop {
        buffer.clear();
        let limit = u64::try_from(line_max)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if (&mut reader).take(limit).read_until(b'\n', &mut buffer)? == 0 {
            return Ok(());
        }
        number += 1;
        let content = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        if content.len() > line_max {
            each(Err(Problem {
                line: number,
                message: format!(
                    "line longer than {line_max} bytes, the most a trace line may hold: \
                     the rest of the file is not read"
                ),
            }));
            return Ok(());
        }
        match std::str::from_utf8(content) {
            Ok(text) => {
                if let Some(line) = parse_line(number, text) {
                    each(Ok(line));
                }
            }
            Err(e) => each(Err(Problem {
                line: number,
                message: format!(
                    "malformed line: not UTF-8 text (invalid byte at column {})",
                    e.valid_up_to() + 1
                ),
            })),
        }
    }
}

/// Whether `got` (our result, `None` for an operation without one) matches
/// `expected` (the recorded one). A recorded `error...` accepts any error;
/// otherwise the two are compared with each run of whitespace as one space
/// and none at either end (`free=1  acquired=0` is `free=1 acquired=0`).
pub fn matches(expected: Option<&str>, got: Option<&str>) -> bool {
    match (expected, got) {
        (Some(e), Some(g)) if e.trim_start().starts_with("error") => g.starts_with("error"),
        (Some(e), Some(g)) => e.split_whitespace().eq(g.split_whitespace()),
        (e, g) => e.is_none() && g.is_none(),
    }
}

/// Most words an `ewah_decode` line may print: 2^24 words are 256 MiB of
/// hex. A trace that asks for more is answered with an error line rather
/// than an allocation the machine may not have.
pub const DECODE_WORDS_MAX: usize = 1 << 24;

/// The state of one trace being replayed.
#[derive(Debug, Default)]
pub struct Replayer {
    set: Option<FreeSet>,
    /// Reservations by trace number: `rK` is `reservations[K]`.
    reservations: Vec<Reservation>,
    /// Where `encode`, `open` and `reopen` run.
    parallelism: Parallelism<'static>,
}

impl Replayer {
    /// A replayer with no set yet (a trace starts with `new`).
    pub fn new() -> Self {
        Self::default()
    }

    /// A replayer whose `encode`, `open` and `reopen` run as `parallelism`
    /// says (the results must not change).
    pub fn with_parallelism(parallelism: Parallelism<'static>) -> Self {
        Replayer {
            parallelism,
            ..Self::default()
        }
    }

    /// Runs one operation; `Ok(None)` when it succeeded with no result to print,
    /// `Ok(Some("error: ..."))` for misuse.
    pub fn execute(&mut self, op: &str) -> Result<Option<String>, Malformed> {
        let mut words = op.split_ascii_whitespace();
        let name = words.next().ok_or_else(|| malformed("empty operation"))?;
        let args: Vec<&str> = words.collect();
        match name {
            "new" => {
                arity(name, &args, 1)?;
                let made = FreeSet::new(number(args[0])?).map(|set| {
                    self.set = Some(set);
                    None
                });
                Ok(shown(made))
            }
            "ewah_encode" => {
                arity(name, &args, 1)?;
                Ok(Some(ewah_encode_line(args[0])))
            }
            "ewah_decode" => {
                arity(name, &args, 2)?;
                ewah_decode_line(args[0], args[1]).map(Some)
            }
            "open" => self.open(&args),
            _ => self.on_set(name, &args),
        }
    }

    /// `open LIMIT ACQUIRED RELEASED TRAILER_ACQUIRED TRAILER_RELEASED`: a
    /// new set opened from the bytes; bad hex is bad input, not a malformed
    /// line (an error, and the current set stays).
    fn open(&mut self, args: &[&str]) -> Result<Option<String>, Malformed> {
        arity("open", args, 5)?;
        let limit = number(args[0])?;
        let (trailer_acquired, trailer_released) = (list(args[3])?, list(args[4])?);
        let (acquired, released) = match (hex_decode(args[1]), hex_decode(args[2])) {
            (Ok(acquired), Ok(released)) => (acquired, released),
            (Err(e), _) => return Ok(Some(format!("error: acquired bytes: {e}"))),
            (_, Err(e)) => return Ok(Some(format!("error: released bytes: {e}"))),
        };
        let parallelism = self.parallelism;
        let opened = FreeSet::unopened(limit)
            .and_then(|mut set| {
                set.open_with(
                    &acquired,
                    &released,
                    &trailer_acquired,
                    &trailer_released,
                    parallelism,
                )?;
                Ok(set)
            })
            .map(|set| {
                self.set = Some(set);
                None
            });
        Ok(shown(opened))
    }

    /// An operation on the current set (malformed before `new`).
    fn on_set(&mut self, name: &str, args: &[&str]) -> Result<Option<String>, Malformed> {
        let Replayer {
            set,
            reservations,
            parallelism,
        } = self;
        let set = set
            .as_mut()
            .ok_or_else(|| malformed(format!("{name} before new")))?;
        let result = match name {
            "reserve" | "reserve_extent" | "acquire" | "acquire_extent" | "forfeit" => {
                return on_reservation(set, reservations, name, args)
            }
            "counts" | "highest" | "is_free" | "is_released" | "largest_extent" => {
                return query(set, name, args)
            }
            "release" => {
                arity(name, args, 1)?;
                set.release(number(args[0])?).map(|()| None)
            }
            "release_range" => {
                arity(name, args, 2)?;
                set.release_range(number(args[0])?, number(args[1])?)
                    .map(|()| None)
            }
            "checkpoint_not_durable" => {
                arity(name, args, 0)?;
                set.checkpoint_not_durable().map(|()| None)
            }
            "checkpoint_durable" => {
                arity(name, args, 0)?;
                set.checkpoint_durable().map(|()| None)
            }
            "encode" => {
                arity(name, args, 0)?;
                set.encode_with(*parallelism).map(|(a, r)| {
                    Some(format!(
                        "acquired={} released={}",
                        hex_or_dash(&a),
                        hex_or_dash(&r)
                    ))
                })
            }
            "reopen" => {
                arity(name, args, 2)?;
                reopen(set, (list(args[0])?, list(args[1])?), *parallelism).map(|()| None)
            }
            _ => return Err(malformed(format!("unknown operation {name:?}"))),
        };
        Ok(shown(result))
    }
}

/// The printed result of an operation: its value, or `error: ...` for
/// misuse (which changed nothing).
fn shown(result: Result<Option<String>, freeset::Error>) -> Option<String> {
    result.unwrap_or_else(|e| Some(format!("error: {e}")))
}

/// The line is malformed unless `name` has exactly `n` arguments.
fn arity(name: &str, args: &[&str], n: usize) -> Result<(), Malformed> {
    if args.len() == n {
        Ok(())
    } else {
        Err(malformed(format!(
            "{name} takes {n} argument(s), got {}",
            args.len()
        )))
    }
}

/// `ewah_encode WORDS`: the encoding of the words, or an error result.
fn ewah_encode_line(hex: &str) -> String {
    match hex_decode(hex)
        .map_err(|e| e.to_string())
        .and_then(|bytes| words_of(&bytes))
    {
        Ok(words) => hex_or_dash(&ewah::encode(&words)),
        Err(e) => format!("error: {e}"),
    }
}

/// `ewah_decode CAPACITY BYTES`: the decoded words (those the stream
/// describes), after a check that they are few enough to print.
fn ewah_decode_line(capacity: &str, hex: &str) -> Result<String, Malformed> {
    // More words than any count, as u64::MAX is.
    let capacity = usize::try_from(number(capacity)?).unwrap_or(usize::MAX);
    let bytes = match hex_decode(hex) {
        Ok(bytes) => bytes,
        Err(e) => return Ok(format!("error: {e}")),
    };
    Ok(match ewah::validate(&bytes, capacity) {
        Ok(described) if described > DECODE_WORDS_MAX => format!(
            "error: the stream describes {described} words, more than the replayer prints ({DECODE_WORDS_MAX})"
        ),
        Ok(_) => match ewah::decode(&bytes, capacity) {
            Ok(words) => hex_or_dash(&bytes_of(&words)),
            Err(e) => format!("error: {e}"),
        },
        Err(e) => format!("error: {e}"),
    })
}

/// `reserve N`, `reserve_extent N`, `acquire rK`, `acquire_extent rK`,
/// `forfeit rK`: the operations that make or name a reservation.
fn on_reservation(
    set: &mut FreeSet,
    reservations: &mut Vec<Reservation>,
    name: &str,
    args: &[&str],
) -> Result<Option<String>, Malformed> {
    arity(name, args, 1)?;
    if name == "reserve" || name == "reserve_extent" {
        let n = number(args[0])?;
        let made = if name == "reserve" {
            set.reserve(n)
        } else {
            set.reserve_extent(n)
        };
        let made = made.map(|reservation| {
            Some(reservation.map_or_else(
                || "none".to_string(),
                |r| {
                    reservations.push(r);
                    format!(
                        "r{} {} {}",
                        reservations.len() - 1,
                        r.block_base(),
                        r.block_count()
                    )
                },
            ))
        });
        return Ok(shown(made));
    }
    let Some(r) = reservation(reservations, args[0])? else {
        return Ok(Some(never_made(reservations, args[0])));
    };
    let result = if name == "acquire" {
        set.acquire(&r)
            .map(|a| Some(a.map_or("none".to_string(), |a| a.to_string())))
    } else if name == "acquire_extent" {
        set.acquire_extent(&r).map(|run| {
            Some(run.map_or("none".to_string(), |run| {
                format!("{} {}", run.start, run.end - run.start)
            }))
        })
    } else {
        set.forfeit(&r).map(|()| None)
    };
    Ok(shown(result))
}

/// `counts`, `highest`, `is_free A`, `is_released A`, `largest_extent`:
/// questions to the set.
fn query(set: &FreeSet, name: &str, args: &[&str]) -> Result<Option<String>, Malformed> {
    let result = match name {
        "counts" => {
            arity(name, args, 0)?;
            Ok(Some(format!(
                "free={} acquired={} released={} reservations={}",
                set.count_free(),
                set.count_acquired(),
                set.count_released(),
                set.count_reservations()
            )))
        }
        "highest" => {
            arity(name, args, 0)?;
            let show = |a: Option<u64>| a.map_or("none".to_string(), |a| a.to_string());
            Ok(Some(format!(
                "acquired={} released={}",
                show(set.highest_acquired()),
                show(set.highest_released())
            )))
        }
        "is_free" => {
            arity(name, args, 1)?;
            set.is_free(number(args[0])?).map(|b| Some(b.to_string()))
        }
        "largest_extent" => {
            arity(name, args, 0)?;
            Ok(Some(set.stats().largest_free_extent.map_or_else(
                || "none".to_string(),
                |e| format!("{} {}", e.address, e.blocks),
            )))
        }
        _ => {
            debug_assert_eq!(name, "is_released");
            arity(name, args, 1)?;
            set.is_released(number(args[0])?)
                .map(|b| Some(b.to_string()))
        }
    };
    Ok(shown(result))
}

/// `reopen TRAILER_ACQUIRED TRAILER_RELEASED`: encodes the set and opens a
/// fresh one from the bytes in its place (the set stays on an error).
fn reopen(
    set: &mut FreeSet,
    (trailer_acquired, trailer_released): (Vec<u64>, Vec<u64>),
    parallelism: Parallelism<'static>,
) -> Result<(), freeset::Error> {
    let (acquired, released) = set.encode_with(parallelism)?;
    let mut fresh = FreeSet::unopened(set.limit())?;
    fresh.open_with(
        &acquired,
        &released,
        &trailer_acquired,
        &trailer_released,
        parallelism,
    )?;
    *set = fresh;
    Ok(())
}

/// A decimal number of a trace: one or more ASCII digits, nothing else (no
/// sign, no spaces, not empty), or the line is malformed.
///
/// A digit string past `u64` saturates to `u64::MAX`: every operation treats
/// a number past `u64` as it treats `u64::MAX`, "past any capacity, more than
/// any count". So `release`, `is_free` and `is_released` of such an address
/// are out of range, `new` and `open` of such a size are too many blocks,
/// `reserve` of such a count finds too few free blocks (`none`), a trailer
/// address of such a value is past the limit, and an `ewah_decode` capacity
/// of such a value is no bound.
fn number(text: &str) -> Result<u64, Malformed> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!("{text:?} is not a number")));
    }
    // Digits only: the one way to fail is to be past u64.
    Ok(text.parse().unwrap_or(u64::MAX))
}

/// The reservation a trace names `rK`: `None` when no K-th reservation was
/// made so far (misuse, an error result), malformed when `text` is not `r`
/// followed by a number.
fn reservation(reservations: &[Reservation], text: &str) -> Result<Option<Reservation>, Malformed> {
    let k = text
        .strip_prefix('r')
        .ok_or_else(|| malformed(format!("{text:?} is not a reservation rK")))
        .and_then(number)?;
    Ok(usize::try_from(k)
        .ok()
        .and_then(|k| reservations.get(k).copied()))
}

/// The error result of `acquire` or `forfeit` of a reservation `name` that
/// was never made.
fn never_made(reservations: &[Reservation], name: &str) -> String {
    format!(
        "error: no reservation {name} was made ({} made so far in this trace)",
        reservations.len()
    )
}

fn list(text: &str) -> Result<Vec<u64>, Malformed> {
    if text == "-" {
        return Ok(Vec::new());
    }
    text.split(',').map(number).collect()
}

/// Hex a trace gives that is not bytes: bad input, which the replayer
/// answers with an `error` result (the line itself is well formed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad hex: {0}")]
pub struct BadHex(pub String);

/// Bytes of a lowercase or uppercase hex string; `-` is empty. Anything but
/// an even number of hex digits (`0-9`, `a-f`, `A-F`) is [`BadHex`].
pub fn hex_decode(text: &str) -> Result<Vec<u8>, BadHex> {
    if text == "-" {
        return Ok(Vec::new());
    }
    if let Some((i, c)) = text.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(BadHex(format!("{c:?} at byte {i} is not a hex digit")));
    }
    if !text.len().is_multiple_of(2) {
        return Err(BadHex(format!(
            "odd length {}: not a whole number of bytes",
            text.len()
        )));
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10, // only hex digits are left
    };
    Ok(text
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| digit(pair[0]) << 4 | digit(pair[1]))
        .collect())
}

/// Lowercase hex of `bytes`, `-` when empty.
pub fn hex_or_dash(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_string();
    }
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(text, "{b:02x}").expect("writing to a String cannot fail");
    }
    text
}

/// Little-endian words of `bytes`; a message when they are not a whole
/// number of 8-byte words.
fn words_of(bytes: &[u8]) -> Result<Vec<u64>, String> {
    if !bytes.len().is_multiple_of(8) {
        return Err(format!(
            "{} bytes is not a whole number of 8-byte words",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("chunks_exact(8)")))
        .collect())
}

fn bytes_of(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A difference between a trace and the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// What went wrong, as `expected X, got Y` or `malformed line: ...`.
    pub message: String,
}

/// Replays a whole trace and returns every problem; empty means it passed.
pub fn check(text: &str) -> Vec<Problem> {
    check_with(text, Parallelism::default())
}

/// [`check`], with `encode`, `open` and `reopen` run as `parallelism` says.
pub fn check_with(text: &str, parallelism: Parallelism<'static>) -> Vec<Problem> {
    let mut checker = Checker::new(parallelism);
    for line in lines(text) {
        checker.line(line);
    }
    checker.problems
}

/// [`check`] of a trace read from `reader` line by line (see [`read_lines`]
/// for `line_max`): the problems, in order, or the error that stopped the
/// reading.
pub fn check_reader(reader: impl BufRead, line_max: usize) -> io::Result<Vec<Problem>> {
    let mut checker = Checker::new(Parallelism::default());
    read_lines(reader, line_max, |line| match line {
        Ok(line) => checker.line(line),
        Err(problem) => checker.problems.push(problem),
    })?;
    Ok(checker.problems)
}

/// The replay of one trace under check: its replayer and the problems so
/// far.
struct Checker {
    replayer: Replayer,
    problems: Vec<Problem>,
}

impl Checker {
    fn new(parallelism: Parallelism<'static>) -> Self {
        Checker {
            replayer: Replayer::with_parallelism(parallelism),
            problems: Vec::new(),
        }
    }

    /// Runs `line` and records a problem if its result is not the recorded
    /// one.
    fn line(&mut self, line: Line<'_>) {
        match self.replayer.execute(line.op) {
            Ok(got) => {
                if !matches(line.expected, got.as_deref()) {
                    let show = |r: Option<&str>| r.unwrap_or("no result").to_string();
                    self.problems.push(Problem {
                        line: line.number,
                        message: format!(
                            "expected {}, got {}",
                            show(line.expected),
                            show(got.as_deref())
                        ),
                    });
                }
            }
            Err(e) => self.problems.push(Problem {
                line: line.number,
                message: e.to_string(),
            }),
        }
    }
}

/// Replays a whole trace and returns each operation line with our own result.
pub fn replay(text: &str) -> Vec<Result<String, Problem>> {
    let mut replayer = Replayer::new();
    lines(text)
        .map(|line| replay_line(&mut replayer, line))
        .collect()
}

/// [`replay`] of a trace read from `reader` line by line (see
/// [`read_lines`] for `line_max`), handing each result to `each` as it
/// comes; `Err` when reading fails.
pub fn replay_reader(
    reader: impl BufRead,
    line_max: usize,
    mut each: impl FnMut(Result<String, Problem>),
) -> io::Result<()> {
    let mut replayer = Replayer::new();
    read_lines(reader, line_max, |line| {
        each(line.and_then(|line| replay_line(&mut replayer, line)));
    })
}

/// The operation of `line` and our result, as `replay` prints it.
fn replay_line(replayer: &mut Replayer, line: Line<'_>) -> Result<String, Problem> {
    match replayer.execute(line.op) {
        Ok(Some(got)) => Ok(format!("{} => {got}", line.op)),
        Ok(None) => Ok(line.op.to_string()),
        Err(e) => Err(Problem {
            line: line.number,
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_rules() {
        assert!(matches(Some("error"), Some("error: x")));
        assert!(!matches(Some("error"), Some("5")));
        assert!(!matches(None, Some("error: x")));
        assert!(matches(None, None));
        assert!(!matches(Some("5"), Some("6")));
    }

    #[test]
    fn malformed_lines_are_reported_not_panics() {
        let problems = check("new 10\nreserve x => none\nacquire r9 => 1\nfly => 1\nencode 1 2\newah_decode 2 abc => -\n");
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6]);
        // `acquire r9` (never made) and `ewah_decode 2 abc` (bad hex) are
        // executed: error results, which mismatch the expectations written.
        let malformed: Vec<usize> = problems
            .iter()
            .filter(|p| p.message.starts_with("malformed line"))
            .map(|p| p.line)
            .collect();
        assert_eq!(malformed, [2, 4, 5]);
        for line in [3, 6] {
            let message = &problems.iter().find(|p| p.line == line).unwrap().message;
            assert!(message.contains(", got error"), "line {line}: {message}");
        }
    }

    /// Lines that stay malformed: not a number, not a reservation name,
    /// missing or extra arguments, an operation before `new`.
    #[test]
    fn lines_that_stay_malformed() {
        for line in [
            "release 1",
            "new -1",
            "new +5",
            "new 1e30",
            "new 0x10",
            "new",
            "new 1 2",
            "ewah_encode",
            "ewah_decode 4",
            "ewah_decode x 00",
            "open 4096 - - -",
            "open 4096 - - x -",
            "open 4096 - - 1,,2 -",
            "open 4096 00 00 -1 -",
        ] {
            assert_malformed(line, &format!("{line} => error\n"));
        }
        for line in [
            "acquire x",
            "acquire r",
            "acquire r-1",
            "acquire r+1",
            "acquire 0",
            "forfeit rx",
            "acquire r0 r1",
            "release",
            "release -1",
            "release +1",
            "release 1.0",
            "is_free 9999999999999999999999x",
            "reserve 1e30",
            "reserve",
            "reopen 1,a -",
            "reserve_extent",
            "reserve_extent -1",
            "acquire_extent 3",
            "acquire_extent r0 r1",
            "release_range 1",
            "release_range 1 2 3",
            "release_range 1 x",
            "largest_extent 1",
        ] {
            assert_malformed(line, &format!("new 10\n{line} => error\n"));
        }
    }

    /// `trace`, whose last line is `line`, has one problem: that line is
    /// malformed.
    fn assert_malformed(line: &str, trace: &str) {
        let problems = check(trace);
        assert_eq!(problems.len(), 1, "{line}");
        assert!(
            problems[0].message.starts_with("malformed line"),
            "{line}: {problems:?}"
        );
    }

    /// Rule 1: `acquire rK` / `forfeit rK` of a reservation never made is
    /// misuse, an error result that changes nothing.
    #[test]
    fn a_reservation_never_made_is_an_error_result() {
        let problems = check(
            "new 10\n\
             acquire r3 => error\n\
             counts => free=10 acquired=0 released=0 reservations=0\n\
             forfeit r0 => error\n\
             counts => free=10 acquired=0 released=0 reservations=0\n\
             reserve 2 => r0 0 2\n\
             acquire r1 => error\n\
             forfeit r1 => error\n\
             acquire r99999999999999999999999 => error\n\
             counts => free=10 acquired=0 released=0 reservations=1\n\
             acquire r0 => 1\n\
             forfeit r0\n\
             reserve 1 => r1 0 2\n\
             acquire r1 => 2\n\
             acquire r2 => error\n\
             counts => free=8 acquired=2 released=0 reservations=1\n",
        );
        assert_eq!(problems, []);
        let mut replayer = Replayer::new();
        replayer.execute("new 10").unwrap();
        let got = replayer.execute("acquire r3").unwrap().unwrap();
        assert!(got.starts_with("error: no reservation r3"), "{got}");
    }

    /// Rule 2: a digit string past u64 is u64::MAX, and the operation's own
    /// rules decide.
    #[test]
    fn numbers_past_u64_are_u64_max() {
        assert_eq!(number("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(number("18446744073709551616"), Ok(u64::MAX));
        assert_eq!(
            number("99999999999999999999999999999999999999"),
            Ok(u64::MAX)
        );
        assert_eq!(number("000000000000000000000000000042"), Ok(42));
        assert!(number("").is_err());
        assert!(number("+1").is_err());
        assert!(number("-1").is_err());
        assert!(number("1 ").is_err());
        let problems = check(
            "new 99999999999999999999 => error\n\
             new 1000000000000000000000 => error\n\
             new 4096\n\
             reserve 18446744073709551616 => none\n\
             reserve 1000000000000000000000000000000 => none\n\
             reserve 2 => r0 0 2\n\
             acquire r0 => 1\n\
             forfeit r0\n\
             release 18446744073709551616 => error\n\
             is_free 99999999999999999999999 => error\n\
             is_released 99999999999999999999999 => error\n\
             counts => free=4095 acquired=1 released=0 reservations=0\n\
             open 18446744073709551616 - - - - => error\n\
             open 4096 - - 18446744073709551616 - => error\n\
             open 4096 - - - 1,99999999999999999999 => error\n\
             reopen 99999999999999999999 - => error\n\
             counts => free=4095 acquired=1 released=0 reservations=0\n\
             is_free 1 => false\n\
             ewah_decode 99999999999999999999999 0000000001000000ff00000000000000 => ff00000000000000\n\
             ewah_decode 99999999999999999999999 - => -\n",
        );
        assert_eq!(problems, []);
        // The `release` error is the one of any address past the capacity.
        let mut replayer = Replayer::new();
        replayer.execute("new 10").unwrap();
        assert_eq!(
            replayer.execute("release 18446744073709551616"),
            replayer.execute("release 18446744073709551615")
        );
    }

    /// Rule 3: bad hex and bytes that are not whole words are error results;
    /// a failed `open` leaves the current set.
    #[test]
    fn bad_hex_is_an_error_result() {
        let problems = check(
            "ewah_encode 01 => error\n\
             ewah_encode 00000000000000 => error\n\
             ewah_encode 000000000000000000 => error\n\
             ewah_encode 0 => error\n\
             ewah_encode zz => error\n\
             ewah_encode +f => error\n\
             ewah_encode 0000000000000000 => 0200000000000000\n\
             ewah_decode 4 0g => error\n\
             ewah_decode 4 abc => error\n\
             ewah_decode 4 -- => error\n\
             ewah_decode 4 0000000001000000FF00000000000000 => ff00000000000000\n\
             new 4096\n\
             reserve 2 => r0 0 2\n\
             acquire r0 => 1\n\
             forfeit r0\n\
             open 4096 0 - - - => error\n\
             counts => free=4095 acquired=1 released=0 reservations=0\n\
             open 4096 - 0x - - => error\n\
             open 4096 00000000010000000a00000000000000 0000000001000000010000000000000g - - => error\n\
             is_free 1 => false\n\
             encode => acquired=00000000010000000100000000000000 released=-\n",
        );
        assert_eq!(problems, []);
        let mut replayer = Replayer::new();
        let got = replayer.execute("ewah_encode 01").unwrap().unwrap();
        assert!(got.contains("whole number of 8-byte words"), "{got}");
        let got = replayer.execute("ewah_decode 4 0g").unwrap().unwrap();
        assert!(got.starts_with("error: bad hex"), "{got}");
    }

    /// Rule 4: any whitespace around `=>`, runs of whitespace inside a
    /// result, CRLF and trailing whitespace.
    #[test]
    fn whitespace_around_and_inside_results() {
        let problems = check("new 10\t=>\tx\n");
        assert_eq!(problems.len(), 1); // `new` has no result: a mismatch
        assert!(
            problems[0].message.starts_with("expected x"),
            "{problems:?}"
        );
        let problems = check(
            "new 10\r\n\
             reserve 2\t=>\tr0 0 2\r\n\
             acquire r0   =>   1 \t\r\n\
             acquire r0=>2\n\
             forfeit r0\t \n\
             counts => free=8  acquired=2\treleased=0   reservations=0\r\n\
             highest\t\t=> acquired=2  released=none\n\
             \tis_free\t1 => false\n\
             release 9\t=>\terror\n\
             release 9 =>error: anything\n",
        );
        assert_eq!(problems, []);
        // Whitespace is not dropped inside a word.
        let problems = check("new 10\ncounts => free=1 0 acquired=0 released=0 reservations=0\n");
        assert_eq!(problems.len(), 1);
        assert!(matches(
            Some("free=1  acquired=0"),
            Some("free=1 acquired=0")
        ));
        assert!(!matches(
            Some("free=1acquired=0"),
            Some("free=1 acquired=0")
        ));
        assert!(!matches(Some(""), None));
        assert!(!matches(None, Some("")));
    }

    #[test]
    fn sizes_that_cannot_be_allocated_are_error_lines() {
        // On the old main this aborted the process in the allocator.
        let problems =
            check("new 18446744073709551615 => error\nopen 4611686018427387904 - - - - => error\n");
        assert_eq!(problems, []);
    }

    #[test]
    fn ewah_decode_prints_the_described_words() {
        // One literal word into a capacity of 4: the stream describes one
        // word, and only that is printed (`docs/trace-format.md`).
        let problems = check(
            "ewah_decode 4 0000000001000000ff00000000000000 => ff00000000000000\n\
             ewah_decode 4 - => -\n\
             ewah_decode 4 0000000000000000 => -\n\
             ewah_decode 3 0600000000000000 => 000000000000000000000000000000000000000000000000\n",
        );
        assert_eq!(problems, []);
        // A stream of a few bytes may describe more than can be printed.
        let mut replayer = Replayer::new();
        let huge = replayer
            .execute("ewah_decode 18446744073709551615 feffffff00000000feffffff00000000")
            .unwrap()
            .unwrap();
        assert!(huge.starts_with("error"), "{huge}");
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// No text makes the replayer panic: lines of known and unknown
        /// operations with arguments of every shape.
        #[test]
        fn any_text_replays_without_a_panic(
            lines in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "new", "reserve", "acquire", "forfeit", "release",
                        "checkpoint_not_durable", "checkpoint_durable", "counts",
                        "highest", "is_free", "is_released", "encode", "reopen", "open",
                        "ewah_encode", "ewah_decode", "fly", "", "#",
                    ]),
                    proptest::collection::vec(
                        proptest::prop_oneof![
                            (0u64..20_000).prop_map(|n| n.to_string()),
                            any::<u64>().prop_map(|n| n.to_string()),
                            (0usize..30).prop_map(|k| format!("r{k}")),
                            "[0-9a-f]{0,40}".prop_map(String::from),
                            "[0-9,]{0,12}".prop_map(String::from),
                            Just("-".to_string()),
                            ".{0,6}".prop_map(String::from),
                        ],
                        0..6,
                    ),
                    proptest::option::of(".{0,10}".prop_map(String::from)),
                ),
                1..40,
            )
        ) {
            let text: String = lines
                .into_iter()
                .map(|(op, args, result)| {
                    let mut line = format!("{op} {}", args.join(" "));
                    if let Some(result) = result {
                        line.push_str(" => ");
                        line.push_str(&result);
                    }
                    line + "\n"
                })
                .collect();
            // Debug builds check invariants in O(capacity): keep sets small
            // unless the size cannot be allocated at all.
            let sane = text.lines().all(|l| {
                let mut words = l.split_whitespace();
                match words.next() {
                    Some("new") | Some("open") => words
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .is_none_or(|n| n <= 1 << 20 || n >= 1 << 56),
                    _ => true,
                }
            });
            if sane {
                let _ = check(&text);
                let _ = replay(&text);
            }
        }
    }

    /// A trace read line by line checks as the same text at once.
    #[test]
    fn a_reader_checks_as_the_text_does() {
        let text =
            "# comment\r\nnew 10\r\n\nreserve 2 => r0 0 3\nacquire r0 => 1\nfly\nacquire r0 => 2";
        let whole = check(text);
        assert_eq!(whole.len(), 2, "{whole:?}");
        assert_eq!(check_reader(text.as_bytes(), 64).unwrap(), whole);
        let mut replayed = Vec::new();
        replay_reader(text.as_bytes(), 64, |line| replayed.push(line)).unwrap();
        assert_eq!(replayed, replay(text));
    }

    /// A line of `line_max` bytes is read; one byte more is a problem that
    /// ends the reading, whatever follows (`/dev/zero` has no newline).
    #[test]
    fn a_line_longer_than_the_bound_stops_the_reading() {
        let fits = format!("new {}\n", "0".repeat(12) + "10"); // "new 00000000000010"
        let line_max = fits.len() - 1;
        let text = format!("{fits}counts => free=10 acquired=0 released=0 reservations=0\n");
        // The second line is longer than the first: bound it at the first.
        let problems = check_reader(text.as_bytes(), line_max).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, 2);
        assert!(
            problems[0]
                .message
                .contains(&format!("longer than {line_max} bytes")),
            "{problems:?}"
        );
        // At the second line's length both pass.
        assert_eq!(check_reader(text.as_bytes(), 64).unwrap(), []);
        // A line with no end stops at line_max + 1 bytes, read from a
        // source that never ends.
        let mut endless = io::BufReader::new(io::repeat(b'0'));
        let problems = check_reader(&mut endless, 1000).unwrap();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 1);
        let mut lines = Vec::new();
        replay_reader(io::BufReader::new(io::repeat(b'x')), 10, |l| lines.push(l)).unwrap();
        assert!(matches!(&lines[..], [Err(p)] if p.message.contains("longer than 10")));
        // The newline does not count: a line of exactly line_max bytes,
        // and a last line without a newline.
        assert_eq!(check_reader("new 10\nnew 10".as_bytes(), 6).unwrap(), []);
        assert_eq!(
            check_reader("new 10\nnew 100".as_bytes(), 6).unwrap().len(),
            1
        );
    }

    #[test]
    fn the_line_bound_holds_two_encodings_of_the_grid_it_names() {
        let blocks: u64 = (1 << 31) - (1 << 24);
        let words = usize::try_from(blocks / 64).unwrap();
        let hex = 2 * ewah::encode_size_max(words);
        assert!(2 * hex + (7 << 20) <= LINE_BYTES_MAX);
        // The longest ewah_decode line: its result and the encoding it decodes.
        assert!(
            16 * DECODE_WORDS_MAX + 2 * ewah::encode_size_max(DECODE_WORDS_MAX) < LINE_BYTES_MAX
        );
    }

    #[test]
    fn lines_that_are_not_utf8_are_malformed_and_reading_goes_on() {
        let mut text = b"new 10\nreserve 2 => r0 0 2\n".to_vec();
        text.extend_from_slice(b"acq\xffuire r0 => 1\n");
        text.extend_from_slice(b"acquire r0 => 1\n");
        let problems = check_reader(&text[..], 64).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, 3);
        assert!(
            problems[0].message.starts_with("malformed line: not UTF-8")
                && problems[0].message.contains("column 4"),
            "{problems:?}"
        );
    }

    #[test]
    fn mismatches_name_both_results() {
        let problems = check("new 10\nreserve 2 => r0 0 3\n");
        assert_eq!(
            problems,
            [Problem {
                line: 2,
                message: "expected r0 0 3, got r0 0 2".into()
            }]
        );
    }

    #[test]
    fn hex_round_trip() {
        assert!(hex_decode("é1").is_err()); // not a char boundary: an error, not a panic
        assert_eq!(hex_or_dash(&hex_decode("00ff10").unwrap()), "00ff10");
        assert_eq!(hex_decode("-").unwrap(), Vec::<u8>::new());
        assert_eq!(hex_or_dash(&[]), "-");
    }
}
