//! Python byte-code in a layer: which Python each `.pyc` was compiled for, from its magic number.
//!
//! A `.pyc` starts with a 2-byte little-endian magic number and `\r\n`, then (3.7+) a flags word
//! whose bit 0 says hash-based (PEP 552). An interpreter only uses byte-code carrying its own
//! magic number and silently compiles the source in memory otherwise, so byte-code for another
//! Python costs the layer space and saves nothing. `fclayer inspect` reports it, `fclayer check`
//! warns when it does not match the runtime's Python.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use serde::Serialize;

use crate::error::Result;
use crate::layer::human_bytes;
use crate::layer::read::{Kind, LayerZip};

/// The magic numbers of each Python minor version, alphas and betas included: each release's
/// range from CPython's `importlib/_bootstrap_external.py` (3.6-3.13) and
/// `Include/internal/pycore_magic_number.h` (3.14). A final release keeps the last number of its
/// range for its whole life (3.9.0-3.9.x: 3425).
const MAGIC_RANGES: &[(u16, u16, &str)] = &[
    (3360, 3379, "3.6"),
    (3390, 3399, "3.7"),
    (3400, 3419, "3.8"),
    (3420, 3429, "3.9"),
    (3430, 3449, "3.10"),
    (3450, 3499, "3.11"),
    (3500, 3549, "3.12"),
    (3550, 3599, "3.13"),
    (3600, 3649, "3.14"),
];

/// The Python minor version that writes `magic`, if it is one of 3.6-3.14.
pub fn python_of_magic(magic: u16) -> Option<&'static str> {
    MAGIC_RANGES
        .iter()
        .find(|(lo, hi, _)| (*lo..=*hi).contains(&magic))
        .map(|(_, _, v)| *v)
}

/// The byte-code a layer carries.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Bytecode {
    /// `.pyc` files in the layer.
    pub files: u64,
    /// Their unpacked bytes.
    pub bytes: u64,
    /// Files per Python version ("3.9"); "unknown" for magic numbers outside 3.6-3.14.
    pub pythons: BTreeMap<String, u64>,
    /// Hash-based (PEP 552) files, reproducible and valid without the source's mtime.
    pub hash_based: u64,
}

impl Bytecode {
    /// The versions, most files first: "Python 3.9 (2051 files, hash-based)".
    pub fn describe(&self) -> String {
        if self.files == 0 {
            return "none (Python compiles every module on import)".into();
        }
        let mut by: Vec<(&String, &u64)> = self.pythons.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let versions: Vec<String> = by
            .iter()
            .map(|(v, n)| format!("Python {v} ({n} files)"))
            .collect();
        let kind = if self.hash_based == self.files {
            "hash-based".to_string()
        } else if self.hash_based == 0 {
            "timestamp-based".to_string()
        } else {
            format!("{} hash-based", self.hash_based)
        };
        format!(
            "{}, {}, {kind}",
            versions.join(", "),
            human_bytes(self.bytes)
        )
    }

    /// A warning when the byte-code is (partly) for another Python than `python` ("3.9").
    pub fn mismatch(&self, runtime: &str, python: &str) -> Option<String> {
        let other: u64 = self
            .pythons
            .iter()
            .filter(|(v, _)| v.as_str() != python)
            .map(|(_, n)| n)
            .sum();
        if other == 0 {
            return None;
        }
        let versions: Vec<&str> = self
            .pythons
            .keys()
            .filter(|v| v.as_str() != python)
            .map(|v| v.as_str())
            .collect();
        Some(format!(
            "warning: {other} of {} .pyc files are byte-code for Python {}, but {runtime} runs Python {python}: they are ignored at run time and only cost space (build the layer for {runtime}, or with --no-bytecode)",
            self.files,
            versions.join(", ")
        ))
    }
}

/// Read the header of every `.pyc` in a layer ZIP (through the one layer reader: only files at
/// names that land in /opt, 8 bytes of each).
pub fn bytecode_in<R: Read + Seek>(zip: &mut LayerZip<R>) -> Result<Bytecode> {
    let mut out = Bytecode::default();
    for i in 0..zip.len() {
        let e = zip.entry(i)?;
        if e.kind != Kind::File || !e.path().is_some_and(|p| p.ends_with(".pyc")) {
            continue;
        }
        out.files += 1;
        out.bytes += e.size;
        // A .pyc shorter than its header is not byte-code; it counts as unknown.
        let mut header = [0u8; 8];
        let _ = zip.open_entry(&e)?.read_exact(&mut header);
        let magic = u16::from_le_bytes([header[0], header[1]]);
        let version = if &header[2..4] == b"\r\n" {
            python_of_magic(magic)
        } else {
            None
        };
        *out.pythons
            .entry(version.unwrap_or("unknown").to_string())
            .or_default() += 1;
        // The flags word exists from 3.7 on; bit 0 is PEP 552's hash-based.
        if version.is_some_and(|v| v != "3.6") && header[4] & 1 == 1 {
            out.hash_based += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_releases_magic_numbers_map_to_their_python() {
        // The numbers each final release writes (importlib.util.MAGIC_NUMBER).
        for (magic, version) in [
            (3379, "3.6"),
            (3394, "3.7"),
            (3413, "3.8"),
            (3425, "3.9"),
            (3439, "3.10"),
            (3495, "3.11"),
            (3531, "3.12"),
            (3571, "3.13"),
        ] {
            assert_eq!(python_of_magic(magic), Some(version), "{magic}");
        }
        // 3.14's range (its alphas start at 3600; 3.15's at 3650).
        assert_eq!(python_of_magic(3600), Some("3.14"));
        assert_eq!(python_of_magic(3649), Some("3.14"));
        assert_eq!(python_of_magic(62211), None, "Python 2.7");
        assert_eq!(python_of_magic(3650), None, "3.15 is not known yet");
    }

    #[test]
    fn a_mismatch_names_the_other_python_and_a_match_says_nothing() {
        let mut b = Bytecode {
            files: 3,
            bytes: 300,
            hash_based: 3,
            ..Bytecode::default()
        };
        b.pythons.insert("3.11".into(), 3);
        let w = b.mismatch("python3.9", "3.9").unwrap();
        assert!(w.contains("3 of 3") && w.contains("Python 3.11") && w.contains("python3.9"));
        assert_eq!(b.mismatch("custom.debian12", "3.11"), None);
        assert!(b.describe().starts_with("Python 3.11 (3 files)"));
        assert!(b.describe().ends_with("hash-based"));
        assert!(Bytecode::default().describe().starts_with("none"));
    }
}
