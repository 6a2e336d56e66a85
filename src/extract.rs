//! Rules for what may enter a layer. Whatever comes out of a container (or a directory given to
//! `fclayer pack`) is untrusted: names are checked before anything is written, and links are
//! resolved against the whole tree once it is known.
//!
//! A layer path is relative to the layer root (`/opt` once deployed), `/`-separated, UTF-8, with
//! no empty, `.` or `..` components and no control characters.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// Where FC unpacks every layer; absolute link targets must stay below it.
pub const LAYER_MOUNT: &str = "/opt";

/// What is wrong with an entry name, as one rule for every reader and writer of layers: the
/// packer refuses all of these, the ZIP readers skip (`Outside`) or report the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameIssue {
    /// Not UTF-8: FC may unpack it garbled (the name is shown lossily).
    NotUtf8,
    /// A control character (a terminal escape, a newline): shown escaped.
    Control(char),
    /// Absolute: unzip strips the `/` or refuses, so it never lands where named.
    Absolute,
    /// Climbs with `..`: it would land outside /opt, or nowhere.
    DotDot,
}

impl NameIssue {
    fn why(self) -> String {
        match self {
            NameIssue::NotUtf8 => "name is not valid UTF-8".to_string(),
            NameIssue::Control(c) => format!("name contains the control character {c:?}"),
            NameIssue::Absolute => "absolute path".to_string(),
            NameIssue::DotDot => "path contains `..`".to_string(),
        }
    }
}

/// A raw entry name read by the one name rule: its layer path (lossy UTF-8, `/`-separated, no
/// empty or `.` parts; `""` for the root), and the first issue found, checked in the order
/// UTF-8, control characters, absolute, `..`. A NUL byte counts as a control character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    pub path: String,
    pub issue: Option<NameIssue>,
    /// Absolute or climbing with `..`, whatever the first issue is: it cannot land where named.
    pub outside: bool,
    /// Holds a backslash (made on Windows?): a plain character on Linux, not a folder.
    pub backslash: bool,
}

impl Name {
    pub fn parse(raw: &[u8]) -> Name {
        let lossy = String::from_utf8_lossy(raw);
        let mut issue = std::str::from_utf8(raw)
            .is_err()
            .then_some(NameIssue::NotUtf8);
        if issue.is_none()
            && let Some(c) = lossy.chars().find(|c| c.is_control())
        {
            issue = Some(NameIssue::Control(c));
        }
        let mut outside = lossy.starts_with('/');
        if outside {
            issue.get_or_insert(NameIssue::Absolute);
        }
        let mut path = String::with_capacity(lossy.len());
        for part in lossy.split('/') {
            match part {
                "" | "." => continue,
                ".." => {
                    outside = true;
                    issue.get_or_insert(NameIssue::DotDot);
                }
                p => {
                    if !path.is_empty() {
                        path.push('/');
                    }
                    path.push_str(p);
                }
            }
        }
        Name {
            path,
            issue,
            outside,
            backslash: raw.contains(&b'\\'),
        }
    }

    /// The raw name for a message: lossy UTF-8 with control characters escaped.
    pub fn shown(raw: &[u8]) -> String {
        escape_controls(&String::from_utf8_lossy(raw))
    }
}

/// `s` with control characters escaped (`\n`, `\u{1b}`), safe to print on a terminal.
pub fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Validate a raw entry name (as bytes from a tar header or a directory walk) into a layer path.
/// `strip` is a leading directory to remove (`opt` for a container's `/opt` archive); a name equal
/// to `strip` itself yields `None` (the root has no entry of its own). Every [`NameIssue`] is
/// refused: what enters a layer must land exactly where it is named.
pub fn layer_path(raw: &[u8], strip: Option<&str>) -> Result<Option<String>> {
    let name = Name::parse(raw);
    if let Some(issue) = name.issue {
        return Err(refuse(&Name::shown(raw), issue));
    }
    let mut path = name.path;
    if let Some(prefix) = strip {
        match path.split_once('/') {
            Some((first, rest)) if first == prefix => path = rest.to_string(),
            None if path == prefix => path.clear(),
            _ => {
                return Err(reject(
                    &Name::shown(raw),
                    &format!("entry is outside `{prefix}/`"),
                ));
            }
        }
    }
    if path.is_empty() {
        return Ok(None);
    }
    Ok(Some(path))
}

/// The error for a name the packer's rule refuses (`shown` is the escaped raw name).
pub fn refuse(shown: &str, issue: NameIssue) -> Error {
    reject(shown, &issue.why())
}

fn reject(name: &str, why: &str) -> Error {
    Error::build(format!("unsafe entry `{name}` in the layer: {why}")).with_hint(
        "the installer produced a path a layer must not hold; fix the project or its build recipe",
    )
}

/// The parent directory of a layer path (`""` for top-level entries).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

/// Normalise a symlink target found at `link` to a relative target that stays inside the layer.
/// Absolute targets below `/opt` are rewritten relative to the link, so the ZIP works wherever it
/// is unpacked; anything that leaves the layer is an error. This is the lexical check; `check_links`
/// repeats it through other links once the whole tree is known.
pub fn link_target(link: &str, target: &str) -> Result<String> {
    if target.is_empty() {
        return Err(reject(link, "symlink with an empty target"));
    }
    if target.chars().any(|c| c.is_control()) {
        return Err(reject(link, "symlink target contains a control character"));
    }
    if let Some(rest) = target.strip_prefix('/') {
        let inside = rest
            .strip_prefix(&LAYER_MOUNT[1..])
            .filter(|r| r.is_empty() || r.starts_with('/'));
        let Some(inside) = inside else {
            return Err(reject(
                link,
                &format!("symlink points outside the layer, to `{target}`"),
            ));
        };
        let dest = normalize(inside.trim_start_matches('/'))
            .ok_or_else(|| reject(link, &format!("symlink target `{target}` leaves the layer")))?;
        return Ok(relative(parent(link), &dest));
    }
    let joined = join(parent(link), target);
    match normalize(&joined) {
        Some(_) => Ok(target.to_string()),
        None => Err(reject(
            link,
            &format!("symlink points outside the layer, to `{target}`"),
        )),
    }
}

fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// Resolve `.` and `..` lexically; `None` if the path climbs above the root.
fn normalize(path: &str) -> Option<Vec<&str>> {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p),
        }
    }
    Some(out)
}

/// A relative path from directory `from` to `to` (both layer paths).
fn relative(from: &str, to: &[&str]) -> String {
    let from: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// Check every symlink of a finished tree by resolving its target through the other links, the
/// way the kernel will once the layer is unpacked: a chain that leaves the layer, or loops, is an
/// error. `links` maps link path to (relative) target.
pub fn check_links(links: &HashMap<String, String>) -> Result<()> {
    let mut names: Vec<&String> = links.keys().collect();
    names.sort();
    for link in names {
        resolve(links, link).map_err(|why| reject(link, &why))?;
    }
    Ok(())
}

/// Follow `link` through the others: a chain that leaves the layer or loops is unsafe. Only links
/// are known here, so every other path passes as a folder and the walk goes on through it.
fn resolve(links: &HashMap<String, String>, link: &str) -> std::result::Result<(), String> {
    let target = &links[link];
    let seen = |path: &str| links.get(path).map_or(Seen::Dir, |t| Seen::Link(t));
    match follow(link, target, seen) {
        Resolved::Escapes => Err(format!(
            "symlink chain from `{link}` leaves the layer (target `{target}`)"
        )),
        Resolved::Loop => Err("symlink loop".to_string()),
        Resolved::Inside(_) | Resolved::Dangling(_) => Ok(()),
    }
}

/// What a layer path is, to `follow`.
pub(crate) enum Seen<'a> {
    /// A symlink, with its target.
    Link(&'a str),
    Dir,
    File,
    /// Nothing in the tree.
    Missing,
}

/// Where a symlink leads once the layer is unpacked in /opt, following other links on the way
/// the way the kernel does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// To this layer path (`""` is /opt itself).
    Inside(String),
    /// To a path inside /opt that nothing in the tree provides.
    Dangling(String),
    /// Out of /opt (an absolute target elsewhere, or `..` above the root).
    Escapes,
    Loop,
}

/// Follow the symlink at `link` (target `target`) the way the kernel does, asking `seen` what each
/// path on the way is.
pub(crate) fn follow<'a>(link: &str, target: &str, seen: impl Fn(&str) -> Seen<'a>) -> Resolved {
    let mut current: Vec<String> = link.split('/').map(str::to_string).collect();
    current.pop();
    // Components still to walk, in reverse so that pop() yields the next one.
    let mut pending: Vec<String> = Vec::new();
    if !start(&mut current, &mut pending, target) {
        return Resolved::Escapes;
    }
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => {}
            ".." => {
                if current.pop().is_none() {
                    return Resolved::Escapes;
                }
            }
            p => {
                current.push(p.to_string());
                let here = current.join("/");
                match seen(&here) {
                    Seen::Link(next) => {
                        hops += 1;
                        if hops > 40 {
                            return Resolved::Loop;
                        }
                        current.pop();
                        if !start(&mut current, &mut pending, next) {
                            return Resolved::Escapes;
                        }
                    }
                    Seen::Dir => {}
                    Seen::File if pending.iter().all(|p| p.is_empty()) => {}
                    Seen::File | Seen::Missing => {
                        // Nothing here, or a file used as a folder: the kernel stops with ENOENT
                        // or ENOTDIR. Report the whole path the link was heading for.
                        let rest: Vec<&str> = pending.iter().rev().map(String::as_str).collect();
                        let mut whole = here;
                        for r in rest.into_iter().filter(|r| !r.is_empty()) {
                            whole.push('/');
                            whole.push_str(r);
                        }
                        return Resolved::Dangling(whole);
                    }
                }
            }
        }
    }
    Resolved::Inside(current.join("/"))
}

/// Queue `target`'s components; an absolute target restarts at the root if it is below /opt.
/// False if it points outside /opt.
fn start(current: &mut Vec<String>, pending: &mut Vec<String>, target: &str) -> bool {
    let rel = match target.strip_prefix('/') {
        Some(abs) => {
            let mount = &LAYER_MOUNT[1..];
            match abs.strip_prefix(mount) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    current.clear();
                    rest
                }
                _ => return false,
            }
        }
        None => target,
    };
    pending.extend(rel.rsplit('/').map(str::to_string));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> Option<String> {
        layer_path(raw.as_bytes(), None).unwrap()
    }

    fn err(raw: &[u8]) -> String {
        layer_path(raw, None).unwrap_err().message
    }

    #[test]
    fn normal_names_pass_and_lose_dot_segments() {
        assert_eq!(
            ok("python/numpy/__init__.py").as_deref(),
            Some("python/numpy/__init__.py")
        );
        assert_eq!(ok("./python/").as_deref(), Some("python"));
        assert_eq!(ok("."), None);
    }

    #[test]
    fn hostile_names_are_rejected_and_named() {
        assert!(err(b"/etc/passwd").contains("absolute path"));
        assert!(err(b"python/../../etc").contains("`..`"));
        assert!(err(b"a\nb").contains("control character"));
        assert!(err(b"python/\xff").contains("UTF-8"));
    }

    #[test]
    fn strip_removes_the_exported_root() {
        let p = layer_path(b"opt/python/x.py", Some("opt")).unwrap();
        assert_eq!(p.as_deref(), Some("python/x.py"));
        assert_eq!(layer_path(b"opt/", Some("opt")).unwrap(), None);
        assert!(layer_path(b"etc/x", Some("opt")).is_err());
    }

    #[test]
    fn link_targets_inside_pass_outside_fail() {
        assert_eq!(
            link_target("lib/libz.so", "libz.so.1").unwrap(),
            "libz.so.1"
        );
        assert_eq!(link_target("lib/a/b", "../c").unwrap(), "../c");
        assert!(link_target("lib/x", "../../etc/passwd").is_err());
        assert!(link_target("x", "/etc/passwd").is_err());
        assert!(link_target("x", "/optical").is_err());
        assert_eq!(
            link_target("bin/psql", "/opt/lib/psql").unwrap(),
            "../lib/psql"
        );
        assert_eq!(link_target("bin/x", "/opt/bin/y").unwrap(), "y");
    }

    #[test]
    fn chains_through_other_links_are_followed() {
        let mut links = HashMap::new();
        links.insert("lib/libz.so".to_string(), "libz.so.1".to_string());
        links.insert("lib/libz.so.1".to_string(), "libz.so.1.2.13".to_string());
        check_links(&links).unwrap();

        // a/up -> .. points at the root; a/l -> up/../../x then climbs out through it.
        let mut links = HashMap::new();
        links.insert("a/up".to_string(), "..".to_string());
        links.insert("a/l".to_string(), "up/../../x".to_string());
        let e = check_links(&links).unwrap_err();
        assert!(e.message.contains("a/l"), "{}", e.message);

        let mut links = HashMap::new();
        links.insert("a".to_string(), "b".to_string());
        links.insert("b".to_string(), "a".to_string());
        assert!(check_links(&links).unwrap_err().message.contains("loop"));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative("bin", &["lib", "x"]), "../lib/x");
        assert_eq!(relative("", &["lib"]), "lib");
        assert_eq!(relative("lib", &["lib"]), ".");
    }
}
