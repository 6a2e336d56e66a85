//! The two digests a layer is known by: SHA-256 (what people compare) and the CRC-64 that Function
//! Compute reports as a layer's `codeChecksum`.
//!
//! FC's checksum is CRC-64/XZ (the ECMA-182 polynomial, reflected, initial value and final XOR all
//! ones), printed as an unsigned decimal: the variant of Alibaba's OSS SDKs (`crc64ecma182`) and
//! Go's `hash/crc64` ECMA table. Check value for "123456789": 0x995DC9BBDF1939FA.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digests {
    pub sha256: String,
    /// FC `codeChecksum`.
    pub crc64: u64,
}

/// Both digests of a byte stream fed in pieces, e.g. a ZIP while it is written.
pub struct Hasher {
    sha: Sha256,
    crc: crc64fast::Digest,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher {
            sha: Sha256::new(),
            crc: crc64fast::Digest::new(),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.sha.update(data);
        self.crc.write(data);
    }

    pub fn finish(self) -> Digests {
        Digests {
            sha256: hex::encode(self.sha.finalize()),
            crc64: self.crc.sum64(),
        }
    }
}

impl Digests {
    /// Hash everything `reader` yields.
    pub fn of_reader(mut reader: impl Read) -> io::Result<Digests> {
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finish())
    }

    pub fn of_bytes(data: &[u8]) -> Digests {
        Digests::of_reader(data).expect("reading a slice cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_fc_and_oss_check_values() {
        // Check value of CRC-64/XZ, the value crc64-ecma182.js and the OSS Go SDK test against.
        assert_eq!(Digests::of_bytes(b"123456789").crc64, 11051210869376104954);
        assert_eq!(Digests::of_bytes(b"123456789").crc64, 0x995D_C9BB_DF19_39FA);
        assert_eq!(Digests::of_bytes(b"").crc64, 0);
        assert_eq!(Digests::of_bytes(b"a").crc64, 3675645893302102789);
        assert_eq!(
            Digests::of_bytes(b"The quick brown fox jumps over the lazy dog").crc64,
            6583902852472283588
        );
        assert_eq!(Digests::of_bytes(&[0u8; 32]).crc64, 14509182247117337356);
    }

    #[test]
    fn sha256_is_hex() {
        assert_eq!(
            Digests::of_bytes(b"abc").sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let one = Digests::of_bytes(&data);
        let chained = Digests::of_reader(io::Read::chain(&data[..1234], &data[1234..])).unwrap();
        assert_eq!(one, chained);
        let mut pieces = Hasher::new();
        for piece in data.chunks(4097) {
            pieces.update(piece);
        }
        assert_eq!(one, pieces.finish());
    }
}
