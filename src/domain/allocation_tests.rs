//! The allocation and continuity rules checked against the independent vectors of
//! `shared/testdata/allocation-vectors.json` and `keys-vectors.json` (copied in `tests/data/`)
//! and by property tests.

use super::allocation::{allocate_months, split_month, Basis, Terms};
use super::allocation_run::{
    plan_post, LineChange, MonthPlan, Party, PostPlan, PostRun, PostTerms, StoredAllocation,
};
use super::continuity::{project, ProjectionInput, Risk};
use super::ids::{CallId, CommitmentId, FunderId, PostId};
use super::keys::{HoursBook, MonthHours, RateSchedule};
use super::{Hours, Money, Month, Percent};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

const VECTORS: &str = include_str!("../../tests/data/allocation-vectors.json");
const KEYS_VECTORS: &str = include_str!("../../tests/data/keys-vectors.json");

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

fn hours(value: &Value) -> i64 {
    Hours::parse(value.as_str().unwrap_or_default())
        .unwrap_or_else(|| panic!("bad hours {value}"))
        .hundredths()
}

/// Reads the commitments of a vector case: their keys and terms, rates resolved.
fn commitments(case: &Value) -> (Vec<String>, Vec<Terms>) {
    let schedules: BTreeMap<String, Arc<RateSchedule>> = case["rates"]
        .as_object()
        .map(|rates| {
            rates
                .iter()
                .map(|(code, values)| {
                    let values = values.as_array().cloned().unwrap_or_default();
                    let schedule = RateSchedule::new(values.iter().map(|v| {
                        (
                            month(v["from_month"].as_str().unwrap_or_default()),
                            money(&v["annual_amount"]),
                        )
                    }));
                    (code.clone(), Arc::new(schedule))
                })
                .collect()
        })
        .unwrap_or_default();
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
                Some("share") => Basis::Share {
                    percent: Percent::parse(c["percent"].as_str().unwrap_or_default())
                        .unwrap_or_else(|| panic!("bad percent in {c}")),
                },
                Some("rate") => Basis::Rate {
                    fte_hundredths: super::Fte::parse(c["fte"].as_str().unwrap_or_default())
                        .unwrap_or_else(|| panic!("bad fte in {c}"))
                        .hundredths(),
                    schedule: schedules
                        .get(c["rate"].as_str().unwrap_or_default())
                        .cloned()
                        .unwrap_or_else(|| panic!("unknown rate in {c}")),
                },
                Some("activity") => Basis::Activity,
                other => panic!("unknown basis {other:?}"),
            },
            start: month(c["start_month"].as_str().unwrap_or_default()),
            end: month(c["end_month"].as_str().unwrap_or_default()),
            cap_cents: (!c["cap"].is_null()).then(|| money(&c["cap"])),
            created_order: c["created_order"].as_i64().unwrap_or_default(),
        })
        .collect();
    (keys, terms)
}

/// Reads the hours of a vector case, laid out parallel to its commitments.
fn hours_records(case: &Value, keys: &[String]) -> BTreeMap<Month, MonthHours> {
    case["activity"]
        .as_object()
        .map(|months| {
            months
                .iter()
                .map(|(m, record)| {
                    let per_commitment = keys
                        .iter()
                        .map(|k| {
                            let h = &record["hours"][k];
                            if h.is_null() {
                                0
                            } else {
                                hours(h)
                            }
                        })
                        .collect();
                    let known: usize = record["hours"]
                        .as_object()
                        .map(|o| o.keys().filter(|k| keys.contains(k)).count())
                        .unwrap_or_default();
                    assert_eq!(
                        known,
                        record["hours"].as_object().map_or(0, |o| o.len()),
                        "hours for an unknown commitment"
                    );
                    (
                        month(m),
                        MonthHours {
                            per_commitment,
                            other_hundredths: hours(&record["other_hours"]),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_allocation_vector_matches() {
    check_allocation_vectors(VECTORS, 10);
}

#[test]
fn every_keys_allocation_vector_matches() {
    check_allocation_vectors(KEYS_VECTORS, 12);
}

#[test]
fn every_continuity_vector_matches() {
    check_continuity_vectors(VECTORS, 7);
}

#[test]
fn every_keys_continuity_vector_matches() {
    check_continuity_vectors(KEYS_VECTORS, 2);
}

fn check_allocation_vectors(text: &str, at_least: usize) {
    let vectors: Value = serde_json::from_str(text).unwrap_or_default();
    let cases = vectors["allocation"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(cases.len() >= at_least, "the vectors were not read");
    for case in cases {
        let name = case["name"].as_str().unwrap_or_default();
        let (keys, terms) = commitments(&case);
        let costs: Vec<(Month, i64)> = case["costs"]
            .as_object()
            .map(|o| o.iter().map(|(m, c)| (month(m), money(c))).collect())
            .unwrap_or_default();
        let book = HoursBook::exact(hours_records(&case, &keys));
        let splits = allocate_months(&terms, &costs, &[], &book);
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

fn check_continuity_vectors(text: &str, at_least: usize) {
    let vectors: Value = serde_json::from_str(text).unwrap_or_default();
    let cases = vectors["continuity"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(cases.len() >= at_least, "the vectors were not read");
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
            hours: &HoursBook::carried(hours_records(&case, &keys)),
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
    for (name, copy) in [
        ("allocation-vectors.json", VECTORS),
        ("keys-vectors.json", KEYS_VECTORS),
    ] {
        let shared = format!("{}/../shared/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        if let Ok(text) = std::fs::read_to_string(shared) {
            assert_eq!(text, copy, "tests/data/{name} differs from shared/");
        }
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
    let split = split_month(jan, 312_745, &terms, &[None; 4], None);
    assert_eq!(
        split.lines,
        vec![Some(177_833), Some(67_456), Some(40_474), Some(26_982)]
    );
    assert_eq!(split.uncovered_cents, 0);
}

/// Commitments of every basis: fixed, share (at most 100 % in all, as commitments enforce),
/// rate (one schedule revised in July) and activity.
fn arbitrary_terms() -> impl Strategy<Value = Vec<Terms>> {
    let one = (
        0u8..4,
        0i64..500_000,
        1i64..=1_000_000,
        0i32..6,
        0i32..12,
        proptest::option::of(0i64..2_000_000),
        1i64..=100,
    );
    (
        proptest::collection::vec(one, 0..7),
        0i64..5_000_000,
        0i64..5_000_000,
    )
        .prop_map(|(raw, annual, revised)| {
            let base = Month::new(2026, 1).unwrap_or_else(|| panic!("2026-01 is a month"));
            let july = base.plus(6).unwrap_or(base);
            let schedule = Arc::new(RateSchedule::new([(base, annual), (july, revised)]));
            let mut share_left = 1_000_000i64;
            raw.into_iter()
                .enumerate()
                .map(
                    |(order, (kind, monthly, percent, start, length, cap, fte))| {
                        let basis = match kind {
                            0 => Basis::Fixed {
                                monthly_cents: monthly,
                            },
                            1 => {
                                let p = percent.min(share_left);
                                share_left -= p;
                                Basis::Share {
                                    percent: Percent::from_ten_thousandths(p),
                                }
                            }
                            2 => Basis::Rate {
                                fte_hundredths: fte,
                                schedule: schedule.clone(),
                            },
                            _ => Basis::Activity,
                        };
                        let start = base.plus(start).unwrap_or(base);
                        Terms {
                            basis,
                            start,
                            end: start.plus(length).unwrap_or(start),
                            cap_cents: cap,
                            created_order: order as i64,
                        }
                    },
                )
                .collect()
        })
}

fn arbitrary_costs() -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(0i64..1_000_000, 1..18)
}

/// Records of hours for up to 18 months (some months without one), seven commitments wide.
fn arbitrary_hours() -> impl Strategy<Value = Vec<Option<(Vec<i64>, i64)>>> {
    let record = (proptest::collection::vec(0i64..10_000, 7), 0i64..5_000);
    proptest::collection::vec(proptest::option::of(record), 18)
}

fn months_with(costs: &[i64]) -> Vec<(Month, i64)> {
    let base = Month::new(2026, 1).unwrap_or_else(|| panic!("2026-01 is a month"));
    costs
        .iter()
        .enumerate()
        .map(|(i, c)| (base.plus(i as i32).unwrap_or(base), *c))
        .collect()
}

/// The hours as the engine reads them for `count` commitments, the commitment at position
/// `i` taking the hours of column `columns[i]`.
fn book_of(raw: &[Option<(Vec<i64>, i64)>], columns: &[usize]) -> HoursBook {
    let base = Month::new(2026, 1).unwrap_or_else(|| panic!("2026-01 is a month"));
    HoursBook::exact(
        raw.iter()
            .enumerate()
            .filter_map(|(i, record)| {
                let (hours, other) = record.as_ref()?;
                Some((
                    base.plus(i as i32).unwrap_or(base),
                    MonthHours {
                        per_commitment: columns.iter().map(|&c| hours[c]).collect(),
                        other_hundredths: *other,
                    },
                ))
            })
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Allocations plus uncovered equal the cost to the cent, and nothing is negative.
    #[test]
    fn every_cent_is_accounted_for(terms in arbitrary_terms(), costs in arbitrary_costs(), raw in arbitrary_hours()) {
        let columns: Vec<usize> = (0..terms.len()).collect();
        for split in allocate_months(&terms, &months_with(&costs), &[], &book_of(&raw, &columns)) {
            prop_assert_eq!(split.allocated_cents() + split.uncovered_cents, split.cost_cents);
            prop_assert!(split.uncovered_cents >= 0);
            prop_assert!(split.lines.iter().flatten().all(|l| *l >= 0));
        }
    }

    /// No fixed or rate commitment gets more than its ask, no share nor activity part a cent
    /// or more above its exact value, and no cap is ever exceeded over the months.
    #[test]
    fn no_one_pays_more_than_owed(terms in arbitrary_terms(), costs in arbitrary_costs(), raw in arbitrary_hours()) {
        let columns: Vec<usize> = (0..terms.len()).collect();
        let book = book_of(&raw, &columns);
        let splits = allocate_months(&terms, &months_with(&costs), &[], &book);
        let mut used = vec![0i64; terms.len()];
        for split in &splits {
            let fixed_total: i64 = terms.iter().zip(&split.lines)
                .filter(|(t, _)| t.basis.fixed_ask(split.month).is_some())
                .filter_map(|(_, l)| *l).sum();
            let remainder = i128::from(split.cost_cents - fixed_total);
            let shares: i64 = terms.iter()
                .filter(|t| t.in_force(split.month))
                .filter_map(|t| t.basis.share())
                .map(|p| p.ten_thousandths())
                .sum();
            let hours = book.for_month(split.month);
            let total_hours = i128::from(hours.map_or(0, MonthHours::total));
            for (i, (t, line)) in terms.iter().zip(&split.lines).enumerate() {
                let Some(amount) = *line else {
                    prop_assert!(!t.in_force(split.month));
                    continue;
                };
                prop_assert!(t.in_force(split.month));
                let amount = i128::from(amount);
                match &t.basis {
                    Basis::Fixed { .. } | Basis::Rate { .. } => {
                        let ask = t.basis.fixed_ask(split.month).unwrap_or(0);
                        prop_assert!(amount <= i128::from(ask));
                    }
                    Basis::Share { percent } => {
                        // amount < exact + 1 cent  ⇔  amount × 10⁶ < R × p + 10⁶
                        let exact = remainder * i128::from(percent.ten_thousandths());
                        prop_assert!(amount * 1_000_000 < exact + 1_000_000);
                    }
                    Basis::Activity => {
                        // exact = R × (100 % − S) × h / (100 % × U)
                        let h = i128::from(hours.map_or(0, |r| r.of(i)));
                        if total_hours == 0 {
                            prop_assert_eq!(amount, 0);
                        } else {
                            let scale = 1_000_000 * total_hours;
                            let exact = remainder * i128::from(1_000_000 - shares) * h;
                            prop_assert!(amount * scale < exact + scale);
                        }
                    }
                }
                used[i] += *line.as_ref().unwrap_or(&0);
                if let Some(cap) = t.cap_cents {
                    prop_assert!(used[i] <= cap);
                }
            }
        }
    }

    /// The split does not depend on the order the commitments (and their hours) are given in.
    #[test]
    fn order_of_commitments_does_not_matter(terms in arbitrary_terms(), costs in arbitrary_costs(), raw in arbitrary_hours(), seed in any::<u64>()) {
        let mut shuffled: Vec<(usize, Terms)> = terms.iter().cloned().enumerate().collect();
        // A deterministic shuffle driven by the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let reordered: Vec<Terms> = shuffled.iter().map(|(_, t)| t.clone()).collect();
        let months = months_with(&costs);
        let columns: Vec<usize> = (0..terms.len()).collect();
        let shuffled_columns: Vec<usize> = shuffled.iter().map(|(i, _)| *i).collect();
        let a = allocate_months(&terms, &months, &[], &book_of(&raw, &columns));
        let b = allocate_months(&reordered, &months, &[], &book_of(&raw, &shuffled_columns));
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
    fn caps_carry_over_between_runs(terms in arbitrary_terms(), costs in arbitrary_costs(), raw in arbitrary_hours(), cut in 0usize..18) {
        let months = months_with(&costs);
        let cut = cut.min(months.len());
        let columns: Vec<usize> = (0..terms.len()).collect();
        let book = book_of(&raw, &columns);
        let all = allocate_months(&terms, &months, &[], &book);
        let mut before = vec![0i64; terms.len()];
        for split in &all[..cut] {
            for (b, l) in before.iter_mut().zip(&split.lines) { *b += l.unwrap_or(0); }
        }
        let tail = allocate_months(&terms, &months[cut..], &before, &book);
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
        hours: &HoursBook::none(),
    });
    assert_eq!(verdict.runway_months, 3);
    assert_eq!(
        verdict.risk,
        Risk::Amber,
        "three months of runway are amber"
    );
}

/// The parties of `count` commitments, over three funders.
fn parties(count: usize) -> Vec<Party> {
    (0..count)
        .map(|i| Party {
            commitment_id: CommitmentId(uuid::Uuid::from_u128(1_000 + i as u128)),
            funder_id: FunderId(uuid::Uuid::from_u128((i % 3) as u128 + 1)),
        })
        .collect()
}

const RUN_POST: PostId = PostId(uuid::Uuid::from_u128(77));

/// A run of the first month of `costs` with the later months allocated before.
fn run_of<'a>(parties: &'a [Party], terms: &'a PostTerms, costs: &[i64]) -> PostRun<'a> {
    let months = months_with(costs);
    PostRun {
        post_id: RUN_POST,
        parties,
        terms,
        month: months[0],
        later: months[1..].to_vec(),
    }
}

/// What a plan leaves stored, as the data layer writes it.
fn stored_after(plan: &PostPlan) -> StoredAllocation {
    let mut stored = StoredAllocation::default();
    for m in &plan.months {
        stored
            .months
            .insert((plan.post_id, m.month), (m.cost_cents, m.uncovered_cents));
        for line in &m.lines {
            if let Some(amount) = line.new {
                stored
                    .lines
                    .insert((line.party.commitment_id, m.month), amount);
            }
        }
    }
    stored
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A run repeated on what it stored changes nothing: no journal entry, no row.
    #[test]
    fn a_run_repeated_changes_nothing(terms in arbitrary_terms(), costs in arbitrary_costs(), raw in arbitrary_hours()) {
        let columns: Vec<usize> = (0..terms.len()).collect();
        let inputs = PostTerms { allocated_before: vec![0; terms.len()], hours: book_of(&raw, &columns), terms };
        let parties = parties(inputs.terms.len());
        let run = run_of(&parties, &inputs, &costs);
        let first = plan_post(&run, &StoredAllocation::default());
        prop_assert_eq!(first.months.len(), costs.len());
        prop_assert_eq!(first.entries_posted(), first.months.iter().filter(|m| m.allocated_cents() != 0).count() as i64);
        let again = plan_post(&run, &stored_after(&first));
        prop_assert_eq!(again.entries_posted(), 0);
        prop_assert!(again.months.iter().all(|m| !m.figures_changed()));
        prop_assert_eq!(again.months, first.months.iter().map(|m| MonthPlan {
            stored: Some((m.cost_cents, m.uncovered_cents)),
            lines: m.lines.iter().map(|l| LineChange { stored: l.new, ..*l }).collect(),
            ..m.clone()
        }).collect::<Vec<_>>());
    }

    /// The journal receives, for each month, the new split less what was stored, line by line;
    /// a stored line of a commitment no longer in force is taken back.
    #[test]
    fn the_journal_receives_the_difference(terms in arbitrary_terms(), costs in arbitrary_costs(), old in proptest::collection::vec(proptest::option::of(0i64..500_000), 7 * 18)) {
        let inputs = PostTerms { allocated_before: vec![0; terms.len()], hours: HoursBook::none(), terms };
        let parties = parties(inputs.terms.len());
        let run = run_of(&parties, &inputs, &costs);
        let mut stored = StoredAllocation::default();
        for (m, (month, _)) in months_with(&costs).iter().enumerate() {
            for (i, party) in parties.iter().enumerate() {
                if let Some(amount) = old[m * 7 + i] {
                    stored.lines.insert((party.commitment_id, *month), amount);
                }
            }
        }
        let plan = plan_post(&run, &stored);
        let splits = allocate_months(&inputs.terms, &months_with(&costs), &[], &HoursBook::none());
        for (m, split) in plan.months.iter().zip(&splits) {
            prop_assert_eq!(m.allocated_cents(), split.allocated_cents());
            let stored_total: i64 = parties.iter()
                .filter_map(|p| stored.lines.get(&(p.commitment_id, m.month)))
                .sum();
            let moved: i64 = m.moved().map(LineChange::change).sum();
            prop_assert_eq!(moved, split.allocated_cents() - stored_total);
            prop_assert_eq!(m.lines.len(), parties.iter().zip(&split.lines)
                .filter(|(p, new)| new.is_some() || stored.lines.contains_key(&(p.commitment_id, m.month)))
                .count());
        }
    }

    /// A run is blocked by exactly the calls of a funder and month that its new split falls
    /// below.
    #[test]
    fn a_run_never_falls_below_what_is_called(terms in arbitrary_terms(), costs in arbitrary_costs(), called in proptest::collection::vec(proptest::option::of(0i64..600_000), 3)) {
        let inputs = PostTerms { allocated_before: vec![0; terms.len()], hours: HoursBook::none(), terms };
        let parties = parties(inputs.terms.len());
        let run = run_of(&parties, &inputs, &costs);
        let asked = run.month.0;
        let mut stored = StoredAllocation::default();
        for (f, amount) in called.iter().enumerate() {
            if let Some(amount) = amount {
                let call = CallId(uuid::Uuid::from_u128(500 + f as u128));
                let funder = FunderId(uuid::Uuid::from_u128(f as u128 + 1));
                stored.called.insert((funder, RUN_POST, asked), (*amount, vec![call]));
            }
        }
        let plan = plan_post(&run, &stored);
        let first = plan.asked().unwrap();
        let expected: std::collections::BTreeSet<CallId> = called.iter().enumerate()
            .filter_map(|(f, amount)| {
                let amount = (*amount)?;
                let funder = FunderId(uuid::Uuid::from_u128(f as u128 + 1));
                let funds_post = parties.iter().any(|p| p.funder_id == funder);
                let new: i64 = first.lines.iter().filter(|l| l.party.funder_id == funder).filter_map(|l| l.new).sum();
                (funds_post && new < amount).then_some(CallId(uuid::Uuid::from_u128(500 + f as u128)))
            })
            .collect();
        prop_assert_eq!(plan.blocking_calls, expected);
    }
}
