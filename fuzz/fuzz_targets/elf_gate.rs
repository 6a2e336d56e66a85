//! An ELF file as the gate reads it (headers, dynamic section, version needs), alone and in a layer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fclayer::fuzzing::elf_gate(data));
