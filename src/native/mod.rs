//! The ELF gate: will every native file in a layer ZIP load in the runtime it is meant for?
//!
//! The two failures users meet most after deploying are `GLIBC_2.28 not found` (built on a newer
//! distribution than the runtime) and `invalid ELF header` (built for another architecture).
//! Both are visible in the files themselves, so [`check_zip`] reads every ELF file straight out
//! of the ZIP (nothing is extracted) and asks what the dynamic loader will ask at /opt:
//!
//! 1. Is it for the runtime's machine (x86_64, 64-bit, little-endian)?
//! 2. Does it want the runtime's program interpreter?
//! 3. Is every DT_NEEDED library provided by the runtime image, or present in the layer where
//!    the loader looks: RPATH (its own and its loaders'), /opt/lib (LD_LIBRARY_PATH), RUNPATH,
//!    with `$ORIGIN` expanded?
//! 4. Are the symbol versions it requires no newer than the runtime's glibc and libstdc++
//!    (or, for a library the layer carries, defined by that library)?
//!
//! Python wheels' `WHEEL` tags are checked alongside (see [`wheel`]): they name the fix.

pub mod elf;
mod report;
pub mod target;
mod tree;
pub mod version;
pub mod wheel;

#[cfg(test)]
#[path = "../../tests/fixtures/elf/synth.rs"]
mod synth;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::layer::read::{Entry, Kind, LayerZip};
use elf::{ElfInfo, ElfKind};
pub use target::{Arch, Target};
use tree::Tree;
use version::{Family, Version};
pub use wheel::WheelFinding;

/// ELF files larger than this are reported and skipped rather than read into memory. Nothing a
/// layer loads comes near it (the largest wheels' libraries are a few hundred MB).
const MAX_ELF_BYTES: u64 = 2 << 30;

/// WHEEL files are a few lines; anything larger is not one.
const MAX_WHEEL_BYTES: u64 = 64 << 10;

/// Why one ELF file will not load (or not fully) in the target runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// Starts like an ELF file but cannot be parsed as one.
    Unreadable { error: String },
    /// Built for another processor, word size or byte order ("invalid ELF header").
    WrongMachine { found: String, expected: String },
    /// An executable that asks for a loader the runtime does not have (e.g. musl's).
    Interpreter {
        interpreter: String,
        expected: String,
    },
    /// A DT_NEEDED library found neither in the runtime nor on the layer's search path.
    MissingLibrary {
        library: String,
        /// The folders looked in, as the function sees them.
        searched: Vec<String>,
        /// Files of that name elsewhere in the layer, off the search path (paths inside the
        /// layer, like `path`).
        elsewhere: Vec<String>,
    },
    /// Symbol versions newer than the runtime's glibc or libstdc++ ("GLIBC_2.34 not found").
    VersionTooNew {
        library: String,
        family: Family,
        versions: Vec<String>,
        needs: Version,
        runtime_has: Version,
    },
    /// Symbol versions a library carried in the layer does not define.
    VersionNotDefined {
        library: String,
        path: String,
        versions: Vec<String>,
    },
}

impl Finding {
    /// One line for the text report.
    pub fn message(&self) -> String {
        match self {
            Finding::Unreadable { error } => format!("cannot be read as ELF ({error})"),
            Finding::WrongMachine { found, expected } => {
                format!("{found} ELF in an {expected} runtime")
            }
            Finding::Interpreter {
                interpreter,
                expected,
            } => format!("asks for the loader {interpreter}; the runtime has {expected}"),
            Finding::MissingLibrary {
                library,
                searched,
                elsewhere,
            } => {
                let mut s = format!(
                    "needs {library}, not found (looked in {})",
                    searched.join(", ")
                );
                if !elsewhere.is_empty() {
                    s.push_str(&format!(
                        "; the layer has {}, which is not on the search path",
                        elsewhere
                            .iter()
                            .map(|p| tree::absolute(p))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                s
            }
            Finding::VersionTooNew {
                library,
                family,
                versions,
                runtime_has,
                ..
            } => format!(
                "needs {} ({library}); the runtime has {family} {runtime_has}",
                versions.join(", ")
            ),
            Finding::VersionNotDefined {
                library,
                path,
                versions,
            } => format!(
                "needs {} from {library}, which the layer's {} does not define",
                versions.join(", "),
                tree::absolute(path)
            ),
        }
    }
}

/// The facts read from one ELF file, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct ElfSummary {
    pub machine: String,
    pub bits: u8,
    pub endian: &'static str,
    pub kind: ElfKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soname: Option<String>,
    pub needed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rpath: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runpath: Vec<String>,
    /// The highest glibc / GLIBCXX / CXXABI version required, by family.
    pub requires: BTreeMap<Family, Version>,
}

impl ElfSummary {
    fn of(info: &ElfInfo) -> ElfSummary {
        let mut requires: BTreeMap<Family, Version> = BTreeMap::new();
        for need in &info.requires {
            for (family, v) in need
                .versions
                .iter()
                .filter_map(|n| version::symbol_version(n))
            {
                match requires.get(&family) {
                    Some(have) if *have >= v => {}
                    _ => {
                        requires.insert(family, v);
                    }
                }
            }
        }
        ElfSummary {
            machine: info.machine.name(),
            bits: info.bits,
            endian: if info.big_endian { "big" } else { "little" },
            kind: info.kind,
            interpreter: info.interpreter.clone(),
            soname: info.soname.clone(),
            needed: info.needed.clone(),
            rpath: info.rpath.clone(),
            runpath: info.runpath.clone(),
            requires,
        }
    }
}

/// One ELF file the loader may map, with what is wrong with it (if anything).
#[derive(Clone, Debug, Serialize)]
pub struct ElfReport {
    /// Path inside the layer (under /opt).
    pub path: String,
    #[serde(flatten)]
    pub elf: Option<ElfSummary>,
    pub findings: Vec<Finding>,
    /// Things worth knowing that do not stop the file loading.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The result of checking a layer against a runtime.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub layer: String,
    pub target: Target,
    pub passed: bool,
    /// ZIP members read.
    pub members: u64,
    /// ELF executables and shared objects checked.
    pub elf_checked: u64,
    /// ELF files the loader never maps (`.o`, kernel modules, core dumps): not checked.
    pub elf_skipped: u64,
    pub wheels_checked: u64,
    /// Every ELF file checked, in path order.
    pub files: Vec<ElfReport>,
    pub wheels: Vec<WheelFinding>,
    pub notes: Vec<String>,
}

impl Report {
    /// True when no file and no wheel has a finding.
    pub fn passed(&self) -> bool {
        self.passed
    }

    /// The ELF files with findings.
    pub fn failing(&self) -> impl Iterator<Item = &ElfReport> {
        self.files.iter().filter(|f| !f.findings.is_empty())
    }

    fn has(&self, pred: impl Fn(&Finding) -> bool) -> bool {
        self.files.iter().flat_map(|f| &f.findings).any(pred)
    }

    /// What to do about the findings, for the error's hint: one sentence, the build command
    /// first because it fixes every kind of finding except a library nobody installed.
    pub fn hint(&self) -> String {
        let t = &self.target;
        let machine = self.has(|f| {
            matches!(
                f,
                Finding::WrongMachine { .. } | Finding::Interpreter { .. }
            )
        });
        let too_new = self.has(|f| matches!(f, Finding::VersionTooNew { .. }))
            || self.wheels.iter().any(|w| w.problem.contains("glibc"));
        let python = self.wheels.iter().any(|w| w.problem.contains("Python"));
        let missing = self.has(|f| matches!(f, Finding::MissingLibrary { .. }));

        let mut build = String::from("build on the runtime's image");
        if machine {
            build.push_str(&format!(" for {}", t.arch.platform()));
        }
        build.push_str(&format!(" (`fclayer build --runtime {}`)", t.runtime));
        let mut alternatives = vec![build];
        if too_new {
            alternatives.push(format!(
                "pin an older wheel/version that supports glibc {}",
                t.glibc
            ));
        }
        if python && let Some(py) = t.python {
            alternatives.push(format!("install wheels built for Python {py}"));
        }
        let mut hint = alternatives.join(", or ");
        if missing {
            let libs = format!(
                "put the missing libraries in the layer's lib/ (`fclayer build --runtime {} \
                 --apt PACKAGE` does) or beside the file, reached through a $ORIGIN RUNPATH",
                t.runtime
            );
            hint = if machine || too_new || python {
                format!("{hint}; {libs}")
            } else {
                libs
            };
        }
        hint
    }
}

/// An ELF file read from the ZIP, before resolution (which needs the whole tree).
struct ScannedElf {
    path: String,
    info: std::result::Result<ElfInfo, String>,
}

/// What the scan of a layer ZIP found: the tree, the ELF and WHEEL files, and what it skipped.
pub struct Scanned {
    layer: String,
    members: u64,
    tree: Tree,
    elves: Vec<ScannedElf>,
    wheels: Vec<(String, String)>,
    skipped: u64,
    notes: Vec<String>,
    /// The layer's Python byte-code, for the warning when it is another Python's.
    bytecode: crate::pyc::Bytecode,
}

/// Read every ELF file and WHEEL file in the layer ZIP at `path` and check them against
/// `target`. Errors only when the ZIP cannot be read; findings go in the report.
pub fn check_zip(path: &Path, target: &Target) -> Result<Report> {
    Ok(resolve(&scan(&mut LayerZip::open(path)?)?, target))
}

/// Read the layer's tree, its ELF files (through the bounded reader) and its WHEEL files.
pub fn scan<R: Read + Seek>(zip: &mut LayerZip<R>) -> Result<Scanned> {
    let mut s = Scanned {
        layer: zip.shown().to_string(),
        members: zip.len() as u64,
        tree: Tree::default(),
        elves: Vec::new(),
        wheels: Vec::new(),
        skipped: 0,
        notes: Vec::new(),
        bytecode: crate::pyc::Bytecode::default(),
    };
    let mut outside: Vec<String> = Vec::new();
    for i in 0..zip.len() {
        let e = zip.entry(i)?;
        let Some(name) = e.path().map(str::to_string) else {
            if e.name.outside {
                outside.push(e.shown);
            }
            continue;
        };
        match e.kind {
            Kind::Dir => continue,
            Kind::Symlink => {
                let target = zip.link_target(&e)?;
                s.tree.add_symlink(&name, &target);
                continue;
            }
            Kind::File => s.tree.add_file(&name),
        }
        if wheel::is_wheel_file(&name) {
            let mut text = String::new();
            // A WHEEL file that is not UTF-8 is not a wheel's; skip it rather than fail.
            if zip
                .open_entry(&e)?
                .take(MAX_WHEEL_BYTES)
                .read_to_string(&mut text)
                .is_ok()
            {
                s.wheels.push((name, text));
            }
            continue;
        }
        let read = read_elf(zip, &e).map_err(|err| {
            Error::input(format!("cannot read {} in {}: {err}", e.shown, zip.shown()))
        })?;
        match read {
            Sniffed::NotElf => {}
            Sniffed::TooLarge(size) => s.notes.push(format!(
                "{name}: {} is too large to inspect; not checked",
                crate::layer::human_bytes(size)
            )),
            Sniffed::Elf(info) => {
                if let Ok(i) = &info
                    && !i.kind.loadable()
                {
                    s.skipped += 1;
                    continue;
                }
                s.elves.push(ScannedElf { path: name, info });
            }
        }
    }
    if !outside.is_empty() {
        s.notes.push(outside_note(&outside));
    }
    s.elves.sort_by(|a, b| a.path.cmp(&b.path));
    s.wheels.sort();
    s.bytecode = crate::pyc::bytecode_in(zip)?;
    Ok(s)
}

/// The same words `inspect` uses for entries that cannot land where they say.
fn outside_note(names: &[String]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(3)
        .map(|n| format!("`{}`", crate::layer::read::shorten(n)))
        .collect();
    let more = match names.len() {
        n if n > 3 => format!(" and {} more", n - 3),
        _ => String::new(),
    };
    let count = match names.len() {
        1 => String::new(),
        n => format!("{n} "),
    };
    format!(
        "{count}{}: {}{more}",
        crate::layer::read::OUTSIDE,
        shown.join(", ")
    )
}

enum Sniffed {
    NotElf,
    TooLarge(u64),
    Elf(std::result::Result<ElfInfo, String>),
}

/// Most members are .py files and data: four bytes tell them apart from ELF files, and the
/// ELF header's identification bytes tell a real one from a lookalike before more is read.
/// Of an ELF file, only the tables the gate needs are kept (see [`elf::read_sparse`]).
fn read_elf<R: Read + Seek>(zip: &mut LayerZip<R>, e: &Entry) -> std::io::Result<Sniffed> {
    let size = e.size;
    let io = |err: Error| std::io::Error::other(err.message);
    let mut member = zip.open_entry(e).map_err(io)?;
    let mut head = [0u8; 64];
    let got = read_up_to(&mut member, &mut head)?;
    if got < 4 || head[..4] != elf::MAGIC {
        return Ok(Sniffed::NotElf);
    }
    if let Some(why) = elf::ident_error(&head[..got]) {
        return Ok(Sniffed::Elf(Err(why)));
    }
    if size > MAX_ELF_BYTES {
        return Ok(Sniffed::TooLarge(size));
    }
    let firsts = elf::first_ranges(&head[..got], size);
    let sparse = elf::Sparse::collect(&head[..got], member, size, firsts.clone())?;
    let info = match elf::second_pass(&sparse, firsts) {
        Err(why) => Err(why),
        Ok(None) => elf::parse_sparse(&sparse),
        Ok(Some(keep)) => {
            drop(sparse);
            let again = zip.open_entry(e).map_err(io)?;
            elf::parse_sparse(&elf::Sparse::collect(&[], again, size, keep)?)
        }
    };
    Ok(Sniffed::Elf(info))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Check what the scan found against `target`: resolve every ELF file's needs in the tree.
pub fn resolve(s: &Scanned, target: &Target) -> Report {
    let elves: HashMap<&str, &ElfInfo> = s
        .elves
        .iter()
        .filter_map(|e| e.info.as_ref().ok().map(|i| (e.path.as_str(), i)))
        .collect();
    let order: Vec<&str> = s.elves.iter().map(|e| e.path.as_str()).collect();
    let mut checker = Checker {
        tree: &s.tree,
        elves: &elves,
        target,
        inherited: HashMap::new(),
    };
    checker.inherit_rpaths(&order);
    let mut via_opt_lib = Vec::new();
    let files: Vec<ElfReport> = s
        .elves
        .iter()
        .map(|e| checker.check(e, &mut via_opt_lib))
        .collect();
    let wheels: Vec<WheelFinding> = s
        .wheels
        .iter()
        .flat_map(|(p, text)| wheel::check(p, text, target))
        .collect();

    let mut notes = s.notes.clone();
    if target.arch != Arch::X86_64 {
        notes.push(format!(
            "FC runtimes are x86_64; checked for {} as --platform asked",
            target.arch.platform()
        ));
    }
    if target.custom && !via_opt_lib.is_empty() {
        via_opt_lib.sort();
        via_opt_lib.dedup();
        notes.push(format!(
            "custom runtimes do not put /opt/lib on LD_LIBRARY_PATH: set \
             LD_LIBRARY_PATH=/opt/lib for the function ({} found there)",
            via_opt_lib.join(", ")
        ));
    }
    // Byte-code for another Python loads nothing: a warning, not a finding (the layer works).
    if let Some(python) = target.python
        && let Some(warning) = s.bytecode.mismatch(target.runtime, python)
    {
        notes.push(warning);
    }
    let passed = files.iter().all(|f| f.findings.is_empty()) && wheels.is_empty();
    Report {
        layer: s.layer.clone(),
        target: target.clone(),
        passed,
        members: s.members,
        elf_checked: files.len() as u64,
        elf_skipped: s.skipped,
        wheels_checked: s.wheels.len() as u64,
        files,
        wheels,
        notes,
    }
}

/// Where a needed library was found.
enum Found {
    /// A file in the layer, reached through the named search-path source.
    Layer {
        path: String,
        via: &'static str,
    },
    Runtime,
}

/// Resolution of one file's needs against the tree and the target.
struct Checker<'a> {
    tree: &'a Tree,
    elves: &'a HashMap<&'a str, &'a ElfInfo>,
    target: &'a Target,
    /// DT_RPATH folders each ELF file inherits from the files that load it.
    inherited: HashMap<String, Vec<SearchDir>>,
}

impl Checker<'_> {
    /// Whether the loader accepts the file at all on the target.
    fn fits(&self, info: &ElfInfo) -> bool {
        info.machine == self.target.arch.machine() && info.bits == 64 && !info.big_endian
    }

    /// ld.so searches a library's dependencies through the DT_RPATH of the library, then of the
    /// object that loaded it, and on up (unless the library has DT_RUNPATH). auditwheel relies
    /// on this: numpy's extension carries `RPATH=$ORIGIN/../../numpy.libs`, and the libraries
    /// grafted there (openblas -> gfortran -> quadmath) have none of their own. Which file loads
    /// which depends on resolution, which depends on the inherited folders, so the folders are
    /// passed on along a work list until nothing grows (a file counts as reachable through any
    /// of its loaders). Each file is looked at again only when what it inherits grew, so a
    /// chain of N libraries costs N visits, not N rounds over every file.
    fn inherit_rpaths(&mut self, order: &[&str]) {
        let mut queue: std::collections::VecDeque<&str> = order.iter().copied().collect();
        let mut queued: HashSet<&str> = order.iter().copied().collect();
        let mut known: HashMap<String, HashSet<String>> = HashMap::new();
        while let Some(path) = queue.pop_front() {
            queued.remove(path);
            let Some(info) = self.elves.get(path).copied() else {
                continue;
            };
            if !self.fits(info) {
                continue;
            }
            let mut passes = Vec::new();
            if info.runpath.is_empty() {
                self.expand(&info.rpath, path, INHERITED, &mut passes, &mut Vec::new());
            }
            passes.extend(self.inherited.get(path).into_iter().flatten().cloned());
            if passes.is_empty() {
                continue;
            }
            let dirs = self.search_dirs(path, info, &mut Vec::new());
            for lib in &info.needed {
                let Ok(Found::Layer { path: dep, .. }) = self.find(lib, &dirs) else {
                    continue;
                };
                let Some((&dep, _)) = self.elves.get_key_value(dep.as_str()) else {
                    continue;
                };
                let seen = known.entry(dep.to_string()).or_default();
                let inherited = self.inherited.entry(dep.to_string()).or_default();
                let mut grew = false;
                for d in &passes {
                    if seen.insert(d.dir.path.clone()) {
                        inherited.push(d.clone());
                        grew = true;
                    }
                }
                if grew && queued.insert(dep) {
                    queue.push_back(dep);
                }
            }
        }
    }

    fn check(&self, scanned: &ScannedElf, via_opt_lib: &mut Vec<String>) -> ElfReport {
        let path = scanned.path.clone();
        let info = match &scanned.info {
            Ok(info) => info,
            Err(error) => {
                return ElfReport {
                    path,
                    elf: None,
                    findings: vec![Finding::Unreadable {
                        error: error.clone(),
                    }],
                    notes: Vec::new(),
                };
            }
        };
        let mut report = ElfReport {
            path,
            elf: Some(ElfSummary::of(info)),
            findings: Vec::new(),
            notes: Vec::new(),
        };
        let arch = self.target.arch;
        if !self.fits(info) {
            // Nothing else matters: the loader rejects the file before reading its needs.
            report.findings.push(Finding::WrongMachine {
                found: info.describe_machine(),
                expected: arch.name().to_string(),
            });
            return report;
        }
        if let Some(interp) = &info.interpreter {
            self.check_interpreter(interp, &mut report);
        }
        let dirs = self.search_dirs(&report.path, info, &mut report.notes);
        let mut found = self.find_needed(info, &dirs, &mut report, via_opt_lib);
        for need in &info.requires {
            if !found.contains_key(need.library.as_str()) {
                // Versions from a library that is not DT_NEEDED (unusual) still bind to it; a
                // missing library was reported above.
                match self.find(&need.library, &dirs) {
                    Ok(f) => {
                        found.insert(&need.library, f);
                    }
                    Err(_) => continue,
                }
            }
            match &found[need.library.as_str()] {
                Found::Layer { path, .. } => self.check_layer_versions(need, path, &mut report),
                Found::Runtime => self.check_runtime_versions(need, &mut report),
            }
        }
        report
    }

    /// Look up every DT_NEEDED library; the missing ones become findings (a screenful of them,
    /// the rest counted in a note).
    fn find_needed<'i>(
        &self,
        info: &'i ElfInfo,
        dirs: &SearchPath,
        report: &mut ElfReport,
        via_opt_lib: &mut Vec<String>,
    ) -> HashMap<&'i str, Found> {
        let mut found: HashMap<&str, Found> = HashMap::new();
        let mut missing = 0;
        for lib in &info.needed {
            match self.find(lib, dirs) {
                Ok(f) => {
                    if let Found::Layer { path, via: OPT_LIB } = &f {
                        via_opt_lib.push(path.clone());
                    }
                    found.insert(lib, f);
                }
                Err(searched) => {
                    if is_libpython(lib) {
                        report.notes.push(self.libpython_note(lib));
                        found.insert(lib, Found::Runtime);
                        continue;
                    }
                    missing += 1;
                    if missing > MAX_MISSING_SHOWN {
                        continue;
                    }
                    let elsewhere = self.tree.named(lib, MAX_LISTED);
                    report.findings.push(Finding::MissingLibrary {
                        library: lib.clone(),
                        searched,
                        elsewhere,
                    });
                }
            }
        }
        if missing > MAX_MISSING_SHOWN {
            report.notes.push(format!(
                "{} more needed libraries are not found either (not listed)",
                missing - MAX_MISSING_SHOWN
            ));
        }
        found
    }

    fn check_interpreter(&self, interp: &str, report: &mut ElfReport) {
        let loader = self.target.arch.loader();
        let system = interp.starts_with("/lib") && interp.ends_with(&format!("/{loader}"));
        let in_layer = interp
            .strip_prefix("/opt/")
            .is_some_and(|p| self.tree.file(p).is_some());
        if !system && !in_layer {
            report.findings.push(Finding::Interpreter {
                interpreter: interp.to_string(),
                expected: format!("/lib64/{loader}"),
            });
        }
    }

    /// RPATH/RUNPATH entries of the file at `path` as folders inside the layer. Entries that
    /// cannot lead into the layer are dropped, with a note when that is surprising.
    fn expand(
        &self,
        entries: &[String],
        path: &str,
        via: &'static str,
        dirs: &mut Vec<SearchDir>,
        notes: &mut Vec<String>,
    ) {
        for e in entries {
            match self.tree.search_dir(e, path) {
                Ok(dir) => dirs.push(SearchDir { dir, via }),
                // A system folder (/usr/lib) is the runtime's: its list covers it.
                Err(why) if !why.ends_with("outside /opt") => {
                    notes.push(format!("{via} entry {why}; not searched"));
                }
                Err(_) => {}
            }
        }
    }

    /// The file's search path, in the loader's order: its RPATH and the RPATHs it inherits
    /// (both ignored when it has a RUNPATH), LD_LIBRARY_PATH=/opt/lib, RUNPATH.
    fn search_dirs(&self, path: &str, info: &ElfInfo, notes: &mut Vec<String>) -> SearchPath {
        let mut dirs = Vec::new();
        if info.runpath.is_empty() {
            self.expand(&info.rpath, path, "RPATH", &mut dirs, notes);
            let mut seen: HashSet<String> = dirs.iter().map(|d| d.dir.path.clone()).collect();
            for d in self.inherited.get(path).into_iter().flatten() {
                if seen.insert(d.dir.path.clone()) {
                    dirs.push(d.clone());
                }
            }
        }
        let lib = self
            .tree
            .dir("lib")
            .unwrap_or_else(|_| tree::Dir::nowhere("lib"));
        dirs.push(SearchDir {
            dir: lib,
            via: OPT_LIB,
        });
        self.expand(&info.runpath, path, "RUNPATH", &mut dirs, notes);
        let positions = self.tree.positions(dirs.iter().map(|d| &d.dir));
        SearchPath { dirs, positions }
    }

    /// Find a needed library the way ld.so would; `Err` lists where it looked.
    fn find(&self, lib: &str, search: &SearchPath) -> std::result::Result<Found, Vec<String>> {
        if lib.contains('/') {
            // A path, not a name: ld.so opens exactly that file.
            if let Some(p) = lib.strip_prefix("/opt/")
                && let Some(real) = self.tree.file(p)
            {
                return Ok(Found::Layer {
                    path: real,
                    via: "path",
                });
            }
            return Err(vec![lib.to_string()]);
        }
        let dirs = &search.dirs;
        if let Some((i, real)) = self
            .tree
            .find(lib, &search.positions, dirs.len(), |i| &dirs[i].dir)
        {
            return Ok(Found::Layer {
                path: real,
                via: dirs[i].via,
            });
        }
        if self.target.provides(lib) {
            return Ok(Found::Runtime);
        }
        let mut searched: Vec<String> = dirs
            .iter()
            .take(MAX_LISTED)
            .map(|d| tree::absolute(&d.dir.path))
            .collect();
        searched.dedup();
        if dirs.len() > MAX_LISTED {
            searched.push(format!("{} more folders", dirs.len() - MAX_LISTED));
        }
        searched.push(format!(
            "the runtime's libraries (Debian {})",
            self.target.debian
        ));
        Err(searched)
    }

    fn libpython_note(&self, lib: &str) -> String {
        match self.target.python {
            Some(py) if lib.starts_with(&format!("libpython{py}.")) => {
                format!("needs {lib}: provided by the runtime's Python {py}")
            }
            Some(py) => format!(
                "needs {lib}: the runtime's Python is {py}, so this only loads under another \
                 interpreter"
            ),
            None => format!("needs {lib}: only loads inside a Python that provides it"),
        }
    }

    fn check_runtime_versions(&self, need: &elf::VersionNeed, report: &mut ElfReport) {
        let mut too_new: BTreeMap<Family, Vec<(Version, &str)>> = BTreeMap::new();
        for name in &need.versions {
            if let Some((family, v)) = version::symbol_version(name)
                && v > *self.target.level(family)
            {
                too_new.entry(family).or_default().push((v, name));
            }
        }
        for (family, mut list) in too_new {
            list.sort();
            let needs = list.last().map(|(v, _)| v.clone()).expect("non-empty");
            report.findings.push(Finding::VersionTooNew {
                library: need.library.clone(),
                family,
                versions: list.iter().map(|(_, n)| n.to_string()).collect(),
                needs,
                runtime_has: self.target.level(family).clone(),
            });
        }
    }

    /// A library the layer carries replaces the runtime's, so its own version definitions
    /// decide. One without any (an unversioned library) satisfies every requirement: ld.so only
    /// checks versions against objects that define some.
    fn check_layer_versions(&self, need: &elf::VersionNeed, path: &str, report: &mut ElfReport) {
        let Some(lib) = self.elves.get(path) else {
            return;
        };
        if lib.defines.is_empty() {
            return;
        }
        let missing: Vec<String> = need
            .versions
            .iter()
            .filter(|v| !lib.defines.contains(v))
            .cloned()
            .collect();
        if !missing.is_empty() {
            report.findings.push(Finding::VersionNotDefined {
                library: need.library.clone(),
                path: path.to_string(),
                versions: missing,
            });
        }
    }
}

/// How /opt/lib is reached: FC's built-in runtimes put it on LD_LIBRARY_PATH.
const OPT_LIB: &str = "LD_LIBRARY_PATH";

/// A folder searched because a file that loads this one has it in its DT_RPATH.
const INHERITED: &str = "RPATH of a loading file";

/// A file's search path, in the loader's order, indexed by folder.
struct SearchPath {
    dirs: Vec<SearchDir>,
    positions: tree::Positions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SearchDir {
    dir: tree::Dir,
    via: &'static str,
}

/// Missing libraries listed per file, and folders or other copies listed per finding: a
/// hostile file can need thousands over thousands of folders; the report stays one screen.
const MAX_MISSING_SHOWN: usize = 64;
const MAX_LISTED: usize = 16;

/// `libpython3.9.so.1.0`, `libpython3.6m.so.1.0`: the interpreter's own library.
fn is_libpython(lib: &str) -> bool {
    lib.starts_with("libpython3") && lib.contains(".so")
}

#[cfg(test)]
mod tests;
