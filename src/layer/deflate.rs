//! Deflate for the packer, with libdeflate: whole files in one call, and big files as pieces of a
//! fixed size compressed independently (in parallel) that concatenate into one valid stream.
//!
//! libdeflate compresses better than zlib at the same level (on a real Python layer, level 6 is
//! ~1.2% smaller than Info-ZIP's and ~2.5% smaller than zlib-rs's) with ~25% less CPU than
//! zlib-rs, but it only compresses whole buffers into complete streams: the last block of every
//! call is marked final (BFINAL), and a decoder stops there. A piece that is not the file's last
//! is therefore fixed up after compression: its final block is found by walking the stream's block
//! structure (`final_block`), its BFINAL bit cleared, and an empty stored block appended, which
//! ends the piece on a byte boundary, as zlib's sync flush does, so the next piece's first block
//! can follow it directly. Each piece is compressed without the previous one as a dictionary
//! (libdeflate has none); on 1 MiB pieces that costs ~0.3%.
//!
//! Data that cannot be compressed (bytes that already are: wheels, jars, archives, media) costs
//! libdeflate as much time as any other, ~11 ms a MiB, to end up stored anyway. `incompressible`
//! recognises it in well under 1 ms a MiB (a fraction of that for everything else) and it is
//! stored straight away; see there for what it may cost in size.
//!
//! The bytes depend only on the input, the level and libdeflate's version (pinned by Cargo.lock),
//! never on which thread compressed what or in which order.

use libdeflater::{CompressionLvl, Compressor};

/// Size of the pieces big files are cut into, fixed so the output cannot depend on anything else.
pub const PIECE: usize = 1 << 20;

/// Bytes a piece may grow by when its final block is turned into a sync-flush ending.
const FLUSH_MARKER: usize = 5;

/// One compression thread's compressor and output buffer, reused from job to job.
pub struct Deflater {
    compressor: Compressor,
    out: Vec<u8>,
    scanner: Scanner,
}

impl Deflater {
    /// `level` 0-12 as libdeflate counts (0 stores, 1-9 as zlib's, 10-12 slower and smaller);
    /// values outside are clamped.
    pub fn new(level: i64) -> Deflater {
        let level = level.clamp(0, 12) as i32;
        let level = CompressionLvl::new(level).expect("level is in libdeflate's range");
        Deflater {
            compressor: Compressor::new(level),
            out: Vec::new(),
            scanner: Scanner::new(),
        }
    }

    /// Compress `data` as one complete raw deflate stream; `None` when that is not smaller than
    /// `data` (the caller stores the file instead, as Info-ZIP does).
    pub fn whole(&mut self, data: &[u8]) -> Option<&[u8]> {
        if data.is_empty() || incompressible(data) {
            return None;
        }
        let n = self.compress(data, 0)?;
        (n < data.len()).then(|| &self.out[..n])
    }

    /// Compress one piece of a big file. Unless it is the `last`, the result ends with an empty
    /// non-final stored block instead of a final block, so that pieces concatenate.
    pub fn piece(&mut self, data: &[u8], last: bool) -> &[u8] {
        if incompressible(data) {
            self.out.clear();
            stored_blocks(data, last, &mut self.out);
            return &self.out;
        }
        let n = if last {
            self.compress(data, 0)
        } else {
            self.compress(data, FLUSH_MARKER)
                .and_then(|n| continue_after(&mut self.scanner, &mut self.out, n))
        };
        match n {
            Some(n) => &self.out[..n],
            // libdeflate's output is always a valid stream, so this is unreachable; should it
            // happen anyway, stored blocks are still correct and just as deterministic.
            None => {
                debug_assert!(false, "libdeflate's output could not be continued");
                self.out.clear();
                stored_blocks(data, last, &mut self.out);
                &self.out
            }
        }
    }

    /// Compress into `self.out`, leaving `spare` bytes of room after the stream.
    fn compress(&mut self, data: &[u8], spare: usize) -> Option<usize> {
        let bound = self.compressor.deflate_compress_bound(data.len());
        if self.out.len() < bound + spare {
            self.out.resize(bound + spare, 0);
        }
        self.compressor
            .deflate_compress(data, &mut self.out[..bound])
            .ok()
            .filter(|&n| n > 0)
    }
}

/// Turn the complete stream in `buf[..n]` into one that continues: clear its final block's BFINAL
/// bit and append an empty non-final stored block (3 zero bits, zero padding to a byte boundary,
/// then LEN 0x0000 and NLEN 0xffff). `buf` has at least `FLUSH_MARKER` bytes of room after `n`.
/// Returns the new length.
fn continue_after(scanner: &mut Scanner, buf: &mut [u8], n: usize) -> Option<usize> {
    let (start, end) = final_block(scanner, &buf[..n])?;
    buf[start / 8] &= !(1u8 << (start % 8));
    let mut len = n;
    let used = end % 8;
    if used != 0 {
        // The final byte's bits past the stream are padding; make sure they are zero, as the
        // stored block's header expects.
        buf[len - 1] &= (1u8 << used) - 1;
    }
    // The 3-bit header fits in the padding when at least 3 bits are left; otherwise it takes (or
    // spills into) one more byte, whose remaining bits are the alignment padding.
    if used == 0 || used > 5 {
        buf[len] = 0;
        len += 1;
    }
    buf[len..len + 4].copy_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    Some(len + 4)
}

/// Whether deflate would leave `data` practically as big as it is, judged from the two things it
/// exploits: skewed byte frequencies (order-0 entropy, what Huffman coding of literals saves) and
/// repeated strings within its 32 KiB window (what matches save). Both must be negligible:
/// entropy within 0.01 bit of 8 per byte, and `few_repeats`. Deflate's own saving on such data is
/// then below ~0.4%, and mostly nothing (libdeflate stores random bytes too). Inputs under 64 KiB
/// are left to libdeflate: short ones cost little and their statistics are too noisy.
fn incompressible(data: &[u8]) -> bool {
    const MIN: usize = 64 << 10;
    if data.len() < MIN {
        return false;
    }
    // Most data is plainly compressible: a sample of 4 KiB in every 32 KiB shows it cheaply
    // (random 4 KiB samples measure ~7.95 bits a byte; code and text 4-6.5).
    let mut sample = [0u32; 256];
    for block in data.chunks(32 << 10) {
        count_bytes(&block[..block.len().min(4 << 10)], &mut sample);
    }
    if entropy(&sample) < 7.5 {
        return false;
    }
    let mut all = [0u32; 256];
    count_bytes(data, &mut all);
    entropy(&all) >= 7.99 && few_repeats(data)
}

fn count_bytes(data: &[u8], counts: &mut [u32; 256]) {
    // Four tables break the dependency between equal neighbouring bytes.
    let mut c = [[0u32; 256]; 4];
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        c[0][usize::from(q[0])] += 1;
        c[1][usize::from(q[1])] += 1;
        c[2][usize::from(q[2])] += 1;
        c[3][usize::from(q[3])] += 1;
    }
    for &b in quads.remainder() {
        c[0][usize::from(b)] += 1;
    }
    for (i, total) in counts.iter_mut().enumerate() {
        *total += c[0][i] + c[1][i] + c[2][i] + c[3][i];
    }
}

/// Order-0 entropy in bits per byte.
fn entropy(counts: &[u32; 256]) -> f64 {
    let n: f64 = counts.iter().map(|&c| f64::from(c)).sum();
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether repeats, what deflate's matches feed on, are negligible in `data`: fewer than 1 in 500
/// of the sampled positions starts a 4-byte string seen in the 32 KiB before it.
///
/// The sample is the *anchors*, bytes whose low six bits are zero: 1 in 64 positions in the
/// near-random data this runs on, found eight at a time (sparse enough that the loop over a
/// word's anchors is mostly skipped, which branch prediction rewards). Being chosen by content
/// alone, the anchors of a repeated string are the repeats of the original's, so a repeat is
/// seen wherever it lies. Each anchor's string is checked against the last one with the same hash
/// (a matcher without chains), which can miss repeats but never invents one. Measured on 1 MiB
/// pieces of real compressed files (jars, wheels, layer ZIPs, .gz, .png): below this share,
/// libdeflate saved at most 0.4%; pieces it saved more on had several times the share.
fn few_repeats(data: &[u8]) -> bool {
    const WINDOW: usize = 32 << 10;
    const HASH_BITS: u32 = 13;
    const LOW_SIX_BITS: u64 = 0x3f3f_3f3f_3f3f_3f3f;
    const SEVEN_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut last = vec![0u32; 1 << HASH_BITS];
    let (mut anchors_seen, mut repeats) = (0usize, 0usize);
    for (word_index, word) in data.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        // Per byte, the low six bits plus 0x7f set the high bit exactly when they are not all
        // zero (no carry reaches the next byte), so this marks the anchors among the eight bytes.
        let low = word & LOW_SIX_BITS;
        let mut anchors = !((low + SEVEN_BITS) | low) & HIGH_BITS;
        while anchors != 0 {
            let i = word_index * 8 + (anchors.trailing_zeros() / 8) as usize;
            anchors &= anchors - 1;
            let Some(key) = data.get(i..i + 4) else { break };
            anchors_seen += 1;
            let slot = (u32::from_le_bytes(key.try_into().expect("4 bytes"))
                .wrapping_mul(0x9e37_79b1)
                >> (32 - HASH_BITS)) as usize;
            let candidate = last[slot] as usize;
            last[slot] = i as u32 + 1;
            if candidate > 0
                && i - (candidate - 1) <= WINDOW
                && data[candidate - 1..candidate + 3] == *key
            {
                repeats += 1;
            }
        }
    }
    anchors_seen > 0 && repeats * 500 < anchors_seen
}

/// `data` as stored (uncompressed) deflate blocks, the last one final only if `last`.
fn stored_blocks(data: &[u8], last: bool, out: &mut Vec<u8>) {
    let mut pieces = data.chunks(0xffff).peekable();
    if pieces.peek().is_none() {
        out.extend_from_slice(&[u8::from(last), 0x00, 0x00, 0xff, 0xff]);
    }
    while let Some(piece) = pieces.next() {
        let is_final = last && pieces.peek().is_none();
        let len = piece.len() as u16;
        out.push(u8::from(is_final));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(piece);
    }
}

/// LSB-first bit reader over a deflate stream; reading past the end yields zero bits (and is
/// caught by the callers' position checks).
struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load into `buf`.
    next: usize,
    buf: u64,
    /// Valid bits in `buf`; bits above them are either zero or already the right ones.
    count: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Bits<'a> {
        Bits {
            data,
            next: 0,
            buf: 0,
            count: 0,
        }
    }

    /// Make at least 56 bits available (libdeflate's branch-free refill).
    #[inline]
    fn refill(&mut self) {
        if let Some(word) = self.data.get(self.next..self.next + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            self.buf |= word << self.count;
            self.next += ((63 - self.count) >> 3) as usize;
            self.count |= 56;
        } else {
            while self.count <= 56 {
                let byte = self.data.get(self.next).copied().unwrap_or(0);
                self.buf |= u64::from(byte) << self.count;
                self.next += 1;
                self.count += 8;
            }
        }
    }

    #[inline]
    fn peek(&self, n: u32) -> u32 {
        (self.buf & ((1u64 << n) - 1)) as u32
    }

    #[inline]
    fn consume(&mut self, n: u32) {
        self.buf >>= n;
        self.count -= n;
    }

    /// Read `n` <= 32 bits; needs a refill beforehand.
    #[inline]
    fn take(&mut self, n: u32) -> u32 {
        let v = self.peek(n);
        self.consume(n);
        v
    }

    /// Bits consumed so far.
    fn position(&self) -> usize {
        self.next * 8 - self.count as usize
    }

    /// Continue at bit `pos`.
    fn seek(&mut self, pos: usize) {
        self.next = pos / 8;
        self.buf = 0;
        self.count = 0;
        self.refill();
        self.consume((pos % 8) as u32);
    }
}

/// What a code's table entry says (bits 6-7); bits 0-5 are how many bits to consume, the
/// code itself and any extra bits that follow it (at most 15 + 13).
const INVALID: u16 = 0;
const LITERAL: u16 = 1 << 6;
const LENGTH: u16 = 2 << 6;
const END_OF_BLOCK: u16 = 3 << 6;
/// For distance codes: any valid one.
const DISTANCE: u16 = 1 << 6;

/// The longest code, and so the table size, deflate allows.
const MAX_CODE_BITS: u32 = 15;

/// A canonical Huffman code as a lookup table indexed by the next `bits` input bits. Each entry is
/// the symbol's class and the bits it takes with its extra bits, which is all that walking the
/// stream needs (the symbols' values are never used).
struct Table {
    entries: Box<[u16; 1 << MAX_CODE_BITS]>,
    mask: usize,
}

impl Table {
    fn new() -> Table {
        Table {
            entries: Box::new([INVALID; 1 << MAX_CODE_BITS]),
            mask: 0,
        }
    }

    /// From code lengths per symbol (RFC 1951, 3.2.2) and each symbol's entry without its code
    /// length; `None` if the lengths over-subscribe. Patterns no code starts with stay invalid.
    fn build(&mut self, lengths: &[u8], entry: impl Fn(usize) -> u16) -> Option<()> {
        let bits = u32::from(lengths.iter().copied().max().unwrap_or(0));
        let mut count = [0u16; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut next = [0u32; 16];
        let mut code = 0u32;
        for len in 1..16 {
            code = (code + u32::from(count[len - 1])) << 1;
            next[len] = code;
        }
        let size = 1usize << bits;
        self.mask = size - 1;
        self.entries[..size].fill(INVALID);
        for (symbol, &len) in lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let len = u32::from(len);
            let code = next[len as usize];
            next[len as usize] += 1;
            if code >= 1 << len {
                return None;
            }
            let value = entry(symbol);
            let value = if value == INVALID {
                INVALID
            } else {
                value + len as u16
            };
            // Codes are sent most significant bit first; the reader sees them reversed.
            let mut index = (code.reverse_bits() >> (32 - len)) as usize;
            while index < size {
                self.entries[index] = value;
                index += 1 << len;
            }
        }
        Some(())
    }

    /// The entry for the next input bits (not consumed).
    #[inline]
    fn lookup(&self, bits: &Bits) -> u16 {
        self.entries[bits.buf as usize & self.mask & ((1 << MAX_CODE_BITS) - 1)]
    }
}

const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

fn litlen_entry(symbol: usize) -> u16 {
    match symbol {
        0..=255 => LITERAL,
        256 => END_OF_BLOCK,
        257..=285 => LENGTH + u16::from(LENGTH_EXTRA[symbol - 257]),
        _ => INVALID,
    }
}

fn distance_entry(symbol: usize) -> u16 {
    DISTANCE_EXTRA
        .get(symbol)
        .map_or(INVALID, |&extra| DISTANCE + u16::from(extra))
}

/// The tables `final_block` decodes with (192 KiB), kept from piece to piece.
struct Scanner {
    litlen: Table,
    dist: Table,
    codes: Table,
}

impl Scanner {
    fn new() -> Scanner {
        Scanner {
            litlen: Table::new(),
            dist: Table::new(),
            codes: Table::new(),
        }
    }
}

/// Walk the blocks of the complete raw deflate stream `data` without producing output, and return
/// the bit offsets of the final block's header and of its end. `None` unless the stream is well
/// formed and its final block ends in its last byte.
fn final_block(scanner: &mut Scanner, data: &[u8]) -> Option<(usize, usize)> {
    let limit = data.len() * 8;
    let mut bits = Bits::new(data);
    let mut lengths = [0u8; 320];
    loop {
        bits.refill();
        let start = bits.position();
        if start >= limit {
            return None;
        }
        let is_final = bits.take(1) == 1;
        match bits.take(2) {
            0 => {
                let aligned = bits.position().next_multiple_of(8);
                bits.seek(aligned);
                let len = bits.take(16);
                let nlen = bits.take(16);
                if len != !nlen & 0xffff {
                    return None;
                }
                bits.seek(aligned + 32 + len as usize * 8);
            }
            1 => {
                lengths[..144].fill(8);
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                lengths[280..288].fill(8);
                scanner.litlen.build(&lengths[..288], litlen_entry)?;
                scanner.dist.build(&[5; 30], distance_entry)?;
                skip_symbols(&mut bits, scanner, data.len())?;
            }
            2 => {
                read_dynamic_codes(&mut bits, scanner, &mut lengths)?;
                skip_symbols(&mut bits, scanner, data.len())?;
            }
            _ => return None,
        }
        let end = bits.position();
        if end > limit {
            return None;
        }
        if is_final {
            return (end.div_ceil(8) == data.len()).then_some((start, end));
        }
    }
}

/// Read a dynamic block's code lengths (RFC 1951, 3.2.7) and build its literal/length and
/// distance tables into `scanner`. `lengths` is scratch space.
#[inline]
fn read_dynamic_codes(
    bits: &mut Bits,
    scanner: &mut Scanner,
    lengths: &mut [u8; 320],
) -> Option<()> {
    let hlit = bits.take(5) as usize + 257;
    let hdist = bits.take(5) as usize + 1;
    let hclen = bits.take(4) as usize + 4;
    let mut code_lengths = [0u8; 19];
    for &at in &CODE_LENGTH_ORDER[..hclen] {
        bits.refill();
        code_lengths[at] = bits.take(3) as u8;
    }
    // Entries carry the symbol itself here, in bits 6-10: code lengths 0-15 and the repeat codes
    // 16-18.
    let codes = &mut scanner.codes;
    codes.build(&code_lengths, |symbol| (symbol as u16 + 1) << 6)?;
    let all = &mut lengths[..hlit + hdist];
    let mut i = 0;
    while i < all.len() {
        bits.refill();
        let entry = codes.lookup(bits);
        if entry == INVALID {
            return None;
        }
        bits.consume(u32::from(entry & 63));
        let (value, repeat) = match ((entry >> 6) & 31) - 1 {
            len @ 0..=15 => (len as u8, 1),
            16 => (*all.get(i.checked_sub(1)?)?, 3 + bits.take(2) as usize),
            17 => (0, 3 + bits.take(3) as usize),
            _ => (0, 11 + bits.take(7) as usize),
        };
        all.get_mut(i..i + repeat)?.fill(value);
        i += repeat;
    }
    scanner.litlen.build(&all[..hlit], litlen_entry)?;
    scanner.dist.build(&all[hlit..], distance_entry)
}

/// Consume a Huffman block's symbols up to its end-of-block code, with the tables in `scanner`.
/// `None` on an invalid code or when the walk runs past the end of the `len` bytes.
///
/// A length with its extra bits is at most 20 bits, a distance 28, so 48 bits cover any one step.
/// Whether a symbol is a literal or a length is as good as random, so instead of branching on it,
/// every step looks up a distance too and consumes it only after a length (a mispredicted branch
/// costs more than the lookup).
#[inline]
fn skip_symbols(bits: &mut Bits, scanner: &Scanner, len: usize) -> Option<()> {
    let (litlen, dist) = (&scanner.litlen, &scanner.dist);
    let mut bad_distance = false;
    loop {
        if bits.count < 48 {
            bits.refill();
            if bits.next > len + 8 {
                return None;
            }
        }
        let entry = litlen.lookup(bits);
        bits.consume(u32::from(entry & 63));
        let kind = entry & (3 << 6);
        let after_length = u16::from(kind == LENGTH).wrapping_neg();
        let distance = dist.lookup(bits) & after_length;
        bad_distance |= after_length != 0 && distance == INVALID;
        bits.consume(u32::from(distance & 63));
        if kind == LITERAL || kind == LENGTH {
            continue;
        }
        if kind == END_OF_BLOCK && !bad_distance {
            return Some(());
        }
        return None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate(stream: &[u8]) -> Vec<u8> {
        let mut d = flate2::Decompress::new(false);
        let mut out = Vec::with_capacity(64 << 20);
        let status = d
            .decompress_vec(stream, &mut out, flate2::FlushDecompress::Finish)
            .unwrap();
        assert_eq!(status, flate2::Status::StreamEnd, "stream does not end");
        assert_eq!(d.total_in() as usize, stream.len(), "bytes after the end");
        out
    }

    fn pieces(data: &[u8], level: i64, size: usize) -> Vec<u8> {
        let mut d = Deflater::new(level);
        let mut out = Vec::new();
        let count = data.len().div_ceil(size).max(1);
        for i in 0..count {
            let piece = &data[(i * size).min(data.len())..((i + 1) * size).min(data.len())];
            out.extend_from_slice(d.piece(piece, i + 1 == count));
        }
        out
    }

    fn xorshift(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Text with long repeats, runs and rare bytes: every block type and code shape.
    fn mixed(len: usize) -> Vec<u8> {
        let noise = xorshift(7, len);
        let mut v = Vec::with_capacity(len);
        let words = [
            "import numpy as np\n",
            "def f(x):\n",
            "    return x\n",
            "\0\0\0\0",
        ];
        let mut i = 0;
        while v.len() < len {
            match noise[i % len] % 8 {
                0 => v.extend_from_slice(&noise[i % len..(i % len + 300).min(len)]),
                1 => v.extend(std::iter::repeat_n(noise[i % len], 700)),
                n => v.extend_from_slice(words[usize::from(n) % words.len()].as_bytes()),
            }
            i += 977;
        }
        v.truncate(len);
        v
    }

    #[test]
    fn pieces_concatenate_into_one_stream_at_every_level() {
        let data = mixed(3 << 20 | 12_345);
        for level in [0, 1, 4, 6, 9, 12] {
            for size in [PIECE, 100_000, 70_000] {
                let stream = pieces(&data, level, size);
                assert!(inflate(&stream) == data, "level {level}, pieces of {size}");
            }
        }
    }

    #[test]
    fn pieces_of_random_zeros_and_tiny_inputs_concatenate() {
        for data in [
            xorshift(3, 2 << 20),
            vec![0u8; 3 << 20],
            b"a".to_vec(),
            Vec::new(),
            xorshift(5, 40),
        ] {
            for size in [PIECE, 1, 7, 1000] {
                if data.len() / size > 5000 {
                    continue;
                }
                let stream = pieces(&data, 6, size);
                assert!(inflate(&stream) == data, "{} bytes by {size}", data.len());
            }
        }
    }

    #[test]
    fn every_padding_width_is_handled() {
        // The sync marker's layout depends on where in its last byte the final block ends;
        // many small inputs cover all eight cases.
        let mut seen = [false; 8];
        let mut d = Deflater::new(6);
        for len in 1..400 {
            let data = mixed(len);
            let n = d.compress(&data, FLUSH_MARKER).unwrap();
            let (_, end) = final_block(&mut Scanner::new(), &d.out[..n]).unwrap();
            seen[end % 8] = true;
            let stream = [d.piece(&data, false), &[0x03, 0x00]].concat();
            assert_eq!(inflate(&stream), data, "{len} bytes");
        }
        assert_eq!(seen, [true; 8]);
    }

    #[test]
    fn whole_declines_what_it_cannot_shrink() {
        let mut d = Deflater::new(6);
        assert!(d.whole(b"").is_none());
        assert!(d.whole(&xorshift(9, 100_000)).is_none());
        let text = mixed(100_000);
        let packed = d.whole(&text).unwrap().to_vec();
        assert!(packed.len() < text.len() / 2);
        assert_eq!(inflate(&packed), text);
    }

    #[test]
    fn only_data_deflate_cannot_shrink_is_stored_unexamined() {
        let random = xorshift(11, 1 << 20);
        assert!(incompressible(&random));
        assert!(incompressible(&random[..64 << 10]));
        // Too short to judge.
        assert!(!incompressible(&random[..(64 << 10) - 1]));
        assert!(!incompressible(&mixed(1 << 20)));
        assert!(!incompressible(&vec![0u8; 1 << 20]));
        // Random bytes with a little structure: every 8th byte zero, or one half text.
        let mut sparse = random.clone();
        sparse.iter_mut().step_by(8).for_each(|b| *b = 0);
        assert!(!incompressible(&sparse));
        let mut half = random.clone();
        half[..512 << 10].copy_from_slice(&mixed(512 << 10));
        assert!(!incompressible(&half));
        // Byte statistics of noise, but a 20 KiB block repeated: deflate shrinks it to a
        // fraction, which byte counts alone cannot see.
        let block = xorshift(12, 20 << 10);
        let repeated: Vec<u8> = block.iter().copied().cycle().take(1 << 20).collect();
        assert!(!incompressible(&repeated));
        let mut d = Deflater::new(6);
        assert!(d.whole(&repeated).unwrap().len() < repeated.len() / 10);
        // Repeats are found at any distance, not just multiples of a word.
        for period in [20_001, 31_999, 4_099] {
            let odd: Vec<u8> = random[..period]
                .iter()
                .copied()
                .cycle()
                .take(1 << 20)
                .collect();
            assert!(!incompressible(&odd), "period {period}");
        }
        // Some repeated stretches among noise, 2% of it, as deflate would use them.
        let mut some = random.clone();
        for at in (0..some.len() - 70_000).step_by(50_000) {
            some.copy_within(at..at + 1000, at + 7_777);
        }
        assert!(!incompressible(&some));
        // A few repeats among noise are not enough to be worth deflating.
        let mut copies = random.clone();
        for at in (0..copies.len() - 5000).step_by(200_000) {
            copies.copy_within(at..at + 300, at + 2000);
        }
        assert!(incompressible(&copies));

        // Stored, incompressible pieces still make one stream with deflated ones.
        let mut all = mixed(2 << 20);
        all.extend_from_slice(&random);
        all.extend_from_slice(&mixed(1 << 20));
        let stream = pieces(&all, 6, PIECE);
        assert!(inflate(&stream) == all);
        assert!(stream.len() > random.len());
        assert!(d.whole(&random).is_none());
    }

    #[test]
    fn malformed_streams_are_refused() {
        let mut d = Deflater::new(6);
        let data = mixed(200_000);
        let n = d.compress(&data, 0).unwrap();
        let good = d.out[..n].to_vec();
        let mut scanner = Scanner::new();
        assert!(final_block(&mut scanner, &good).is_some());
        assert!(final_block(&mut scanner, &good[..good.len() - 1]).is_none());
        assert!(final_block(&mut scanner, &[good.clone(), vec![0]].concat()).is_none());
        assert!(final_block(&mut scanner, &[]).is_none());
        assert!(final_block(&mut scanner, &[0x07]).is_none(), "block type 3");
        let mut out = Vec::new();
        stored_blocks(&data, false, &mut out);
        assert!(final_block(&mut scanner, &out).is_none(), "no final block");
        out.clear();
        stored_blocks(&data, true, &mut out);
        assert_eq!(inflate(&out), data);
    }
}
