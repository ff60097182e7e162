#![no_main]
//! See `tripletlab_fuzz::safetensors`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| tripletlab_fuzz::safetensors(data));
