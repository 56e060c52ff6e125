//! Problems with a place in the stack file, printed like a compiler prints them.
//!
//! ```text
//! error: unknown field `requirez` in component `etcd` (did you mean `requires`?)
//!   --> examples/quickstart/herald.toml:12:1
//!    |
//! 12 | requirez = ["containerd"]
//!    | ^^^^^^^^
//! ```

use super::locate::Sites;
use super::tree::Span;
use herald::ConfigProblem;
use serde_json::json;
use std::sync::Arc;

/// One problem: what is wrong, and where (none for a file that cannot be read at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong, lowercase, naming the component and field.
    pub message: String,
    /// Where it was written.
    pub span: Option<Span>,
}

impl Diagnostic {
    /// A problem at `span`.
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        Self {
            message: message.into(),
            span: Some(span),
        }
    }
}

/// The stack file's text and where each component was written.
#[derive(Debug, Default)]
pub(crate) struct Source {
    /// The path as the user wrote it, for messages.
    pub display: String,
    /// The whole text.
    pub text: String,
    /// Where each component and its fields were written.
    pub sites: Sites,
    /// The other files the stack file made herald read (`.env`, env files), in the order of
    /// their [`Span::file`] (the first is file 1).
    pub others: Vec<OtherFile>,
}

/// A file read because of the stack file, kept to place its problems.
#[derive(Debug, Clone, Default)]
pub(crate) struct OtherFile {
    /// The path, for messages.
    pub display: String,
    /// The whole text.
    pub text: String,
}

impl Source {
    /// The name and text of the file `span` is in.
    pub fn file_of(&self, span: Span) -> (&str, &str) {
        match (span.file as usize).checked_sub(1) {
            Some(i) if i < self.others.len() => (&self.others[i].display, &self.others[i].text),
            _ => (&self.display, &self.text),
        }
    }
}

/// A line and column, both counted from 1, the column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
}

/// Every problem found in one stack file, all at once.
///
/// Problems found later (by the process layer, say) are added with
/// [`Diagnostics::push_problem`] and get a place through [`Diagnostics::locate`].
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub(super) source: Arc<Source>,
    pub(super) items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub(crate) fn new(source: Arc<Source>, items: Vec<Diagnostic>) -> Self {
        Self { source, items }
    }

    /// A file-level problem with no place in the text (the file cannot be read).
    pub(crate) fn unreadable(display: String, message: String) -> Self {
        let source = Source {
            display,
            ..Source::default()
        };
        Self::new(
            Arc::new(source),
            vec![Diagnostic {
                message,
                span: None,
            }],
        )
    }

    /// Adds a problem at `span`.
    pub fn push(&mut self, message: impl Into<String>, span: Span) {
        self.items.push(Diagnostic::new(message, span));
    }

    /// Adds a problem found in the specs, placed where the field it names was written.
    pub fn push_problem(&mut self, problem: &ConfigProblem) {
        let span = self.locate(problem);
        let message = self
            .source
            .sites
            .describe(problem, |span| self.position(span).line);
        self.push(message, span);
    }

    /// Where the field a problem names was written: the dependency entry, the field's value,
    /// or else the component's table header (the start of the file for an unknown component).
    pub fn locate(&self, problem: &ConfigProblem) -> Span {
        self.source.sites.locate(problem).unwrap_or_default()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The problems, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        let mut items: Vec<&Diagnostic> = self.items.iter().collect();
        items.sort_by_key(|d| d.span.map(|s| (s.file, s.start)));
        items.into_iter()
    }

    /// The file as the user named it.
    pub fn file(&self) -> &str {
        &self.source.display
    }

    /// The line and column of the start of `span`, in its own file.
    pub fn position(&self, span: Span) -> Position {
        let (_, text) = self.source.file_of(span);
        let start = floor_boundary(text, span.start);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: text[..start].matches('\n').count() + 1,
            column: text[line_start..start].chars().count() + 1,
        }
    }

    /// The problems as JSON: `{"file", "problems": [{"message", "line", "column"}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let problems: Vec<_> = self
            .iter()
            .map(|d| match d.span {
                Some(span) if span.file > 0 => {
                    let at = self.position(span);
                    let (file, _) = self.source.file_of(span);
                    json!({"message": d.message, "file": file, "line": at.line, "column": at.column})
                }
                Some(span) => {
                    let at = self.position(span);
                    json!({"message": d.message, "line": at.line, "column": at.column})
                }
                None => json!({"message": d.message}),
            })
            .collect();
        json!({"file": self.file(), "problems": problems})
    }
}

impl std::error::Error for Diagnostics {}

/// `at`, moved back to a character boundary of `text` and at most its length.
pub(super) fn floor_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostics(text: &str, items: Vec<Diagnostic>) -> Diagnostics {
        let source = Source {
            display: "stack.toml".into(),
            text: text.into(),
            ..Source::default()
        };
        Diagnostics::new(Arc::new(source), items)
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                chars.by_ref().find(|&c| c == 'm');
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn renders_like_a_compiler_in_file_order() {
        let text = "[components.etcd]\ncommand = [\"etcd\"]\nrequirez = [\"x\"]\n";
        let at = text.find("requirez").unwrap();
        let cmd = text.find("\"etcd\"").unwrap();
        let d = diagnostics(
            text,
            vec![
                Diagnostic::new("second", Span::new(at, at + 8)),
                Diagnostic::new("first", Span::new(cmd, cmd + 6)),
            ],
        );
        let expected = "\
error: first
 --> stack.toml:2:12
  |
2 | command = [\"etcd\"]
  |            ^^^^^^

error: second
 --> stack.toml:3:1
  |
3 | requirez = [\"x\"]
  | ^^^^^^^^

error: 2 problems in stack.toml";
        assert_eq!(d.to_string(), expected);
    }

    #[test]
    fn columns_count_characters_and_spans_stop_at_the_line_end() {
        let text = "a = \"é\"\nb = {\n  c = 1\n}\n";
        let d = diagnostics(text, vec![]);
        let b = text.find('{').unwrap();
        assert_eq!(
            d.position(Span::new(b, text.len())),
            Position { line: 2, column: 5 }
        );
        let after = text.find("\"\n").unwrap();
        assert_eq!(d.position(Span::new(after, after)).column, 7);
        let rendered = diagnostics(text, vec![Diagnostic::new("x", Span::new(b, text.len()))]);
        assert!(rendered.to_string().contains("2 | b = {\n  |     ^\n"));
        let colored = rendered.render(true);
        assert!(colored.contains("\x1b[1;31merror\x1b[0m"), "{colored:?}");
        assert_eq!(strip_ansi(&colored), rendered.to_string());
    }
}
