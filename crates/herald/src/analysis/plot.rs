//! A run drawn as a self-contained SVG (or an HTML page around it, with hover details): one
//! row per component, one bar per attempt coloured by phase, a time axis, the critical path
//! marked, and an arrow from what released each start to the start.

use super::span;
use super::timeline::Timeline;
use super::trace::release_moment;
use crate::State;
use std::collections::HashSet;
use std::fmt::Write;
use std::time::Duration;

/// The width of the time area, in pixels.
const PLOT_WIDTH: f64 = 1100.0;
/// The height of the title, legend and axis above the rows.
const HEAD: f64 = 84.0;

const STYLE: &str = "\
svg{font-family:sans-serif;background:#fff}\
text{fill:#222}\
.label{font-size:var(--font)}\
.critical .label{font-weight:bold;fill:#a00}\
.waiting{fill:#dde3ea}\
.starting{fill:#f0a030}\
.ready{fill:#4caf50}\
.completed{fill:#8fd19e}\
.stopping{fill:#9575cd}\
.failed,.blocked{fill:#d32f2f}\
.restart{fill:#6d4c41}\
.path{fill:none;stroke:#a00;stroke-width:2}\
.grid{stroke:#eee}\
.tick{font-size:10px;fill:#666}\
.arrow{stroke:#90a4ae;stroke-width:0.6;fill:none}\
.arrow.hot{stroke:#a00;stroke-width:1.4}\
.stripe{fill:#f7f9fb}\
.title{font-size:14px;font-weight:bold}\
.legend{font-size:11px}";

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A tick step of 1, 2 or 5 times a power of ten (in milliseconds) giving at most ~12 ticks.
fn tick_step(total_ms: f64) -> f64 {
    let mut step = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if total_ms / (step * m) <= 12.0 {
                return step * m;
            }
        }
        step *= 10.0;
    }
}

/// A tick's label: `0`, `250ms`, `1.5s`, `2min`.
fn tick_label(ms: f64) -> String {
    if ms == 0.0 {
        "0".into()
    } else if ms < 1000.0 {
        format!("{}ms", ms.round())
    } else if ms < 60_000.0 {
        format!("{}s", (ms / 10.0).round() / 100.0)
    } else {
        format!("{}min", (ms / 600.0).round() / 100.0)
    }
}

impl Timeline {
    /// The timeline as a standalone SVG document.
    pub fn plot_svg(&self) -> String {
        let n = self.components.len();
        let (row, font) = match n {
            0..=100 => (18.0, 11.0),
            101..=400 => (14.0, 10.0),
            _ => (10.0, 8.0),
        };
        let label_width = self
            .components
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(4) as f64
            * font
            * 0.62
            + 16.0;
        // The axis covers what happened, not the time the stack then ran quietly or took to
        // stop: the last change other than a stop, and a little more.
        let horizon = self
            .components
            .iter()
            .flat_map(|c| &c.changes)
            .filter(|c| !matches!(c.state, State::Stopping | State::Stopped))
            .map(|c| c.at)
            .max()
            .unwrap_or(self.until);
        let total = (horizon + horizon / 20)
            .min(self.until)
            .max(Duration::from_millis(1));
        let total_ms = total.as_secs_f64() * 1000.0;
        let x = |at: Duration| {
            label_width + at.min(total).as_secs_f64() * 1000.0 / total_ms * PLOT_WIDTH
        };
        let y = |i: usize| HEAD + i as f64 * row;
        let width = label_width + PLOT_WIDTH + 20.0;
        let height = HEAD + n as f64 * row + 10.0;
        let summary = self.summary();
        // Each link of the chain of the last to be ready: its attempt, and whether its start
        // counted (a link through an `after` edge is its spawn alone).
        let links: Vec<(String, usize, bool)> = self
            .last_settled()
            .and_then(|c| self.chain(&c.name))
            .map(|chain| {
                chain
                    .links
                    .iter()
                    .map(|l| (l.component.clone(), l.attempt, l.own_start.is_some()))
                    .collect()
            })
            .unwrap_or_default();
        let critical: Vec<(String, usize)> =
            links.iter().map(|(c, a, _)| (c.clone(), *a)).collect();
        let on_path: HashSet<&str> = critical.iter().map(|(c, _)| c.as_str()).collect();

        let mut out = String::with_capacity(512 + n * 600);
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" style=\"--font:{font}px\">\
             <style>{STYLE}</style>\
             <text class=\"title\" x=\"10\" y=\"20\">{} (run {}): {}</text>",
            escape(&self.stack),
            self.run,
            escape(&summary.line())
        );
        // The legend.
        let legend = [
            ("waiting", "waiting for dependencies"),
            ("starting", "starting (spawn to ready)"),
            ("ready", "ready"),
            ("completed", "completed"),
            ("stopping", "stopping"),
            ("failed", "failed / blocked"),
            ("restart", "restart"),
        ];
        let mut lx = 10.0;
        for (class, text) in legend {
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{lx}\" y=\"32\" width=\"12\" height=\"10\"/>\
                 <text class=\"legend\" x=\"{}\" y=\"41\">{text}</text>",
                lx + 16.0
            );
            lx += 24.0 + text.len() as f64 * 6.2;
        }
        let _ = write!(
            out,
            "<rect class=\"path\" x=\"{lx}\" y=\"32\" width=\"12\" height=\"10\"/>\
             <text class=\"legend\" x=\"{}\" y=\"41\">critical path</text>",
            lx + 16.0
        );
        // Stripes and the time axis.
        for i in (0..n).step_by(2) {
            let _ = write!(
                out,
                "<rect class=\"stripe\" x=\"0\" y=\"{:.1}\" width=\"{width:.0}\" height=\"{row}\"/>",
                y(i)
            );
        }
        let step = tick_step(total_ms);
        let mut t = 0.0;
        while t <= total_ms + 1e-9 {
            let at = Duration::from_secs_f64(t / 1000.0);
            let _ = write!(
                out,
                "<line class=\"grid\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2:.1}\"/>\
                 <text class=\"tick\" x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
                x(at),
                HEAD - 4.0,
                height - 10.0,
                HEAD - 8.0,
                tick_label(t)
            );
            t += step;
        }
        // One row per component.
        let bar = row - 4.0;
        for (i, component) in self.components.iter().enumerate() {
            let hot = on_path.contains(component.name.as_str());
            let name = escape(&component.name);
            let _ = write!(
                out,
                "<g class=\"row{}\" data-name=\"{name}\"><text class=\"label\" x=\"6\" y=\"{:.1}\">{name}</text>",
                if hot { " critical" } else { "" },
                y(i) + row - 5.0
            );
            for (a, attempt) in component.attempts.iter().enumerate() {
                for phase in attempt.phases(self.until) {
                    if phase.from > total {
                        continue;
                    }
                    let w = (x(phase.to) - x(phase.from)).max(0.5);
                    let _ = write!(
                        out,
                        "<rect class=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{bar}\">\
                         <title>{name} (attempt {}): {} {} from @{}</title></rect>",
                        phase.name,
                        x(phase.from),
                        y(i) + 2.0,
                        a + 1,
                        phase.name,
                        span(phase.to - phase.from),
                        span(phase.from)
                    );
                }
                if critical
                    .iter()
                    .any(|(c, n)| *c == component.name && *n == a)
                    && let Some(started) = attempt.started
                {
                    let whole = links
                        .iter()
                        .any(|(c, n, whole)| *c == component.name && *n == a && *whole);
                    let to = match whole {
                        true => attempt.ready.or(attempt.ended).unwrap_or(self.until),
                        false => started,
                    };
                    let _ = write!(
                        out,
                        "<rect class=\"path\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar}\"/>",
                        x(started),
                        y(i) + 2.0,
                        (x(to) - x(started)).max(1.0)
                    );
                }
                if let (State::Restarting | State::Failed | State::Blocked, Some(at)) =
                    (attempt.state, attempt.ended)
                {
                    let class = match attempt.state {
                        State::Restarting => "restart",
                        State::Failed => "failed",
                        _ => "blocked",
                    };
                    let why = attempt
                        .error
                        .as_ref()
                        .map_or_else(String::new, |e| format!(": {}", escape(&e.to_string())));
                    let _ = write!(
                        out,
                        "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"{row}\">\
                         <title>{name} {} @{}{why}</title></rect>",
                        x(at) - 1.5,
                        y(i),
                        attempt.state,
                        span(at)
                    );
                }
            }
            out.push_str("</g>");
        }
        // What released each start.
        out.push_str("<g class=\"arrows\">");
        for (i, component) in self.components.iter().enumerate() {
            for (a, attempt) in component.attempts.iter().enumerate() {
                let (Some(release), Some(started), Some(spawned)) =
                    (&attempt.released_by, attempt.started, attempt.spawned)
                else {
                    continue;
                };
                let Some(d) = self.index_of(&release.component) else {
                    continue;
                };
                let Some(at) = release_moment(&self.components[d], release.edge, spawned) else {
                    continue;
                };
                let hot = critical
                    .iter()
                    .any(|(c, n)| *c == component.name && *n == a);
                let (x1, y1, x2, y2) = (x(at), y(d) + row / 2.0, x(started), y(i) + row / 2.0);
                let _ = write!(
                    out,
                    "<path class=\"arrow{}\" d=\"M{x1:.1} {y1:.1} L{x1:.1} {y2:.1} L{x2:.1} {y2:.1}\"/>",
                    if hot { " hot" } else { "" }
                );
            }
        }
        out.push_str("</g></svg>\n");
        out
    }

    /// The timeline as one HTML page: the SVG, and the details of the bar under the pointer.
    pub fn plot_html(&self) -> String {
        let title = format!("{} (run {})", escape(&self.stack), self.run);
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>herald: {title}</title>\
             <style>body{{font-family:sans-serif;margin:12px}}\
             #details{{position:sticky;top:0;background:#fffde7;border:1px solid #ccc;\
             padding:4px 8px;min-height:1.3em;white-space:pre-wrap;font-size:13px}}\
             svg rect:hover{{stroke:#000;stroke-width:1}}\
             svg g.row:hover .label{{fill:#06c}}</style></head>\n<body>\
             <div id=\"details\">Point at a bar for its details.</div>\n{}\
             <script>\
             const d=document.getElementById('details');\
             document.querySelectorAll('svg rect').forEach(r=>{{\
             const t=r.querySelector('title');if(!t)return;\
             r.addEventListener('mouseenter',()=>{{d.textContent=t.textContent;}});}});\
             </script></body></html>\n",
            self.plot_svg()
        )
    }
}
