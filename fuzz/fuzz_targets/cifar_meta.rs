#![no_main]
//! See `tripletlab_fuzz::cifar_meta`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tripletlab_fuzz::cifar_meta(data));
