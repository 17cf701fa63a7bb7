//! The prevalence sample of a window's scope: the N most installed sets of the latest DPL,
//! then, greedily, the fewest sets that bring every live firmware version (N and N-1) of every
//! product in the estate into the scope at least once. Plain Rust over the loaded estate.

use std::collections::HashSet;

use super::estate::Estate;
use super::greedy::{self, Cover};

/// A set in the sample (an index into the estate's sets) and why.
pub struct Pick {
    pub set: usize,
    pub reason: String,
}

/// The sample, in order, and the live versions no set of the DPL holds (labels).
pub struct Sample {
    pub picks: Vec<Pick>,
    pub uncovered: Vec<String>,
}

/// Live versions of the estate's products, and those the picks so far hold.
struct LiveCover<'a> {
    estate: &'a Estate,
    target: Vec<bool>,
    covered: Vec<bool>,
}

impl LiveCover<'_> {
    fn new_in(&self, i: usize) -> impl Iterator<Item = u32> + '_ {
        self.estate.sets[i]
            .members
            .iter()
            .copied()
            .filter(|&f| self.target[f as usize] && !self.covered[f as usize])
    }
}

impl Cover for LiveCover<'_> {
    /// Live versions added, then installed count.
    type Gain = (usize, i64);

    fn gain(&self, i: usize) -> Option<(usize, i64)> {
        let n = self.new_in(i).count();
        (n > 0).then_some((n, self.estate.sets[i].installed))
    }

    fn pick(&mut self, i: usize) {
        for &f in &self.estate.sets[i].members {
            self.covered[f as usize] = true;
        }
    }
}

/// The top `top_n` sets by installed count, then (when `cover_live`) the greedy cover of the
/// live versions they miss.
pub fn sample(estate: &Estate, top_n: usize, cover_live: bool) -> Sample {
    let products: HashSet<&str> = estate
        .sets
        .iter()
        .flat_map(|s| &s.members)
        .map(|&f| estate.firmware[f as usize].device_model_id.as_str())
        .collect();
    let target: Vec<bool> = estate
        .firmware
        .iter()
        .map(|f| f.live && products.contains(f.device_model_id.as_str()))
        .collect();
    let mut cover = LiveCover {
        estate,
        covered: vec![false; estate.firmware.len()],
        target,
    };
    let top = top_n.min(estate.sets.len());
    let mut picks: Vec<Pick> = (0..top)
        .map(|set| Pick {
            set,
            reason: format!("top {top_n} by prevalence"),
        })
        .collect();
    for i in 0..top {
        cover.pick(i);
    }
    if cover_live {
        let added = greedy::pick(&mut cover, top..estate.sets.len(), usize::MAX);
        // Replay the picks to say what each added.
        cover.covered = vec![false; estate.firmware.len()];
        for i in 0..top {
            cover.pick(i);
        }
        for set in added {
            let labels: Vec<&str> = cover
                .new_in(set)
                .map(|f| estate.firmware[f as usize].label.as_str())
                .collect();
            picks.push(Pick {
                set,
                reason: format!("adds {}", labels.join(", ")),
            });
            cover.pick(set);
        }
    }
    let uncovered = (0..estate.firmware.len())
        .filter(|&f| cover.target[f] && !cover.covered[f])
        .map(|f| estate.firmware[f].label.clone())
        .collect();
    Sample { picks, uncovered }
}

#[cfg(test)]
mod tests {
    use super::super::estate::{EstateSet, Fw};
    use super::*;

    fn fw(model: &str, label: &str, live: bool) -> Fw {
        Fw {
            device_model_id: model.into(),
            label: label.into(),
            live,
        }
    }

    #[test]
    fn the_top_sets_then_the_fewest_sets_for_every_live_version() {
        let estate = Estate {
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            firmware: vec![
                fw("hub", "CHF 1", true),
                fw("hub", "CHF 2", true),
                fw("meter", "ESME 1", true),
                fw("meter", "ESME 2", true),
                fw("meter", "ESME 0", false),
                fw("display", "IHD 9", true),
            ],
            sets: [
                (100, vec![0, 2]),
                (50, vec![0, 4]),
                (20, vec![1, 2]),
                (10, vec![1, 3]),
                (5, vec![3]),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, (installed, members))| EstateSet {
                id: format!("s{i}"),
                installed,
                members,
            })
            .collect(),
        };
        let s = sample(&estate, 1, true);
        let picked: Vec<usize> = s.picks.iter().map(|p| p.set).collect();
        // Set 3 alone adds CHF 2 and ESME 2; IHD 9's product is in no set, so not the estate's.
        assert_eq!(picked, vec![0, 3]);
        assert_eq!(s.picks[0].reason, "top 1 by prevalence");
        assert_eq!(s.picks[1].reason, "adds CHF 2, ESME 2");
        assert!(s.uncovered.is_empty());
        let s = sample(&estate, 2, false);
        assert_eq!(s.picks.len(), 2);
        assert_eq!(s.uncovered, vec!["CHF 2", "ESME 2"]);
    }
}
