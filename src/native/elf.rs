//! What the dynamic loader will ask of one ELF file: its machine, class and byte order, whether
//! it is loaded at all, its interpreter, SONAME, DT_NEEDED, RPATH/RUNPATH, the symbol versions it
//! requires (`.gnu.version_r`) and the ones it defines (`.gnu.version_d`).
//!
//! The dynamic section and version tables are found through the section headers, as readelf
//! does. A file stripped of its section headers (rare; `sstrip`) reads as having no dependencies
//! rather than failing.

use std::io::Read;
use std::ops::Range;

use object::elf;
use object::read::elf::SectionHeader;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Endianness, ReadRef};
use serde::Serialize;

/// The first four bytes of every ELF file.
pub const MAGIC: [u8; 4] = *b"\x7fELF";

/// Offset of the class byte (32- or 64-bit) in `e_ident`.
const EI_CLASS: usize = 4;
/// Offset of the byte-order byte in `e_ident`.
const EI_DATA: usize = 5;

/// Distinct DT_NEEDED libraries one file may name; real files name a few dozen at most.
pub const MAX_NEEDED: usize = 1024;
/// Distinct RPATH or RUNPATH folders one file may list.
pub const MAX_SEARCH_PATH: usize = 256;
/// Bytes of one library name or search-path entry (PATH_MAX).
pub const MAX_STRING: usize = 4096;
/// `Verneed`/`Verdef` entries, and their auxiliary entries, read from one file. glibc's own
/// libraries need a few dozen; the limit keeps a table of repeated entries from amplifying.
pub const MAX_VERSION_ENTRIES: usize = 8192;

/// The processor an ELF file was built for, as far as the gate cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    X86_64,
    Aarch64,
    I386,
    Arm,
    Other(u16),
}

impl Machine {
    fn from_e_machine(m: u16) -> Machine {
        match m {
            elf::EM_X86_64 => Machine::X86_64,
            elf::EM_AARCH64 => Machine::Aarch64,
            elf::EM_386 => Machine::I386,
            elf::EM_ARM => Machine::Arm,
            other => Machine::Other(other),
        }
    }

    pub fn name(self) -> String {
        match self {
            Machine::X86_64 => "x86_64".into(),
            Machine::Aarch64 => "aarch64".into(),
            Machine::I386 => "i386".into(),
            Machine::Arm => "arm".into(),
            Machine::Other(m) => format!("e_machine {m}"),
        }
    }
}

/// Whether the dynamic loader ever maps the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ElfKind {
    Executable,
    SharedObject,
    /// `.o` files and kernel modules: link inputs, never loaded by ld.so.
    Relocatable,
    Core,
    Other,
}

impl ElfKind {
    pub fn loadable(self) -> bool {
        matches!(self, ElfKind::Executable | ElfKind::SharedObject)
    }
}

/// Versions one file requires from one library (a `Verneed` entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionNeed {
    pub library: String,
    pub versions: Vec<String>,
}

/// Everything read from one ELF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    pub machine: Machine,
    pub bits: u8,
    pub big_endian: bool,
    pub kind: ElfKind,
    pub interpreter: Option<String>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub requires: Vec<VersionNeed>,
    /// Version names this file defines, without the base entry (which repeats the soname).
    pub defines: Vec<String>,
}

impl ElfInfo {
    /// "aarch64", or "32-bit i386", "big-endian aarch64": the wording of a wrong-machine finding.
    pub fn describe_machine(&self) -> String {
        let mut s = String::new();
        if self.bits != 64 {
            s.push_str(&format!("{}-bit ", self.bits));
        }
        if self.big_endian {
            s.push_str("big-endian ");
        }
        s.push_str(&self.machine.name());
        s
    }
}

/// What is wrong with an ELF identification (`e_ident`, the first 16 bytes), if anything: a
/// file that fails here is reported without reading the rest of it.
pub fn ident_error(ident: &[u8]) -> Option<String> {
    if ident.len() < 16 {
        return Some("not an ELF file".into());
    }
    match ident[EI_CLASS] {
        elf::ELFCLASS32 | elf::ELFCLASS64 => {}
        other => return Some(format!("unknown ELF class {other}")),
    }
    match ident[EI_DATA] {
        elf::ELFDATA2LSB | elf::ELFDATA2MSB => None,
        other => Some(format!("malformed ELF: unknown byte order {other}")),
    }
}

/// Parse an ELF file held in memory. The error says what was wrong, for the report.
pub fn parse(data: &[u8]) -> Result<ElfInfo, String> {
    if data.len() < 16 || data[..4] != MAGIC {
        return Err("not an ELF file".into());
    }
    match data[EI_CLASS] {
        elf::ELFCLASS32 => parse_as::<elf::FileHeader32<Endianness>, _>(data),
        elf::ELFCLASS64 => parse_as::<elf::FileHeader64<Endianness>, _>(data),
        other => Err(format!("unknown ELF class {other}")),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A string from the dynamic string table, within [`MAX_STRING`].
fn string(bytes: &[u8], what: &str) -> Result<String, String> {
    if bytes.len() > MAX_STRING {
        return Err(format!(
            "{what} of {} bytes, over the cap of {MAX_STRING}",
            bytes.len()
        ));
    }
    Ok(text(bytes))
}

/// Push `value` unless it is there already; `Err` past `cap` distinct values.
fn push_unique(
    list: &mut Vec<String>,
    seen: &mut std::collections::HashSet<String>,
    value: String,
    cap: usize,
    what: &str,
) -> Result<(), String> {
    if seen.contains(&value) {
        return Ok(());
    }
    if list.len() >= cap {
        return Err(format!("more than {cap} distinct {what}, over the cap"));
    }
    seen.insert(value.clone());
    list.push(value);
    Ok(())
}

/// RPATH/RUNPATH hold colon-separated lists; each DT_ entry may appear more than once.
fn push_dirs(
    list: &mut Vec<String>,
    seen: &mut std::collections::HashSet<String>,
    value: &[u8],
    what: &str,
) -> Result<(), String> {
    for d in text(value).split(':').filter(|d| !d.is_empty()) {
        if d.len() > MAX_STRING {
            return Err(format!("a {what} entry over {MAX_STRING} bytes"));
        }
        push_unique(
            list,
            seen,
            d.to_string(),
            MAX_SEARCH_PATH,
            &format!("{what} folders"),
        )?;
    }
    Ok(())
}

/// Why parsing stopped: object's own error, or one of our caps (with its own message).
enum Stop {
    Object(object::read::Error),
    Cap(String),
}

impl From<object::read::Error> for Stop {
    fn from(e: object::read::Error) -> Stop {
        Stop::Object(e)
    }
}

impl From<String> for Stop {
    fn from(e: String) -> Stop {
        Stop::Cap(e)
    }
}

fn parse_as<'d, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'d>>(
    data: R,
) -> Result<ElfInfo, String> {
    match parse_tables::<Elf, R>(data) {
        Ok(info) => Ok(info),
        Err(Stop::Object(e)) => Err(format!("malformed ELF: {e}")),
        Err(Stop::Cap(e)) => Err(format!("malformed ELF: {e}")),
    }
}

fn parse_tables<'d, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'d>>(
    data: R,
) -> Result<ElfInfo, Stop> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let kind = match header.e_type(endian) {
        elf::ET_EXEC => ElfKind::Executable,
        elf::ET_DYN => ElfKind::SharedObject,
        elf::ET_REL => ElfKind::Relocatable,
        elf::ET_CORE => ElfKind::Core,
        _ => ElfKind::Other,
    };
    let mut info = ElfInfo {
        machine: Machine::from_e_machine(header.e_machine(endian)),
        bits: if header.is_class_64() { 64 } else { 32 },
        big_endian: header.is_big_endian(),
        kind,
        interpreter: None,
        soname: None,
        needed: Vec::new(),
        rpath: Vec::new(),
        runpath: Vec::new(),
        requires: Vec::new(),
        defines: Vec::new(),
    };

    for ph in header.program_headers(endian, data)? {
        if let Some(interp) = ph.interpreter(endian, data)? {
            info.interpreter = Some(string(interp, "an interpreter path")?);
        }
    }

    let sections = header.sections(endian, data)?;
    if let Some((dynamic, link)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        let (mut needed, mut rpath, mut runpath) = Default::default();
        for d in dynamic {
            let Some(tag) = d.tag32(endian) else { continue };
            if tag == elf::DT_NULL {
                break;
            }
            let value = |d: &Elf::Dyn| -> Result<&'d [u8], Stop> {
                let offset: u64 = d.d_val(endian).into();
                u32::try_from(offset)
                    .ok()
                    .and_then(|o| strings.get(o).ok())
                    .ok_or_else(|| Stop::Cap("Invalid ELF dynamic string offset".into()))
            };
            match tag {
                elf::DT_NEEDED => {
                    let lib = string(value(d)?, "a DT_NEEDED name")?;
                    push_unique(
                        &mut info.needed,
                        &mut needed,
                        lib,
                        MAX_NEEDED,
                        "DT_NEEDED libraries",
                    )?;
                }
                elf::DT_SONAME => info.soname = Some(string(value(d)?, "a DT_SONAME")?),
                elf::DT_RPATH => push_dirs(&mut info.rpath, &mut rpath, value(d)?, "RPATH")?,
                elf::DT_RUNPATH => {
                    push_dirs(&mut info.runpath, &mut runpath, value(d)?, "RUNPATH")?
                }
                _ => {}
            }
        }
    }
    read_versions::<Elf, R>(&sections, endian, data, &mut info)?;
    Ok(info)
}

/// `.gnu.version_r` and `.gnu.version_d`, read with every entry visited once: entries linked
/// in a cycle or onto each other (`vna_next = 0` with a count left) end the walk as malformed,
/// and the number of entries read is capped.
fn read_versions<'d, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'d>>(
    sections: &object::read::elf::SectionTable<'d, Elf, R>,
    endian: Endianness,
    data: R,
    info: &mut ElfInfo,
) -> Result<(), Stop> {
    let mut seen: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut visit = |p: *const u8| -> Result<(), String> {
        if seen.len() >= MAX_VERSION_ENTRIES {
            return Err(format!(
                "more than {MAX_VERSION_ENTRIES} symbol-version entries, over the cap"
            ));
        }
        if !seen.insert(p as usize) {
            return Err("symbol-version entries overlap or loop".to_string());
        }
        Ok(())
    };
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((need, mut aux)) = needs.next()? {
            visit(need as *const _ as *const u8)?;
            let mut versions = Vec::new();
            let mut names = std::collections::HashSet::new();
            while let Some(a) = aux.next()? {
                visit(a as *const _ as *const u8)?;
                let v = string(a.name(endian, strings)?, "a version name")?;
                push_unique(
                    &mut versions,
                    &mut names,
                    v,
                    MAX_VERSION_ENTRIES,
                    "versions",
                )?;
            }
            info.requires.push(VersionNeed {
                library: string(need.file(endian, strings)?, "a library name")?,
                versions,
            });
        }
    }

    if let Some((mut defs, link)) = sections.gnu_verdef(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((def, mut aux)) = defs.next()? {
            visit(def as *const _ as *const u8)?;
            // The base definition names the file itself, not a version anyone can require.
            if def.vd_flags.get(endian) & elf::VER_FLG_BASE != 0 {
                continue;
            }
            if let Some(a) = aux.next()? {
                info.defines
                    .push(string(a.name(endian, strings)?, "a version name")?);
            }
        }
    }
    Ok(())
}

/// Bytes of an ELF file kept from the first read: all of any file up to this size (nearly every
/// one), the start of larger ones. Larger files are read a second time for the tables beyond.
pub const PREFIX: u64 = 64 << 20;
/// Bytes of the tables read from one ELF file (dynamic section, string and version tables).
pub const MAX_TABLES: u64 = 128 << 20;

/// The parts of one ELF file that were read, at their offsets; the rest was inflated and
/// dropped. The ELF parser reads through it as through the whole file; a read outside the
/// kept parts is an error.
pub struct Sparse {
    len: u64,
    chunks: Vec<(u64, Vec<u8>)>,
}

/// Sort, round out to 8-byte boundaries (so tables stay aligned in memory as in the file) and
/// merge `ranges`, clipped to `len`.
fn merged(mut ranges: Vec<Range<u64>>, len: u64) -> Vec<Range<u64>> {
    for r in &mut ranges {
        r.start = (r.start & !7).min(len);
        r.end = r.end.saturating_add(7).min(len).max(r.start);
    }
    ranges.retain(|r| !r.is_empty());
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

impl Sparse {
    /// Stream `reader` (a file of `len` bytes whose first `head.len()` bytes are `head` and
    /// were already taken from it), keeping the bytes in `ranges`. Reading stops after the last
    /// range.
    pub fn collect(
        head: &[u8],
        mut reader: impl Read,
        len: u64,
        ranges: Vec<Range<u64>>,
    ) -> std::io::Result<Sparse> {
        let ranges = merged(ranges, len);
        let mut chunks: Vec<(u64, Vec<u8>)> = ranges
            .iter()
            .map(|r| (r.start, Vec::with_capacity((r.end - r.start) as usize)))
            .collect();
        let end = ranges.last().map_or(0, |r| r.end);
        let mut keep = |pos: u64, bytes: &[u8]| {
            let here = pos..pos + bytes.len() as u64;
            for (r, (_, buf)) in ranges.iter().zip(chunks.iter_mut()) {
                let (from, to) = (r.start.max(here.start), r.end.min(here.end));
                if from < to {
                    buf.extend_from_slice(&bytes[(from - pos) as usize..(to - pos) as usize]);
                }
            }
        };
        keep(0, head);
        let mut pos = head.len() as u64;
        let mut buf = vec![0u8; 1 << 16];
        while pos < end {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            keep(pos, &buf[..n]);
            pos += n as u64;
        }
        Ok(Sparse { len, chunks })
    }

    fn covers(&self, r: &Range<u64>) -> bool {
        r.is_empty() || self.chunk(r.start, r.end - r.start).is_some()
    }

    fn chunk(&self, offset: u64, size: u64) -> Option<&[u8]> {
        let i = self.chunks.partition_point(|(start, _)| *start <= offset);
        let (start, data) = self.chunks.get(i.checked_sub(1)?)?;
        let from = usize::try_from(offset - start).ok()?;
        let to = from.checked_add(usize::try_from(size).ok()?)?;
        data.get(from..to)
    }
}

impl<'a> ReadRef<'a> for &'a Sparse {
    fn len(self) -> Result<u64, ()> {
        Ok(self.len)
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'a [u8], ()> {
        self.chunk(offset, size).ok_or(())
    }

    fn read_bytes_at_until(self, range: Range<u64>, delimiter: u8) -> Result<&'a [u8], ()> {
        let missing = ();
        let i = self
            .chunks
            .partition_point(|(start, _)| *start <= range.start);
        let (start, data) = self
            .chunks
            .get(i.checked_sub(1).ok_or(missing)?)
            .ok_or(missing)?;
        let from = usize::try_from(range.start - start).map_err(|_| missing)?;
        let to = usize::try_from(range.end.saturating_sub(*start))
            .unwrap_or(usize::MAX)
            .min(data.len());
        let bytes = data.get(from..to).ok_or(missing)?;
        match memchr(delimiter, bytes) {
            Some(n) => Ok(&bytes[..n]),
            None => Err(missing),
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == needle)
}

/// What to keep on the first read of an ELF file whose identification and header are `head`:
/// the start of the file, its program and section header tables, and the bytes just before the
/// section headers (where linkers put the section-name table).
pub fn first_ranges(head: &[u8], len: u64) -> Vec<Range<u64>> {
    let mut ranges = Vec::with_capacity(3);
    ranges.push(0..PREFIX.min(len));
    if let Some(h) = header_fields(head) {
        ranges.push(h.phoff..h.phoff.saturating_add(h.phsize));
        ranges.push(h.shoff.saturating_sub(64 << 10)..h.shoff.saturating_add(h.shsize));
    }
    ranges
}

struct HeaderFields {
    phoff: u64,
    phsize: u64,
    shoff: u64,
    shsize: u64,
}

/// The header table locations, read by hand from the first 64 bytes (object would need the
/// whole header to be in a ReadRef already; this is the same arithmetic).
fn header_fields(head: &[u8]) -> Option<HeaderFields> {
    let big = *head.get(EI_DATA)? == elf::ELFDATA2MSB;
    let num = |at: usize, n: usize| -> Option<u64> {
        let b = head.get(at..at + n)?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = if big { b[i] } else { b[n - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    };
    let (phoff, shoff, sizes) = match *head.get(EI_CLASS)? {
        elf::ELFCLASS64 => (num(32, 8)?, num(40, 8)?, 54),
        _ => (num(28, 4)?, num(32, 4)?, 42),
    };
    let (phent, phnum) = (num(sizes, 2)?, num(sizes + 2, 2)?);
    let (shent, shnum) = (num(sizes + 4, 2)?, num(sizes + 6, 2)?.max(1));
    Some(HeaderFields {
        phoff,
        phsize: phent * phnum,
        shoff,
        shsize: shent * shnum,
    })
}

/// The ranges the parser will read beyond the header tables: PT_INTERP, the section-name table,
/// the dynamic section, the version tables and the string tables they name. `Err` is the parse
/// error the file gets (its headers are unreadable).
pub fn needed_ranges(data: &Sparse) -> Result<Vec<Range<u64>>, String> {
    match data.chunk(0, 16).map(|h| h[EI_CLASS]) {
        Some(elf::ELFCLASS32) => needed_as::<elf::FileHeader32<Endianness>>(data),
        Some(elf::ELFCLASS64) => needed_as::<elf::FileHeader64<Endianness>>(data),
        _ => return Err("not an ELF file".into()),
    }
    .map_err(|e| format!("malformed ELF: {e}"))
}

fn needed_as<Elf: FileHeader<Endian = Endianness>>(
    data: &Sparse,
) -> object::read::Result<Vec<Range<u64>>> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let mut out = Vec::new();
    let mut range = |(off, size): (u64, u64)| out.push(off..off.saturating_add(size));
    for ph in header.program_headers(endian, data)? {
        if ph.p_type(endian) == elf::PT_INTERP {
            range(ph.file_range(endian));
        }
    }
    let shdrs = header.section_headers(endian, data)?;
    let section = |i: usize| shdrs.get(i).and_then(|s| s.file_range(endian));
    if let Some(r) = section(usize::from(header.e_shstrndx(endian))) {
        range(r);
    }
    for s in shdrs {
        if matches!(
            s.sh_type(endian),
            elf::SHT_DYNAMIC | elf::SHT_GNU_VERNEED | elf::SHT_GNU_VERDEF
        ) {
            if let Some(r) = s.file_range(endian) {
                range(r);
            }
            if let Some(r) = section(s.sh_link(endian) as usize) {
                range(r);
            }
        }
    }
    Ok(out)
}

/// After the first read (which kept `firsts`): `Ok(None)` when everything the parser needs was
/// kept, `Ok(Some(ranges))` to keep on a second read of the file, `Err` for the finding a file
/// gets whose headers are unreadable or whose tables exceed [`MAX_TABLES`].
pub fn second_pass(
    sparse: &Sparse,
    firsts: Vec<Range<u64>>,
) -> Result<Option<Vec<Range<u64>>>, String> {
    let need = needed_ranges(sparse)?;
    if need.iter().all(|r| sparse.covers(r)) {
        return Ok(None);
    }
    let total: u64 = need.iter().map(|r| r.end.saturating_sub(r.start)).sum();
    if total > MAX_TABLES {
        return Err(format!(
            "malformed ELF: its tables take {total} bytes, over the cap of {MAX_TABLES}"
        ));
    }
    // The header and its tables again (the parser reads them first), then exactly the tables.
    let mut keep = need;
    keep.push(0..64);
    keep.extend(firsts.into_iter().skip(1));
    Ok(Some(keep))
}

/// Parse an ELF file from the parts read of it.
pub fn parse_sparse(data: &Sparse) -> Result<ElfInfo, String> {
    match data.chunk(0, 16).map(|h| h[EI_CLASS]) {
        Some(elf::ELFCLASS32) => parse_as::<elf::FileHeader32<Endianness>, _>(data),
        Some(elf::ELFCLASS64) => parse_as::<elf::FileHeader64<Endianness>, _>(data),
        Some(other) => Err(format!("unknown ELF class {other}")),
        None => Err("not an ELF file".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::synth::Spec;

    #[test]
    fn reads_machine_class_and_byte_order() {
        let arm = parse(&Spec::aarch64().build()).unwrap();
        assert_eq!(arm.machine, Machine::Aarch64);
        assert_eq!((arm.bits, arm.big_endian), (64, false));
        assert_eq!(arm.describe_machine(), "aarch64");

        let mut spec = Spec::shared(elf::EM_386);
        spec.is_64 = false;
        let i386 = parse(&spec.build()).unwrap();
        assert_eq!(i386.machine, Machine::I386);
        assert_eq!(i386.describe_machine(), "32-bit i386");

        let mut spec = Spec::aarch64();
        spec.big_endian = true;
        let be = parse(&spec.build()).unwrap();
        assert!(be.big_endian);
        assert_eq!(be.describe_machine(), "big-endian aarch64");
        // The tables are read with the file's byte order, not the host's.
        assert_eq!(be.needed, ["libc.so.6"]);
        assert_eq!(be.requires[0].versions, ["GLIBC_2.17"]);
    }

    #[test]
    fn reads_dynamic_section_and_version_tables() {
        let spec = Spec::x86_64()
            .soname("libfoo.so.1")
            .needs("libstdc++.so.6")
            .runpath("$ORIGIN/../foo.libs:/opt/lib")
            .requires("libstdc++.so.6", &["GLIBCXX_3.4.29", "CXXABI_1.3.9"])
            .defines(&["FOO_1.0", "FOO_2.0"])
            .interpreter("/lib64/ld-linux-x86-64.so.2");
        let info = parse(&spec.build()).unwrap();
        assert_eq!(info.kind, ElfKind::SharedObject);
        assert_eq!(info.soname.as_deref(), Some("libfoo.so.1"));
        assert_eq!(info.needed, ["libc.so.6", "libstdc++.so.6"]);
        assert_eq!(info.runpath, ["$ORIGIN/../foo.libs", "/opt/lib"]);
        assert!(info.rpath.is_empty());
        assert_eq!(
            info.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert_eq!(info.requires.len(), 2);
        assert_eq!(info.requires[1].library, "libstdc++.so.6");
        assert_eq!(
            info.requires[1].versions,
            ["GLIBCXX_3.4.29", "CXXABI_1.3.9"]
        );
        assert_eq!(info.defines, ["FOO_1.0", "FOO_2.0"]);
    }

    #[test]
    fn relocatable_objects_are_not_loadable() {
        let mut spec = Spec::x86_64();
        spec.e_type = elf::ET_REL;
        let info = parse(&spec.build()).unwrap();
        assert_eq!(info.kind, ElfKind::Relocatable);
        assert!(!info.kind.loadable());
    }

    #[test]
    fn a_second_read_fetches_only_the_tables_and_parses_the_same() {
        let spec = Spec::x86_64()
            .soname("libfoo.so.1")
            .needs("libstdc++.so.6")
            .runpath("$ORIGIN/../foo.libs")
            .requires("libstdc++.so.6", &["GLIBCXX_3.4.29"])
            .defines(&["FOO_1.0"])
            .interpreter("/lib64/ld-linux-x86-64.so.2");
        let data = spec.build();
        let len = data.len() as u64;
        // As if the file were larger than PREFIX: only the header tables kept at first.
        let h = header_fields(&data[..64]).unwrap();
        let firsts = vec![
            0..64,
            h.phoff..h.phoff + h.phsize,
            h.shoff..h.shoff + h.shsize,
        ];
        let sparse = Sparse::collect(&data[..64], &data[64..], len, firsts.clone()).unwrap();
        let keep = second_pass(&sparse, firsts)
            .unwrap()
            .expect("tables lie elsewhere");
        let again = Sparse::collect(&[], &data[..], len, keep).unwrap();
        assert_eq!(parse_sparse(&again), parse(&data));
        // Reads outside what was kept are errors, not zeros.
        assert!(parse_sparse(&sparse).is_err());
    }

    #[test]
    fn version_entries_that_overlap_are_malformed_not_amplified() {
        let mut data = Spec::x86_64()
            .requires("libm.so.6", &["GLIBC_2.2.5"])
            .build();
        // The first Verneed claims 65535 Vernaux entries, and its Vernaux links to itself
        // (vna_next = 0): iterated naively, the same entry 65535 times.
        let info = parse(&data).unwrap();
        assert_eq!(info.requires.len(), 2);
        let file = object::read::elf::ElfFile64::<Endianness>::parse(&data[..]).unwrap();
        use object::{Object, ObjectSection};
        let sec = file.section_by_name(".gnu.version_r").unwrap();
        let (off, _) = sec.file_range().unwrap();
        let off = off as usize;
        // Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
        let aux0 = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap()) as usize;
        data[off + 2..off + 4].copy_from_slice(&u16::MAX.to_le_bytes());
        // Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
        data[off + aux0 + 12..off + aux0 + 16].copy_from_slice(&0u32.to_le_bytes());
        let err = parse(&data).unwrap_err();
        assert!(err.contains("overlap"), "{err}");
    }

    #[test]
    fn garbage_after_the_magic_is_an_error_not_a_panic() {
        let mut data = Spec::x86_64().build();
        assert!(parse(&data[..20]).is_err());
        data[EI_CLASS] = 7;
        assert!(parse(&data).unwrap_err().contains("class"));
        assert!(parse(b"\x7fELF").is_err());
        assert!(parse(b"#!/bin/sh\n").is_err());
    }
}
