//! YAML text into the spanned tree: one document, YAML 1.2 core schema, anchors and aliases.
//!
//! Plain scalars are typed by the core schema (`true`, `12`, `1.5`, `null`); quoted scalars
//! are strings. So `restart: no` is the string `"no"`, as YAML 1.2 reads it. Duplicate keys
//! are kept in the tree for the checker to report with both places.

use super::diagnostics::Diagnostic;
use super::tree::{Entry, Node, Span, Value};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span as YamlSpan};
use std::collections::HashMap;

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// More nodes than this (aliases expanded) is refused rather than exhausting memory.
const MAX_NODES: usize = 100_000;

/// More text than this copied by aliases is refused: a long string aliased many times is a
/// memory bomb even with few nodes.
const MAX_ALIAS_BYTES: usize = 8 * 1024 * 1024;

/// Parses `text`, or returns the syntax error.
pub fn parse(text: &str) -> Result<Node, Vec<Diagnostic>> {
    let mut reader = Reader {
        events: Parser::new_from_str(text),
        offsets: (!text.is_ascii()).then(|| {
            text.char_indices()
                .map(|(byte, _)| byte)
                .chain([text.len()])
                .collect()
        }),
        len: text.len(),
        anchors: HashMap::new(),
        nodes: 0,
        bytes: 0,
        alias_bytes: 0,
    };
    reader.document().map_err(|d| vec![d])
}

struct Reader<'a> {
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Byte offset of each character index, for the parser's character-based markers; `None`
    /// for ASCII text, where both are the same.
    offsets: Option<Vec<usize>>,
    /// The text's length in bytes.
    len: usize,
    /// Each anchored node, how many nodes it holds and how many bytes of text.
    anchors: HashMap<usize, Anchored>,
    /// Nodes built so far, aliases counted at their full size.
    nodes: usize,
    /// Bytes of scalar text built so far, aliases counted at their full size.
    bytes: usize,
    /// Bytes of scalar text copied by aliases.
    alias_bytes: usize,
}

/// An anchored node and its size, for aliases to count at their full size.
struct Anchored {
    node: Node,
    nodes: usize,
    bytes: usize,
}

impl<'a> Reader<'a> {
    fn byte(&self, chars: usize) -> usize {
        match &self.offsets {
            None => chars.min(self.len),
            Some(offsets) => offsets
                .get(chars)
                .copied()
                .unwrap_or_else(|| *offsets.last().expect("never empty")),
        }
    }

    fn span(&self, span: YamlSpan) -> Span {
        Span::new(self.byte(span.start.index()), self.byte(span.end.index()))
    }

    fn scan_error(&self, err: &ScanError) -> Diagnostic {
        let at = self.byte(err.marker().index());
        Diagnostic::new(
            format!("invalid YAML: {}", err.info()),
            Span::new(at, at + 1),
        )
    }

    fn next(&mut self) -> Result<(Event<'a>, Span), Diagnostic> {
        match self.events.next_event() {
            Some(Ok((event, span))) => {
                let span = self.span(span);
                Ok((event, span))
            }
            Some(Err(err)) => Err(self.scan_error(&err)),
            None => {
                let end = self.byte(usize::MAX);
                Err(Diagnostic::new(
                    "invalid YAML: unexpected end of file",
                    Span::new(end, end),
                ))
            }
        }
    }

    fn document(&mut self) -> Result<Node, Diagnostic> {
        let mut root = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) if root.is_some() => {
                    return Err(Diagnostic::new(
                        "a stack file holds one YAML document; remove the second one",
                        span,
                    ));
                }
                Event::DocumentStart(_) => {
                    let (first, at) = self.next()?;
                    let first = owned(first);
                    root = Some(self.node(first, at, 0)?);
                }
                other => {
                    return Err(Diagnostic::new(
                        format!("invalid YAML: unexpected {other:?}"),
                        span,
                    ));
                }
            }
        }
        Ok(match root {
            Some(Node {
                value: Value::Null,
                span,
            }) => Node::new(span, Value::Map(Vec::new())),
            Some(node) => node,
            None => Node::new(Span::new(0, 0), Value::Map(Vec::new())),
        })
    }

    fn node(&mut self, event: Owned, span: Span, depth: usize) -> Result<Node, Diagnostic> {
        if depth > MAX_DEPTH {
            return Err(Diagnostic::new("YAML nested too deeply", span));
        }
        let (first, first_bytes) = (self.nodes, self.bytes);
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Diagnostic::new(
                "YAML too large: more than 100000 values once aliases are expanded",
                span,
            ));
        }
        let (node, anchor) = match event {
            Owned::Scalar(text, style, anchor) => {
                self.bytes += text.len();
                (Node::new(span, scalar(&text, style)), anchor)
            }
            Owned::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(Diagnostic::new("invalid YAML: unknown alias", span));
                };
                self.nodes += target.nodes;
                self.bytes += target.bytes;
                self.alias_bytes += target.bytes;
                if self.nodes > MAX_NODES {
                    return Err(Diagnostic::new(
                        "YAML too large: more than 100000 values once aliases are expanded",
                        span,
                    ));
                }
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(Diagnostic::new(
                        format!(
                            "YAML too large: aliases expand to more than {} MiB of text",
                            MAX_ALIAS_BYTES >> 20
                        ),
                        span,
                    ));
                }
                return Ok(target.node.clone());
            }
            Owned::SequenceStart(anchor) => {
                let mut items = Vec::new();
                let end = loop {
                    let (event, at) = self.next()?;
                    match owned(event) {
                        Owned::SequenceEnd => break at,
                        item => items.push(self.node(item, at, depth + 1)?),
                    }
                };
                let whole = Span::new(span.start, end.end.max(span.end));
                (Node::new(whole, Value::Array(items)), anchor)
            }
            Owned::MappingStart(anchor) => {
                let mut entries = Vec::new();
                let end = loop {
                    let (event, at) = self.next()?;
                    let key = match owned(event) {
                        Owned::MappingEnd => break at,
                        key => self.node(key, at, depth + 1)?,
                    };
                    let (event, at) = self.next()?;
                    let value = self.node(owned(event), at, depth + 1)?;
                    entries.push(self.entry(key, value)?);
                };
                let whole = Span::new(span.start, end.end.max(span.end));
                (Node::new(whole, Value::Map(entries)), anchor)
            }
            Owned::Unexpected(what) => {
                return Err(Diagnostic::new(
                    format!("invalid YAML: unexpected {what}"),
                    span,
                ));
            }
            Owned::SequenceEnd | Owned::MappingEnd => {
                return Err(Diagnostic::new("invalid YAML: unexpected end", span));
            }
        };
        if anchor > 0 {
            let anchored = Anchored {
                node: node.clone(),
                nodes: self.nodes - first,
                bytes: self.bytes - first_bytes,
            };
            self.anchors.insert(anchor, anchored);
        }
        Ok(node)
    }

    fn entry(&self, key: Node, value: Node) -> Result<Entry, Diagnostic> {
        let name = match &key.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Null => String::new(),
            _ => {
                return Err(Diagnostic::new(
                    format!("a key must be a plain name, not {}", key.type_name()),
                    key.span,
                ));
            }
        };
        Ok(Entry {
            key: name,
            key_span: key.span,
            value,
        })
    }
}

/// The events the tree needs, without borrowing from the parser.
enum Owned {
    Scalar(String, ScalarStyle, usize),
    Alias(usize),
    SequenceStart(usize),
    SequenceEnd,
    MappingStart(usize),
    MappingEnd,
    Unexpected(&'static str),
}

fn owned(event: Event<'_>) -> Owned {
    match event {
        Event::Scalar(text, style, anchor, _) => Owned::Scalar(text.into_owned(), style, anchor),
        Event::Alias(id) => Owned::Alias(id),
        Event::SequenceStart(anchor, _) => Owned::SequenceStart(anchor),
        Event::SequenceEnd => Owned::SequenceEnd,
        Event::MappingStart(anchor, _) => Owned::MappingStart(anchor),
        Event::MappingEnd => Owned::MappingEnd,
        Event::DocumentStart(_) => Owned::Unexpected("start of a document"),
        Event::DocumentEnd => Owned::Unexpected("end of a document"),
        Event::StreamStart | Event::StreamEnd | Event::Nothing => Owned::Unexpected("event"),
    }
}

/// Types a scalar by the YAML 1.2 core schema; quoted scalars are always strings.
fn scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::Str(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = integer(text) {
        return Value::Int(n);
    }
    if looks_like_float(text)
        && let Ok(x) = text.parse::<f64>()
    {
        return Value::Float(x);
    }
    Value::Str(text.to_string())
}

fn integer(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    None
}

fn looks_like_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_at(text: &str, span: Span) -> &str {
        &text[span.start..span.end]
    }

    #[test]
    fn keys_and_values_keep_their_spans() {
        let text = "components:\n  café:\n    command: [\"x\", y]\n    restart: no\n";
        let root = parse(text).unwrap();
        let components = root.entry("components").unwrap().value.entries().unwrap();
        assert_eq!(text_at(text, components[0].key_span), "café");
        let command = root.at_path("components.café.command").unwrap();
        let Value::Array(items) = &command.value else {
            panic!("not an array: {command:?}");
        };
        assert_eq!(text_at(text, items[1].span), "y");
        let restart = root.at_path("components.café.restart").unwrap();
        assert_eq!(restart.value, Value::Str("no".into()));
        assert_eq!(text_at(text, restart.span), "no");
    }

    #[test]
    fn core_schema_types_plain_scalars_only() {
        let root = parse("a: 12\nb: '12'\nc: true\nd: 1.5\ne: ~\nf: 10s\n").unwrap();
        let get = |k: &str| root.entry(k).unwrap().value.value.clone();
        assert_eq!(get("a"), Value::Int(12));
        assert_eq!(get("b"), Value::Str("12".into()));
        assert_eq!(get("c"), Value::Bool(true));
        assert_eq!(get("d"), Value::Float(1.5));
        assert_eq!(get("e"), Value::Null);
        assert_eq!(get("f"), Value::Str("10s".into()));
    }

    #[test]
    fn duplicate_keys_are_kept_and_aliases_resolved() {
        let root = parse("x: &v [1]\nx: *v\n").unwrap();
        let entries = root.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].value.value, entries[1].value.value);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let errors = parse(&text).unwrap_err();
        assert!(
            errors[0].message.starts_with("YAML too large"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_long_string_aliased_many_times_is_refused_by_its_bytes() {
        let mut text = format!("big: &big \"{}\"\nmany:\n", "x".repeat(1 << 20));
        for _ in 0..100 {
            text.push_str("  - *big\n");
        }
        let errors = parse(&text).unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("aliases expand to more than 8 MiB"),
            "{errors:?}"
        );
        // A few copies are fine.
        let text = format!(
            "big: &big \"{}\"\nmany: [*big, *big]\n",
            "x".repeat(1 << 20)
        );
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn non_ascii_text_keeps_byte_spans() {
        let text = "é: 1\nb: [x, *missing]\n";
        let errors = parse(text).unwrap_err();
        assert_eq!(&text[errors[0].span.unwrap().start..], "*missing]\n");
    }

    #[test]
    fn syntax_errors_have_a_place_and_empty_files_are_empty_tables() {
        let errors = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(errors[0].message.starts_with("invalid YAML"), "{errors:?}");
        assert_eq!(parse("").unwrap().entries().map(<[Entry]>::len), Some(0));
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }
}
