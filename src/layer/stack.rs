//! What /opt looks like when several layers are configured on one function, in order.
//!
//! FC unpacks every layer into /opt; where two hold the same path, the layer configured first
//! wins. That rule is applied at every path, as an overlay mount does: a directory in two layers
//! merges, a file or symlink in an earlier layer hides the same path in later ones, and a file or
//! symlink where a later layer has a directory hides that directory with everything below it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::inspect::{self, Listing, Node, Role, ZipEntry};
use crate::error::{Error, Result};
use crate::extract::{Resolved, Seen, follow};

/// FC attaches at most this many layers to a function.
pub const MAX_LAYERS: usize = 5;

#[derive(Clone, Debug, Serialize)]
pub struct Layer {
    /// 1-based position in the function's layer list (1 wins over 2).
    pub index: usize,
    /// As given (lossy UTF-8, so that the report always serialises).
    pub path: String,
    pub zip_size: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub unpacked_size: u64,
    pub runtimes: Vec<Role>,
    /// Files and symlinks of this layer visible in the merged /opt.
    pub provides: u64,
    /// Their unpacked bytes.
    pub provides_size: u64,
    /// Files and symlinks hidden by the same path in an earlier layer.
    pub shadowed: u64,
    /// Entries hidden because an earlier layer has a file or symlink where this one has a
    /// directory (or the reverse).
    pub hidden_by_conflicts: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Merged {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub unpacked_size: u64,
}

/// A file or symlink present in more than one layer.
#[derive(Clone, Debug, Serialize)]
pub struct Shadow {
    pub path: String,
    pub kind: Node,
    /// The layer whose copy the function sees.
    pub winner: usize,
    /// The later layers whose copies are hidden.
    pub hidden: Vec<usize>,
    /// Every hidden copy has the same content (size and CRC-32, or link target) as the winner:
    /// harmless duplication rather than an override.
    pub identical: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Loser {
    pub layer: usize,
    pub kind: Node,
    /// Entries of this layer that are unreachable: the path itself and all below it.
    pub hidden_entries: u64,
}

/// A path that is a directory in one layer and a file or symlink in another.
#[derive(Clone, Debug, Serialize)]
pub struct Conflict {
    pub path: String,
    pub winner: usize,
    pub winner_kind: Node,
    /// For a winning symlink: its target.
    pub winner_target: Option<String>,
    pub losers: Vec<Loser>,
    /// What the function finds at /opt/<path>.
    pub runtime_sees: String,
}

/// A symlink of the merged /opt that leads nowhere, or out of /opt.
#[derive(Clone, Debug, Serialize)]
pub struct BrokenLink {
    pub path: String,
    pub layer: usize,
    pub target: String,
    pub escapes: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub layers: Vec<Layer>,
    pub merged: Merged,
    pub shadowed: Vec<Shadow>,
    pub conflicts: Vec<Conflict>,
    pub broken_links: Vec<BrokenLink>,
    pub warnings: Vec<String>,
}

/// The winning entry at a path of the merged /opt.
struct Winner<'a> {
    layer: usize,
    entry: &'a ZipEntry,
}

/// Merge `zips`, given in the order they are configured (the first wins).
pub fn stack(zips: &[PathBuf]) -> Result<Report> {
    if zips.len() > MAX_LAYERS {
        return Err(Error::input(format!(
            "{} layers given, but FC allows at most {MAX_LAYERS} layers per function",
            zips.len()
        ))
        .with_hint(
            "merge some layers into one (pack their folders together) or drop those the function does not need",
        ));
    }
    if zips.is_empty() {
        return Err(Error::input("no layer ZIPs given").with_hint("fclayer stack A.zip B.zip"));
    }
    let listings: Vec<Listing> = zips
        .iter()
        .map(|p| inspect::read_listing(p))
        .collect::<Result<_>>()?;
    let mut warnings = same_file_warnings(zips);
    for (i, l) in listings.iter().enumerate() {
        warnings.extend(l.warnings.iter().map(|w| format!("#{}: {w}", i + 1)));
    }
    let mut layers: Vec<Layer> = zips
        .iter()
        .zip(&listings)
        .enumerate()
        .map(|(i, (path, l))| summary(i + 1, path, l))
        .collect();
    let mut m = Merge::default();
    for (i, listing) in listings.iter().enumerate() {
        m.add(i + 1, listing, &mut layers[i]);
    }

    let mut total = Merged::default();
    for w in m.merged.values() {
        let l = &mut layers[w.layer - 1];
        match w.entry.node {
            Node::Dir => total.dirs += 1,
            Node::File => {
                total.files += 1;
                total.unpacked_size += w.entry.size;
                l.provides += 1;
                l.provides_size += w.entry.size;
            }
            Node::Symlink => {
                total.symlinks += 1;
                l.provides += 1;
            }
        }
    }
    let mut conflicts: Vec<Conflict> = m.conflicts.into_values().collect();
    for c in &mut conflicts {
        c.runtime_sees = runtime_sees(c);
    }
    Ok(Report {
        layers,
        merged: total,
        shadowed: m.shadows.into_values().collect(),
        conflicts,
        broken_links: broken_links(&m.merged),
        warnings,
    })
}

/// The merged /opt as layers are added, first to last.
#[derive(Default)]
struct Merge<'a> {
    merged: HashMap<&'a str, Winner<'a>>,
    shadows: BTreeMap<&'a str, Shadow>,
    conflicts: BTreeMap<&'a str, Conflict>,
}

impl<'a> Merge<'a> {
    fn add(&mut self, n: usize, listing: &'a Listing, layer: &mut Layer) {
        // The chain of open ancestors of the current entry (a listing holds every folder
        // before its contents), each with the topmost ancestor-or-self that an earlier layer
        // holds as a file or symlink: everything below that is out of reach.
        let mut open: Vec<(&'a str, Option<&'a str>)> = Vec::new();
        for e in &listing.entries {
            while let Some((top, _)) = open.last() {
                if e.path.len() > top.len()
                    && e.path.starts_with(top)
                    && e.path.as_bytes()[top.len()] == b'/'
                {
                    break;
                }
                open.pop();
            }
            let blocker = open.last().and_then(|(_, b)| *b);
            if let Some(blocker) = blocker {
                // The blocker was recorded as a conflict when this layer's directory reached it,
                // unless this ZIP itself holds entries below a file (already warned about).
                if let Some(c) = self.conflicts.get_mut(blocker) {
                    loser(c, n, None).hidden_entries += 1;
                }
                layer.hidden_by_conflicts += 1;
                open.push((&e.path, Some(blocker)));
                continue;
            }
            let blocks = self.place(n, e, layer);
            open.push((&e.path, blocks.then_some(e.path.as_str())));
        }
    }

    /// Put `e` of layer `n` into the merged view. True if an earlier layer holds its path as a
    /// file or symlink, which hides everything this layer has below it.
    fn place(&mut self, n: usize, e: &'a ZipEntry, layer: &mut Layer) -> bool {
        let w = match self.merged.entry(&e.path) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Winner { layer: n, entry: e });
                return false;
            }
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        };
        let (wn, we) = (w.layer, w.entry);
        let blocks = we.node != Node::Dir && wn != n;
        match (we.node, e.node) {
            (Node::Dir, Node::Dir) => {}
            (Node::Dir, _) | (_, Node::Dir) => {
                let c = self.conflicts.entry(&e.path).or_insert_with(|| Conflict {
                    path: e.path.clone(),
                    winner: wn,
                    winner_kind: we.node,
                    winner_target: we.target.clone(),
                    losers: Vec::new(),
                    runtime_sees: String::new(),
                });
                loser(c, n, Some(e.node)).hidden_entries += 1;
                layer.hidden_by_conflicts += 1;
            }
            _ => {
                let s = self.shadows.entry(&e.path).or_insert_with(|| Shadow {
                    path: e.path.clone(),
                    kind: we.node,
                    winner: wn,
                    hidden: Vec::new(),
                    identical: true,
                });
                s.hidden.push(n);
                s.identical &= same_content(we, e);
                layer.shadowed += 1;
            }
        }
        blocks
    }
}

fn loser(c: &mut Conflict, layer: usize, kind: Option<Node>) -> &mut Loser {
    let i = match c.losers.iter().position(|l| l.layer == layer) {
        Some(i) => i,
        None => {
            c.losers.push(Loser {
                layer,
                kind: kind.unwrap_or(Node::Dir),
                hidden_entries: 0,
            });
            c.losers.len() - 1
        }
    };
    &mut c.losers[i]
}

fn same_content(a: &ZipEntry, b: &ZipEntry) -> bool {
    a.node == b.node
        && match a.node {
            Node::Symlink => a.target == b.target,
            _ => a.size == b.size && a.crc32 == b.crc32,
        }
}

fn runtime_sees(c: &Conflict) -> String {
    let hidden: Vec<String> = c
        .losers
        .iter()
        .map(|l| {
            if l.kind == Node::Dir {
                format!(
                    "#{}'s directory ({} entries with its contents) is hidden",
                    l.layer, l.hidden_entries
                )
            } else {
                format!("#{}'s {} is hidden", l.layer, kind_name(&l.kind))
            }
        })
        .collect();
    let what = match (&c.winner_kind, &c.winner_target) {
        (Node::Symlink, Some(t)) => format!("#{}'s symlink (-> {t})", c.winner),
        (Node::Dir, _) => format!("#{}'s directory", c.winner),
        (k, _) => format!("#{}'s {}", c.winner, kind_name(k)),
    };
    format!("/opt/{} is {what}; {}", c.path, hidden.join("; "))
}

pub fn kind_name(n: &Node) -> &'static str {
    match n {
        Node::Dir => "directory",
        Node::File => "file",
        Node::Symlink => "symlink",
    }
}

fn summary(index: usize, path: &Path, l: &Listing) -> Layer {
    let mut layer = Layer {
        index,
        path: path.to_string_lossy().into_owned(),
        zip_size: l.zip_size,
        files: 0,
        dirs: 0,
        symlinks: 0,
        unpacked_size: 0,
        runtimes: Vec::new(),
        provides: 0,
        provides_size: 0,
        shadowed: 0,
        hidden_by_conflicts: 0,
    };
    // Only a top-level nodejs/ or java/ asks about a path below it: a scan is enough.
    let has = |p: &str| l.entries.iter().any(|e| e.path == p);
    for e in &l.entries {
        match e.node {
            Node::Dir => {
                layer.dirs += 1;
                if !e.path.contains('/') {
                    let role = inspect::role_of(&e.path, &has);
                    if role != Role::Other {
                        layer.runtimes.push(role);
                    }
                }
            }
            Node::File => {
                layer.files += 1;
                layer.unpacked_size += e.size;
            }
            Node::Symlink => layer.symlinks += 1,
        }
    }
    layer.runtimes.sort();
    layer
}

fn same_file_warnings(zips: &[PathBuf]) -> Vec<String> {
    let canon: Vec<Option<PathBuf>> = zips.iter().map(|p| p.canonicalize().ok()).collect();
    let mut out = Vec::new();
    for (i, a) in canon.iter().enumerate() {
        for (j, b) in canon.iter().enumerate().skip(i + 1) {
            if a.is_some() && a == b {
                out.push(format!(
                    "#{} and #{} are the same file ({}): every path of #{} is shadowed",
                    i + 1,
                    j + 1,
                    zips[i].display(),
                    j + 1
                ));
            }
        }
    }
    out
}

/// Links that lead nowhere once all layers are merged. A link may rightly point into another
/// layer, so only the merged view can tell.
fn broken_links(merged: &HashMap<&str, Winner<'_>>) -> Vec<BrokenLink> {
    let seen = |path: &str| match merged.get(path).map(|w| w.entry) {
        Some(e) if e.node == Node::Symlink => Seen::Link(e.target.as_deref().unwrap_or("")),
        Some(e) if e.node == Node::Dir => Seen::Dir,
        Some(_) => Seen::File,
        None => Seen::Missing,
    };
    let mut out: Vec<BrokenLink> = merged
        .iter()
        .filter(|(_, w)| w.entry.node == Node::Symlink)
        .filter_map(|(p, w)| {
            let target = w.entry.target.clone().unwrap_or_default();
            let escapes = match follow(p, &target, seen) {
                Resolved::Inside(_) => return None,
                Resolved::Escapes => true,
                Resolved::Dangling(_) | Resolved::Loop => false,
            };
            Some(BrokenLink {
                path: p.to_string(),
                layer: w.layer,
                target,
                escapes,
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    out
}
