//! Whatever the text, reading it gives a stack or placed problems: never a panic.

use herald_cli::stackfile::parse;
use std::path::Path;

fn quickstart(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/quickstart")
        .join(file);
    std::fs::read_to_string(path).expect("the quickstart file")
}

/// Parses `text`; every problem must have a place inside the text.
fn read(name: &str, text: &str) {
    if let Err(problems) = parse(Path::new(name), text.to_string()) {
        assert!(!problems.is_empty());
        for problem in problems.iter() {
            let span = problem.span.expect("a place");
            assert!(span.start <= text.len(), "{name}: {problem:?}");
            let at = problems.position(span);
            assert!(at.line >= 1 && at.column >= 1);
        }
        assert!(!problems.to_string().is_empty());
    }
}

#[test]
fn every_truncation_reads_without_panicking() {
    for file in ["herald.toml", "herald.yaml"] {
        let text = quickstart(file);
        for (end, _) in text.char_indices() {
            read(file, &text[..end]);
        }
    }
}

#[test]
fn mangled_text_reads_without_panicking() {
    let noise = [
        '[', ']', '{', '}', '"', '\'', ':', '=', ',', '-', '\n', ' ', '\t', '&', '*', 'é',
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    for file in ["herald.toml", "herald.yaml"] {
        let text: Vec<char> = quickstart(file).chars().collect();
        for _ in 0..400 {
            let mut mangled = text.clone();
            for _ in 0..1 + next(4) {
                let at = next(mangled.len());
                mangled[at] = noise[next(noise.len())];
            }
            read(file, &mangled.into_iter().collect::<String>());
        }
    }
}
