#![no_main]
//! See `tripletlab_fuzz::manifest`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tripletlab_fuzz::manifest(data));
