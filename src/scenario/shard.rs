//! Deterministic sharding: `--shard I/N` runs the I-th of N parts of the selected scenarios.

/// A shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid shard `{s}`: expected I/N with 1 ≤ I ≤ N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Keep this shard's scenarios. Names are sorted, then dealt round-robin: every scenario
/// lands in exactly one shard, the shards differ in size by at most one, and the split
/// depends only on the set of names, so every CI job computes the same one.
pub fn select<T>(mut items: Vec<T>, name: impl Fn(&T) -> &str, shard: Shard) -> Vec<T> {
    items.sort_by(|a, b| name(a).cmp(name(b)));
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % shard.count == shard.index - 1)
        .map(|(_, t)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x", "1/", "/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn complete_disjoint_balanced_and_order_independent() {
        let names: Vec<String> = (0..23).map(|i| format!("scenario-{i:02}")).collect();
        for n in 1..=6 {
            let mut seen: Vec<String> = Vec::new();
            let mut sizes = Vec::new();
            for i in 1..=n {
                let mut shuffled = names.clone();
                shuffled.rotate_left(i * 5 % names.len());
                let part = select(shuffled, |s| s.as_str(), Shard { index: i, count: n });
                sizes.push(part.len());
                seen.extend(part);
            }
            seen.sort();
            assert_eq!(seen, names, "{n} shards: every scenario exactly once");
            assert!(
                sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
                "{n}: {sizes:?}"
            );
        }
    }
}
