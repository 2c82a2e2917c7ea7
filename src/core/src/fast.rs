//! Fast hashing for lookups keyed by text from the trust's own files (employee numbers,
//! account names): the multiply-rotate of rustc's FxHash instead of SipHash.

use std::collections::HashMap;

/// A hash map keyed by text from the trust's own files, with a fast non-cryptographic
/// hash (the multiply-rotate of rustc's FxHash): lookups only, its order never reaches the
/// output. Keys are compared in full, so a collision costs time, never a wrong answer.
/// The files come from the trust's HR and target systems, not from strangers, so
/// a hash built to resist crafted collisions buys nothing here and cost a fifth of the run.
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

/// A hash set of the same kind.
pub type FastSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<FastHasher>>;

/// The hasher behind [`FastMap`] and [`FastSet`].
#[derive(Default)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves its best bits at the top while the table picks buckets by
        // the bottom ones: mixed once more (MurmurHash3's finaliser), two multiplies per
        // key, so sequential numbers spread as random ones would.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// Sequential employee numbers spread over a table's low bits (which pick the
    /// bucket) about as well as random ones would: 65,536 of them fill about 63% of
    /// 65,536 buckets at random; a hash with weak low bits piles them into a few.
    #[test]
    fn sequential_numbers_spread_over_the_low_bits() {
        let build = std::hash::BuildHasherDefault::<FastHasher>::default();
        let buckets: std::collections::BTreeSet<u64> = (20_000_000u32..20_065_536)
            .map(|n| build.hash_one(n.to_string()) & 0xffff)
            .collect();
        assert!(buckets.len() > 38_000, "{} buckets used", buckets.len());
    }

    /// A set keyed this way never mistakes one name for another.
    #[test]
    fn every_distinct_key_is_kept() {
        let mut set = FastSet::default();
        for i in 0..100_000u32 {
            assert!(set.insert(format!("user{i}")));
        }
        assert!(!set.insert("user7".to_string()));
        assert_eq!(set.len(), 100_000);
    }
}
