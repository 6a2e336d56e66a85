//! What a layer ZIP holds, as FC will see it once unpacked into /opt: the runtime folders and
//! their sizes, the largest files, every symlink and where it leads, and the digests FC reports.
//!
//! The ZIP may come from anywhere (our packer, `zip -r`, a Windows tool), so reading is lenient:
//! odd names, missing directory entries and unsafe paths become warnings, not errors. Only the
//! central directory is read, plus the few bytes of each symlink's target.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Serialize;

use super::digest::Digests;
use crate::error::{Error, IoContext, Result};
use crate::extract::{Resolved, Seen, follow};

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
/// Symlink targets longer than PATH_MAX are not targets; stop reading there.
const MAX_TARGET: u64 = 4096;
/// Examples quoted in one warning; the count says how many more there are.
const EXAMPLES: usize = 3;

/// What an entry of the unpacked layer is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Node {
    Dir,
    File,
    Symlink,
}

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

/// Check that `path` names a readable file before handing it to the ZIP reader, so that a typo
/// or a directory gets a message that says so (exit 2), not a ZIP parser's complaint.
pub(crate) fn open_layer(path: &Path) -> Result<(zip::ZipArchive<BufReader<File>>, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::io("open", path, e).with_hint("give the path of a layer ZIP, e.g. layer.zip")
    })?;
    if meta.is_dir() {
        return Err(Error::input(format!(
            "{} is a directory, not a layer ZIP",
            path.display()
        ))
        .with_hint("to look at a folder, pack it first: fclayer pack DIR -o layer.zip"));
    }
    let file = File::open(path).at("open", path)?;
    let zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        Error::input(format!(
            "{} is not a readable ZIP file: {e}",
            path.display()
        ))
        .with_hint("give a layer ZIP as uploaded to FC (e.g. one written by fclayer build or pack)")
    })?;
    Ok((zip, meta.len()))
}

/// Read the central directory of a layer ZIP into a listing.
pub(crate) fn read_listing(path: &Path) -> Result<Listing> {
    let (mut zip, zip_size) = open_layer(path)?;
    let unreadable = |e: zip::result::ZipError| {
        Error::input(format!("{} is damaged: {e}", path.display()))
            .with_hint("download or build the layer again")
    };
    let mut warnings = Warnings::default();
    if zip.has_duplicate_names() {
        // The reader keeps one entry per name, so which names repeat is no longer known here.
        warnings.lines.push(
            "the ZIP lists some names twice: unzip asks or keeps the last copy; one is shown here"
                .to_string(),
        );
    }
    let mut entries: BTreeMap<String, ZipEntry> = BTreeMap::new();
    for i in 0..zip.len() {
        let (raw, mode, is_dir, size, compressed, crc32) = {
            let e = zip.by_index_data(i).map_err(unreadable)?;
            (
                e.name_raw().to_vec(),
                e.unix_mode(),
                e.is_dir(),
                e.size(),
                e.compressed_size(),
                e.crc32(),
            )
        };
        let name = match String::from_utf8(raw) {
            Ok(s) => s,
            Err(e) => {
                let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                warnings.add(
                    "names that are not UTF-8 (FC may unpack them garbled)",
                    &lossy,
                );
                lossy
            }
        };
        if name.contains('\\') {
            warnings.add(
                "names with backslashes (made on Windows? they are not folders on Linux)",
                &name,
            );
        }
        let Some(lp) = normalise(&name) else {
            warnings.add(
                "entries with an absolute path or `..` (outside /opt; skipped)",
                &name,
            );
            continue;
        };
        if lp.is_empty() {
            continue;
        }
        let node = match mode.map(|m| m & S_IFMT) {
            Some(S_IFLNK) => Node::Symlink,
            Some(S_IFDIR) => Node::Dir,
            _ if is_dir => Node::Dir,
            _ => Node::File,
        };
        let target = if node == Node::Symlink {
            let mut buf = Vec::new();
            let read = zip.by_index(i).map_err(|e| e.to_string()).and_then(|f| {
                f.take(MAX_TARGET)
                    .read_to_end(&mut buf)
                    .map_err(|e| e.to_string())
            });
            if let Err(e) = read {
                return Err(Error::input(format!(
                    "{} is damaged: cannot read symlink {lp}: {e}",
                    path.display()
                ))
                .with_hint("download or build the layer again"));
            }
            Some(String::from_utf8_lossy(&buf).into_owned())
        } else {
            None
        };
        if entries.contains_key(&lp) {
            warnings.add("duplicate entries (the first one is shown)", &lp);
            continue;
        }
        entries.insert(
            lp.clone(),
            ZipEntry {
                path: lp,
                node,
                size: if node_is_data(mode, is_dir) { size } else { 0 },
                compressed,
                crc32,
                exec: mode.is_some_and(|m| m & 0o111 != 0),
                target,
            },
        );
    }
    add_implied_dirs(&mut entries, &mut warnings);
    let mut entries: Vec<ZipEntry> = entries.into_values().collect();
    entries.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    Ok(Listing {
        entries,
        zip_size,
        warnings: warnings.finish(),
    })
}

/// Directories carry no data of their own, whatever size field a tool wrote for them.
fn node_is_data(mode: Option<u32>, is_dir: bool) -> bool {
    !is_dir && mode.is_none_or(|m| m & S_IFMT != S_IFDIR)
}

/// A ZIP need not list the folders its files are in; unzip creates them, so they exist in /opt.
fn add_implied_dirs(entries: &mut BTreeMap<String, ZipEntry>, warnings: &mut Warnings) {
    let mut implied: Vec<String> = Vec::new();
    for path in entries.keys() {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            match entries.get(parent) {
                Some(e) if e.node != Node::Dir => {
                    warnings.add(
                        "entries below a file or symlink (unzip cannot create them)",
                        path,
                    );
                    break;
                }
                Some(_) => {}
                None => implied.push(parent.to_string()),
            }
            p = parent;
        }
    }
    for path in implied {
        entries.entry(path.clone()).or_insert(ZipEntry {
            path,
            node: Node::Dir,
            size: 0,
            compressed: 0,
            crc32: 0,
            exec: true,
            target: None,
        });
    }
}

/// A ZIP entry name as a layer path: `/`-separated, no `.` or empty parts. `None` if it is
/// absolute or climbs with `..`, which unzip refuses or strips (so it never lands where named).
fn normalise(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
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
                .map(|e| format!("`{}`", e.escape_debug()))
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
        File::open(path).at("open", path)?,
    ))
    .at("read", path)?;
    let mut warnings = listing.warnings.clone();
    let tree = listing.tree();
    let has = |p: &str| tree.contains_key(p);

    let mut folders: Vec<Folder> = Vec::new();
    let (mut files, mut dirs, mut symlinks, mut unpacked, mut compressed) = (0, 0, 0, 0, 0);
    let mut sizes: Vec<&ZipEntry> = Vec::new();
    let mut links = Vec::new();
    let mut not_executable: Vec<&str> = Vec::new();
    for e in &listing.entries {
        let top_name = e.path.split('/').next().unwrap_or_default();
        if !e.path.contains('/') {
            let role = if e.node == Node::Dir {
                role_of(top_name, &has)
            } else {
                Role::Other
            };
            folders.push(Folder {
                name: top_name.to_string(),
                kind: e.node.clone(),
                role,
                seen_as: role.seen_as().to_string(),
                files: 0,
                symlinks: 0,
                unpacked_size: 0,
                compressed_size: 0,
            });
        }
        // Sorted component-wise, a folder's contents follow it directly.
        let folder = folders
            .last_mut()
            .expect("the first entry in path order is top-level");
        match e.node {
            Node::Dir => dirs += 1,
            Node::File => {
                files += 1;
                unpacked += e.size;
                compressed += e.compressed;
                folder.files += 1;
                folder.unpacked_size += e.size;
                folder.compressed_size += e.compressed;
                sizes.push(e);
                if top_name == "bin" && !e.exec {
                    not_executable.push(&e.path);
                }
            }
            Node::Symlink => {
                symlinks += 1;
                folder.symlinks += 1;
                let target = e.target.clone().unwrap_or_default();
                let (status, resolves_to) = match resolve(&tree, &e.path, &target) {
                    Resolved::Inside(p) => (LinkStatus::Ok, Some(p)),
                    Resolved::Dangling(p) => (LinkStatus::Dangling, Some(p)),
                    Resolved::Escapes => (LinkStatus::Escapes, None),
                    Resolved::Loop => (LinkStatus::Loop, None),
                };
                links.push(Link {
                    path: e.path.clone(),
                    target,
                    status,
                    resolves_to,
                });
            }
        }
    }
    sizes.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    let largest = sizes
        .iter()
        .take(top)
        .map(|e| LargeFile {
            path: e.path.clone(),
            size: e.size,
            compressed_size: e.compressed,
        })
        .collect();

    if !not_executable.is_empty() {
        warnings.push(format!(
            "files in bin/ without the executable bit (nothing can run them from PATH): {}",
            quote_some(&not_executable)
        ));
    }
    warnings.extend(layout_warnings(&folders, &has));
    let mut runtimes: Vec<Role> = folders
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
        files,
        dirs,
        symlinks,
        unpacked_size: unpacked,
        compressed_size: compressed,
        runtimes,
        folders,
        largest,
        links,
        warnings,
        // Only .pyc headers are read; a ZIP the listing could read but this cannot has none.
        bytecode: crate::pyc::bytecode_in(path).unwrap_or_default(),
    })
}

fn quote_some(items: &[&str]) -> String {
    let mut s: Vec<String> = items
        .iter()
        .take(EXAMPLES)
        .map(|p| format!("`{p}`"))
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

    #[test]
    fn names_normalise_or_are_refused() {
        assert_eq!(normalise("./python/x.py").as_deref(), Some("python/x.py"));
        assert_eq!(normalise("python/").as_deref(), Some("python"));
        assert_eq!(normalise("/etc/passwd"), None);
        assert_eq!(normalise("a/../../b"), None);
    }
}
