//! The pre-queue shuffle: SplitMix64 seeded with the recorded seed drives a Fisher–Yates shuffle
//! of the buyers in the order they joined. Both are fixed, published algorithms, so anyone holding
//! the seed and the joining order can re-run the shuffle and check the recorded order.

/// SplitMix64 (Steele, Lea and Flood), the seeded generator of the shuffle.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `0..bound` (`bound > 0`), without modulo bias (rejection sampling).
    pub fn below(&mut self, bound: u64) -> u64 {
        let bound = bound.max(1);
        let zone = u64::MAX - u64::MAX % bound;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % bound;
            }
        }
    }
}

/// Shuffles `items` in place: Fisher–Yates from the last element down, each swap partner drawn
/// with [`SplitMix64::below`].
pub fn shuffle<T>(seed: u64, items: &mut [T]) {
    let mut rng = SplitMix64::new(seed);
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// The shuffled order as joining ranks: `order[k]` is the joining rank of the buyer placed at
/// position `k + 1`.
pub fn permutation(seed: u64, len: usize) -> Vec<u32> {
    let mut ranks: Vec<u32> = (0..len as u32).collect();
    shuffle(seed, &mut ranks);
    ranks
}

/// A fresh seed: random, below 2^63.
pub fn fresh_seed() -> u64 {
    rand::random::<u64>() >> 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_its_reference_output() {
        // The first outputs of SplitMix64 seeded with 1234567 (reference implementation).
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(rng.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn the_shuffle_is_a_permutation_and_the_same_seed_gives_the_same_order() {
        let order = permutation(42, 1000);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
        assert_eq!(order, permutation(42, 1000));
        assert_ne!(order, permutation(43, 1000));
        assert_ne!(order, (0..1000).collect::<Vec<u32>>());
    }

    #[test]
    fn every_buyer_is_equally_likely_to_come_first() {
        let mut first = [0u32; 4];
        for seed in 0..40_000 {
            first[permutation(seed, 4)[0] as usize] += 1;
        }
        for count in first {
            assert!((9_000..11_000).contains(&count), "{first:?}");
        }
    }

    #[test]
    fn below_stays_below_its_bound() {
        let mut rng = SplitMix64::new(7);
        for bound in [1, 2, 3, 10, 1 << 40] {
            for _ in 0..100 {
                assert!(rng.below(bound) < bound);
            }
        }
    }
}
