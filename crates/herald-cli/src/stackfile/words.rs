//! A command written as one string, split into words as a POSIX shell splits them, without
//! any expansion (docker compose's `command: ./web --port 80` does the same).
//!
//! Blanks separate words; `'...'` keeps everything literally; `"..."` keeps everything but
//! `\` before `$`, `` ` ``, `"`, `\` or a newline; outside quotes `\` keeps the next
//! character (and `\` before a newline joins the lines). `$`, `*`, `~` and the like are
//! ordinary characters: nothing is expanded, no variable, glob or home folder.

/// Why a command string cannot be split, and the byte offset in it of the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    /// What is wrong.
    pub reason: &'static str,
    /// Where in the string (a byte offset).
    pub at: usize,
}

/// The words of `text`.
pub fn split(text: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => current.push(c),
                        None => {
                            return Err(SplitError {
                                reason: "a single quote is not closed",
                                at,
                            });
                        }
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.peek() {
                            Some(&(_, '\n')) => {
                                chars.next();
                            }
                            Some(&(_, next @ ('$' | '`' | '"' | '\\'))) => {
                                chars.next();
                                current.push(next);
                            }
                            _ => current.push('\\'),
                        },
                        Some((_, c)) => current.push(c),
                        None => {
                            return Err(SplitError {
                                reason: "a double quote is not closed",
                                at,
                            });
                        }
                    }
                }
            }
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((_, next)) => word.get_or_insert_with(String::new).push(next),
                None => {
                    return Err(SplitError {
                        reason: "the command ends with a lone `\\`",
                        at,
                    });
                }
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        split(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    #[test]
    fn splits_as_a_shell_would_without_expanding() {
        assert_eq!(
            words("  ./web  --port 80\t-v "),
            ["./web", "--port", "80", "-v"]
        );
        assert_eq!(
            words(r#"sh -c 'echo "$HOME"; exit 1' "a b"c"#),
            ["sh", "-c", r#"echo "$HOME"; exit 1"#, "a bc"]
        );
        assert_eq!(
            words(r#"echo "\$x \"q\" \\ \n""#),
            ["echo", r#"$x "q" \ \n"#]
        );
        assert_eq!(words(r"a\ b c\\d \'"), ["a b", r"c\d", "'"]);
        assert_eq!(words("one \\\ntwo"), ["one", "two"]);
        assert_eq!(words("'' \"\""), ["", ""]);
        assert_eq!(words("$HOME *.log ~"), ["$HOME", "*.log", "~"]);
        assert!(words("   ").is_empty());
    }

    #[test]
    fn unclosed_quotes_say_where_they_start() {
        assert_eq!(
            split("run 'forever"),
            Err(SplitError {
                reason: "a single quote is not closed",
                at: 4
            })
        );
        assert_eq!(split("a \"b").unwrap_err().at, 2);
        assert_eq!(split("a \\").unwrap_err().at, 2);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// A word written so that the shell reads it back as itself.
    fn quote(word: &str) -> String {
        format!("'{}'", word.replace('\'', r"'\''"))
    }

    proptest! {
        #[test]
        fn any_text_splits_or_says_where_it_cannot(text in "\\PC{0,64}") {
            match split(&text) {
                Ok(words) => prop_assert!(words.iter().all(|w| text.len() >= w.len())),
                Err(e) => prop_assert!(e.at < text.len()),
            }
        }

        #[test]
        fn quoted_words_read_back_as_written(words in prop::collection::vec("\\PC{0,12}", 0..6)) {
            let line: Vec<String> = words.iter().map(|w| quote(w)).collect();
            prop_assert_eq!(split(&line.join(" ")).unwrap(), words);
        }
    }
}
