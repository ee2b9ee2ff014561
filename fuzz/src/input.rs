//! Byte layouts of the `decode`, `open` and `roundtrip` inputs.
//!
//! Each is a small header followed by the bytes of one or two EWAH streams,
//! so that the fuzzer mutates streams directly, a seed is an encoding taken
//! from a conformance trace, and a crash file reads as "capacity, cuts,
//! stream". Every byte string is a valid input: fields past the end of the
//! data read as zero (or empty), lengths are clamped to what is left.
//! Integers are little-endian.

/// Reads fields from the front of the data; past its end, zeros.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> u8 {
        let (&b, rest) = self.data.split_first().unwrap_or((&0, &[]));
        self.data = rest;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer if the data ends).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// `u8` count, then that many bytes.
    fn counted_bytes(&mut self) -> &'a [u8] {
        let n = self.u8();
        self.bytes(usize::from(n))
    }

    /// `u8` count, then that many `u16` values.
    fn counted_u16s(&mut self) -> Vec<u16> {
        let n = self.u8();
        let mut values = Vec::new();
        for _ in 0..n {
            if self.data.is_empty() {
                break;
            }
            values.push(self.u16());
        }
        values
    }

    fn rest(self) -> &'a [u8] {
        self.data
    }
}

fn push_counted_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    assert!(bytes.len() <= 255, "at most 255 cuts");
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn push_counted_u16s(out: &mut Vec<u8>, values: &[u16]) {
    assert!(values.len() <= 255, "at most 255 addresses");
    out.push(values.len() as u8);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// `decode` input:
///
/// | bytes | field |
/// | --- | --- |
/// | 2 | capacity in words, `0..=65535` (the memory bound: 512 KiB) |
/// | 1 + k | `k`, then `k` chunk lengths for the streaming decoder (cycled; 0 is an empty chunk; all zeros: one chunk) |
/// | rest | the EWAH stream |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeInput<'a> {
    pub capacity: usize,
    pub cuts: &'a [u8],
    pub stream: &'a [u8],
}

impl<'a> DecodeInput<'a> {
    pub fn parse(data: &'a [u8]) -> Self {
        let mut r = Reader { data };
        let capacity = usize::from(r.u16());
        let cuts = r.counted_bytes();
        DecodeInput {
            capacity,
            cuts,
            stream: r.rest(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = u16::try_from(self.capacity)
            .expect("a capacity of at most 65535 words")
            .to_le_bytes()
            .to_vec();
        push_counted_bytes(&mut out, self.cuts);
        out.extend_from_slice(self.stream);
        out
    }
}

/// `open` input:
///
/// | bytes | field |
/// | --- | --- |
/// | 2 | limit, raw (see [`crate::limit_of`]: `1..=LIMIT_MAX`) |
/// | 1 | flags: bit 0 also abandons a streaming open halfway (drop) |
/// | 1 + k | `k`, then `k` chunk lengths for `open_stream` and the readers |
/// | 1 + 2n | `n`, then `n` acquired trailer addresses (`u16`) |
/// | 1 + 2m | `m`, then `m` released trailer addresses (`u16`) |
/// | 2 | length of the acquired stream (clamped to the bytes left) |
/// | rest | the acquired stream, then the released stream |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInput<'a> {
    pub limit_raw: u16,
    pub flags: u8,
    pub cuts: &'a [u8],
    pub trailer_acquired: Vec<u16>,
    pub trailer_released: Vec<u16>,
    pub acquired: &'a [u8],
    pub released: &'a [u8],
}

impl<'a> OpenInput<'a> {
    pub fn parse(data: &'a [u8]) -> Self {
        let mut r = Reader { data };
        let limit_raw = r.u16();
        let flags = r.u8();
        let cuts = r.counted_bytes();
        let trailer_acquired = r.counted_u16s();
        let trailer_released = r.counted_u16s();
        let acquired_len = usize::from(r.u16());
        let acquired = r.bytes(acquired_len);
        OpenInput {
            limit_raw,
            flags,
            cuts,
            trailer_acquired,
            trailer_released,
            acquired,
            released: r.rest(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.limit_raw.to_le_bytes().to_vec();
        out.push(self.flags);
        push_counted_bytes(&mut out, self.cuts);
        push_counted_u16s(&mut out, &self.trailer_acquired);
        push_counted_u16s(&mut out, &self.trailer_released);
        let len = u16::try_from(self.acquired.len()).expect("an acquired stream under 64 KiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(self.acquired);
        out.extend_from_slice(self.released);
        out
    }
}

/// `roundtrip` input:
///
/// | bytes | field |
/// | --- | --- |
/// | 2 | limit, raw (see [`crate::limit_of`]) |
/// | 2 | a second limit, raw, to open the encoding at another size |
/// | 1 | release stride: every `s`-th acquired block is released (0: none) |
/// | 1 + k | `k`, then `k` encoder chunk lengths (`b < 8`: first a chunk of `b` bytes, which must be refused; then `8 + b`) |
/// | 1 + m | `m`, then `m` read lengths for `into_reader` (0 reads 1 byte) |
/// | rest | the words: an EWAH stream when it decodes (naively) into the capacity, raw little-endian words otherwise |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundtripInput<'a> {
    pub limit_raw: u16,
    pub other_limit_raw: u16,
    pub release_stride: u8,
    pub chunk_sizes: &'a [u8],
    pub read_sizes: &'a [u8],
    pub words: &'a [u8],
}

impl<'a> RoundtripInput<'a> {
    pub fn parse(data: &'a [u8]) -> Self {
        let mut r = Reader { data };
        RoundtripInput {
            limit_raw: r.u16(),
            other_limit_raw: r.u16(),
            release_stride: r.u8(),
            chunk_sizes: r.counted_bytes(),
            read_sizes: r.counted_bytes(),
            words: r.rest(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.limit_raw.to_le_bytes().to_vec();
        out.extend_from_slice(&self.other_limit_raw.to_le_bytes());
        out.push(self.release_stride);
        push_counted_bytes(&mut out, self.chunk_sizes);
        push_counted_bytes(&mut out, self.read_sizes);
        out.extend_from_slice(self.words);
        out
    }

    /// The `capacity_words` words of the set: the stream decoded (naively),
    /// or the raw words, zero-padded or cut to the capacity.
    pub fn words_for(&self, capacity_words: usize) -> Vec<u64> {
        let mut words = crate::naive::decode(self.words, capacity_words).unwrap_or_else(|_| {
            self.words
                .chunks_exact(8)
                .take(capacity_words)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        });
        words.resize(capacity_words, 0);
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip() {
        let d = DecodeInput {
            capacity: 300,
            cuts: &[3, 0, 9],
            stream: &[1, 2, 3, 4, 5],
        };
        assert_eq!(DecodeInput::parse(&d.to_bytes()), d);
        let o = OpenInput {
            limit_raw: 4097,
            flags: 1,
            cuts: &[5],
            trailer_acquired: vec![1, 2, 3],
            trailer_released: vec![7],
            acquired: &[9; 16],
            released: &[8; 8],
        };
        assert_eq!(OpenInput::parse(&o.to_bytes()), o);
        let t = RoundtripInput {
            limit_raw: 64,
            other_limit_raw: 5000,
            release_stride: 3,
            chunk_sizes: &[0, 4, 200],
            read_sizes: &[1, 3],
            words: &[1; 24],
        };
        assert_eq!(RoundtripInput::parse(&t.to_bytes()), t);
    }

    #[test]
    fn short_data_reads_as_zeros() {
        assert_eq!(
            DecodeInput::parse(&[5]),
            DecodeInput {
                capacity: 5,
                cuts: &[],
                stream: &[]
            }
        );
        let o = OpenInput::parse(&[1, 0, 0, 200, 1]);
        assert_eq!(o.cuts, &[1]);
        assert!(o.acquired.is_empty() && o.released.is_empty());
    }
}
