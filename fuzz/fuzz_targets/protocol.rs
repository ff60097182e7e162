#![no_main]
//! See `tripletlab_fuzz::protocol`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tripletlab_fuzz::protocol(data));
