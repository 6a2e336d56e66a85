//! A container's /opt tar stream as the packer validates and orders it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fclayer::fuzzing::tar_validator(data));
