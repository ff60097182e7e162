#![no_main]
//! See `tripletlab_fuzz::zip_folder`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tripletlab_fuzz::zip_folder(data));
