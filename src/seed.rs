//! Named random streams derived from one root seed.
//!
//! Every random draw in entprog (batch order, diffusion noise and timesteps,
//! condition dropout, dataset generation, random block scores, supernet
//! sampling) comes from `stream(root, purpose, index)`: a ChaCha20 generator
//! keyed by SHA-256 of the root seed, a purpose label and an index (usually a
//! step or an epoch). Streams are pure functions of their three arguments, so a
//! run resumed at step s draws exactly what an uninterrupted run draws there,
//! and two purposes never share a key (the label is length-prefixed, so
//! `("ab", 1)` and `("a", ...)` cannot collide).
//!
//! No other randomness is allowed under `src/` (a test scans for ambient
//! generators).

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// The generator every stream uses.
pub type Stream = ChaCha20Rng;

/// Derives the stream for `purpose` number `index` of the run seeded `root`.
pub fn stream(root: u64, purpose: &str, index: u64) -> Stream {
    Stream::from_seed(stream_key(root, purpose, index))
}

/// The 32-byte ChaCha key of a stream; exposed so manifests and tests can name it.
pub fn stream_key(root: u64, purpose: &str, index: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"entprog-stream-v1");
    h.update(root.to_le_bytes());
    h.update((purpose.len() as u64).to_le_bytes());
    h.update(purpose.as_bytes());
    h.update(index.to_le_bytes());
    h.finalize().into()
}

/// A child seed (u64) for code that needs a plain integer seed, derived the same way.
pub fn derive_seed(root: u64, purpose: &str, index: u64) -> u64 {
    let k = stream_key(root, purpose, index);
    u64::from_le_bytes(k[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn draws(mut s: Stream, n: usize) -> Vec<u64> {
        (0..n).map(|_| s.random::<u64>()).collect()
    }

    #[test]
    fn same_arguments_give_the_same_stream() {
        assert_eq!(draws(stream(7, "data", 3), 16), draws(stream(7, "data", 3), 16));
    }

    #[test]
    fn any_changed_argument_gives_an_independent_stream() {
        let base = draws(stream(7, "data", 3), 16);
        for other in [stream(8, "data", 3), stream(7, "noise", 3), stream(7, "data", 4)] {
            let d = draws(other, 16);
            assert!(base.iter().zip(&d).all(|(a, b)| a != b));
        }
    }

    #[test]
    fn label_boundaries_do_not_collide() {
        assert_ne!(stream_key(1, "ab", 0), stream_key(1, "a", 0));
        assert_ne!(stream_key(1, "", 0), stream_key(1, "\0", 0));
    }

    #[test]
    fn stream_is_uniform_enough() {
        // A property, not a golden number: the mean of 100k uniforms is 0.5 +- 0.005.
        let mut s = stream(42, "check", 0);
        let mean: f64 = (0..100_000).map(|_| s.random::<f64>()).sum::<f64>() / 1e5;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
    }
}
