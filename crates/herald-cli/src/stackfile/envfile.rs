//! `KEY=VALUE` files, in docker compose's format: the `.env` file beside the stack file (the
//! variables of `${VAR}`) and a component's `env_file`.
//!
//! One variable a line; blank lines and lines starting with `#` are skipped; a line may start
//! with `export `. The value is taken as written, trimmed, up to a ` #` comment; in single
//! quotes it is taken literally; in double quotes `\n`, `\t`, `\\` and `\"` are escapes and a
//! quoted value may span lines. A line holding only `KEY` passes herald's own value of `KEY`
//! through. Nothing is expanded. Every problem is placed at its line of the file.

use super::diagnostics::Diagnostic;
use super::tree::Span;

/// One variable of a file: its name, its value (`None`: passed through), and where it was
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The name.
    pub key: String,
    /// The value, or `None` for a line of only `KEY`.
    pub value: Option<String>,
    /// Where the line is.
    pub span: Span,
}

/// Every variable of `text` (file number `file` for the spans), and every problem.
pub fn parse(text: &str, file: u16) -> (Vec<Variable>, Vec<Diagnostic>) {
    let mut variables = Vec::new();
    let mut problems = Vec::new();
    let mut offset = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let line_end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let line = &rest[..line_end];
        let consumed = match read_line(line, rest, offset, file) {
            Ok((Some(variable), used)) => {
                variables.push(variable);
                used
            }
            Ok((None, used)) => used,
            Err((message, span)) => {
                problems.push(Diagnostic::new(message, span));
                line_end
            }
        };
        offset += consumed;
        rest = &rest[consumed..];
    }
    (variables, problems)
}

type Problem = (String, Span);

/// Reads the line starting `rest` (at byte `offset`); gives the variable, if any, and how many
/// bytes it took (a quoted value may take several lines).
fn read_line(
    line: &str,
    rest: &str,
    offset: usize,
    file: u16,
) -> Result<(Option<Variable>, usize), Problem> {
    let line_span = Span::in_file(file, offset, offset + line.trim_end().len());
    if let Some(at) = line.find('\0') {
        let at = offset + at;
        let message = "a NUL byte cannot be part of a variable".to_string();
        return Err((message, Span::in_file(file, at, at + 1)));
    }
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok((None, line.len()));
    }
    let lead = line.len() - line.trim_start().len();
    let body = line.trim_start();
    let body = body.strip_prefix("export ").map_or(body, str::trim_start);
    let (key, after) = match body.find('=') {
        Some(eq) => (body[..eq].trim(), Some(eq)),
        None => (body.trim(), None),
    };
    if !valid_name(key) {
        let message = format!(
            "`{key}` is not a variable name (letters, digits and `_`, not starting with a digit): write KEY=VALUE"
        );
        return Err((message, line_span));
    }
    let Some(eq) = after else {
        let variable = Variable {
            key: key.to_string(),
            value: None,
            span: line_span,
        };
        return Ok((Some(variable), line.len()));
    };
    // Where the value starts, in `rest`.
    let value_at = lead + (line.trim_start().len() - body.len()) + eq + 1;
    let raw = &rest[value_at..];
    let raw_trimmed = raw.trim_start_matches([' ', '\t']);
    let value_start = value_at + (raw.len() - raw_trimmed.len());
    let (value, used) = match raw_trimmed.chars().next() {
        Some(quote @ ('\'' | '"')) => {
            let (value, len) = quoted(&raw_trimmed[1..], quote).ok_or_else(|| {
                let at = offset + value_start;
                let message = format!("the value of `{key}` opens a quote that is not closed");
                (message, Span::in_file(file, at, at + 1))
            })?;
            let end = value_start + 1 + len;
            let rest_of_line = rest[end..].find('\n').map_or(rest.len(), |i| end + i + 1);
            (value, rest_of_line)
        }
        _ => {
            let value = line[value_start.min(line.len())..].trim_end();
            let value = match value.find(" #").or_else(|| value.find("\t#")) {
                Some(comment) => value[..comment].trim_end(),
                None => value,
            };
            (value.to_string(), line.len())
        }
    };
    let variable = Variable {
        key: key.to_string(),
        value: Some(value),
        span: line_span,
    };
    Ok((Some(variable), used))
}

/// The value inside quotes (after the opening one) and how many bytes it took with the closing
/// quote; `None` when the quote is not closed.
fn quoted(text: &str, quote: char) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            c if c == quote => return Some((value, at + 1)),
            '\\' if quote == '"' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, next @ ('\\' | '"' | '$'))) => value.push(next),
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => return None,
            },
            c => value.push(c),
        }
    }
    None
}

/// A name a shell accepts: letters, digits and `_`, not starting with a digit (docker compose
/// also allows `.` and `-`).
fn valid_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, Option<String>)> {
        let (vars, problems) = parse(text, 1);
        assert!(problems.is_empty(), "{problems:?}");
        vars.into_iter().map(|v| (v.key, v.value)).collect()
    }

    fn pair(k: &str, v: &str) -> (String, Option<String>) {
        (k.to_string(), Some(v.to_string()))
    }

    #[test]
    fn reads_docker_compose_env_files() {
        let text = "\
# a comment
PLAIN=some value  # a comment
export EXPORTED = 1

SINGLE='kept $AS \\n is'
DOUBLE=\"a\\tb\\n\\\"c\\\" #not a comment\"
MULTI=\"one
two\"
EMPTY=
HASH=a#b
PASSED
";
        assert_eq!(
            values(text),
            [
                pair("PLAIN", "some value"),
                pair("EXPORTED", "1"),
                pair("SINGLE", "kept $AS \\n is"),
                pair("DOUBLE", "a\tb\n\"c\" #not a comment"),
                pair("MULTI", "one\ntwo"),
                pair("EMPTY", ""),
                pair("HASH", "a#b"),
                ("PASSED".to_string(), None),
            ]
        );
    }

    #[test]
    fn problems_are_placed_at_their_line() {
        let text = "GOOD=1\n1BAD=2\nOPEN=\"never closed\nAFTER=3\n";
        let (vars, problems) = parse(text, 2);
        assert_eq!(problems.len(), 2, "{problems:?}");
        let bad = problems[0].span.unwrap();
        assert_eq!((bad.file, bad.start), (2, text.find("1BAD").unwrap()));
        assert!(
            problems[0]
                .message
                .starts_with("`1BAD` is not a variable name")
        );
        assert_eq!(problems[1].span.unwrap().start, text.find('"').unwrap());
        let keys: Vec<&str> = vars.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["GOOD", "AFTER"]);
        assert_eq!(vars[1].span.start, text.find("AFTER").unwrap());
        let (vars, problems) = parse("A=x\0y\nB=2\n", 1);
        assert_eq!(
            problems[0].message,
            "a NUL byte cannot be part of a variable"
        );
        assert_eq!(problems[0].span.unwrap().start, 3);
        assert_eq!(vars.len(), 1);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_reads_with_every_problem_inside_it(text in "[A-Za-z0-9_=#'\" \\\\\n\t.-]{0,80}") {
            let (vars, problems) = parse(&text, 1);
            for span in vars.iter().map(|v| v.span).chain(problems.iter().filter_map(|p| p.span)) {
                prop_assert!(span.start <= span.end && span.end <= text.len());
                prop_assert_eq!(span.file, 1);
            }
        }
    }
}
