//! A Zipf-like choice of issue: rank `k` (0-based) is drawn with probability proportional to
//! `1 / (k + 1)^s`. With `s = 1` and 1,000 issues the top issue gets ~13% of the events and
//! the bottom half shares ~9%, which is roughly what production error streams look like (a few
//! loud issues, a long tail).

use rand::Rng;

/// Sampler over ranks `0..n`, built once (O(n)) and sampled in O(log n).
#[derive(Debug, Clone)]
pub struct Zipf {
    /// Cumulative weights, normalized so the last entry is 1.0.
    cdf: Vec<f64>,
}

impl Zipf {
    /// Builds the sampler for `n` ranks (at least one) with exponent `s` (≥ 0; 0 is uniform).
    pub fn new(n: usize, s: f64) -> Self {
        let n = n.max(1);
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 0..n {
            total += 1.0 / ((k + 1) as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    /// Draws a rank in `0..n`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let u: f64 = rng.random();
        // First rank whose cumulative weight exceeds u; the clamp guards against u rounding
        // onto the final 1.0.
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn head_is_heavier_than_tail_and_all_ranks_in_range() {
        let z = Zipf::new(100, 1.0);
        let mut rng = StdRng::seed_from_u64(7);
        let mut hits = vec![0u32; 100];
        for _ in 0..100_000 {
            hits[z.sample(&mut rng)] += 1;
        }
        assert!(hits[0] > hits[9] * 5, "{hits:?}");
        assert!(hits[0] > 15_000 && hits[0] < 23_000, "{}", hits[0]);
    }

    #[test]
    fn single_rank() {
        let z = Zipf::new(0, 1.0);
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(z.sample(&mut rng), 0);
    }
}
