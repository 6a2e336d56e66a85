//! What the dynamic loader will ask of one ELF file: its machine, class and byte order, whether
//! it is loaded at all, its interpreter, SONAME, DT_NEEDED, RPATH/RUNPATH, the symbol versions it
//! requires (`.gnu.version_r`) and the ones it defines (`.gnu.version_d`).
//!
//! The dynamic section and version tables are found through the section headers, as readelf
//! does. A file stripped of its section headers (rare; `sstrip`) reads as having no dependencies
//! rather than failing.

use object::Endianness;
use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
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
        elf::ELFCLASS32 => parse_as::<elf::FileHeader32<Endianness>>(data),
        elf::ELFCLASS64 => parse_as::<elf::FileHeader64<Endianness>>(data),
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

fn parse_as<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<ElfInfo, String> {
    match parse_tables::<Elf>(data) {
        Ok(info) => Ok(info),
        Err(Stop::Object(e)) => Err(format!("malformed ELF: {e}")),
        Err(Stop::Cap(e)) => Err(format!("malformed ELF: {e}")),
    }
}

fn parse_tables<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<ElfInfo, Stop> {
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
            let value = |d: &Elf::Dyn| -> object::read::Result<&[u8]> { d.string(endian, strings) };
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
    read_versions::<Elf>(&sections, endian, data, &mut info)?;
    Ok(info)
}

/// `.gnu.version_r` and `.gnu.version_d`, read with every entry visited once: entries linked
/// in a cycle or onto each other (`vna_next = 0` with a count left) end the walk as malformed,
/// and the number of entries read is capped.
fn read_versions<Elf: FileHeader<Endian = Endianness>>(
    sections: &object::read::elf::SectionTable<'_, Elf>,
    endian: Endianness,
    data: &[u8],
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
    fn garbage_after_the_magic_is_an_error_not_a_panic() {
        let mut data = Spec::x86_64().build();
        assert!(parse(&data[..20]).is_err());
        data[EI_CLASS] = 7;
        assert!(parse(&data).unwrap_err().contains("class"));
        assert!(parse(b"\x7fELF").is_err());
        assert!(parse(b"#!/bin/sh\n").is_err());
    }
}
