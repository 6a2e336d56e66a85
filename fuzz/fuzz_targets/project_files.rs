//! The same bytes as requirements.txt, package.json, composer.json, pom.xml, apt.txt and fclayer.toml.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fclayer::fuzzing::project_files(data));
