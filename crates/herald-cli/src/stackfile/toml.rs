//! TOML text into the spanned tree, with every syntax error the parser can recover from.

use super::diagnostics::Diagnostic;
use super::tree::{Entry, Node, Span, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Parses `text`, or returns its first syntax error.
///
/// Only the first is reported: the parser recovers, but what it finds after an error is mostly
/// the same error seen again (an unclosed array makes every later line look wrong).
pub fn parse(text: &str) -> Result<Node, Vec<Diagnostic>> {
    let (table, errors) = DeTable::parse_recoverable(text);
    if let Some(error) = errors.first() {
        let span = error
            .span()
            .map_or(Span::new(0, 0), |r| Span::new(r.start, r.end));
        return Err(vec![syntax_error(text, error.message(), span)]);
    }
    let span = table.span();
    Ok(Node::new(
        Span::new(span.start, span.end),
        table_value(table.get_ref()),
    ))
}

/// The parser's message, naming the key for a duplicate and the component for a repeated
/// `[components.NAME]` table.
fn syntax_error(text: &str, message: &str, span: Span) -> Diagnostic {
    let message = message.trim().replace('\n', " ");
    let key = text.get(span.start..span.end).unwrap_or("").trim();
    if message != "duplicate key" || key.is_empty() {
        return Diagnostic::new(format!("invalid TOML: {message}"), span);
    }
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[span.start..]
        .find('\n')
        .map_or(text.len(), |i| span.start + i);
    let line = text[line_start..line_end].trim();
    let header = format!("[components.{key}]");
    if line == header {
        let first = text
            .lines()
            .position(|l| l.trim() == header)
            .map(|i| format!(" (first defined on line {})", i + 1))
            .unwrap_or_default();
        return Diagnostic::new(format!("duplicate component `{key}`{first}"), span);
    }
    Diagnostic::new(format!("invalid TOML: duplicate key `{key}`"), span)
}

fn table_value(table: &DeTable<'_>) -> Value {
    Value::Map(
        table
            .iter()
            .map(|(key, value)| Entry {
                key: key.get_ref().to_string(),
                key_span: span_of(key),
                value: node(value),
            })
            .collect(),
    )
}

fn span_of<T>(spanned: &Spanned<T>) -> Span {
    let range = spanned.span();
    Span::new(range.start, range.end)
}

fn node(value: &Spanned<DeValue<'_>>) -> Node {
    let v = match value.get_ref() {
        DeValue::String(s) => Value::Str(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => Value::Int(n),
                Err(_) => Value::Other("an integer out of range"),
            }
        }
        DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
            Ok(x) => Value::Float(x),
            Err(_) => Value::Other("a float"),
        },
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(_) => Value::Other("a datetime"),
        DeValue::Array(items) => Value::Array(items.iter().map(node).collect()),
        DeValue::Table(table) => table_value(table),
    };
    Node::new(span_of(value), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_at(text: &str, span: Span) -> &str {
        &text[span.start..span.end]
    }

    #[test]
    fn keys_and_values_keep_their_spans_in_file_order() {
        let text =
            "[components.b]\ncommand = [\"x\", \"y\"]\n\n[components.a]\nkind = \"oneshot\"\n";
        let root = parse(text).unwrap();
        let components = root.entry("components").unwrap().value.entries().unwrap();
        let names: Vec<&str> = components.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(text_at(text, components[0].key_span), "b");
        let command = root.at_path("components.b.command").unwrap();
        let Value::Array(items) = &command.value else {
            panic!("not an array: {command:?}");
        };
        assert_eq!(text_at(text, items[1].span), "\"y\"");
        let kind = &components[1].value.entry("kind").unwrap();
        assert_eq!(text_at(text, kind.key_span), "kind");
        assert_eq!(text_at(text, kind.value.span), "\"oneshot\"");
    }

    #[test]
    fn syntax_errors_are_placed_and_duplicates_named() {
        let errors = parse("a = \nb = [1,\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.starts_with("invalid TOML"), "{errors:?}");
        let errors = parse("[components.x]\n[components.x]\n").unwrap_err();
        assert_eq!(
            errors[0].message,
            "duplicate component `x` (first defined on line 1)"
        );
        let errors = parse("a = 1\na = 2\n").unwrap_err();
        assert_eq!(errors[0].message, "invalid TOML: duplicate key `a`");
    }

    #[test]
    fn scalars_keep_their_types() {
        let root = parse("i = 0x1f\nf = 1.5\nb = true\nd = 1979-05-27\n").unwrap();
        assert_eq!(root.entry("i").unwrap().value.value, Value::Int(31));
        assert_eq!(root.entry("f").unwrap().value.value, Value::Float(1.5));
        assert_eq!(root.entry("b").unwrap().value.value, Value::Bool(true));
        assert_eq!(root.entry("d").unwrap().value.type_name(), "a datetime");
    }
}
