//! The lexical index's tokenizer: Unicode words, case-folded, with code-ish identifiers
//! kept whole *and* split into their parts, and common English words dropped.
//!
//! A token is a run of letters, digits and `_`, possibly joined by `.` between two such
//! characters: `os.scandir`, `pg_dump`, `__init__`, `v1.2`, `Straße`. A token with a
//! joiner or an underscore is indexed whole (`os.scandir`) and as each part (`os`,
//! `scandir`); a plain word as itself. Everything is lower-cased (Unicode). Parts and
//! plain words on the stop list are dropped (a whole identifier never is), so a query
//! for `os.scandir` matches the identifier exactly and a query for `scandir` finds it
//! too. Tokens longer than `MAX_TOKEN_BYTES` are dropped (base64 blobs, hashes).
//!
//! Optionally, plain words and identifier parts are also reduced to their Snowball stem
//! (`running` -> `run`); whole identifiers never are, so `os.scandir` still matches
//! exactly.
//!
//! The rules are versioned by `NAME`, recorded in the manifest (with `+snowball-<language>`
//! when stemming): a pack is queried with the tokenizer it was built with, and a change
//! to these rules gets a new name.

use crate::error::{Error, Result};
use rust_stemmers::{Algorithm, Stemmer};
use std::sync::Arc;

/// The tokenizer's name and version, as the manifest records it.
pub(crate) const NAME: &str = "words-ident-stop-v1";

/// What a stemming tokenizer's name adds to `NAME`, before the language.
const STEM_SUFFIX: &str = "+snowball-";

/// The Snowball languages, by the names the options and the manifest use.
const LANGUAGES: [(&str, Algorithm); 18] = [
    ("arabic", Algorithm::Arabic),
    ("danish", Algorithm::Danish),
    ("dutch", Algorithm::Dutch),
    ("english", Algorithm::English),
    ("finnish", Algorithm::Finnish),
    ("french", Algorithm::French),
    ("german", Algorithm::German),
    ("greek", Algorithm::Greek),
    ("hungarian", Algorithm::Hungarian),
    ("italian", Algorithm::Italian),
    ("norwegian", Algorithm::Norwegian),
    ("portuguese", Algorithm::Portuguese),
    ("romanian", Algorithm::Romanian),
    ("russian", Algorithm::Russian),
    ("spanish", Algorithm::Spanish),
    ("swedish", Algorithm::Swedish),
    ("tamil", Algorithm::Tamil),
    ("turkish", Algorithm::Turkish),
];

/// The lexical index's tokenizer: the rules above, with or without stemming.
#[derive(Clone, Default)]
pub struct Tokenizer {
    stem: Option<(&'static str, Arc<Stemmer>)>,
}

impl Tokenizer {
    /// Without stemming.
    pub fn plain() -> Self {
        Self::default()
    }

    /// With the Snowball stemmer of `language` (lower case, e.g. `english`).
    pub fn stemming(language: &str) -> Result<Self> {
        let (name, algorithm) = LANGUAGES
            .iter()
            .find(|(name, _)| *name == language)
            .ok_or_else(|| {
                let known: Vec<&str> = LANGUAGES.iter().map(|(n, _)| *n).collect();
                Error::InvalidArg(format!(
                    "lexical: no Snowball stemmer for {language:?} (known: {})",
                    known.join(", ")
                ))
            })?;
        Ok(Tokenizer {
            stem: Some((name, Arc::new(Stemmer::create(*algorithm)))),
        })
    }

    /// The tokenizer a manifest names; `UnsupportedFeature` for one this library lacks.
    pub fn from_name(name: &str) -> Result<Self> {
        let unknown = || {
            Error::UnsupportedFeature(format!(
                "lexical tokenizer {name:?} (this library has {NAME}, optionally with \
                 {STEM_SUFFIX}<language>)"
            ))
        };
        match name.strip_prefix(NAME) {
            Some("") => Ok(Self::plain()),
            Some(rest) => {
                let language = rest.strip_prefix(STEM_SUFFIX).ok_or_else(unknown)?;
                Self::stemming(language).map_err(|_| unknown())
            }
            None => Err(unknown()),
        }
    }

    /// The name the manifest records.
    pub fn name(&self) -> String {
        match &self.stem {
            None => NAME.to_string(),
            Some((language, _)) => format!("{NAME}{STEM_SUFFIX}{language}"),
        }
    }

    /// The stemming language, if any.
    pub fn stem_language(&self) -> Option<&'static str> {
        self.stem.as_ref().map(|(language, _)| *language)
    }

    /// Calls `emit` with every index term of `text`, in order.
    pub fn for_each_term(&self, text: &str, mut emit: impl FnMut(&str)) {
        match &self.stem {
            None => for_each_term(text, emit),
            Some((_, stemmer)) => for_each_term_parts(text, |term, whole| {
                if whole {
                    emit(term)
                } else {
                    emit(&stemmer.stem(term))
                }
            }),
        }
    }

    /// Every index term of `text`, in order.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_term(text, |t| out.push(t.to_string()));
        out
    }
}

/// Longer tokens are not indexed.
pub(crate) const MAX_TOKEN_BYTES: usize = 64;

/// English function words (and a few very common verbs) that carry little on their own,
/// and the pieces contractions split into at their apostrophe (`doesn't` -> `doesn`,
/// `t`), which would otherwise match every chunk written in a conversational tone.
const STOP: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "ain",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "couldn",
    "d",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "hadn",
    "has",
    "hasn",
    "have",
    "haven",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "ll",
    "m",
    "ma",
    "me",
    "mightn",
    "more",
    "most",
    "mustn",
    "my",
    "myself",
    "needn",
    "no",
    "nor",
    "not",
    "now",
    "o",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "re",
    "s",
    "same",
    "shan",
    "she",
    "should",
    "shouldn",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "ve",
    "very",
    "was",
    "wasn",
    "we",
    "were",
    "weren",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won",
    "wouldn",
    "y",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

fn is_stop(word: &str) -> bool {
    STOP.binary_search(&word).is_ok()
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Calls `emit` with every index term of `text`, in order (no stemming).
pub fn for_each_term(text: &str, mut emit: impl FnMut(&str)) {
    for_each_term_parts(text, |term, _| emit(term))
}

/// As `for_each_term`, also telling whether each term is a whole identifier (`true`:
/// never stemmed) or a plain word or an identifier's part.
fn for_each_term_parts(text: &str, mut emit: impl FnMut(&str, bool)) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut folded = String::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_word_char(chars[i].1) {
            i += 1;
            continue;
        }
        // The token: word characters, and '.' between two of them.
        let start = chars[i].0;
        let mut j = i + 1;
        while j < chars.len() {
            let c = chars[j].1;
            if is_word_char(c) || (c == '.' && j + 1 < chars.len() && is_word_char(chars[j + 1].1))
            {
                j += 1;
            } else {
                break;
            }
        }
        let end = chars.get(j).map_or(text.len(), |(at, _)| *at);
        i = j;
        folded.clear();
        folded.extend(text[start..end].chars().flat_map(char::to_lowercase));
        if folded.len() > MAX_TOKEN_BYTES {
            continue;
        }
        let compound = folded.contains(['.', '_']);
        if compound {
            emit(&folded, true);
        }
        for part in folded.split(['.', '_']) {
            if part.is_empty() || is_stop(part) || (compound && part == folded) {
                continue;
            }
            emit(part, false);
        }
    }
}

/// Every index term of `text`, in order.
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_term(text, |t| out.push(t.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_list_is_sorted_for_binary_search() {
        assert!(STOP.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn identifiers_are_kept_whole_and_split() {
        assert_eq!(
            terms("Use os.scandir() or pg_dump --jobs=4."),
            [
                "use",
                "os.scandir",
                "os",
                "scandir",
                "pg_dump",
                "pg",
                "dump",
                "jobs",
                "4"
            ]
        );
        assert_eq!(terms("__init__"), ["__init__", "init"]);
        assert_eq!(terms("version 1.2.3"), ["version", "1.2.3", "1", "2", "3"]);
    }

    #[test]
    fn words_fold_case_and_stop_words_go() {
        assert_eq!(terms("How do I read THE File?"), ["read", "file"]);
        // Contractions split at the apostrophe; their pieces are stop words.
        assert_eq!(
            terms("Why doesn\u{2019}t it work? It's fine"),
            ["work", "fine"]
        );
        assert_eq!(terms("Straße ÉCOLE"), ["straße", "école"]);
        // A sentence's final dot is not a joiner, nor is a dot before a space.
        assert_eq!(terms("the end. Next"), ["end", "next"]);
        // A whole identifier is never a stop word, its stop-word parts are dropped.
        assert_eq!(terms("is_a"), ["is_a"]);
    }

    #[test]
    fn odd_input_gives_no_or_bounded_terms() {
        assert!(terms("").is_empty());
        assert!(terms("... --- !!!").is_empty());
        assert!(terms(&"x".repeat(MAX_TOKEN_BYTES + 1)).is_empty());
        assert_eq!(terms(&"y".repeat(MAX_TOKEN_BYTES)).len(), 1);
        assert_eq!(terms("日本語のテキスト"), ["日本語のテキスト"]);
    }

    #[test]
    fn stemming_reduces_words_and_parts_but_not_whole_identifiers() {
        let t = Tokenizer::stemming("english").unwrap();
        assert_eq!(t.name(), "words-ident-stop-v1+snowball-english");
        assert_eq!(
            t.terms("Running the runner's tests: os.listdirs connections"),
            [
                "run",
                "runner",
                "test",
                "os.listdirs",
                "os",
                "listdir",
                "connect"
            ]
        );
        assert_eq!(
            Tokenizer::plain().terms("Running tests"),
            ["running", "tests"]
        );
        for name in [
            NAME,
            "words-ident-stop-v1+snowball-english",
            "words-ident-stop-v1+snowball-german",
        ] {
            assert_eq!(Tokenizer::from_name(name).unwrap().name(), name);
        }
        for bad in [
            "words-ident-stop-v2",
            "words-ident-stop-v1+snowball-klingon",
            "words-ident-stop-v1+x",
        ] {
            assert_eq!(
                Tokenizer::from_name(bad).err().map(|e| e.code()),
                Some(8),
                "{bad}"
            );
        }
        assert!(Tokenizer::stemming("English").is_err());
    }
}
