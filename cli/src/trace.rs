//! Conformance traces (SPEC section 4): parse a line, run it against a
//! [`FreeSet`], and format the result exactly as the reference does.
//!
//! One [`Replayer`] holds the state of one trace file: the current set and the
//! reservations by their trace number `rK`. It never panics on text: a line it
//! cannot read is a [`Malformed`] value naming what was wrong, and misuse of the
//! set is a result that starts with `error`, as in the traces.

use std::fmt::Write as _;

use freeset::ewah;
use freeset::{FreeSet, Parallelism, Reservation};

/// A line the replayer cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed line: {0}")]
pub struct Malformed(pub String);

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// One operation line, split at ` => `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number in the file.
    pub number: usize,
    /// The operation and its arguments.
    pub op: &'a str,
    /// The recorded result, if the line has one.
    pub expected: Option<&'a str>,
}

/// The operation lines of a trace: comments and blank lines are skipped.
pub fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (op, expected) = match line.split_once(" => ") {
            Some((op, expected)) => (op.trim(), Some(expected.trim())),
            None => (line, None),
        };
        Some(Line {
            number: i + 1,
            op,
            expected,
        })
    })
}

/// Whether `got` (our result, `None` for an operation without one) matches
/// `expected` (the recorded one). A recorded `error...` accepts any error.
pub fn matches(expected: Option<&str>, got: Option<&str>) -> bool {
    match (expected, got) {
        (Some(e), Some(g)) if e.starts_with("error") => g.starts_with("error"),
        (e, g) => e == g,
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
        let mut args = op.split_ascii_whitespace();
        let name = args.next().ok_or_else(|| malformed("empty operation"))?;
        let args: Vec<&str> = args.collect();
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(malformed(format!(
                    "{name} takes {n} argument(s), got {}",
                    args.len()
                )))
            }
        };
        let result: Result<Option<String>, freeset::Error> = match name {
            "new" => {
                arity(1)?;
                FreeSet::new(number(args[0])?).map(|set| {
                    self.set = Some(set);
                    None
                })
            }
            "ewah_encode" => {
                arity(1)?;
                let words = words_of(&hex_decode(args[0])?)?;
                return Ok(Some(hex_or_dash(&ewah::encode(&words))));
            }
            "ewah_decode" => {
                arity(2)?;
                let capacity = usize::try_from(number(args[0])?)
                    .map_err(|_| malformed("capacity too large"))?;
                let bytes = hex_decode(args[1])?;
                // The decoded words (those the stream describes), after a
                // check that they are few enough to print.
                return Ok(Some(match ewah::validate(&bytes, capacity) {
                    Ok(described) if described > DECODE_WORDS_MAX => format!(
                        "error: the stream describes {described} words, more than the replayer prints ({DECODE_WORDS_MAX})"
                    ),
                    Ok(_) => match ewah::decode(&bytes, capacity) {
                        Ok(words) => hex_or_dash(&bytes_of(&words)),
                        Err(e) => format!("error: {e}"),
                    },
                    Err(e) => format!("error: {e}"),
                }));
            }
            "open" => {
                arity(5)?;
                let limit = number(args[0])?;
                let acquired = hex_decode(args[1])?;
                let released = hex_decode(args[2])?;
                let (trailer_acquired, trailer_released) = (list(args[3])?, list(args[4])?);
                let parallelism = self.parallelism;
                FreeSet::unopened(limit)
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
                    })
            }
            _ => {
                let set = self
                    .set
                    .as_mut()
                    .ok_or_else(|| malformed(format!("{name} before new")))?;
                match name {
                    "reserve" => {
                        arity(1)?;
                        set.reserve(number(args[0])?)
                            .map(|reservation| {
                                reservation.map_or_else(
                                    || "none".to_string(),
                                    |r| {
                                        self.reservations.push(r);
                                        format!(
                                            "r{} {} {}",
                                            self.reservations.len() - 1,
                                            r.block_base(),
                                            r.block_count()
                                        )
                                    },
                                )
                            })
                            .map(Some)
                    }
                    "acquire" => {
                        arity(1)?;
                        let r = reservation(&self.reservations, args[0])?;
                        set.acquire(&r)
                            .map(|a| Some(a.map_or("none".to_string(), |a| a.to_string())))
                    }
                    "forfeit" => {
                        arity(1)?;
                        let r = reservation(&self.reservations, args[0])?;
                        set.forfeit(&r).map(|()| None)
                    }
                    "release" => {
                        arity(1)?;
                        set.release(number(args[0])?).map(|()| None)
                    }
                    "checkpoint_not_durable" => {
                        arity(0)?;
                        set.checkpoint_not_durable().map(|()| None)
                    }
                    "checkpoint_durable" => {
                        arity(0)?;
                        set.checkpoint_durable().map(|()| None)
                    }
                    "counts" => {
                        arity(0)?;
                        Ok(Some(format!(
                            "free={} acquired={} released={} reservations={}",
                            set.count_free(),
                            set.count_acquired(),
                            set.count_released(),
                            set.count_reservations()
                        )))
                    }
                    "highest" => {
                        arity(0)?;
                        let show = |a: Option<u64>| a.map_or("none".to_string(), |a| a.to_string());
                        Ok(Some(format!(
                            "acquired={} released={}",
                            show(set.highest_acquired()),
                            show(set.highest_released())
                        )))
                    }
                    "is_free" => {
                        arity(1)?;
                        set.is_free(number(args[0])?).map(|b| Some(b.to_string()))
                    }
                    "is_released" => {
                        arity(1)?;
                        set.is_released(number(args[0])?)
                            .map(|b| Some(b.to_string()))
                    }
                    "encode" => {
                        arity(0)?;
                        set.encode_with(self.parallelism).map(|(a, r)| {
                            Some(format!(
                                "acquired={} released={}",
                                hex_or_dash(&a),
                                hex_or_dash(&r)
                            ))
                        })
                    }
                    "reopen" => {
                        arity(2)?;
                        let (trailer_acquired, trailer_released) = (list(args[0])?, list(args[1])?);
                        let parallelism = self.parallelism;
                        set.encode_with(parallelism)
                            .and_then(|(acquired, released)| {
                                let mut fresh = FreeSet::unopened(set.limit())?;
                                fresh.open_with(
                                    &acquired,
                                    &released,
                                    &trailer_acquired,
                                    &trailer_released,
                                    parallelism,
                                )?;
                                Ok(fresh)
                            })
                            .map(|fresh| {
                                *set = fresh;
                                None
                            })
                    }
                    _ => return Err(malformed(format!("unknown operation {name:?}"))),
                }
            }
        };
        Ok(result.unwrap_or_else(|e| Some(format!("error: {e}"))))
    }
}

fn number(text: &str) -> Result<u64, Malformed> {
    text.parse()
        .map_err(|_| malformed(format!("{text:?} is not a number")))
}

fn reservation(reservations: &[Reservation], text: &str) -> Result<Reservation, Malformed> {
    text.strip_prefix('r')
        .and_then(|k| k.parse::<usize>().ok())
        .and_then(|k| reservations.get(k).copied())
        .ok_or_else(|| malformed(format!("{text:?} names no reservation made so far")))
}

fn list(text: &str) -> Result<Vec<u64>, Malformed> {
    if text == "-" {
        return Ok(Vec::new());
    }
    text.split(',').map(number).collect()
}

/// Bytes of a lowercase or uppercase hex string; `-` is empty.
pub fn hex_decode(text: &str) -> Result<Vec<u8>, Malformed> {
    if text == "-" {
        return Ok(Vec::new());
    }
    if !text.len().is_multiple_of(2) {
        return Err(malformed(format!("hex of odd length {}", text.len())));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| malformed(format!("bad hex at character {i}")))
        })
        .collect()
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

fn words_of(bytes: &[u8]) -> Result<Vec<u64>, Malformed> {
    if !bytes.len().is_multiple_of(8) {
        return Err(malformed(format!(
            "{} bytes is not a whole number of words",
            bytes.len()
        )));
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
    let mut replayer = Replayer::with_parallelism(parallelism);
    let mut problems = Vec::new();
    for line in lines(text) {
        match replayer.execute(line.op) {
            Ok(got) => {
                if !matches(line.expected, got.as_deref()) {
                    let show = |r: Option<&str>| r.unwrap_or("no result").to_string();
                    problems.push(Problem {
                        line: line.number,
                        message: format!(
                            "expected {}, got {}",
                            show(line.expected),
                            show(got.as_deref())
                        ),
                    });
                }
            }
            Err(e) => problems.push(Problem {
                line: line.number,
                message: e.to_string(),
            }),
        }
    }
    problems
}

/// Replays a whole trace and returns each operation line with our own result.
pub fn replay(text: &str) -> Vec<Result<String, Problem>> {
    let mut replayer = Replayer::new();
    lines(text)
        .map(|line| match replayer.execute(line.op) {
            Ok(Some(got)) => Ok(format!("{} => {got}", line.op)),
            Ok(None) => Ok(line.op.to_string()),
            Err(e) => Err(Problem {
                line: line.number,
                message: e.to_string(),
            }),
        })
        .collect()
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
        assert!(problems
            .iter()
            .all(|p| p.message.starts_with("malformed line")));
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
        // word, and only that is printed (SPEC section 4).
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
