//! Printing problems the way rustc does, in plain text or with ANSI colors.

use super::diagnostics::{Diagnostics, floor_boundary};
use super::tree::Span;
use std::fmt;

impl Diagnostics {
    /// The report, with ANSI colors when `color` is set (as rustc colors it).
    pub fn render(&self, color: bool) -> String {
        Report {
            diagnostics: self,
            style: if color { Style::COLOR } else { Style::PLAIN },
        }
        .to_string()
    }
}

impl fmt::Display for Diagnostics {
    /// Every problem with its place and excerpt, then a count; plain text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Escape sequences for the parts of a report; all empty for plain text.
struct Style {
    error: &'static str,
    gutter: &'static str,
    marks: &'static str,
    bold: &'static str,
    reset: &'static str,
}

impl Style {
    const PLAIN: Style = Style {
        error: "",
        gutter: "",
        marks: "",
        bold: "",
        reset: "",
    };
    const COLOR: Style = Style {
        error: "\x1b[1;31m",
        gutter: "\x1b[1;34m",
        marks: "\x1b[1;31m",
        bold: "\x1b[1m",
        reset: "\x1b[0m",
    };
}

struct Report<'a> {
    diagnostics: &'a Diagnostics,
    style: Style,
}

impl Report<'_> {
    fn excerpt(&self, f: &mut fmt::Formatter<'_>, span: Span) -> fmt::Result {
        let d = self.diagnostics;
        let Style {
            gutter,
            marks: mark_style,
            reset,
            ..
        } = self.style;
        let (file, text) = d.source.file_of(span);
        let at = d.position(span);
        let start = floor_boundary(text, span.start);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[line_start..line_end]
            .trim_end_matches('\r')
            .replace('\t', " ");
        let end = floor_boundary(text, span.end).clamp(start, line_end);
        let marks = "^".repeat(text[start..end].chars().count().max(1));
        let width = at.line.to_string().len();
        let pad = "";
        let indent = at.column - 1;
        writeln!(
            f,
            "{pad:width$}{gutter}-->{reset} {file}:{}:{}",
            at.line, at.column
        )?;
        writeln!(f, "{gutter}{pad:width$} |{reset}")?;
        writeln!(f, "{gutter}{} |{reset} {}", at.line, line.trim_end())?;
        writeln!(
            f,
            "{gutter}{pad:width$} |{reset} {pad:indent$}{mark_style}{marks}{reset}"
        )
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diagnostics;
        let Style {
            error,
            gutter,
            bold,
            reset,
            ..
        } = self.style;
        for item in d.iter() {
            writeln!(f, "{error}error{reset}{bold}: {}{reset}", item.message)?;
            match item.span {
                Some(span) => self.excerpt(f, span)?,
                None => writeln!(f, " {gutter}-->{reset} {}", d.file())?,
            }
            writeln!(f)?;
        }
        let count = d.items.len();
        let plural = if count == 1 { "" } else { "s" };
        write!(
            f,
            "{error}error{reset}{bold}: {count} problem{plural} in {}{reset}",
            d.file()
        )
    }
}
