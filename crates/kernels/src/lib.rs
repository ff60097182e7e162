//! CPU kernels of our own: plain loops over slices, no burn. `tripletlab-core` wraps them as burn
//! operations on the CPU backend (`crates/core/src/model/cpu_ops.rs`). A crate of its own so that
//! dev builds (the tests') compile it optimised like the dependencies (the root `Cargo.toml`'s dev
//! profile): at opt-level 0 these loops are many times slower.

pub mod depthwise;
pub mod relu6;

/// `f(k, chunk, scratch)` for each `len`-long chunk of `out`, with a zeroed scratch buffer of
/// `scratch` numbers reused from chunk to chunk; in parallel where the `rayon` feature is on.
pub(crate) fn for_each_chunk(
    out: &mut [f32],
    len: usize,
    scratch: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync + Send,
) {
    if len == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len)
            .enumerate()
            .for_each_init(|| vec![0.0f32; scratch], |buffer, (k, chunk)| f(k, chunk, buffer));
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut buffer = vec![0.0f32; scratch];
        out.chunks_mut(len).enumerate().for_each(|(k, chunk)| f(k, chunk, &mut buffer));
    }
}
