//! The allocation and continuity rules checked against the independent vectors of
//! `shared/testdata/allocation-vectors.json` (copied in `tests/data/`) and by property tests.

use super::allocation::{allocate_months, split_month, Basis, Terms};
use super::continuity::{project, ProjectionInput, Risk};
use super::{Money, Month, Percent};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

const VECTORS: &str = include_str!("../../tests/data/allocation-vectors.json");

fn month(text: &str) -> Month {
    Month::parse(text).unwrap_or_else(|e| panic!("bad month {text}: {e}"))
}

fn money(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("amount {value} is not a string"));
    Money::parse(text)
        .unwrap_or_else(|e| panic!("bad amount {text}: {e}"))
        .cents()
}

/// Reads the commitments of a vector case: their keys and terms.
fn commitments(case: &Value) -> (Vec<String>, Vec<Terms>) {
    let list = case["commitments"].as_array().cloned().unwrap_or_default();
    let keys = list
        .iter()
        .map(|c| c["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    let terms = list
        .iter()
        .map(|c| Terms {
            basis: match c["basis"].as_str() {
                Some("fixed") => Basis::Fixed {
                    monthly_cents: money(&c["monthly_amount"]),
                },
                _ => Basis::Share {
                    percent: Percent::parse(c["percent"].as_str().unwrap_or_default())
                        .unwrap_or_else(|| panic!("bad percent in {c}")),
                },
            },
            start: month(c["start_month"].as_str().unwrap_or_default()),
            end: month(c["end_month"].as_str().unwrap_or_default()),
            cap_cents: (!c["cap"].is_null()).then(|| money(&c["cap"])),
            created_order: c["created_order"].as_i64().unwrap_or_default(),
        })
        .collect();
    (keys, terms)
}

#[test]
fn every_allocation_vector_matches() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap_or_default();
    let cases = vectors["allocation"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(cases.len() >= 10, "the vectors were not read");
    for case in cases {
        let name = case["name"].as_str().unwrap_or_default();
        let (keys, terms) = commitments(&case);
        let costs: Vec<(Month, i64)> = case["costs"]
            .as_object()
            .map(|o| o.iter().map(|(m, c)| (month(m), money(c))).collect())
            .unwrap_or_default();
        let splits = allocate_months(&terms, &costs, &[]);
        let expected = case["expected"].as_object().cloned().unwrap_or_default();
        assert_eq!(splits.len(), expected.len(), "{name}: months");
        for split in splits {
            let want = &expected[&split.month.to_string()];
            let got: BTreeMap<String, String> = keys
                .iter()
                .zip(&split.lines)
                .filter_map(|(k, line)| line.map(|c| (k.clone(), Money::from_cents(c).to_string())))
                .collect();
            let want_lines: BTreeMap<String, String> = want["lines"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(got, want_lines, "{name} {}", split.month);
            assert_eq!(
                Money::from_cents(split.uncovered_cents).to_string(),
                want["uncovered"].as_str().unwrap_or_default(),
                "{name} {} uncovered",
                split.month
            );
        }
    }
}

#[test]
fn every_continuity_vector_matches() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap_or_default();
    let cases = vectors["continuity"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(cases.len() >= 7, "the vectors were not read");
    for case in cases {
        let name = case["name"].as_str().unwrap_or_default();
        let (keys, terms) = commitments(&case);
        let initial = money(&case["budget"]["initial"]);
        let mut changes: Vec<(Month, i64)> = case["budget"]["changes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            month(c["from_month"].as_str().unwrap_or_default()),
                            money(&c["monthly_amount"]),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        changes.sort();
        let budget = move |m: Month| {
            changes
                .iter()
                .rev()
                .find(|(from, _)| *from <= m)
                .map_or(initial, |(_, amount)| *amount)
        };
        let params = &case["params"];
        let allocated_before: Vec<i64> = keys
            .iter()
            .map(|k| {
                let v = &params["allocated_before"][k];
                if v.is_null() {
                    0
                } else {
                    money(v)
                }
            })
            .collect();
        let input = ProjectionInput {
            as_of: month(params["as_of"].as_str().unwrap_or_default()),
            horizon_months: params["horizon"].as_i64().unwrap_or_default() as i32,
            threshold: Percent::parse(params["threshold"].as_str().unwrap_or_default())
                .unwrap_or(Percent::HUNDRED),
            post_end: params["post_end_month"].as_str().map(month),
            budget_cents: &budget,
            commitments: &terms,
            allocated_before: &allocated_before,
        };
        let verdict = project(&input);
        let expected = &case["expected"];
        assert_eq!(
            verdict.funded_until.map(|m| m.to_string()),
            expected["funded_until"].as_str().map(str::to_owned),
            "{name}: funded_until"
        );
        assert_eq!(
            i64::from(verdict.runway_months),
            expected["runway_months"].as_i64().unwrap_or(-1),
            "{name}: runway"
        );
        let gaps: Vec<String> = verdict.gaps.iter().map(Month::to_string).collect();
        let want_gaps: Vec<String> = expected["gaps"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(gaps, want_gaps, "{name}: gaps");
        let expiring: Vec<String> = verdict.expiring.iter().map(|&i| keys[i].clone()).collect();
        let want_expiring: Vec<String> = expected["expiring"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(expiring, want_expiring, "{name}: expiring");
        let risk = match verdict.risk {
            Risk::Red => "red",
            Risk::Amber => "amber",
            Risk::Green => "green",
        };
        assert_eq!(
            risk,
            expected["risk"].as_str().unwrap_or_default(),
            "{name}: risk"
        );
    }
}

#[test]
fn the_vectors_in_the_repository_are_the_shared_ones() {
    // The shared test data sits beside the project on development machines and in CI; the copy
    // in tests/data keeps the crate self-contained. They must not drift apart.
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/allocation-vectors.json"
    );
    if let Ok(text) = std::fs::read_to_string(shared) {
        assert_eq!(
            text, VECTORS,
            "tests/data/allocation-vectors.json differs from shared/"
        );
    }
}

/// The worked example of DOMAIN.md, written out by hand.
#[test]
fn domain_worked_example() {
    let jan = month("2026-01");
    let dec = month("2026-12");
    let share = |p: &str, order| Terms {
        basis: Basis::Share {
            percent: Percent::parse(p).unwrap_or(Percent::ZERO),
        },
        start: jan,
        end: dec,
        cap_cents: None,
        created_order: order,
    };
    let terms = [
        Terms {
            basis: Basis::Fixed {
                monthly_cents: 177_833,
            },
            start: jan,
            end: dec,
            cap_cents: None,
            created_order: 0,
        },
        share("50", 1),
        share("30", 2),
        share("20", 3),
    ];
    let split = split_month(jan, 312_745, &terms, &[None; 4]);
    assert_eq!(
        split.lines,
        vec![Some(177_833), Some(67_456), Some(40_474), Some(26_982)]
    );
    assert_eq!(split.uncovered_cents, 0);
}

fn arbitrary_terms() -> impl Strategy<Value = Vec<Terms>> {
    let one = (
        any::<bool>(),
        0i64..500_000,
        1i64..=1_000_000,
        0i32..6,
        0i32..12,
        proptest::option::of(0i64..2_000_000),
    );
    proptest::collection::vec(one, 0..7).prop_map(|raw| {
        let base = Month::new(2026, 1).unwrap_or_else(|| panic!("2026-01 is a month"));
        let mut share_left = 1_000_000i64;
        raw.into_iter()
            .enumerate()
            .map(|(order, (fixed, monthly, percent, start, length, cap))| {
                let basis = if fixed {
                    Basis::Fixed {
                        monthly_cents: monthly,
                    }
                } else {
                    // Keep the shares of a post at most 100 %, as commitments enforce.
                    let p = percent.min(share_left);
                    share_left -= p;
                    Basis::Share {
                        percent: Percent::from_ten_thousandths(p),
                    }
                };
                let start = base.plus(start).unwrap_or(base);
                Terms {
                    basis,
                    start,
                    end: start.plus(length).unwrap_or(start),
                    cap_cents: cap,
                    created_order: order as i64,
                }
            })
            .collect()
    })
}

fn arbitrary_costs() -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(0i64..1_000_000, 1..18)
}

fn months_with(costs: &[i64]) -> Vec<(Month, i64)> {
    let base = Month::new(2026, 1).unwrap_or_else(|| panic!("2026-01 is a month"));
    costs
        .iter()
        .enumerate()
        .map(|(i, c)| (base.plus(i as i32).unwrap_or(base), *c))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Allocations plus uncovered equal the cost to the cent, and nothing is negative.
    #[test]
    fn every_cent_is_accounted_for(terms in arbitrary_terms(), costs in arbitrary_costs()) {
        for split in allocate_months(&terms, &months_with(&costs), &[]) {
            prop_assert_eq!(split.allocated_cents() + split.uncovered_cents, split.cost_cents);
            prop_assert!(split.uncovered_cents >= 0);
            prop_assert!(split.lines.iter().flatten().all(|l| *l >= 0));
        }
    }

    /// No fixed commitment gets more than its ask, no share a cent or more above its exact
    /// part, and no cap is ever exceeded over the months.
    #[test]
    fn no_one_pays_more_than_owed(terms in arbitrary_terms(), costs in arbitrary_costs()) {
        let splits = allocate_months(&terms, &months_with(&costs), &[]);
        let mut used = vec![0i64; terms.len()];
        for split in &splits {
            let fixed_total: i64 = terms.iter().zip(&split.lines)
                .filter(|(t, _)| matches!(t.basis, Basis::Fixed { .. }))
                .filter_map(|(_, l)| *l).sum();
            let remainder = split.cost_cents - fixed_total;
            for (i, (t, line)) in terms.iter().zip(&split.lines).enumerate() {
                let Some(amount) = *line else {
                    prop_assert!(!t.in_force(split.month));
                    continue;
                };
                prop_assert!(t.in_force(split.month));
                match t.basis {
                    Basis::Fixed { monthly_cents } => prop_assert!(amount <= monthly_cents),
                    Basis::Share { percent } => {
                        // amount < exact + 1 cent  ⇔  amount × 10⁶ < R × p + 10⁶
                        let exact = i128::from(remainder) * i128::from(percent.ten_thousandths());
                        prop_assert!(i128::from(amount) * 1_000_000 < exact + 1_000_000);
                    }
                }
                used[i] += amount;
                if let Some(cap) = t.cap_cents {
                    prop_assert!(used[i] <= cap);
                }
            }
        }
    }

    /// The split does not depend on the order the commitments are given in.
    #[test]
    fn order_of_commitments_does_not_matter(terms in arbitrary_terms(), costs in arbitrary_costs(), seed in any::<u64>()) {
        let mut shuffled: Vec<(usize, Terms)> = terms.iter().copied().enumerate().collect();
        // A deterministic shuffle driven by the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let reordered: Vec<Terms> = shuffled.iter().map(|(_, t)| *t).collect();
        let months = months_with(&costs);
        let a = allocate_months(&terms, &months, &[]);
        let b = allocate_months(&reordered, &months, &[]);
        for (sa, sb) in a.iter().zip(&b) {
            prop_assert_eq!(sa.uncovered_cents, sb.uncovered_cents);
            for (position, (original, _)) in shuffled.iter().enumerate() {
                prop_assert_eq!(sa.lines[*original], sb.lines[position]);
            }
        }
    }

    /// Computing a tail of months from the stored allocations before it gives the same result
    /// as computing all months at once: caps carry over exactly.
    #[test]
    fn caps_carry_over_between_runs(terms in arbitrary_terms(), costs in arbitrary_costs(), cut in 0usize..18) {
        let months = months_with(&costs);
        let cut = cut.min(months.len());
        let all = allocate_months(&terms, &months, &[]);
        let mut before = vec![0i64; terms.len()];
        for split in &all[..cut] {
            for (b, l) in before.iter_mut().zip(&split.lines) { *b += l.unwrap_or(0); }
        }
        let tail = allocate_months(&terms, &months[cut..], &before);
        prop_assert_eq!(&all[cut..], &tail[..]);
    }
}

#[test]
fn a_month_budgeted_at_zero_reaches_any_threshold() {
    let jan = month("2027-01");
    let zero = |_: Month| 0;
    let verdict = project(&ProjectionInput {
        as_of: jan,
        horizon_months: 3,
        threshold: Percent::HUNDRED,
        post_end: None,
        budget_cents: &zero,
        commitments: &[],
        allocated_before: &[],
    });
    assert_eq!(verdict.runway_months, 3);
    assert_eq!(
        verdict.risk,
        Risk::Amber,
        "three months of runway are amber"
    );
}
