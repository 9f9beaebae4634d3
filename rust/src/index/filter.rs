//! Metadata filters, evaluated in Rust during search.
//!
//! A filter is a JSON object; every entry must match (AND). A key names a metadata field
//! (`a.b` reaches into nested objects). A value is:
//! - a string: a glob matched against a string field (`*` and `?` stay within one
//!   `/`-separated segment, `**` spans segments), e.g. `{"path": "guide/*.md"}`;
//! - a number, boolean or null: equality;
//! - an array: any of its conditions;
//! - an object of operators: `$eq`, `$ne`, `$in`, `$nin`, `$gt`, `$gte`, `$lt`, `$lte`
//!   (numbers, or strings compared bytewise), `$glob`, `$exists` (boolean).
//!
//! When the field holds an array (tags), the condition matches if any element matches
//! (`$ne`, `$nin` and `$exists: false` hold only if no element matches). `$or` and `$and`
//! at any level take an array of filters.

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Field(Vec<String>, Cond),
}

#[derive(Debug, Clone)]
pub enum Cond {
    Glob(Glob),
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Cmp(Ordering, bool, Value),
    Exists(bool),
    AnyOf(Vec<Cond>),
    AllOf(Vec<Cond>),
}

/// A filter of the wrong shape (not an object, an unknown operator, an operand of the
/// wrong JSON type) is `INVALID_JSON`, like any other JSON argument of the wrong shape.
fn bad(msg: impl Into<String>) -> Error {
    Error::JsonShape(format!("filter: {}", msg.into()))
}

impl Filter {
    pub fn parse(value: &Value) -> Result<Filter> {
        let obj = value
            .as_object()
            .ok_or_else(|| bad(format!("expected a JSON object, got {value}")))?;
        let mut parts = Vec::with_capacity(obj.len());
        for (key, v) in obj {
            parts.push(match key.as_str() {
                "$and" | "$or" => {
                    let items = v
                        .as_array()
                        .ok_or_else(|| bad(format!("{key} takes an array of filters")))?;
                    let subs = items
                        .iter()
                        .map(Filter::parse)
                        .collect::<Result<Vec<_>>>()?;
                    if key == "$and" {
                        Filter::All(subs)
                    } else {
                        Filter::Any(subs)
                    }
                }
                k if k.starts_with('$') => {
                    return Err(bad(format!("unknown operator {k} at top level")))
                }
                k => Filter::Field(k.split('.').map(str::to_string).collect(), Cond::parse(v)?),
            });
        }
        Ok(Filter::All(parts))
    }

    /// Whether `meta` passes. An order comparison (`$gt`, ...) of a number with a string
    /// is an error rather than a silent non-match: it is a mistake in the filter
    /// (`{"n": {"$gt": "5"}}`), and no chunk could ever pass it.
    pub fn matches(&self, meta: &Map<String, Value>) -> Result<bool> {
        match self {
            Filter::All(fs) => {
                for f in fs {
                    if !f.matches(meta)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Filter::Any(fs) => {
                for f in fs {
                    if f.matches(meta)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Filter::Field(path, cond) => cond.test(lookup(meta, path)).map_err(|msg| {
                Error::InvalidArg(format!("filter: field '{}' {msg}", path.join(".")))
            }),
        }
    }
}

fn lookup<'a>(meta: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(meta.get(first)?, |v, key| v.as_object()?.get(key))
}

impl Cond {
    fn parse(v: &Value) -> Result<Cond> {
        Ok(match v {
            Value::String(s) => Cond::Glob(Glob::new(s)),
            Value::Array(items) => {
                Cond::AnyOf(items.iter().map(Cond::parse).collect::<Result<_>>()?)
            }
            Value::Object(ops) => {
                let mut conds = Vec::with_capacity(ops.len());
                for (op, arg) in ops {
                    conds.push(Cond::parse_op(op, arg)?);
                }
                Cond::AllOf(conds)
            }
            scalar => Cond::Eq(scalar.clone()),
        })
    }

    fn parse_op(op: &str, arg: &Value) -> Result<Cond> {
        let list = |arg: &Value| {
            arg.as_array()
                .cloned()
                .ok_or_else(|| bad(format!("{op} takes an array")))
        };
        let comparable = |arg: &Value| {
            if arg.is_number() || arg.is_string() {
                Ok(arg.clone())
            } else {
                Err(bad(format!("{op} takes a number or a string, got {arg}")))
            }
        };
        Ok(match op {
            "$eq" => Cond::Eq(arg.clone()),
            "$ne" => Cond::Ne(arg.clone()),
            "$in" => Cond::In(list(arg)?),
            "$nin" => Cond::Nin(list(arg)?),
            "$gt" => Cond::Cmp(Ordering::Greater, false, comparable(arg)?),
            "$gte" => Cond::Cmp(Ordering::Greater, true, comparable(arg)?),
            "$lt" => Cond::Cmp(Ordering::Less, false, comparable(arg)?),
            "$lte" => Cond::Cmp(Ordering::Less, true, comparable(arg)?),
            "$glob" => Cond::Glob(Glob::new(
                arg.as_str().ok_or_else(|| bad("$glob takes a string"))?,
            )),
            "$exists" => Cond::Exists(
                arg.as_bool()
                    .ok_or_else(|| bad("$exists takes true or false"))?,
            ),
            other => return Err(bad(format!("unknown operator {other}"))),
        })
    }

    /// Errors (a message) only for an order comparison of a number with a string.
    fn test(&self, field: Option<&Value>) -> std::result::Result<bool, String> {
        Ok(match self {
            Cond::Exists(want) => field.is_some() == *want,
            Cond::Ne(v) => !Cond::Eq(v.clone()).test(field)?,
            Cond::Nin(vs) => !vs.iter().any(|v| json_eq_field(field, v)),
            Cond::AnyOf(cs) => {
                for c in cs {
                    if c.test(field)? {
                        return Ok(true);
                    }
                }
                false
            }
            Cond::AllOf(cs) => {
                for c in cs {
                    if !c.test(field)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => match field {
                None => false,
                Some(Value::Array(items)) => {
                    for item in items {
                        if self.test_scalar(item)? {
                            return Ok(true);
                        }
                    }
                    false
                }
                Some(v) => self.test_scalar(v)?,
            },
        })
    }

    fn test_scalar(&self, v: &Value) -> std::result::Result<bool, String> {
        Ok(match self {
            Cond::Glob(g) => v.as_str().is_some_and(|s| g.matches(s)),
            Cond::Eq(want) => json_eq(v, want),
            Cond::In(wants) => wants.iter().any(|w| json_eq(v, w)),
            Cond::Cmp(dir, or_equal, bound) => {
                if (v.is_number() && bound.is_string()) || (v.is_string() && bound.is_number()) {
                    return Err(format!(
                        "holds {v}, which cannot be ordered against {bound} \
                         (a number and a string)"
                    ));
                }
                match compare(v, bound) {
                    Some(Ordering::Equal) => *or_equal,
                    Some(o) => o == *dir,
                    None => false,
                }
            }
            _ => false,
        })
    }
}

/// Whether the field (or, for a list, any element) equals `want`.
fn json_eq_field(field: Option<&Value>, want: &Value) -> bool {
    match field {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|i| json_eq(i, want)),
        Some(v) => json_eq(v, want),
    }
}

/// Equality that treats 1 and 1.0 as equal.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// A glob over `/`-separated strings: `*` and `?` within one segment, `**` across.
#[derive(Debug, Clone)]
pub struct Glob(Vec<Token>);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Char(char),
    Any,             // ?
    Star,            // *
    DoubleStar,      // "**" not followed by a slash: any run, across segments
    DoubleStarSlash, // "**/": nothing, or any run ending in a slash
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' if chars.get(i + 1) == Some(&'*') => {
                    if chars.get(i + 2) == Some(&'/') {
                        tokens.push(Token::DoubleStarSlash);
                        i += 3;
                    } else {
                        tokens.push(Token::DoubleStar);
                        i += 2;
                    }
                }
                '*' => {
                    tokens.push(Token::Star);
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                c => {
                    tokens.push(Token::Char(c));
                    i += 1;
                }
            }
        }
        Glob(tokens)
    }

    pub fn matches(&self, text: &str) -> bool {
        let s: Vec<char> = text.chars().collect();
        // memo[t][i]: tokens from t match s from i. Bottom-up dynamic programming keeps
        // the cost O(tokens x chars) whatever the pattern.
        let (nt, ns) = (self.0.len(), s.len());
        let mut next = vec![false; ns + 1];
        next[ns] = true; // no tokens left matches only the end
        for t in (0..nt).rev() {
            let mut cur = vec![false; ns + 1];
            // For "**/": some run s[i..j] ending in '/' is followed by a match at j.
            let mut slash_run = false;
            for i in (0..=ns).rev() {
                cur[i] = match &self.0[t] {
                    Token::Char(c) => i < ns && s[i] == *c && next[i + 1],
                    Token::Any => i < ns && s[i] != '/' && next[i + 1],
                    Token::Star => next[i] || (i < ns && s[i] != '/' && cur[i + 1]),
                    Token::DoubleStar => next[i] || (i < ns && cur[i + 1]),
                    Token::DoubleStarSlash => {
                        if i < ns {
                            slash_run = (s[i] == '/' && next[i + 1]) || slash_run;
                        }
                        next[i] || slash_run
                    }
                };
            }
            next = cur;
        }
        next[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn check(filter: Value, m: Value) -> bool {
        Filter::parse(&filter).unwrap().matches(&meta(m)).unwrap()
    }

    #[test]
    fn ordering_a_number_against_a_string_is_an_error() {
        let f = Filter::parse(&json!({"n": {"$gt": "abc"}})).unwrap();
        let err = f.matches(&meta(json!({"n": 3}))).unwrap_err();
        assert_eq!(err.code(), crate::error::code::INVALID_ARG);
        assert!(err.to_string().contains("field 'n'"), "{err}");
        let f = Filter::parse(&json!({"s": {"$lt": 5}})).unwrap();
        assert!(f.matches(&meta(json!({"s": "x"}))).is_err());
        // Missing fields and same-kind comparisons are fine.
        assert!(!f.matches(&meta(json!({}))).unwrap());
        assert!(check(json!({"s": {"$lt": "b"}}), json!({"s": "a"})));
    }

    #[test]
    fn globs() {
        let cases = [
            ("guide/*.md", "guide/a.md", true),
            ("guide/*.md", "guide/x/a.md", false),
            ("guide/**", "guide/x/a.md", true),
            ("**/*.md", "a.md", true),
            ("**/*.md", "x/y/a.md", true),
            ("**/*.md", "x/y/a.txt", false),
            ("a?c", "abc", true),
            ("a?c", "a/c", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("ünï*", "ünïcode", true),
            ("a**b", "a/x/b", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(Glob::new(p).matches(s), want, "{p} vs {s}");
        }
    }

    #[test]
    fn fields_and_operators() {
        let m = json!({"path": "guide/a.md", "n": 3, "tags": ["x", "y"], "sec": {"lvl": 2}});
        assert!(check(json!({"path": "guide/*.md"}), m.clone()));
        assert!(!check(json!({"path": "api/*.md"}), m.clone()));
        assert!(check(json!({"n": 3}), m.clone()));
        assert!(check(json!({"n": 3.0}), m.clone()));
        assert!(check(json!({"n": {"$gte": 3, "$lt": 4}}), m.clone()));
        assert!(!check(json!({"n": {"$gt": 3}}), m.clone()));
        assert!(check(json!({"n": [1, 3]}), m.clone()));
        assert!(check(json!({"tags": "y"}), m.clone()));
        assert!(!check(json!({"tags": {"$ne": "y"}}), m.clone()));
        assert!(check(json!({"tags": {"$nin": ["z"]}}), m.clone()));
        assert!(check(json!({"sec.lvl": 2}), m.clone()));
        assert!(check(json!({"missing": {"$exists": false}}), m.clone()));
        assert!(!check(json!({"missing": "x"}), m.clone()));
        assert!(check(json!({"$or": [{"n": 1}, {"path": "**"}]}), m.clone()));
        assert!(!check(json!({"$and": [{"n": 3}, {"n": 4}]}), m.clone()));
        assert!(check(json!({"path": {"$in": ["guide/a.md"]}}), m.clone()));
        assert!(check(json!({}), m));
    }

    #[test]
    fn bad_filters_are_rejected() {
        for f in [
            json!([1]),
            json!({"n": {"$regex": "x"}}),
            json!({"$not": {}}),
            json!({"n": {"$gt": true}}),
            json!({"$or": {}}),
            json!({"n": {"$exists": 1}}),
        ] {
            let err = Filter::parse(&f).unwrap_err();
            assert_eq!(err.code(), crate::error::code::INVALID_JSON, "{f}");
        }
    }
}
