//! A line diff of two texts (an agent's published prompt against its draft): the longest common
//! subsequence of their lines, with the work bounded. A prompt may be 50,000 characters, and a
//! table of every line against every line of two such texts would be billions of cells, so the
//! lines both share at the start and the end are taken off first (an edit usually touches a few
//! lines in the middle) and what remains is compared only up to [`MAX_CELLS`]; beyond that the
//! diff says how many lines differ, not which.

/// Largest LCS table compared (cells; 4 bytes each): ~4 MB, a few milliseconds.
pub const MAX_CELLS: usize = 1_000_000;

/// One line of the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineChange<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// The difference between two texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineDiff<'a> {
    /// Every line of both, in order: unchanged, removed from the old, added in the new.
    Lines(Vec<LineChange<'a>>),
    /// Too many differing lines to compare within [`MAX_CELLS`]: how many lines differ, after
    /// the `common` lines both share at the start and the end.
    TooLarge {
        common: usize,
        removed: usize,
        added: usize,
    },
}

impl LineDiff<'_> {
    /// Whether the texts differ at all.
    pub fn is_change(&self) -> bool {
        match self {
            Self::Lines(lines) => lines.iter().any(|l| !matches!(l, LineChange::Same(_))),
            Self::TooLarge { .. } => true,
        }
    }
}

/// The lines of `old` and `new` compared (a trailing line break is no line of its own).
pub fn diff<'a>(old: &'a str, new: &'a str) -> LineDiff<'a> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (a, b) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    if a.len().saturating_mul(b.len()) > MAX_CELLS {
        return LineDiff::TooLarge {
            common: prefix + suffix,
            removed: a.len(),
            added: b.len(),
        };
    }
    let mut lines: Vec<LineChange> = old[..prefix].iter().map(|l| LineChange::Same(l)).collect();
    lines.extend(lcs_changes(a, b));
    lines.extend(
        old[old.len() - suffix..]
            .iter()
            .map(|l| LineChange::Same(l)),
    );
    LineDiff::Lines(lines)
}

/// The classic dynamic programme: `table[i][j]` is the LCS length of `a[i..]` and `b[j..]`,
/// walked from the start, removals before additions at each difference.
fn lcs_changes<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<LineChange<'a>> {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            table[i * width + j] = if a[i] == b[j] {
                table[(i + 1) * width + j + 1] + 1
            } else {
                table[(i + 1) * width + j].max(table[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(LineChange::Same(a[i]));
            i += 1;
            j += 1;
        } else if table[(i + 1) * width + j] >= table[i * width + j + 1] {
            out.push(LineChange::Removed(a[i]));
            i += 1;
        } else {
            out.push(LineChange::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| LineChange::Removed(l)));
    out.extend(b[j..].iter().map(|l| LineChange::Added(l)));
    out
}

/// What a page shows of a diff: the changed lines with `context` unchanged lines around them,
/// each longer unchanged run as the number of lines left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown<'a> {
    Line(LineChange<'a>),
    Skipped(usize),
}

pub fn with_context<'a>(lines: &[LineChange<'a>], context: usize) -> Vec<Shown<'a>> {
    let changed: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !matches!(l, LineChange::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let near_change = |i: usize| {
        // The first changed line at or after i - context: is it within i + context?
        let from = i.saturating_sub(context);
        let k = changed.partition_point(|&c| c < from);
        changed.get(k).is_some_and(|&c| c <= i + context)
    };
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, line) in lines.iter().enumerate() {
        if near_change(i) {
            if skipped > 0 {
                out.push(Shown::Skipped(skipped));
                skipped = 0;
            }
            out.push(Shown::Line(*line));
        } else {
            skipped += 1;
        }
    }
    if skipped > 0 {
        out.push(Shown::Skipped(skipped));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use LineChange::{Added, Removed, Same};

    #[test]
    fn an_edited_line_is_removed_then_added_between_the_lines_both_share() {
        let d = diff("a\nb\nc\nd", "a\nB\nc\nd\ne");
        assert_eq!(
            d,
            LineDiff::Lines(vec![
                Same("a"),
                Removed("b"),
                Added("B"),
                Same("c"),
                Same("d"),
                Added("e")
            ])
        );
        assert!(d.is_change());
        assert!(
            !diff("x\ny\n", "x\ny").is_change(),
            "a final line break is no line"
        );
        assert_eq!(diff("", ""), LineDiff::Lines(vec![]));
        assert_eq!(diff("", "new"), LineDiff::Lines(vec![Added("new")]));
    }

    #[test]
    fn a_moved_block_keeps_the_longest_common_run() {
        let LineDiff::Lines(lines) = diff("1\n2\n3\n4\n5", "4\n5\n1\n2\n3") else {
            panic!("small texts are compared")
        };
        let same = lines.iter().filter(|l| matches!(l, Same(_))).count();
        assert_eq!(same, 3, "{lines:?}");
        let rebuilt_new: Vec<&str> = lines
            .iter()
            .filter_map(|l| match l {
                Same(t) | Added(t) => Some(*t),
                Removed(_) => None,
            })
            .collect();
        assert_eq!(rebuilt_new, ["4", "5", "1", "2", "3"]);
    }

    #[test]
    fn the_largest_prompts_cost_bounded_work() {
        // 50,000 characters of one-character lines, every line changed: 25,000 × 25,000 cells
        // would be compared without the cap.
        let old = "a\n".repeat(25_000);
        let new = "b\n".repeat(25_000);
        let started = std::time::Instant::now();
        assert_eq!(
            diff(&old, &new),
            LineDiff::TooLarge {
                common: 0,
                removed: 25_000,
                added: 25_000
            }
        );
        // One changed line in the middle of the same prompt is found exactly.
        let mut edited: Vec<String> = (0..25_000).map(|i| format!("line {i}")).collect();
        let original = edited.join("\n");
        edited[12_345] = "changed".into();
        let edited = edited.join("\n");
        let LineDiff::Lines(lines) = diff(&original, &edited) else {
            panic!("prefix and suffix are taken off first")
        };
        let changes: Vec<_> = lines.iter().filter(|l| !matches!(l, Same(_))).collect();
        assert_eq!(
            changes,
            [&Removed("line 12345"), &Added("changed")],
            "{changes:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn unchanged_runs_beyond_the_context_are_counted_not_shown() {
        let old: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let mut new = old.clone();
        new[10] = "ten".into();
        let (old, new) = (old.join("\n"), new.join("\n"));
        let LineDiff::Lines(lines) = diff(&old, &new) else {
            panic!("small")
        };
        let shown = with_context(&lines, 2);
        assert_eq!(
            shown,
            vec![
                Shown::Skipped(8),
                Shown::Line(Same("8")),
                Shown::Line(Same("9")),
                Shown::Line(Removed("10")),
                Shown::Line(Added("ten")),
                Shown::Line(Same("11")),
                Shown::Line(Same("12")),
                Shown::Skipped(7),
            ]
        );
        assert_eq!(
            with_context(&[Same("a")], 2),
            vec![Shown::Skipped(1)],
            "nothing changed: nothing shown"
        );
    }
}
