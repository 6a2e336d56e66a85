//! A small ZIP writer for layers: entries whose data is already compressed (or stored) and whose
//! CRC-32 and sizes are known before their header is written, so it only ever appends, and can
//! hash the archive (SHA-256 and CRC-64) as it goes instead of reading it back.
//!
//! The layout is what the zip crate wrote for us before (and what readers have accepted since):
//! local headers without data descriptors, version made by Unix, "version needed" 1.0 for stored
//! files and links and 2.0 for deflated files and directories (4.5 with ZIP64), the UTF-8 flag only
//! on names that are not ASCII, the Unix mode in the high half of the external attributes, one DOS
//! timestamp for everything, no extra fields, no comments. ZIP64 records appear only where a size,
//! an offset or the entry count does not fit the classic fields, as the format requires.

use std::io::{self, Write};

use zip::DateTime;

use super::digest::{Digests, Hasher};

/// The largest value the classic 32-bit fields hold; it also marks "see the ZIP64 record".
const MAX32: u64 = 0xffff_ffff;
/// The same for the 16-bit entry counts.
const MAX16: u64 = 0xffff;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;

/// Version made by: Unix (3) in the high byte.
const UNIX: u16 = 3 << 8;
const VERSION_ZIP64: u16 = 45;

pub const STORED: u16 = 0;
pub const DEFLATED: u16 = 8;

// The mode bits are defined once, beside the reader.
pub use super::read::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

/// One entry's header fields.
pub struct Header<'a> {
    /// The full name, with a trailing `/` for directories.
    pub name: &'a str,
    /// `STORED` or `DEFLATED`.
    pub method: u16,
    pub crc32: u32,
    pub compressed: u64,
    pub size: u64,
    /// Unix mode with the file type bits (`S_IFREG | 0o644`, ...).
    pub mode: u32,
}

/// What the local header and the central record of one entry share.
struct Fields {
    version: u16,
    flags: u16,
    name_len: u16,
}

/// Writes a ZIP to `W` front to back, hashing every byte.
pub struct ZipWriter<W: Write> {
    out: W,
    hasher: Hasher,
    /// Bytes written so far: the offset of whatever comes next.
    offset: u64,
    /// The central directory, built as entries are added (~100 bytes an entry).
    central: Vec<u8>,
    entries: u64,
    date: u16,
    time: u16,
    /// Compressed bytes still owed by the last entry started.
    owed: u64,
}

impl<W: Write> ZipWriter<W> {
    pub fn new(out: W, mtime: DateTime) -> ZipWriter<W> {
        ZipWriter {
            out,
            hasher: Hasher::new(),
            offset: 0,
            central: Vec::new(),
            entries: 0,
            date: mtime.datepart(),
            time: mtime.timepart(),
            owed: 0,
        }
    }

    /// Write an entry's local header; exactly `header.compressed` bytes of data must follow
    /// through `data`.
    pub fn start(&mut self, header: &Header) -> io::Result<()> {
        assert_eq!(self.owed, 0, "previous entry is incomplete");
        let name_len = u16::try_from(header.name.len())
            .map_err(|_| io::Error::other(format!("name too long for a ZIP: {}", header.name)))?;
        let big_sizes = header.size >= MAX32 || header.compressed >= MAX32;
        let base_version = if header.method == DEFLATED || header.mode & S_IFMT == S_IFDIR {
            20
        } else {
            10
        };
        let fields = Fields {
            version: if big_sizes || self.offset >= MAX32 {
                VERSION_ZIP64
            } else {
                base_version
            },
            flags: if header.name.is_ascii() { 0 } else { 1 << 11 },
            name_len,
        };
        let local = self.local_header(header, &fields, big_sizes);
        self.add_central(header, &fields);
        self.entries += 1;
        self.emit(&local)?;
        self.owed = header.compressed;
        Ok(())
    }

    /// The local header of an entry that starts at the current offset.
    fn local_header(&self, header: &Header, fields: &Fields, big_sizes: bool) -> Vec<u8> {
        let name = header.name.as_bytes();
        let mut local = Vec::with_capacity(30 + name.len() + 20);
        put32(&mut local, LOCAL_HEADER);
        put16(&mut local, fields.version);
        put16(&mut local, fields.flags);
        put16(&mut local, header.method);
        put16(&mut local, self.time);
        put16(&mut local, self.date);
        put32(&mut local, header.crc32);
        if big_sizes {
            // Both sizes go in the ZIP64 field of a local header, or neither does.
            put32(&mut local, MAX32 as u32);
            put32(&mut local, MAX32 as u32);
            put16(&mut local, fields.name_len);
            put16(&mut local, 20);
            local.extend_from_slice(name);
            put16(&mut local, ZIP64_EXTRA);
            put16(&mut local, 16);
            put64(&mut local, header.size);
            put64(&mut local, header.compressed);
        } else {
            put32(&mut local, header.compressed as u32);
            put32(&mut local, header.size as u32);
            put16(&mut local, fields.name_len);
            put16(&mut local, 0);
            local.extend_from_slice(name);
        }
        local
    }

    /// Add the entry's record to the central directory. Only the fields that overflow move to
    /// the ZIP64 field, in the order the format fixes.
    fn add_central(&mut self, header: &Header, fields: &Fields) {
        let mut extra = Vec::new();
        let field = |value: u64, extra: &mut Vec<u8>| -> u32 {
            if value >= MAX32 {
                put64(extra, value);
                MAX32 as u32
            } else {
                value as u32
            }
        };
        let size = field(header.size, &mut extra);
        let compressed = field(header.compressed, &mut extra);
        let offset = field(self.offset, &mut extra);
        let c = &mut self.central;
        put32(c, CENTRAL_HEADER);
        put16(c, UNIX | fields.version);
        put16(c, fields.version);
        put16(c, fields.flags);
        put16(c, header.method);
        put16(c, self.time);
        put16(c, self.date);
        put32(c, header.crc32);
        put32(c, compressed);
        put32(c, size);
        put16(c, fields.name_len);
        put16(
            c,
            if extra.is_empty() {
                0
            } else {
                4 + extra.len() as u16
            },
        );
        put16(c, 0); // comment
        put16(c, 0); // disk
        put16(c, 0); // internal attributes
        put32(c, header.mode << 16);
        put32(c, offset);
        c.extend_from_slice(header.name.as_bytes());
        if !extra.is_empty() {
            put16(c, ZIP64_EXTRA);
            put16(c, extra.len() as u16);
            c.extend_from_slice(&extra);
        }
    }

    /// Write (part of) the current entry's data.
    pub fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        let len = bytes.len() as u64;
        if len > self.owed {
            return Err(io::Error::other(
                "more data than the entry's header announced",
            ));
        }
        self.owed -= len;
        self.emit(bytes)
    }

    /// Write the central directory and the end records; returns the writer, the archive's size
    /// and its digests.
    pub fn finish(mut self) -> io::Result<(W, u64, Digests)> {
        if self.owed != 0 {
            return Err(io::Error::other("an entry's data is incomplete"));
        }
        let start = self.offset;
        let central = std::mem::take(&mut self.central);
        self.emit(&central)?;
        let size = central.len() as u64;
        let mut end = Vec::with_capacity(22 + 56 + 20);
        if self.entries >= MAX16 || size >= MAX32 || start >= MAX32 {
            let zip64_end = self.offset;
            put32(&mut end, ZIP64_END_OF_CENTRAL_DIRECTORY);
            put64(&mut end, 44); // size of the rest of this record
            put16(&mut end, UNIX | VERSION_ZIP64);
            put16(&mut end, VERSION_ZIP64);
            put32(&mut end, 0); // this disk
            put32(&mut end, 0); // disk of the central directory
            put64(&mut end, self.entries);
            put64(&mut end, self.entries);
            put64(&mut end, size);
            put64(&mut end, start);
            put32(&mut end, ZIP64_LOCATOR);
            put32(&mut end, 0); // disk of the ZIP64 end record
            put64(&mut end, zip64_end);
            put32(&mut end, 1); // disks
        }
        put32(&mut end, END_OF_CENTRAL_DIRECTORY);
        put16(&mut end, 0);
        put16(&mut end, 0);
        put16(&mut end, self.entries.min(MAX16) as u16);
        put16(&mut end, self.entries.min(MAX16) as u16);
        put32(&mut end, size.min(MAX32) as u32);
        put32(&mut end, start.min(MAX32) as u32);
        put16(&mut end, 0); // comment
        self.emit(&end)?;
        self.out.flush()?;
        Ok((self.out, self.offset, self.hasher.finish()))
    }

    /// `data` without hashing: 4 GiB of SHA-256 would dominate a unit test's time.
    #[cfg(test)]
    fn data_unhashed(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.owed -= bytes.len() as u64;
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn put64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read};

    /// A sink that keeps the first MiB and whatever comes after 4 GiB, and only counts what is
    /// between, so that archives past 4 GiB can be written in a test.
    struct Sparse {
        head: Vec<u8>,
        tail: Vec<u8>,
        len: u64,
    }

    impl Write for Sparse {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let room = (1usize << 20).saturating_sub(self.head.len());
            self.head.extend_from_slice(&buf[..room.min(buf.len())]);
            let skip = (4u64 << 30).saturating_sub(self.len).min(buf.len() as u64) as usize;
            self.tail.extend_from_slice(&buf[skip..]);
            self.len += buf.len() as u64;
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        super::super::deflate::Deflater::new(6)
            .whole(data)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn the_zip_crate_reads_what_we_write() {
        let text = b"hello hello hello hello hello hello".repeat(100);
        let packed = deflate(&text);
        let mut w = ZipWriter::new(Vec::new(), DateTime::default());
        let entries: [(&str, u16, &[u8], u32, usize); 4] = [
            ("dir/", STORED, b"", S_IFDIR | 0o755, 0),
            ("dir/a.txt", DEFLATED, &packed, S_IFREG | 0o644, text.len()),
            ("dir/é", STORED, b"xyz", S_IFREG | 0o755, 3),
            ("link", STORED, b"dir/a.txt", S_IFLNK | 0o777, 9),
        ];
        for (name, method, data, mode, size) in entries {
            let crc32 = match name {
                "dir/a.txt" => crc32fast::hash(&text),
                _ => crc32fast::hash(data),
            };
            w.start(&Header {
                name,
                method,
                crc32,
                compressed: data.len() as u64,
                size: size as u64,
                mode,
            })
            .unwrap();
            w.data(data).unwrap();
        }
        let (bytes, size, digests) = w.finish().unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(digests, Digests::of_bytes(&bytes));
        let mut zip = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(zip.len(), 4);
        let mut got = String::new();
        zip.by_name("dir/a.txt")
            .unwrap()
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got.as_bytes(), &text[..]);
        let e = zip.by_name("dir/é").unwrap();
        assert_eq!(e.unix_mode(), Some(S_IFREG | 0o755));
        drop(e);
        assert!(zip.by_name("link").unwrap().is_symlink());
        assert!(zip.by_name("dir/").unwrap().is_dir());
    }

    #[test]
    fn data_must_match_the_header() {
        let mut w = ZipWriter::new(Vec::new(), DateTime::default());
        let header = Header {
            name: "a",
            method: STORED,
            crc32: 0,
            compressed: 2,
            size: 2,
            mode: S_IFREG | 0o644,
        };
        w.start(&header).unwrap();
        assert!(w.data(b"abc").is_err());
        w.data(b"a").unwrap();
        assert!(w.finish().is_err());
    }

    /// Past 4 GiB the classic size and offset fields overflow into ZIP64 records. The data is
    /// counted, not kept: the records are read back from the archive's head and tail.
    #[test]
    fn zip64_records_appear_only_where_needed() {
        let mut w = ZipWriter::new(
            Sparse {
                head: Vec::new(),
                tail: Vec::new(),
                len: 0,
            },
            DateTime::default(),
        );
        let chunk = vec![0u8; 1 << 20];
        let big = 4u64 << 30 | 5;
        let entry = |name, size| Header {
            name,
            method: STORED,
            crc32: 0,
            compressed: size,
            size,
            mode: S_IFREG | 0o644,
        };
        w.start(&entry("small", 0)).unwrap();
        w.start(&entry("big", big)).unwrap();
        let mut left = big;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            w.data_unhashed(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        // Its local header is past 4 GiB.
        w.start(&entry("after", 0)).unwrap();
        let (sink, size, _) = w.finish().unwrap();
        assert_eq!(sink.len, size);
        let (head, tail) = (&sink.head, &sink.tail);
        let tail_at = 4u64 << 30;

        // "small" is classic; "big"'s local header has ZIP64 sizes in a 20-byte extra field.
        assert_eq!(u16_at(head, 4), 10);
        assert_eq!(u16_at(head, 28), 0);
        let big_at = 30 + 5;
        assert_eq!(u16_at(head, big_at + 4), 45);
        assert_eq!(u32_at(head, big_at + 18), u32::MAX);
        assert_eq!(u32_at(head, big_at + 22), u32::MAX);
        assert_eq!(u16_at(head, big_at + 28), 20);
        assert_eq!(u16_at(head, big_at + 33), 1);
        assert_eq!(u64_at(head, big_at + 37), big);
        assert_eq!(u64_at(head, big_at + 45), big);

        // The end: classic record pointing to the ZIP64 one through the locator.
        let eocd = tail.len() - 22;
        assert_eq!(u32_at(tail, eocd), END_OF_CENTRAL_DIRECTORY);
        assert_eq!(u16_at(tail, eocd + 10), 3);
        assert_eq!(u32_at(tail, eocd + 16), u32::MAX, "directory offset");
        let locator = eocd - 20;
        assert_eq!(u32_at(tail, locator), ZIP64_LOCATOR);
        let zip64_end = (u64_at(tail, locator + 8) - tail_at) as usize;
        assert_eq!(u32_at(tail, zip64_end), ZIP64_END_OF_CENTRAL_DIRECTORY);
        assert_eq!(u64_at(tail, zip64_end + 32), 3);
        let central = (u64_at(tail, zip64_end + 48) - tail_at) as usize;

        // Central entries: only the overflowing fields are in the ZIP64 field.
        let mut at = central;
        let mut seen = Vec::new();
        for _ in 0..3 {
            assert_eq!(u32_at(tail, at), CENTRAL_HEADER);
            let name_len = usize::from(u16_at(tail, at + 28));
            let extra_len = usize::from(u16_at(tail, at + 30));
            let name = String::from_utf8(tail[at + 46..at + 46 + name_len].to_vec()).unwrap();
            let extra = &tail[at + 46 + name_len..at + 46 + name_len + extra_len];
            match name.as_str() {
                "small" => assert_eq!(extra_len, 0),
                "big" => {
                    assert_eq!(u32_at(tail, at + 20), u32::MAX);
                    assert_eq!(u32_at(tail, at + 24), u32::MAX);
                    assert_eq!(u32_at(tail, at + 42), 30 + 5);
                    assert_eq!(u16_at(extra, 0), ZIP64_EXTRA);
                    assert_eq!(u16_at(extra, 2), 16);
                    assert_eq!((u64_at(extra, 4), u64_at(extra, 12)), (big, big));
                }
                "after" => {
                    assert_eq!(u16_at(tail, at + 6), 45);
                    assert_eq!(u32_at(tail, at + 20), 0);
                    assert_eq!(u32_at(tail, at + 42), u32::MAX);
                    assert_eq!(u16_at(extra, 2), 8);
                    assert!(u64_at(extra, 4) > big);
                }
                other => panic!("{other}"),
            }
            seen.push(name);
            at += 46 + name_len + extra_len;
        }
        assert_eq!(seen, ["small", "big", "after"]);
    }

    #[test]
    fn many_entries_get_a_zip64_end_record_others_read() {
        let mut w = ZipWriter::new(Vec::new(), DateTime::default());
        let count = 70_000;
        for i in 0..count {
            w.start(&Header {
                name: &format!("f{i}"),
                method: STORED,
                crc32: 0,
                compressed: 0,
                size: 0,
                mode: S_IFREG | 0o644,
            })
            .unwrap();
        }
        let (bytes, _, _) = w.finish().unwrap();
        let zip = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        assert_eq!(zip.len(), count);
        assert_eq!(zip.name_for_index(count - 1).unwrap().unwrap(), "f69999");
        // The classic end record says "see ZIP64" for the count only.
        let end = &bytes[bytes.len() - 22..];
        assert_eq!(&end[8..12], &[0xff; 4]);
        assert_ne!(&end[16..20], &[0xff; 4]);
    }
}
