//! A layer ZIP as `check`, `inspect` and `stack` read it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fclayer::fuzzing::zip_reader(data));
