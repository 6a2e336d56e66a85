//! What a layer ZIP holds, as FC will see it once unpacked into /opt: the runtime folders and
//! their sizes, the largest files, every symlink and where it leads, and the digests FC reports.
//!
//! The ZIP may come from anywhere (our packer, `zip -r`, a Windows tool), so reading is lenient:
//! odd names, missing directory entries and unsafe paths become warnings, not errors. Only the
//! central directory is read, plus the few bytes of each symlink's target.

use std::collections::HashMap;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use serde::Serialize;

use super::digest::Digests;
use super::read::{self, Entry, LayerZip};
use crate::error::{Error, IoContext, Result};
use crate::extract::{Resolved, Seen, escape_controls, follow};

pub use super::read::Kind as Node;

/// Examples quoted in one warning; the count says how many more there are.
const EXAMPLES: usize = 3;
/// Bytes of the directory names a ZIP implies without listing them. Honest layers imply a few
/// MB at most; deep hostile names would otherwise imply one long name per level.
pub const MAX_IMPLIED: usize = 64 << 20;

/// One entry of a layer ZIP, its name normalised to a layer path.
#[derive(Clone, Debug)]
pub(crate) struct ZipEntry {
    pub path: String,
    pub node: Node,
    pub size: u64,
    pub compressed: u64,
    pub crc32: u32,
    pub exec: bool,
    /// For symlinks: the target as stored.
    pub target: Option<String>,
}

/// Every entry of a layer ZIP, with the directories it implies, in path order.
pub(crate) struct Listing {
    pub entries: Vec<ZipEntry>,
    pub zip_size: u64,
    pub warnings: Vec<String>,
}

impl Listing {
    /// What each path is, for resolving links.
    pub fn tree(&self) -> HashMap<&str, (&Node, Option<&str>)> {
        self.entries
            .iter()
            .map(|e| (e.path.as_str(), (&e.node, e.target.as_deref())))
            .collect()
    }
}

/// Read the central directory of the layer ZIP at `path` into a listing.
pub(crate) fn read_listing(path: &Path) -> Result<Listing> {
    listing(&mut LayerZip::open(path)?)
}

/// The listing of an open layer ZIP: names through the one name rule (entries that cannot land
/// where they say are skipped and warned about), symlink targets read, implied directories added.
pub(crate) fn listing<R: Read + Seek>(zip: &mut LayerZip<R>) -> Result<Listing> {
    let mut warnings = Warnings::default();
    if zip.has_duplicate_names() {
        // The reader keeps one entry per name, so which names repeat is no longer known here.
        warnings.lines.push(
            "the ZIP lists some names twice: unzip asks or keeps the last copy; one is shown here"
                .to_string(),
        );
    }
    let mut entries: Vec<ZipEntry> = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let e = zip.entry(i)?;
        for w in read::name_warnings(&e.name) {
            warnings.add(w, &e.shown);
        }
        let Some(path) = e.path() else { continue };
        let target = match e.kind {
            Node::Symlink => Some(zip.link_target(&e)?),
            _ => None,
        };
        entries.push(zip_entry(path.to_string(), &e, target));
    }
    // Stable: of two copies of a path, the first in the archive stays first.
    entries.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    entries.dedup_by(|later, first| {
        let same = later.path == first.path;
        if same {
            warnings.add(
                "duplicate entries (the first one is shown)",
                &escape_controls(&later.path),
            );
        }
        same
    });
    let entries = with_implied_dirs(entries, &mut warnings)?;
    Ok(Listing {
        entries,
        zip_size: zip.size(),
        warnings: warnings.finish(),
    })
}

fn zip_entry(path: String, e: &Entry, target: Option<String>) -> ZipEntry {
    ZipEntry {
        path,
        node: e.kind,
        size: e.size,
        compressed: e.compressed,
        crc32: e.crc32,
        exec: e.executable(),
        target,
    }
}

/// A ZIP need not list the folders its files are in; unzip creates them, so they exist in /opt.
/// `sorted` is in path order, so a folder's contents follow it directly: one pass with the
/// chain of open folders adds each missing folder once, just before its first entry.
fn with_implied_dirs(sorted: Vec<ZipEntry>, warnings: &mut Warnings) -> Result<Vec<ZipEntry>> {
    let mut out: Vec<ZipEntry> = Vec::with_capacity(sorted.len());
    // Indices in `out` of the open ancestors, and whether each is (or lies below) a non-folder.
    let mut open: Vec<(usize, bool)> = Vec::new();
    let mut implied_bytes = 0;
    for e in sorted {
        while let Some(&(i, _)) = open.last() {
            let top = &out[i].path;
            if e.path.len() > top.len()
                && e.path.starts_with(top.as_str())
                && e.path.as_bytes()[top.len()] == b'/'
            {
                break;
            }
            open.pop();
        }
        let below = open.last().is_some_and(|&(_, b)| b);
        let mut from = open.last().map_or(0, |&(i, _)| out[i].path.len() + 1);
        while let Some(at) = e.path[from..].find('/') {
            let dir = &e.path[..from + at];
            implied_bytes += dir.len();
            if implied_bytes > MAX_IMPLIED {
                return Err(Error::input(format!(
                    "entry `{}`: the ZIP's names imply more than {} of folder names, over the cap",
                    read::shorten(&escape_controls(&e.path)),
                    super::human_bytes(MAX_IMPLIED as u64)
                ))
                .with_hint("the ZIP is damaged or hostile"));
            }
            open.push((out.len(), below));
            out.push(ZipEntry {
                path: dir.to_string(),
                node: Node::Dir,
                size: 0,
                compressed: 0,
                crc32: 0,
                exec: true,
                target: None,
            });
            from += at + 1;
        }
        if below {
            warnings.add(
                "entries below a file or symlink (unzip cannot create them)",
                &escape_controls(&e.path),
            );
        }
        open.push((out.len(), below || e.node != Node::Dir));
        out.push(e);
    }
    Ok(out)
}

/// Warnings grouped by kind, so a thousand odd names make one line, not a thousand.
#[derive(Default)]
struct Warnings {
    lines: Vec<String>,
    groups: Vec<(String, Vec<String>)>,
}

impl Warnings {
    fn add(&mut self, what: &str, example: &str) {
        match self.groups.iter_mut().find(|(w, _)| w == what) {
            Some((_, ex)) => ex.push(example.to_string()),
            None => self
                .groups
                .push((what.to_string(), vec![example.to_string()])),
        }
    }

    fn finish(self) -> Vec<String> {
        let groups = self.groups.into_iter().map(|(what, ex)| {
            let shown: Vec<String> = ex
                .iter()
                .take(EXAMPLES)
                .map(|e| format!("`{}`", read::shorten(e)))
                .collect();
            if ex.len() == 1 {
                return format!("{what}: {}", shown[0]);
            }
            let more = if ex.len() > EXAMPLES {
                format!(" and {} more", ex.len() - EXAMPLES)
            } else {
                String::new()
            };
            format!("{} {what}: {}{more}", ex.len(), shown.join(", "))
        });
        self.lines.into_iter().chain(groups).collect()
    }
}

/// Resolve the symlink at `link` (target `target`) against `tree` (layer path → kind and, for
/// links, target).
pub(crate) fn resolve(
    tree: &HashMap<&str, (&Node, Option<&str>)>,
    link: &str,
    target: &str,
) -> Resolved {
    follow(link, target, |path| match tree.get(path) {
        Some((Node::Symlink, next)) => Seen::Link(next.unwrap_or("")),
        Some((Node::Dir, _)) => Seen::Dir,
        Some((Node::File, _)) => Seen::File,
        None => Seen::Missing,
    })
}

/// Which runtime looks in a top-level folder of /opt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Python,
    Nodejs,
    Java,
    Php,
    Path,
    LdLibraryPath,
    Other,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Python => "Python",
            Role::Nodejs => "Node.js",
            Role::Java => "Java",
            Role::Php => "PHP",
            Role::Path => "PATH",
            Role::LdLibraryPath => "LD_LIBRARY_PATH",
            Role::Other => "other",
        }
    }

    /// How the runtime finds what is there.
    pub fn seen_as(self) -> &'static str {
        match self {
            Role::Python => "/opt/python is on sys.path",
            Role::Nodejs => "/opt/nodejs/node_modules is on NODE_PATH",
            Role::Java => "/opt/java/lib/*.jar are on the classpath",
            Role::Php => "/opt/php is on include_path",
            Role::Path => "/opt/bin is on PATH",
            Role::LdLibraryPath => "/opt/lib is on LD_LIBRARY_PATH",
            Role::Other => "no runtime looks here",
        }
    }
}

/// The role of top-level entry `name` (a directory), given every path of the layer.
pub(crate) fn role_of(name: &str, has: &dyn Fn(&str) -> bool) -> Role {
    match name {
        "python" => Role::Python,
        "nodejs" if has("nodejs/node_modules") => Role::Nodejs,
        "java" if has("java/lib") => Role::Java,
        "php" => Role::Php,
        "bin" => Role::Path,
        "lib" => Role::LdLibraryPath,
        _ => Role::Other,
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Folder {
    /// Top-level name in the layer (and so under /opt).
    pub name: String,
    pub kind: Node,
    pub role: Role,
    pub seen_as: String,
    pub files: u64,
    pub symlinks: u64,
    pub unpacked_size: u64,
    pub compressed_size: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LargeFile {
    pub path: String,
    pub size: u64,
    pub compressed_size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Leads to something in this layer.
    Ok,
    /// Leads to a path under /opt this layer does not hold (another layer may).
    Dangling,
    /// Leads out of /opt: it depends on the runtime's file system, or is an attack.
    Escapes,
    Loop,
}

#[derive(Clone, Debug, Serialize)]
pub struct Link {
    pub path: String,
    pub target: String,
    pub status: LinkStatus,
    /// The layer path it leads to (for `ok` and `dangling`); `""` is /opt itself.
    pub resolves_to: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// As given (lossy UTF-8: serde refuses other paths, and a report must never fail).
    pub path: String,
    pub zip_size: u64,
    pub sha256: String,
    /// FC's `codeChecksum`.
    pub crc64: String,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub unpacked_size: u64,
    pub compressed_size: u64,
    /// The runtime folders present, e.g. `["python", "ld_library_path"]`.
    pub runtimes: Vec<Role>,
    pub folders: Vec<Folder>,
    pub largest: Vec<LargeFile>,
    pub links: Vec<Link>,
    pub warnings: Vec<String>,
    /// The Python byte-code it carries, and for which Python (read from the magic numbers).
    pub bytecode: crate::pyc::Bytecode,
}

/// Inspect the layer ZIP at `path`, listing its `top` largest files.
pub fn inspect(path: &Path, top: usize) -> Result<Report> {
    let listing = read_listing(path)?;
    let digests = Digests::of_reader(BufReader::with_capacity(
        1 << 20,
        read::open_regular(path, "a layer ZIP", "a layer ZIP, e.g. layer.zip")?.0,
    ))
    .at("read", path)?;
    let tree = listing.tree();
    let has = |p: &str| tree.contains_key(p);
    let t = tally(&listing, &tree, top);

    let mut warnings = listing.warnings.clone();
    if !t.not_executable.is_empty() {
        warnings.push(format!(
            "files in bin/ without the executable bit (nothing can run them from PATH): {}",
            quote_some(&t.not_executable)
        ));
    }
    warnings.extend(layout_warnings(&t.folders, &has));
    let mut runtimes: Vec<Role> = t
        .folders
        .iter()
        .map(|f| f.role)
        .filter(|r| *r != Role::Other)
        .collect();
    runtimes.sort();
    runtimes.dedup();
    Ok(Report {
        path: path.to_string_lossy().into_owned(),
        zip_size: listing.zip_size,
        sha256: digests.sha256,
        crc64: digests.crc64.to_string(),
        files: t.files,
        dirs: t.dirs,
        symlinks: t.symlinks,
        unpacked_size: t.unpacked,
        compressed_size: t.compressed,
        runtimes,
        folders: t.folders,
        largest: t.largest,
        links: t.links,
        warnings,
        // Only .pyc headers are read; a ZIP the listing could read but this cannot has none.
        bytecode: super::read::LayerZip::open(path)
            .and_then(|mut zip| crate::pyc::bytecode_in(&mut zip))
            .unwrap_or_default(),
    })
}

/// The counts, folders, largest files and links of a listing.
#[derive(Default)]
struct Tally<'a> {
    files: u64,
    dirs: u64,
    symlinks: u64,
    unpacked: u64,
    compressed: u64,
    folders: Vec<Folder>,
    largest: Vec<LargeFile>,
    links: Vec<Link>,
    not_executable: Vec<&'a str>,
}

fn tally<'a>(
    listing: &'a Listing,
    tree: &HashMap<&str, (&Node, Option<&str>)>,
    top: usize,
) -> Tally<'a> {
    let has = |p: &str| tree.contains_key(p);
    let mut t = Tally::default();
    let mut sizes: Vec<&ZipEntry> = Vec::new();
    for e in &listing.entries {
        let top_name = e.path.split('/').next().unwrap_or_default();
        if !e.path.contains('/') {
            let role = match e.node {
                Node::Dir => role_of(top_name, &has),
                _ => Role::Other,
            };
            t.folders.push(Folder {
                name: top_name.to_string(),
                kind: e.node,
                role,
                seen_as: role.seen_as().to_string(),
                files: 0,
                symlinks: 0,
                unpacked_size: 0,
                compressed_size: 0,
            });
        }
        // Sorted component-wise, a folder's contents follow it directly.
        let folder = t
            .folders
            .last_mut()
            .expect("the first entry in path order is top-level");
        match e.node {
            Node::Dir => t.dirs += 1,
            Node::File => {
                t.files += 1;
                t.unpacked += e.size;
                t.compressed += e.compressed;
                folder.files += 1;
                folder.unpacked_size += e.size;
                folder.compressed_size += e.compressed;
                sizes.push(e);
                if top_name == "bin" && !e.exec {
                    t.not_executable.push(&e.path);
                }
            }
            Node::Symlink => {
                t.symlinks += 1;
                folder.symlinks += 1;
                t.links.push(link(tree, e));
            }
        }
    }
    sizes.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    t.largest = sizes
        .iter()
        .take(top)
        .map(|e| LargeFile {
            path: e.path.clone(),
            size: e.size,
            compressed_size: e.compressed,
        })
        .collect();
    t
}

fn link(tree: &HashMap<&str, (&Node, Option<&str>)>, e: &ZipEntry) -> Link {
    let target = e.target.clone().unwrap_or_default();
    let (status, resolves_to) = match resolve(tree, &e.path, &target) {
        Resolved::Inside(p) => (LinkStatus::Ok, Some(p)),
        Resolved::Dangling(p) => (LinkStatus::Dangling, Some(p)),
        Resolved::Escapes => (LinkStatus::Escapes, None),
        Resolved::Loop => (LinkStatus::Loop, None),
    };
    Link {
        path: e.path.clone(),
        target,
        status,
        resolves_to,
    }
}

fn quote_some(items: &[&str]) -> String {
    let mut s: Vec<String> = items
        .iter()
        .take(EXAMPLES)
        .map(|p| format!("`{}`", read::shorten(&escape_controls(p))))
        .collect();
    if items.len() > EXAMPLES {
        s.push(format!("and {} more", items.len() - EXAMPLES));
    }
    s.join(", ")
}

/// The mistakes that leave a layer unused: packages at the root of /opt instead of in the
/// runtime's folder, or a runtime folder missing its inner level.
fn layout_warnings(folders: &[Folder], has: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let python_at_root = folders.iter().any(|f| {
        f.name.ends_with(".dist-info")
            || f.name.ends_with(".py")
            || (f.kind == Node::Dir && has(&format!("{}/__init__.py", f.name)))
    });
    if python_at_root && !has("python") {
        out.push(
            "Python packages sit at the root of /opt, where Python does not look: put them under python/"
                .to_string(),
        );
    }
    if has("node_modules") {
        out.push(
            "node_modules/ is at the root of /opt, where Node.js does not look: put it under nodejs/"
                .to_string(),
        );
    }
    if has("nodejs") && !has("nodejs/node_modules") {
        out.push(
            "nodejs/ has no node_modules/ inside: Node.js only searches /opt/nodejs/node_modules"
                .to_string(),
        );
    }
    if has("java") && !has("java/lib") {
        out.push(
            "java/ has no lib/ inside: the Java runtime only loads /opt/java/lib/*.jar".to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree<'a>(
        items: &'a [(&'a str, Node, Option<&'a str>)],
    ) -> HashMap<&'a str, (&'a Node, Option<&'a str>)> {
        items.iter().map(|(p, n, t)| (*p, (n, *t))).collect()
    }

    #[test]
    fn links_resolve_through_chains_and_absolute_opt_targets() {
        let items = [
            ("lib", Node::Dir, None),
            ("lib/libz.so.1.2.13", Node::File, None),
            ("lib/libz.so.1", Node::Symlink, Some("libz.so.1.2.13")),
            ("lib/libz.so", Node::Symlink, Some("/opt/lib/libz.so.1")),
            ("bin", Node::Dir, None),
        ];
        let t = tree(&items);
        assert_eq!(
            resolve(&t, "lib/libz.so", "/opt/lib/libz.so.1"),
            Resolved::Inside("lib/libz.so.1.2.13".into())
        );
        assert_eq!(
            resolve(&t, "bin/z", "../lib/missing"),
            Resolved::Dangling("lib/missing".into())
        );
        assert_eq!(resolve(&t, "bin/z", "../../etc"), Resolved::Escapes);
        assert_eq!(resolve(&t, "bin/z", "/usr/bin/env"), Resolved::Escapes);
        assert_eq!(resolve(&t, "bin/z", "/optical"), Resolved::Escapes);
        assert_eq!(
            resolve(&t, "bin/z", "/opt"),
            Resolved::Inside(String::new())
        );
        assert_eq!(
            resolve(&t, "bin/z", "../lib/libz.so.1.2.13/x"),
            Resolved::Dangling("lib/libz.so.1.2.13/x".into())
        );
    }

    #[test]
    fn escapes_through_an_upward_link_and_loops_are_caught() {
        let items = [
            ("a", Node::Dir, None),
            ("a/up", Node::Symlink, Some("..")),
            ("x", Node::Symlink, Some("y")),
            ("y", Node::Symlink, Some("x")),
        ];
        let t = tree(&items);
        assert_eq!(resolve(&t, "a/l", "up/../x"), Resolved::Escapes);
        assert_eq!(resolve(&t, "x", "y"), Resolved::Loop);
    }
}
