//! Each tool's fixed cost and cost per link, from the chains ready at once (D = 0): the
//! **fixed cost** is the median total of a chain of 1 (the supervisor's start to its first
//! component ready), the **per link** figure the slope of a least-squares line through the
//! median totals of the chains of 1, 5 and 20 (what each further link along a path adds).

use crate::peers::Tool;
use crate::stats::median;
use crate::suite::ScenarioResult;
use serde_json::{Value, json};

/// The chain lengths the figures are drawn from.
pub const LENGTHS: [usize; 3] = [1, 5, 20];

/// Whether a scenario is one of the chains ready at once, and of which length.
fn chain_length(s: &ScenarioResult) -> Option<usize> {
    (s.name == format!("chain{}-0ms", s.nodes) && LENGTHS.contains(&s.nodes)).then_some(s.nodes)
}

/// The slope and intercept of the least-squares line through `points` (x, y); `None` with
/// fewer than two distinct x.
pub fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if points.len() < 2 || sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    Some((slope, mean_y - slope * mean_x))
}

/// One tool's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainCost {
    /// The tool.
    pub tool: Tool,
    /// (chain length, median total ms) for every chain the tool finished.
    pub medians: Vec<(usize, f64)>,
    /// The median total of the chain of 1, ms.
    pub fixed_ms: Option<f64>,
    /// Of that, the median time until the component's `main` began (the rest is the
    /// component's own start and its readiness), ms.
    pub first_spawn_ms: Option<f64>,
    /// The slope of the total over the chain lengths, ms per component.
    pub per_link_ms: Option<f64>,
}

impl ChainCost {
    /// The median total of the chain of `n`.
    pub fn median(&self, n: usize) -> Option<f64> {
        self.medians.iter().find(|m| m.0 == n).map(|m| m.1)
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        let medians: serde_json::Map<String, Value> = self
            .medians
            .iter()
            .map(|&(n, ms)| (n.to_string(), json!(ms)))
            .collect();
        json!({
            "tool": self.tool.name(),
            "fixed_cost_ms": self.fixed_ms,
            "first_spawn_ms": self.first_spawn_ms,
            "per_link_ms": self.per_link_ms,
            "chain_medians_ms": medians,
        })
    }
}

/// The figures of every tool that ran at least one of the chains, in the order the tools
/// first appear; empty when the suite ran none of them.
pub fn of(results: &[ScenarioResult]) -> Vec<ChainCost> {
    let mut out: Vec<ChainCost> = Vec::new();
    for s in results {
        let Some(n) = chain_length(s) else { continue };
        for row in &s.rows {
            let at = match out.iter().position(|c| c.tool == row.tool) {
                Some(at) => at,
                None => {
                    out.push(ChainCost {
                        tool: row.tool,
                        medians: Vec::new(),
                        fixed_ms: None,
                        first_spawn_ms: None,
                        per_link_ms: None,
                    });
                    out.len() - 1
                }
            };
            if let Some(total) = row.total() {
                out[at].medians.push((n, total.p50));
            }
            if n == 1 {
                let firsts: Vec<f64> = row.ok().filter_map(|r| r.first_spawn_ms).collect();
                out[at].first_spawn_ms = median(&firsts);
            }
        }
    }
    for cost in &mut out {
        cost.medians.sort_by_key(|m| m.0);
        cost.fixed_ms = cost.median(1);
        let points: Vec<(f64, f64)> = cost.medians.iter().map(|&(n, t)| (n as f64, t)).collect();
        cost.per_link_ms = least_squares(&points).map(|(slope, _)| slope);
    }
    out
}

/// The markdown table of the figures, after a line saying what they are; empty without them.
pub fn markdown(costs: &[ChainCost], fmt_ms: impl Fn(f64) -> String) -> String {
    if costs.is_empty() {
        return String::new();
    }
    let cell = |v: Option<f64>| v.map_or_else(|| "—".into(), &fmt_ms);
    let mut out = String::from(
        "\nChains ready at once (D = 0), median totals; fixed cost = the chain of 1, per link = \
         the least-squares slope over the chains of 1, 5 and 20; first spawn = from the \
         supervisor's spawn to its first component's `main`, in the chain of 1:\n\n\
         | tool | fixed cost ms (chain of 1) | of which to first spawn ms | chain of 5 ms | \
         chain of 20 ms | per link ms |\n|---|---|---|---|---|---|\n",
    );
    for c in costs {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            c.tool.name(),
            cell(c.fixed_ms),
            cell(c.first_spawn_ms),
            cell(c.median(5)),
            cell(c.median(20)),
            cell(c.per_link_ms),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{Row, RunResult};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_line_through_exact_points_is_found() {
        let (slope, intercept) = least_squares(&[(1.0, 6.0), (5.0, 10.0), (20.0, 25.0)]).unwrap();
        assert!(
            close(slope, 1.0) && close(intercept, 5.0),
            "{slope} {intercept}"
        );
        // Scattered points: mean x 26/3, mean y 21.1, Sxy 337.9, Sxx 200.67 (by hand).
        let (slope, _) = least_squares(&[(1.0, 9.0), (5.0, 13.9), (20.0, 40.4)]).unwrap();
        assert!((slope - 1.68389).abs() < 1e-4, "{slope}");
        assert_eq!(least_squares(&[(1.0, 9.0)]), None);
        assert_eq!(least_squares(&[(5.0, 9.0), (5.0, 10.0)]), None);
        assert_eq!(least_squares(&[]), None);
    }

    fn scenario(name: &str, nodes: usize, rows: Vec<(Tool, Vec<f64>)>) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            nodes,
            critical_ms: 0.0,
            bound_ms: 0.0,
            idle: false,
            rows: rows
                .into_iter()
                .map(|(tool, totals)| Row {
                    tool,
                    runs: totals
                        .into_iter()
                        .map(|t| RunResult {
                            total_ms: Some(t),
                            first_spawn_ms: Some(t / 2.0),
                            ..RunResult::default()
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn figures_come_from_the_medians_of_the_chains_ready_at_once() {
        let results = [
            scenario(
                "chain20-0ms",
                20,
                vec![
                    (Tool::HeraldUp, vec![26.0, 25.0, 90.0]),
                    (Tool::Dinit, vec![]),
                ],
            ),
            scenario("chain5-200ms", 5, vec![(Tool::HeraldUp, vec![1000.0])]),
            scenario(
                "chain1-0ms",
                1,
                vec![
                    (Tool::HeraldUp, vec![6.0, 5.0, 7.0]),
                    (Tool::Dinit, vec![4.0]),
                ],
            ),
            scenario("chain5-0ms", 5, vec![(Tool::HeraldUp, vec![10.0])]),
            scenario("k3s", 11, vec![(Tool::HeraldUp, vec![300.0])]),
        ];
        let costs = of(&results);
        assert_eq!(costs.len(), 2);
        let up = &costs[0];
        assert_eq!(up.tool, Tool::HeraldUp);
        assert_eq!(up.medians, [(1, 6.0), (5, 10.0), (20, 26.0)]);
        assert_eq!(up.fixed_ms, Some(6.0));
        assert_eq!(up.first_spawn_ms, Some(3.0));
        let (slope, _) = least_squares(&[(1.0, 6.0), (5.0, 10.0), (20.0, 26.0)]).unwrap();
        assert_eq!(up.per_link_ms, Some(slope));
        // A tool with one chain finished has a fixed cost but no slope.
        let dinit = &costs[1];
        assert_eq!((dinit.fixed_ms, dinit.per_link_ms), (Some(4.0), None));

        let table = markdown(&costs, |v| format!("{v:.2}"));
        assert!(
            table.contains("| tool | fixed cost ms (chain of 1) |"),
            "{table}"
        );
        assert!(
            table.contains(&format!(
                "| herald up | 6.00 | 3.00 | 10.00 | 26.00 | {slope:.2} |"
            )),
            "{table}"
        );
        assert!(
            table.contains("| dinit | 4.00 | 2.00 | — | — | — |"),
            "{table}"
        );
        let json = up.json();
        assert_eq!(json["fixed_cost_ms"], 6.0);
        assert_eq!(json["first_spawn_ms"], 3.0);
        assert_eq!(json["chain_medians_ms"]["20"], 26.0);
        assert!(of(&results[4..]).is_empty());
        assert_eq!(markdown(&[], |v| v.to_string()), "");
    }
}
