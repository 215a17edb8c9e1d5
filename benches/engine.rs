//! Benchmark (a): the pure allocation engine on 3,000 posts × 36 months with 2 to 6
//! commitments each. `cargo bench --bench engine`.

use portage_ledger::domain::allocation::{allocate_months, Basis, Terms};
use portage_ledger::domain::{Month, Percent};
use std::hint::black_box;
use std::time::Instant;

const POSTS: usize = 3_000;
const MONTHS: i32 = 36;

/// A post's commitments and its monthly costs.
type Post = (Vec<Terms>, Vec<(Month, i64)>);

/// A deterministic pseudo-random generator, so every run computes the same data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

fn main() {
    let start = Month::new(2026, 1).unwrap_or(Month::FIRST);
    let mut rng = Lcg(42);
    let posts: Vec<Post> = (0..POSTS)
        .map(|_| {
            let count = 2 + rng.next(5) as usize;
            let mut share_left = 1_000_000i64;
            let terms = (0..count)
                .map(|order| {
                    let basis = if order == 0 {
                        Basis::Fixed {
                            monthly_cents: 100_000 + rng.next(100_000) as i64,
                        }
                    } else {
                        let p = (rng.next(400_000) as i64 + 1).min(share_left);
                        share_left -= p;
                        Basis::Share {
                            percent: Percent::from_ten_thousandths(p.max(1)),
                        }
                    };
                    let first = start.plus(rng.next(6) as i32).unwrap_or(start);
                    Terms {
                        basis,
                        start: first,
                        end: first.plus(12 + rng.next(30) as i32).unwrap_or(first),
                        cap_cents: (rng.next(3) == 0)
                            .then(|| 1_000_000 + rng.next(4_000_000) as i64),
                        created_order: order as i64,
                    }
                })
                .collect();
            let months = (0..MONTHS)
                .map(|i| {
                    (
                        start.plus(i).unwrap_or(start),
                        250_000 + rng.next(150_000) as i64,
                    )
                })
                .collect();
            (terms, months)
        })
        .collect();

    let mut timings_ms = Vec::new();
    for _ in 0..7 {
        let began = Instant::now();
        let mut total = 0i64;
        for (terms, months) in &posts {
            for split in allocate_months(
                black_box(terms),
                black_box(months),
                &[],
                &portage_ledger::domain::keys::HoursBook::none(),
            ) {
                total += split.allocated_cents();
            }
        }
        black_box(total);
        timings_ms.push(began.elapsed().as_secs_f64() * 1_000.0);
    }
    timings_ms.sort_by(f64::total_cmp);
    println!(
        "engine: {POSTS} posts x {MONTHS} months, 2-6 commitments: median {:.1} ms, best {:.1} ms (target < 15 ms)",
        timings_ms[timings_ms.len() / 2],
        timings_ms[0]
    );
}
