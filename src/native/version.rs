//! Dotted version numbers and the symbol-version names that carry them (`GLIBC_2.34`,
//! `GLIBCXX_3.4.29`, `CXXABI_1.3.13`).
//!
//! They are compared component by component as integers: as strings `GLIBC_2.4` would sort after
//! `GLIBC_2.34`, which is exactly the mistake that lets a too-new binary through.

use std::fmt;

use serde::{Serialize, Serializer};

/// A dotted version such as `2.34` or `3.4.29`. Missing trailing components count as zero, so
/// `2.3` equals `2.3.0` and sorts before `2.3.4`.
#[derive(Clone, Debug)]
pub struct Version(Vec<u32>);

impl Version {
    pub fn new(parts: &[u32]) -> Version {
        Version(parts.to_vec())
    }

    /// `"2.34"` → `[2, 34]`; `None` for anything that is not dot-separated integers.
    pub fn parse(s: &str) -> Option<Version> {
        if s.is_empty() {
            return None;
        }
        s.split('.')
            .map(|p| {
                // `u32::from_str` accepts a leading '+'; a version component never has one.
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    None
                } else {
                    p.parse().ok()
                }
            })
            .collect::<Option<Vec<u32>>>()
            .map(Version)
    }

    fn significant(&self) -> &[u32] {
        let end = self.0.iter().rposition(|&p| p != 0).map_or(0, |i| i + 1);
        &self.0[..end]
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.significant() == other.significant()
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> std::cmp::Ordering {
        // Slices of u32 compare lexicographically, element by element as integers; trailing
        // zeros were trimmed so 2.3 == 2.3.0.
        self.significant().cmp(other.significant())
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The symbol-version families the gate compares against a runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// glibc (libc.so.6, libm.so.6, libpthread.so.0, the loader, ...).
    Glibc,
    /// libstdc++'s library ABI.
    Glibcxx,
    /// libstdc++'s C++ language-support ABI.
    Cxxabi,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Glibc, Family::Glibcxx, Family::Cxxabi];

    pub fn prefix(self) -> &'static str {
        match self {
            Family::Glibc => "GLIBC",
            Family::Glibcxx => "GLIBCXX",
            Family::Cxxabi => "CXXABI",
        }
    }

    /// How a user reads the runtime's level: "glibc 2.31", "GLIBCXX 3.4.28".
    pub fn label(self) -> &'static str {
        match self {
            Family::Glibc => "glibc",
            Family::Glibcxx => "GLIBCXX",
            Family::Cxxabi => "CXXABI",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Classify a version name from `.gnu.version_r`. Names outside the three families
/// (`GLIBC_PRIVATE`, `CXXABI_TM_1`, `GCC_3.0`, `OPENSSL_3.0.0`) give `None`: they say nothing
/// about the runtime's glibc or libstdc++ level.
pub fn symbol_version(name: &str) -> Option<(Family, Version)> {
    // Binaries linked with `-z pack-relative-relocs` need the loader to understand DT_RELR, which
    // glibc marks with this pseudo-version; it first appeared in glibc 2.36.
    if name == "GLIBC_ABI_DT_RELR" {
        return Some((Family::Glibc, Version::new(&[2, 36])));
    }
    let (prefix, rest) = name.split_once('_')?;
    let family = Family::ALL.into_iter().find(|f| f.prefix() == prefix)?;
    Some((family, Version::parse(rest)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn versions_compare_as_numbers_not_strings() {
        assert!(v("2.34") > v("2.4"));
        assert!(v("2.4") > v("2.3.4"));
        assert!(v("2.2.5") < v("2.3"));
        assert!(v("3.4.29") > v("3.4.3"));
        assert_eq!(v("2.3"), v("2.3.0"));
        assert!(v("2.3.0") < v("2.3.1"));
        assert_eq!(v("2.28").to_string(), "2.28");
    }

    #[test]
    fn only_dotted_integers_are_versions() {
        for bad in ["", "2.", ".2", "2..3", "2.x", "+2.3", "2.3-rc1", "PRIVATE"] {
            assert_eq!(Version::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn symbol_versions_are_sorted_into_families() {
        assert_eq!(
            symbol_version("GLIBC_2.34"),
            Some((Family::Glibc, v("2.34")))
        );
        assert_eq!(
            symbol_version("GLIBC_2.2.5"),
            Some((Family::Glibc, v("2.2.5")))
        );
        assert_eq!(
            symbol_version("GLIBCXX_3.4.29"),
            Some((Family::Glibcxx, v("3.4.29")))
        );
        assert_eq!(
            symbol_version("CXXABI_1.3.13"),
            Some((Family::Cxxabi, v("1.3.13")))
        );
        assert_eq!(
            symbol_version("GLIBC_ABI_DT_RELR"),
            Some((Family::Glibc, v("2.36")))
        );
        for other in [
            "GLIBC_PRIVATE",
            "CXXABI_TM_1",
            "CXXABI_FLOAT128",
            "GCC_3.0",
            "OPENSSL_3.0.0",
            "GLIBCXX_LDBL_3.4",
        ] {
            assert_eq!(symbol_version(other), None, "{other}");
        }
    }
}
