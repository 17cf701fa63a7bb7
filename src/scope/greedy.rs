//! Greedy picking with lazy gain updates, for sampling and suggestions alike.
//!
//! A candidate's gain can only fall as others are picked (what it would add is then partly
//! covered), so a gain computed before the last pick is an upper bound: the heap pops the best
//! bound, recomputes it when stale and picks it only when fresh. Each pick then costs a few
//! recomputations instead of a rescan of every candidate.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What the greedy works on: the gain of candidate `i` now (`None` when it adds nothing worth
/// a pick), and the picking of `i`, which covers what it adds.
pub trait Cover {
    type Gain: Ord + Copy;

    fn gain(&self, i: usize) -> Option<Self::Gain>;

    fn pick(&mut self, i: usize);
}

/// Picks up to `limit` of `candidates`, best gain first, recomputed after each pick; among
/// equal gains the lower index goes first. Returns the picks in order.
pub fn pick<C: Cover>(cover: &mut C, candidates: impl IntoIterator<Item = usize>, limit: usize) -> Vec<usize> {
    let mut heap: BinaryHeap<(C::Gain, Reverse<usize>, usize)> = candidates
        .into_iter()
        .filter_map(|i| cover.gain(i).map(|g| (g, Reverse(i), 0)))
        .collect();
    let mut picked = Vec::new();
    while picked.len() < limit {
        let Some((_, Reverse(i), computed_at)) = heap.pop() else {
            break;
        };
        if computed_at == picked.len() {
            cover.pick(i);
            picked.push(i);
        } else if let Some(g) = cover.gain(i) {
            heap.push((g, Reverse(i), picked.len()));
        }
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Sets of numbers; the gain is how many uncovered numbers a set holds.
    struct Numbers {
        sets: Vec<Vec<u32>>,
        covered: HashSet<u32>,
    }

    impl Cover for Numbers {
        type Gain = usize;

        fn gain(&self, i: usize) -> Option<usize> {
            let n = self.sets[i].iter().filter(|x| !self.covered.contains(x)).count();
            (n > 0).then_some(n)
        }

        fn pick(&mut self, i: usize) {
            self.covered.extend(self.sets[i].iter().copied());
        }
    }

    #[test]
    fn picks_the_largest_marginal_gain_recomputed_after_each_pick() {
        let mut cover = Numbers {
            sets: vec![vec![1, 2, 3, 4], vec![1, 2, 3], vec![5, 6], vec![4, 5, 6, 7], vec![8]],
            covered: HashSet::new(),
        };
        // 0 and 3 tie at four; 0 first by index. Then 3 adds three, 4 one; 1 adds nothing.
        assert_eq!(pick(&mut cover, 0..5, 10), vec![0, 3, 4]);
        let mut cover = Numbers {
            sets: vec![vec![1], vec![1, 2]],
            covered: HashSet::new(),
        };
        assert_eq!(pick(&mut cover, 0..2, 1), vec![1], "the limit stops it");
    }
}
