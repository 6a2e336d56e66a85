//! PEP 508 environment markers, evaluated against the TARGET environment (the runtime's Python,
//! the target machine, Linux), never the host's: a lock converted on a Mac for an x86_64 Debian
//! runtime must pick what that runtime needs. Also the PEP 440 version comparisons markers and
//! `requires-python` use, on release numbers (what interpreters report; pre-releases are not
//! interpreters FC runs).
//!
//! Hand-written rather than the `pep508_rs` crate: markers are a dozen variables and eight
//! operators, and that crate brings its own PEP 440 crate, regex, url and unicode tables for the
//! requirement half we need only loosely.

use std::collections::BTreeSet;

/// What markers are evaluated against.
#[derive(Debug, Clone)]
pub struct Env {
    /// `python_version`, e.g. `3.9`.
    pub python_version: String,
    /// `python_full_version` and `implementation_version`, e.g. `3.9.8`.
    pub python_full_version: String,
    /// `platform_machine`: x86_64 or aarch64.
    pub machine: String,
    /// `extra` / `extras`: the extras selected (normalised names).
    pub extras: BTreeSet<String>,
    /// `dependency_groups` (PEP 751): the groups selected.
    pub groups: BTreeSet<String>,
}

impl Env {
    fn var(&self, name: &str) -> Option<String> {
        Some(match name {
            "python_version" => self.python_version.clone(),
            "python_full_version" | "implementation_version" => self.python_full_version.clone(),
            "platform_machine" => self.machine.clone(),
            "sys_platform" => "linux".into(),
            "os_name" => "posix".into(),
            "platform_system" => "Linux".into(),
            "implementation_name" => "cpython".into(),
            "platform_python_implementation" => "CPython".into(),
            // Unknowable for another machine; as on FC's kernels, close enough for the markers
            // real projects write (none compare these).
            "platform_release" | "platform_version" => String::new(),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Var(String),
    Op(String),
    And,
    Or,
    Open,
    Close,
}

fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            out.push(if c == '(' { Tok::Open } else { Tok::Close });
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or("a quoted string is never closed")?;
            out.push(Tok::Str(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if "<>=!~".contains(c) {
            let mut op = String::new();
            while i < chars.len() && "<>=!~".contains(chars[i]) {
                op.push(chars[i]);
                i += 1;
            }
            if !["<", "<=", ">", ">=", "==", "!=", "~=", "==="].contains(&op.as_str()) {
                return Err(format!("`{op}` is not a marker operator"));
            }
            out.push(Tok::Op(op));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.as_str() {
                "and" => out.push(Tok::And),
                "or" => out.push(Tok::Or),
                "in" => out.push(Tok::Op("in".into())),
                "not" => out.push(Tok::Op("not in".into())),
                _ => out.push(Tok::Var(word)),
            }
        } else {
            return Err(format!("unexpected `{c}`"));
        }
    }
    // `not` is only ever followed by `in`.
    let mut merged: Vec<Tok> = Vec::new();
    for t in out {
        if t == Tok::Op("in".into()) && merged.last() == Some(&Tok::Op("not in".into())) {
            continue;
        }
        merged.push(t);
    }
    Ok(merged)
}

struct Parser<'a> {
    toks: &'a [Tok],
    at: usize,
    env: &'a Env,
}

impl Parser<'_> {
    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.toks.get(self.at) == Some(&Tok::Or) {
            self.at += 1;
            v |= self.and()?;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.atom()?;
        while self.toks.get(self.at) == Some(&Tok::And) {
            self.at += 1;
            v &= self.atom()?;
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<bool, String> {
        if self.toks.get(self.at) == Some(&Tok::Open) {
            self.at += 1;
            let v = self.or()?;
            if self.toks.get(self.at) != Some(&Tok::Close) {
                return Err("`(` is never closed".into());
            }
            self.at += 1;
            return Ok(v);
        }
        let left = self
            .toks
            .get(self.at)
            .cloned()
            .ok_or("a comparison is missing")?;
        let Some(Tok::Op(op)) = self.toks.get(self.at + 1).cloned() else {
            return Err("expected an operator after a marker value".into());
        };
        let right = self
            .toks
            .get(self.at + 2)
            .cloned()
            .ok_or("a comparison has no right side")?;
        self.at += 3;
        compare(self.env, &left, &op, &right)
    }
}

/// The sets PEP 751 markers test membership of (`'dev' in dependency_groups`).
fn set_var<'e>(env: &'e Env, t: &Tok) -> Option<&'e BTreeSet<String>> {
    match t {
        Tok::Var(v) if v == "extras" => Some(&env.extras),
        Tok::Var(v) if v == "dependency_groups" => Some(&env.groups),
        _ => None,
    }
}

fn compare(env: &Env, left: &Tok, op: &str, right: &Tok) -> Result<bool, String> {
    // `extra == 'x'`: true when x is one of the selected extras.
    for (var, other) in [(left, right), (right, left)] {
        if let (Tok::Var(v), Tok::Str(s)) = (var, other)
            && v == "extra"
        {
            let hit = env.extras.contains(&normalize(s));
            return match op {
                "==" | "===" => Ok(hit),
                "!=" => Ok(!hit),
                _ => Err(format!("`extra {op}` is not a comparison markers allow")),
            };
        }
    }
    if let (Tok::Str(s), Some(set)) = (left, set_var(env, right)) {
        let hit = set.contains(&normalize(s));
        return match op {
            "in" => Ok(hit),
            "not in" => Ok(!hit),
            _ => Err(format!("`{op}` cannot compare with a set")),
        };
    }
    let value = |t: &Tok| -> Result<(String, bool), String> {
        match t {
            Tok::Str(s) => Ok((s.clone(), false)),
            Tok::Var(v) => env
                .var(v)
                .map(|s| (s, v.contains("version")))
                .ok_or_else(|| format!("`{v}` is not a marker variable")),
            _ => Err("expected a marker variable or a quoted string".into()),
        }
    };
    let (l, l_version) = value(left)?;
    let (r, r_version) = value(right)?;
    Ok(match op {
        "in" => r.contains(&l),
        "not in" => !r.contains(&l),
        "===" => l == r,
        _ if (l_version || r_version) && is_version(&l) && is_version(r.trim_end_matches(".*")) => {
            version_matches(&l, op, &r)
        }
        "==" => l == r,
        "!=" => l != r,
        "<" => l < r,
        "<=" => l <= r,
        ">" => l > r,
        ">=" => l >= r,
        _ => return Err(format!("`{op}` needs versions on both sides")),
    })
}

/// Evaluate a marker expression. An error says what is wrong with it.
pub fn evaluate(marker: &str, env: &Env) -> Result<bool, String> {
    let toks = tokens(marker)?;
    if toks.is_empty() {
        return Ok(true);
    }
    let mut p = Parser {
        toks: &toks,
        at: 0,
        env,
    };
    let v = p.or()?;
    if p.at != toks.len() {
        return Err("unexpected text after the marker".into());
    }
    Ok(v)
}

/// PEP 503 name normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn is_version(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .next()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty())
}

/// The release numbers of a version (`3.9.8` → [3, 9, 8]); a suffix such as `rc1` or `.post1`
/// ends it.
fn release(s: &str) -> Vec<u64> {
    let s = s.split_once('!').map_or(s, |(_, r)| r);
    let mut out = Vec::new();
    for part in s.split('.') {
        let digits: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            break;
        }
        out.push(digits.parse().unwrap_or(u64::MAX));
        if digits.len() != part.len() {
            break;
        }
    }
    out
}

fn cmp_release(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| at(a, i).cmp(&at(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// `version OP spec`, PEP 440 on release numbers (with `==X.*` prefix matching and `~=`).
pub fn version_matches(version: &str, op: &str, spec: &str) -> bool {
    use std::cmp::Ordering::*;
    let v = release(version);
    if let Some(prefix) = spec.strip_suffix(".*") {
        let p = release(prefix);
        let hit = v.len() >= p.len() && v[..p.len()] == p[..]
            || v.len() < p.len() && cmp_release(&v, &p) == Equal;
        return match op {
            "==" => hit,
            "!=" => !hit,
            _ => false,
        };
    }
    let s = release(spec);
    if s.is_empty() {
        // Not a version: nothing matches it.
        return false;
    }
    let ord = cmp_release(&v, &s);
    match op {
        "==" | "===" => ord == Equal,
        "!=" => ord != Equal,
        "<" => ord == Less,
        "<=" => ord != Greater,
        ">" => ord == Greater,
        ">=" => ord != Less,
        "~=" => {
            let prefix = &s[..s.len().saturating_sub(1).max(1)];
            ord != Less && v.len() >= prefix.len() && v[..prefix.len()] == prefix[..]
        }
        _ => false,
    }
}

/// Whether `version` satisfies a PEP 440 specifier set such as `>=3.9,<4` (empty: always).
pub fn specifier_matches(version: &str, spec: &str) -> bool {
    spec.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .all(|clause| {
            let op_len = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
                .iter()
                .find(|op| clause.starts_with(*op))
                .map_or(0, |op| op.len());
            let (op, v) = clause.split_at(op_len);
            let op = if op.is_empty() { "==" } else { op };
            version_matches(version, op, v.trim())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(py: &str, full: &str, machine: &str) -> Env {
        Env {
            python_version: py.into(),
            python_full_version: full.into(),
            machine: machine.into(),
            extras: ["socks".to_string()].into(),
            groups: ["dev".to_string()].into(),
        }
    }

    #[test]
    fn markers_are_evaluated_for_the_target() {
        let py39 = env("3.9", "3.9.8", "x86_64");
        let py312 = env("3.12", "3.12.4", "aarch64");
        let m = "python_version < \"3.11\"";
        assert!(evaluate(m, &py39).unwrap());
        assert!(
            !evaluate(m, &py312).unwrap(),
            "3.12 is not below 3.11 (not a string compare)"
        );
        assert!(
            evaluate(
                "python_full_version >= '3.9' and python_full_version < '3.10'",
                &py39
            )
            .unwrap()
        );
        assert!(evaluate("python_full_version == '3.12.*'", &py312).unwrap());
        assert!(!evaluate("python_full_version == '3.12.*'", &py39).unwrap());
        assert!(!evaluate("sys_platform == 'win32'", &py39).unwrap());
        assert!(evaluate("sys_platform != 'win32' and os_name == 'posix'", &py39).unwrap());
        assert!(
            evaluate(
                "platform_machine == 'aarch64' or platform_machine == 'arm64'",
                &py312
            )
            .unwrap()
        );
        assert!(!evaluate("platform_machine == 'aarch64'", &py39).unwrap());
        assert!(evaluate("(sys_platform == 'darwin' or sys_platform == 'linux') and implementation_name == 'cpython'", &py39).unwrap());
        assert!(evaluate("platform_python_implementation != 'PyPy'", &py39).unwrap());
        assert!(evaluate("'linux' in sys_platform", &py39).unwrap());
        assert!(evaluate("python_version ~= '3.8'", &py39).unwrap());
        assert!(evaluate("extra == 'socks'", &py39).unwrap());
        assert!(!evaluate("extra == \"yaml\"", &py39).unwrap());
        assert!(evaluate("'dev' in dependency_groups", &py39).unwrap());
        assert!(evaluate("'Socks' in extras", &py39).unwrap());
        assert!(evaluate("'docs' not in dependency_groups", &py39).unwrap());
        assert!(evaluate("", &py39).unwrap());
    }

    #[test]
    fn bad_markers_say_why() {
        let e = env("3.9", "3.9.8", "x86_64");
        assert!(evaluate("python_version <", &e).is_err());
        assert!(
            evaluate("python_version << '3'", &e)
                .unwrap_err()
                .contains("<<")
        );
        assert!(
            evaluate("pyhton_version < '3'", &e)
                .unwrap_err()
                .contains("pyhton_version")
        );
        assert!(
            evaluate("(python_version < '3'", &e)
                .unwrap_err()
                .contains("never closed")
        );
        assert!(evaluate("python_version < '3", &e).is_err());
    }

    #[test]
    fn versions_and_specifiers_compare_by_release() {
        assert!(specifier_matches("3.9.8", ">=3.9"));
        assert!(specifier_matches("3.9", ">=3.9,<4"));
        assert!(!specifier_matches("3.9.8", ">=3.10"));
        assert!(specifier_matches("3.10.9", "!=3.9.*,>=3.8"));
        assert!(!specifier_matches("3.9.8", "!=3.9.*"));
        assert!(specifier_matches("2.0.2", "~=2.0"));
        assert!(!specifier_matches("3.0", "~=2.0"));
        assert!(specifier_matches("3.12", ""));
        assert!(
            !specifier_matches("3.12", "~=abc"),
            "junk matches nothing, and does not panic"
        );
        assert!(!specifier_matches("3.12", ">=x"));
        assert_eq!(normalize("Charset_Normalizer"), "charset-normalizer");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("a-_.b"), "a-b");
    }
}
