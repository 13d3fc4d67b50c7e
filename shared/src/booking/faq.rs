//! A company's FAQ (`faq` in its settings): the questions callers ask beyond appointments
//! ("where do I park", "do you take cards") with the answer the agent should give. `retell-ops
//! sync` puts them into the company's Retell knowledge base (infra/ops `knowledge_base`), which
//! the agents' LLMs consult during the call.

use serde::{Deserialize, Serialize};

/// Most questions a company may list: Retell's limit of texts in one knowledge base.
pub const MAX_FAQ_ENTRIES: usize = 50;
pub const MAX_QUESTION_CHARS: usize = 300;
pub const MAX_ANSWER_CHARS: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqEntry {
    pub question: String,
    pub answer: String,
}

fn checked(text: &str, what: &str, max: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if text.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

/// Why an FAQ cannot be stored: too many entries, an empty or overlong text, a question twice.
pub fn check_faq(entries: &[FaqEntry]) -> Result<(), String> {
    if entries.len() > MAX_FAQ_ENTRIES {
        return Err(format!("faq: at most {MAX_FAQ_ENTRIES} questions"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, e) in entries.iter().enumerate() {
        checked(
            &e.question,
            &format!("faq[{i}].question"),
            MAX_QUESTION_CHARS,
        )?;
        checked(&e.answer, &format!("faq[{i}].answer"), MAX_ANSWER_CHARS)?;
        if !seen.insert(crate::booking::company::fold(&e.question)) {
            return Err(format!("faq[{i}]: the question is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(q: &str, a: &str) -> FaqEntry {
        FaqEntry {
            question: q.into(),
            answer: a.into(),
        }
    }

    #[test]
    fn faq_entries_are_checked() {
        assert!(check_faq(&[entry("Wo parke ich?", "Im Hof.")]).is_ok());
        for (entries, why) in [
            (vec![entry(" ", "x")], "empty"),
            (vec![entry("q", "")], "empty"),
            (vec![entry(&"q".repeat(301), "a")], "longer than 300"),
            (vec![entry("q", &"a".repeat(2001))], "longer than 2000"),
            (vec![entry("q\u{0}", "a")], "control"),
            (vec![entry("Parken?", "a"), entry("parken", "b")], "twice"),
            (vec![entry("q", "a"); 51], "at most 50"),
        ] {
            let e = check_faq(&entries).expect_err(why);
            assert!(e.contains(why), "{e} / {why}");
        }
    }
}
