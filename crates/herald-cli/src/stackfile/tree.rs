//! One small value tree for both formats, every node and key carrying where it was written.
//!
//! TOML and YAML are both parsed into [`Node`]s; defaults are merged and fields are typed on
//! this tree, so every later problem can point at the exact key or value it concerns.

/// A byte range in the stack file's text, or in a file it reads (an env file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Span {
    /// Which file: 0 for the stack file, `n` for the `n`-th file it reads.
    pub file: u16,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The bytes `start..end` of the stack file.
    pub fn new(start: usize, end: usize) -> Self {
        Self::in_file(0, start, end)
    }

    /// The bytes `start..end` of file `file`.
    pub fn in_file(file: u16, start: usize, end: usize) -> Self {
        Self {
            file,
            start,
            end: end.max(start),
        }
    }

    /// The empty span at this one's start.
    pub fn start_only(self) -> Self {
        Self::in_file(self.file, self.start, self.start)
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value was written.
    pub span: Span,
    /// The value.
    pub value: Value,
}

/// A value of either format.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// YAML's `null`, `~` or an empty value.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// An array (a YAML sequence).
    Array(Vec<Node>),
    /// A table (a YAML mapping), entries in file order; duplicates are kept for the checker.
    Map(Vec<Entry>),
    /// A value of no use in a stack file, such as a TOML datetime; names its type.
    Other(&'static str),
}

/// One key of a table and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key was written.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

impl Node {
    /// A node of `value` written at `span`.
    pub fn new(span: Span, value: Value) -> Self {
        Self { span, value }
    }

    /// The entries of a table, or `None` for any other value.
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The `i`-th item of an array.
    pub fn at_index(&self, i: usize) -> Option<&Node> {
        match &self.value {
            Value::Array(items) => items.get(i),
            _ => None,
        }
    }

    /// The first entry named `key` of a table.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    /// The value at a dotted path of table keys (`ready.interval.max`).
    pub fn at_path(&self, dotted: &str) -> Option<&Node> {
        dotted
            .split('.')
            .try_fold(self, |node, key| node.entry(key).map(|e| &e.value))
    }

    /// The string value, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value's type with its article, for messages: "a string", "an array".
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Array(_) => "an array",
            Value::Map(_) => "a table",
            Value::Other(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(start: usize, text: &str) -> Node {
        Node::new(
            Span::new(start, start + text.len()),
            Value::Str(text.into()),
        )
    }

    fn entry(key: &str, at: usize, value: Node) -> Entry {
        Entry {
            key: key.into(),
            key_span: Span::new(at, at + key.len()),
            value,
        }
    }

    #[test]
    fn dotted_paths_walk_nested_tables() {
        let interval = Node::new(
            Span::new(20, 40),
            Value::Map(vec![entry("max", 22, scalar(28, "1s"))]),
        );
        let ready = Node::new(
            Span::new(10, 40),
            Value::Map(vec![entry("interval", 12, interval)]),
        );
        let root = Node::new(Span::new(0, 40), Value::Map(vec![entry("ready", 0, ready)]));
        assert_eq!(
            root.at_path("ready.interval.max").unwrap().as_str(),
            Some("1s")
        );
        assert_eq!(
            root.at_path("ready.interval.max").unwrap().span,
            Span::new(28, 30)
        );
        assert!(root.at_path("ready.timeout").is_none());
        assert!(root.at_path("ready.interval.max.deeper").is_none());
    }

    #[test]
    fn spans_never_run_backwards_and_types_read_well() {
        assert_eq!(Span::new(5, 3), Span::new(5, 5));
        assert_eq!(scalar(0, "x").type_name(), "a string");
        assert_eq!(
            Node::new(Span::default(), Value::Array(vec![])).type_name(),
            "an array"
        );
    }
}
