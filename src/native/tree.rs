//! The layer's file tree as the loader will see it under /opt: regular files and symlinks by
//! path, symlinks followed the way the kernel follows them, and `$ORIGIN` expanded for a file's
//! place in the tree.
//!
//! The tree is held as nodes (one per path component, each folder indexing its children by
//! name), so following a path costs one lookup per component and looking a library up in a
//! known folder costs one lookup: no path is re-joined per component, and no work grows with
//! the square of a path's depth.

use std::collections::HashMap;

pub use crate::layer::read::ROOT;

/// Symlink hops before a path counts as a loop (the kernel's limit is 40).
const MAX_HOPS: usize = 40;

/// The longest search-path entry after `$ORIGIN` expansion (PATH_MAX): ld.so cannot open more.
const MAX_EXPANDED: usize = 4096;

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink(Box<str>),
}

#[derive(Debug)]
struct Node {
    parent: u32,
    name: Box<str>,
    kind: Kind,
    // Boxed: 8 bytes in every node instead of a map's 48, and most nodes are files.
    #[allow(clippy::box_collection)]
    children: Option<Box<HashMap<Box<str>, u32>>>,
}

const TOP: u32 = 0;

/// Where a path ends up after following symlinks.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A path inside the layer, relative to /opt (it may or may not exist).
    #[cfg(test)]
    Inside(String),
    /// An absolute path outside /opt: only the runtime image can have it.
    Outside(String),
    /// A symlink loop.
    Loop,
}

/// A folder of the layer a library may be looked up in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dir {
    /// Relative to /opt (`""` is /opt itself).
    pub path: String,
    /// Its node, if the folder exists in the layer.
    node: Option<u32>,
}

impl Dir {
    /// A folder that leads nowhere in the layer (out of /opt, or a loop): nothing is found there.
    pub fn nowhere(path: &str) -> Dir {
        Dir {
            path: path.to_string(),
            node: None,
        }
    }
}

/// Where each folder of a search path first appears in it.
pub struct Positions(HashMap<u32, usize>);

pub struct Tree {
    nodes: Vec<Node>,
    by_name: HashMap<Box<str>, Vec<u32>>,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree {
            nodes: vec![Node {
                parent: TOP,
                name: "".into(),
                kind: Kind::Dir,
                children: None,
            }],
            by_name: HashMap::new(),
        }
    }
}

/// One step of a walk: a node of the tree, or a name below something missing.
#[derive(Clone, Copy)]
enum Step<'a> {
    Node(u32),
    Missing(&'a str),
}

/// The folder holding `path` ("" for the layer root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// `path` (relative to /opt) as the absolute path the function sees.
pub fn absolute(path: &str) -> String {
    if path.is_empty() {
        ROOT.to_string()
    } else {
        format!("{ROOT}/{path}")
    }
}

impl Tree {
    /// Add a regular file at a layer path (as the reader gives them: no `.`, `..` or empty parts).
    pub fn add_file(&mut self, path: &str) {
        self.add(path, Kind::File);
    }

    pub fn add_symlink(&mut self, path: &str, target: &str) {
        self.add(path, Kind::Symlink(target.into()));
    }

    fn child(&self, parent: u32, name: &str) -> Option<u32> {
        self.nodes[parent as usize]
            .children
            .as_ref()
            .and_then(|c| c.get(name).copied())
    }

    fn add(&mut self, path: &str, kind: Kind) {
        let mut id = TOP;
        let mut parts = path.split('/').filter(|p| !p.is_empty()).peekable();
        while let Some(part) = parts.next() {
            let last = parts.peek().is_none();
            id = match self.child(id, part) {
                Some(c) if last => {
                    let fresh = self.nodes[c as usize].kind == Kind::Dir;
                    self.nodes[c as usize].kind = kind;
                    if fresh {
                        self.by_name.entry(part.into()).or_default().push(c);
                    }
                    return;
                }
                Some(c) => c,
                None => {
                    let new = self.nodes.len() as u32;
                    self.nodes.push(Node {
                        parent: id,
                        name: part.into(),
                        kind: Kind::Dir,
                        children: None,
                    });
                    self.nodes[id as usize]
                        .children
                        .get_or_insert_default()
                        .insert(part.into(), new);
                    new
                }
            };
            if last {
                self.nodes[id as usize].kind = kind;
                self.by_name.entry(part.into()).or_default().push(id);
                return;
            }
        }
    }

    /// The layer path of a node.
    fn path_of(&self, mut id: u32) -> String {
        let mut names = Vec::new();
        while id != TOP {
            let n = &self.nodes[id as usize];
            names.push(&*n.name);
            id = n.parent;
        }
        names.reverse();
        names.join("/")
    }

    fn joined(&self, steps: &[Step<'_>]) -> String {
        let mut out = match steps.iter().rposition(|s| matches!(s, Step::Node(_))) {
            Some(i) => match steps[i] {
                Step::Node(id) => self.path_of(id),
                Step::Missing(_) => unreachable!(),
            },
            None => String::new(),
        };
        for s in steps {
            if let Step::Missing(name) = s {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(name);
            }
        }
        out
    }

    /// The first `max` files or symlinks in the layer with this file name.
    pub fn named(&self, name: &str, max: usize) -> Vec<String> {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .take(max)
            .map(|id| self.path_of(*id))
            .collect()
    }

    /// Follow `path` (relative to /opt) through every symlink in it, component by component.
    fn walk<'a>(&'a self, path: &'a str) -> Result<Vec<Step<'a>>, Resolved> {
        let mut pending: Vec<&'a str> = path.rsplit('/').collect();
        let mut cur: Vec<Step<'a>> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            match c {
                "" | "." => continue,
                ".." => {
                    if cur.pop().is_none() {
                        // Above /opt: the rest names a path in the runtime image.
                        pending.reverse();
                        return Err(Resolved::Outside(format!("/{}", pending.join("/"))));
                    }
                    continue;
                }
                _ => {}
            }
            let parent = match cur.last() {
                None => Some(TOP),
                Some(Step::Node(id)) => Some(*id),
                Some(Step::Missing(_)) => None,
            };
            let Some(id) = parent.and_then(|p| self.child(p, c)) else {
                cur.push(Step::Missing(c));
                continue;
            };
            let Kind::Symlink(target) = &self.nodes[id as usize].kind else {
                cur.push(Step::Node(id));
                continue;
            };
            hops += 1;
            if hops > MAX_HOPS {
                return Err(Resolved::Loop);
            }
            let mut target: &str = target;
            if let Some(abs) = target.strip_prefix('/') {
                // An absolute target only stays in the layer when it points into /opt.
                match abs.strip_prefix("opt") {
                    Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                        cur.clear();
                        target = rest;
                    }
                    _ => {
                        pending.reverse();
                        let mut out = format!("/{abs}");
                        if !pending.is_empty() {
                            out = format!("{}/{}", out.trim_end_matches('/'), pending.join("/"));
                        }
                        return Err(Resolved::Outside(out));
                    }
                }
            }
            pending.extend(target.rsplit('/'));
        }
        Ok(cur)
    }

    /// Follow `path` (relative to /opt) through every symlink in it.
    #[cfg(test)]
    pub fn resolve(&self, path: &str) -> Resolved {
        match self.walk(path) {
            Ok(steps) => Resolved::Inside(self.joined(&steps)),
            Err(r) => r,
        }
    }

    /// The real path of a regular file that `path` leads to, if it is in the layer.
    pub fn file(&self, path: &str) -> Option<String> {
        match self.walk(path).ok()?.last() {
            Some(Step::Node(id)) if self.nodes[*id as usize].kind == Kind::File => {
                Some(self.path_of(*id))
            }
            _ => None,
        }
    }

    /// The folder `path` leads to (which may not exist).
    pub fn dir(&self, path: &str) -> Result<Dir, Resolved> {
        let steps = self.walk(path)?;
        let node = match steps.last() {
            None => Some(TOP),
            Some(Step::Node(id)) if self.nodes[*id as usize].kind == Kind::Dir => Some(*id),
            _ => None,
        };
        Ok(Dir {
            path: self.joined(&steps),
            node,
        })
    }

    /// The real path of the file named `name` in folder `dir`, one lookup unless it is a link.
    pub fn lookup(&self, dir: &Dir, name: &str) -> Option<String> {
        let id = self.child(dir.node?, name)?;
        match &self.nodes[id as usize].kind {
            Kind::File => Some(self.path_of(id)),
            Kind::Symlink(_) if dir.path.is_empty() => self.file(name),
            Kind::Symlink(_) => self.file(&format!("{}/{name}", dir.path)),
            Kind::Dir => None,
        }
    }

    /// Index the folders of a search path (in order) for [`Tree::find`].
    pub fn positions<'a>(&self, dirs: impl Iterator<Item = &'a Dir>) -> Positions {
        let mut at = HashMap::new();
        for (i, d) in dirs.enumerate() {
            if let Some(n) = d.node {
                at.entry(n).or_insert(i);
            }
        }
        Positions(at)
    }

    /// The first of `count` search folders (`dir(i)`, indexed by `positions`) that holds a file
    /// named `name` (or a link to one), with its real path. The files of that name are looked
    /// up once, so a name no folder holds costs one lookup however long the search path is.
    pub fn find<'a>(
        &self,
        name: &str,
        positions: &Positions,
        count: usize,
        dir: impl Fn(usize) -> &'a Dir,
    ) -> Option<(usize, String)> {
        let named = self.by_name.get(name)?;
        if named.len() > count {
            return (0..count).find_map(|i| self.lookup(dir(i), name).map(|p| (i, p)));
        }
        let mut best: Option<(usize, String)> = None;
        for &id in named {
            let Some(&i) = positions.0.get(&self.nodes[id as usize].parent) else {
                continue;
            };
            if best.as_ref().is_some_and(|(b, _)| *b <= i) {
                continue;
            }
            if let Some(p) = self.lookup(dir(i), name) {
                best = Some((i, p));
            }
        }
        best
    }

    /// Turn one RPATH/RUNPATH entry of the file at `origin_file` into a folder inside the layer.
    /// `Err` says why the entry cannot lead into the layer (a system folder, an unknown token);
    /// the runtime's own folders are covered by its list of provided libraries.
    pub fn search_dir(&self, entry: &str, origin_file: &str) -> Result<Dir, String> {
        let origin = absolute(parent(origin_file));
        let tokens = entry.matches("$ORIGIN").count() + entry.matches("${ORIGIN}").count();
        if entry.len() + tokens * origin.len() > MAX_EXPANDED {
            return Err(format!(
                "`{}` expands to more than {MAX_EXPANDED} bytes",
                crate::layer::read::shorten(entry)
            ));
        }
        let expanded = entry
            .replace("${ORIGIN}", &origin)
            .replace("$ORIGIN", &origin);
        if expanded.contains('$') {
            return Err(format!("`{entry}` uses a token other than $ORIGIN"));
        }
        let Some(abs) = expanded.strip_prefix('/') else {
            // ld.so would read it relative to the process's working folder, which varies.
            return Err(format!("`{entry}` is relative to the working folder"));
        };
        match abs.strip_prefix("opt") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => match self.dir(rest) {
                Ok(dir) => Ok(dir),
                Err(Resolved::Outside(p)) => Err(format!("{p} is outside /opt")),
                Err(_) => Err(format!("{expanded} is a symlink loop")),
            },
            _ => Err(format!("{expanded} is outside /opt")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        let mut t = Tree::default();
        t.add_file("lib/libfoo.so.1.2.3");
        t.add_symlink("lib/libfoo.so.1", "libfoo.so.1.2.3");
        t.add_symlink("lib64", "lib");
        t.add_symlink("lib/libabs.so.1", "/opt/lib/libfoo.so.1");
        t.add_symlink("lib/libsys.so.1", "/usr/lib/x86_64-linux-gnu/libsys.so.1");
        t.add_symlink("lib/loop.so", "loop.so");
        t.add_file("python/numpy.libs/libopenblas.so.0");
        t.add_file("python/numpy/core/_umath.so");
        t
    }

    #[test]
    fn parents_and_absolute_paths() {
        assert_eq!(parent("lib/x"), "lib");
        assert_eq!(parent("x"), "");
        assert_eq!(absolute(""), "/opt");
    }

    #[test]
    fn symlinks_are_followed_through_files_and_folders() {
        let t = tree();
        assert_eq!(
            t.file("lib/libfoo.so.1").as_deref(),
            Some("lib/libfoo.so.1.2.3")
        );
        assert_eq!(
            t.file("lib64/libfoo.so.1").as_deref(),
            Some("lib/libfoo.so.1.2.3")
        );
        assert_eq!(
            t.file("lib/libabs.so.1").as_deref(),
            Some("lib/libfoo.so.1.2.3")
        );
        assert_eq!(
            t.resolve("lib/libsys.so.1"),
            Resolved::Outside("/usr/lib/x86_64-linux-gnu/libsys.so.1".into())
        );
        assert_eq!(t.file("lib/libsys.so.1"), None);
        assert_eq!(t.resolve("lib/loop.so"), Resolved::Loop);
        assert_eq!(t.file("lib/nothere.so"), None);
        // A folder is not a file.
        assert_eq!(t.file("lib"), None);
        assert_eq!(t.named("libfoo.so.1", 8), ["lib/libfoo.so.1"]);
    }

    #[test]
    fn origin_expands_to_the_files_folder_under_opt() {
        let t = tree();
        let so = "python/numpy/core/_umath.so";
        assert_eq!(
            t.search_dir("$ORIGIN/../../numpy.libs", so).unwrap().path,
            "python/numpy.libs"
        );
        assert_eq!(
            t.search_dir("${ORIGIN}/../../numpy.libs", so).unwrap().path,
            "python/numpy.libs"
        );
        assert_eq!(t.search_dir("/opt/lib", so).unwrap().path, "lib");
        let lib64 = t.search_dir("/opt/lib64", so).unwrap();
        assert_eq!(lib64.path, "lib");
        assert_eq!(
            t.lookup(&lib64, "libfoo.so.1").as_deref(),
            Some("lib/libfoo.so.1.2.3")
        );
        assert_eq!(t.lookup(&lib64, "nothere.so"), None);
        assert!(t.search_dir("/usr/local/lib", so).is_err());
        assert!(t.search_dir("/optional/lib", so).is_err());
        assert!(t.search_dir("$ORIGIN/../../../../usr/lib", so).is_err());
        assert!(t.search_dir("$LIB/foo", so).unwrap_err().contains("token"));
        assert!(t.search_dir("lib", so).unwrap_err().contains("relative"));
    }
}
