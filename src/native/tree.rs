//! The layer's file tree as the loader will see it under /opt: regular files and symlinks by
//! path, symlinks followed the way the kernel follows them, and `$ORIGIN` expanded for a file's
//! place in the tree.

use std::collections::{HashMap, VecDeque};

/// Where FC unpacks every layer.
pub const ROOT: &str = "/opt";

/// Symlink hops before a path counts as a loop (the kernel's limit is 40).
const MAX_HOPS: usize = 40;

enum Entry {
    File,
    Symlink(String),
}

/// Where a path ends up after following symlinks.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A path inside the layer, relative to /opt (it may or may not exist).
    Inside(String),
    /// An absolute path outside /opt: only the runtime image can have it.
    Outside(String),
    /// A symlink loop.
    Loop,
}

#[derive(Default)]
pub struct Tree {
    entries: HashMap<String, Entry>,
    by_name: HashMap<String, Vec<String>>,
}

/// A ZIP member name as a clean relative path: no leading `./` or `/`, no trailing `/`.
pub fn clean(name: &str) -> String {
    let mut s = name;
    loop {
        if let Some(rest) = s.strip_prefix("./") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix('/') {
            s = rest;
        } else {
            break;
        }
    }
    s.trim_end_matches('/').to_string()
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
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
    pub fn add_file(&mut self, path: &str) {
        self.add(path, Entry::File);
    }

    pub fn add_symlink(&mut self, path: &str, target: &str) {
        self.add(path, Entry::Symlink(target.to_string()));
    }

    fn add(&mut self, path: &str, entry: Entry) {
        self.by_name
            .entry(file_name(path).to_string())
            .or_default()
            .push(path.to_string());
        self.entries.insert(path.to_string(), entry);
    }

    /// Every file or symlink in the layer with this file name.
    pub fn named(&self, name: &str) -> &[String] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// Follow `path` (relative to /opt) through every symlink in it, component by component.
    pub fn resolve(&self, path: &str) -> Resolved {
        let mut pending: VecDeque<String> = path.split('/').map(str::to_string).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop_front() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    if cur.pop().is_none() {
                        // Above /opt: the rest names a path in the runtime image.
                        let rest: Vec<String> = pending.into_iter().collect();
                        return Resolved::Outside(format!("/{}", rest.join("/")));
                    }
                    continue;
                }
                _ => cur.push(c),
            }
            let Some(Entry::Symlink(target)) = self.entries.get(&cur.join("/")) else {
                continue;
            };
            hops += 1;
            if hops > MAX_HOPS {
                return Resolved::Loop;
            }
            cur.pop();
            let mut target = target.as_str();
            if let Some(abs) = target.strip_prefix('/') {
                // An absolute target only stays in the layer when it points into /opt.
                match abs.strip_prefix("opt") {
                    Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                        cur.clear();
                        target = rest;
                    }
                    _ => {
                        let rest: Vec<String> = pending.into_iter().collect();
                        let mut out = format!("/{abs}");
                        if !rest.is_empty() {
                            out = format!("{}/{}", out.trim_end_matches('/'), rest.join("/"));
                        }
                        return Resolved::Outside(out);
                    }
                }
            }
            for part in target.split('/').rev() {
                pending.push_front(part.to_string());
            }
        }
        Resolved::Inside(cur.join("/"))
    }

    /// The real path of a regular file that `path` leads to, if it is in the layer.
    pub fn file(&self, path: &str) -> Option<String> {
        match self.resolve(path) {
            Resolved::Inside(p) if matches!(self.entries.get(&p), Some(Entry::File)) => Some(p),
            _ => None,
        }
    }

    /// Turn one RPATH/RUNPATH entry of the file at `origin_file` into a folder inside the layer.
    /// `Err` says why the entry cannot lead into the layer (a system folder, an unknown token);
    /// the runtime's own folders are covered by its list of provided libraries.
    pub fn search_dir(&self, entry: &str, origin_file: &str) -> Result<String, String> {
        let origin = absolute(parent(origin_file));
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
            Some(rest) if rest.is_empty() || rest.starts_with('/') => match self.resolve(rest) {
                Resolved::Inside(p) => Ok(p),
                Resolved::Outside(p) => Err(format!("{p} is outside /opt")),
                Resolved::Loop => Err(format!("{expanded} is a symlink loop")),
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
    fn member_names_are_cleaned() {
        assert_eq!(clean("./python/a.so"), "python/a.so");
        assert_eq!(clean("/lib/"), "lib");
        assert_eq!(clean("lib/x"), "lib/x");
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
        assert_eq!(t.named("libfoo.so.1"), ["lib/libfoo.so.1"]);
    }

    #[test]
    fn origin_expands_to_the_files_folder_under_opt() {
        let t = tree();
        let so = "python/numpy/core/_umath.so";
        assert_eq!(
            t.search_dir("$ORIGIN/../../numpy.libs", so).as_deref(),
            Ok("python/numpy.libs")
        );
        assert_eq!(
            t.search_dir("${ORIGIN}/../../numpy.libs", so).as_deref(),
            Ok("python/numpy.libs")
        );
        assert_eq!(t.search_dir("/opt/lib", so).as_deref(), Ok("lib"));
        assert_eq!(t.search_dir("/opt/lib64", so).as_deref(), Ok("lib"));
        assert!(t.search_dir("/usr/local/lib", so).is_err());
        assert!(t.search_dir("/optional/lib", so).is_err());
        assert!(t.search_dir("$ORIGIN/../../../../usr/lib", so).is_err());
        assert!(t.search_dir("$LIB/foo", so).unwrap_err().contains("token"));
        assert!(t.search_dir("lib", so).unwrap_err().contains("relative"));
    }
}
