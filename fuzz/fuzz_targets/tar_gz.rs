#![no_main]
//! See `tripletlab_fuzz::tar_gz`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tripletlab_fuzz::tar_gz(data));
