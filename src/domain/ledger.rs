//! The ledger's postings: which accounts each business event moves, as pure data.
//!
//! Accounts follow the French chart (PCG) so that an export reads familiar to an accountant.
//! Every entry built here balances by construction; [`is_balanced`] checks it again before
//! anything is written.

use super::month::Month;
use crate::domain::ids::{FunderId, PostId};

/// 64 — post costs (by post).
pub const POST_COSTS: &str = "64";
/// 42 — costs payable.
pub const COSTS_PAYABLE: &str = "42";
/// 4687 — funding to call (by funder and post).
pub const FUNDING_TO_CALL: &str = "4687";
/// 74 — operating grants (by funder and post).
pub const OPERATING_GRANTS: &str = "74";
/// 441 — grants receivable (by funder).
pub const GRANTS_RECEIVABLE: &str = "441";
/// 512 — bank.
pub const BANK: &str = "512";

/// Every account the service posts to.
pub const ACCOUNTS: [&str; 6] = [
    POST_COSTS,
    COSTS_PAYABLE,
    FUNDING_TO_CALL,
    OPERATING_GRANTS,
    GRANTS_RECEIVABLE,
    BANK,
];

/// One line of an entry: an account debited or credited, with what it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The account code.
    pub account: &'static str,
    /// Debit, in cents (zero when the line is a credit).
    pub debit_cents: i64,
    /// Credit, in cents (zero when the line is a debit).
    pub credit_cents: i64,
    /// The funder concerned, if any.
    pub funder_id: Option<FunderId>,
    /// The post concerned, if any.
    pub post_id: Option<PostId>,
    /// The month concerned, if any.
    pub month: Option<Month>,
}

/// What a line concerns.
#[derive(Debug, Clone, Copy, Default)]
pub struct Concerning {
    /// The funder, if any.
    pub funder_id: Option<FunderId>,
    /// The post, if any.
    pub post_id: Option<PostId>,
    /// The month, if any.
    pub month: Option<Month>,
}

/// A pair of lines moving `amount_cents` from `credit` to `debit`. A negative amount moves it
/// the other way, so that a difference posts with the right sign.
pub fn transfer(
    debit: &'static str,
    credit: &'static str,
    amount_cents: i64,
    debit_on: Concerning,
    credit_on: Concerning,
) -> [Line; 2] {
    let (debit, credit, amount, debit_on, credit_on) = if amount_cents >= 0 {
        (debit, credit, amount_cents, debit_on, credit_on)
    } else {
        (credit, debit, -amount_cents, credit_on, debit_on)
    };
    [
        Line {
            account: debit,
            debit_cents: amount,
            credit_cents: 0,
            funder_id: debit_on.funder_id,
            post_id: debit_on.post_id,
            month: debit_on.month,
        },
        Line {
            account: credit,
            debit_cents: 0,
            credit_cents: amount,
            funder_id: credit_on.funder_id,
            post_id: credit_on.post_id,
            month: credit_on.month,
        },
    ]
}

/// A cost recorded (positive) or reversed (negative): 64 (post) against 42.
pub fn cost_lines(post_id: PostId, month: Month, amount_cents: i64) -> [Line; 2] {
    let on = Concerning {
        funder_id: None,
        post_id: Some(post_id),
        month: Some(month),
    };
    transfer(
        POST_COSTS,
        COSTS_PAYABLE,
        amount_cents,
        on,
        Concerning {
            month: Some(month),
            ..Concerning::default()
        },
    )
}

/// A change of a funder's allocation for a post and month: 4687 against 74, both by funder and
/// post; a decrease posts the other way round.
pub fn allocation_lines(
    funder_id: FunderId,
    post_id: PostId,
    month: Month,
    change_cents: i64,
) -> [Line; 2] {
    let on = Concerning {
        funder_id: Some(funder_id),
        post_id: Some(post_id),
        month: Some(month),
    };
    transfer(FUNDING_TO_CALL, OPERATING_GRANTS, change_cents, on, on)
}

/// A call for funds: 441 (funder) debited with the total, 4687 (funder, post, month) credited
/// line by line. The credit note that cancels it (`issued = false`) posts the other way round.
pub fn call_lines(funder_id: FunderId, lines: &[(PostId, Month, i64)], issued: bool) -> Vec<Line> {
    let total: i64 = lines.iter().map(|(_, _, amount)| amount).sum();
    let side = |amount: i64, debit: bool| if debit { (amount, 0) } else { (0, amount) };
    let (debit_cents, credit_cents) = side(total, issued);
    let mut posted = Vec::with_capacity(lines.len() + 1);
    posted.push(Line {
        account: GRANTS_RECEIVABLE,
        debit_cents,
        credit_cents,
        funder_id: Some(funder_id),
        post_id: None,
        month: None,
    });
    for (post_id, month, amount) in lines {
        let (debit_cents, credit_cents) = side(*amount, !issued);
        posted.push(Line {
            account: FUNDING_TO_CALL,
            debit_cents,
            credit_cents,
            funder_id: Some(funder_id),
            post_id: Some(*post_id),
            month: Some(*month),
        });
    }
    posted
}

/// A payment received: 512 against 441 (funder).
pub fn payment_lines(funder_id: FunderId, amount_cents: i64) -> [Line; 2] {
    transfer(
        BANK,
        GRANTS_RECEIVABLE,
        amount_cents,
        Concerning::default(),
        Concerning {
            funder_id: Some(funder_id),
            ..Concerning::default()
        },
    )
}

/// Whether an entry's lines are well formed and balance: at least two lines, each a debit or
/// a credit (not both, not neither, never negative), debits equal to credits.
pub fn is_balanced(lines: &[Line]) -> bool {
    let well_formed = lines.len() >= 2
        && lines.iter().all(|l| {
            l.debit_cents >= 0
                && l.credit_cents >= 0
                && ((l.debit_cents == 0) != (l.credit_cents == 0))
        });
    let debits: i128 = lines.iter().map(|l| i128::from(l.debit_cents)).sum();
    let credits: i128 = lines.iter().map(|l| i128::from(l.credit_cents)).sum();
    well_formed && debits == credits
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_posting_balances(amount in -1_000_000_000i64..1_000_000_000, month in 0i32..100) {
            prop_assume!(amount != 0);
            let month = Month::FIRST.plus(month).unwrap_or(Month::FIRST);
            let (post, funder) = (PostId::generate(), FunderId::generate());
            prop_assert!(is_balanced(&cost_lines(post, month, amount)));
            prop_assert!(is_balanced(&allocation_lines(funder, post, month, amount)));
            prop_assert!(is_balanced(&payment_lines(funder, amount.abs())));
            let lines = [(post, month, amount.abs()), (PostId::generate(), month, 1)];
            prop_assert!(is_balanced(&call_lines(funder, &lines, true)));
            let cancelled = call_lines(funder, &lines, false);
            prop_assert!(is_balanced(&cancelled));
            // The credit note moves the same accounts, funders and posts the other way.
            let issued = call_lines(funder, &lines, true);
            for (a, b) in issued.iter().zip(&cancelled) {
                prop_assert_eq!((a.account, a.funder_id, a.post_id, a.month), (b.account, b.funder_id, b.post_id, b.month));
                prop_assert_eq!((a.debit_cents, a.credit_cents), (b.credit_cents, b.debit_cents));
            }
        }
    }

    #[test]
    fn a_decrease_posts_the_other_way() {
        let month = Month::FIRST;
        let (post, funder) = (PostId::generate(), FunderId::generate());
        let [debit, credit] = allocation_lines(funder, post, month, -500);
        assert_eq!((debit.account, debit.debit_cents), (OPERATING_GRANTS, 500));
        assert_eq!(
            (credit.account, credit.credit_cents),
            (FUNDING_TO_CALL, 500)
        );
        let [debit, credit] = cost_lines(post, month, 1250);
        assert_eq!((debit.account, debit.post_id), (POST_COSTS, Some(post)));
        assert_eq!((credit.account, credit.post_id), (COSTS_PAYABLE, None));
    }

    #[test]
    fn unbalanced_or_malformed_entries_are_caught() {
        let month = Month::FIRST;
        let post = PostId::generate();
        let mut lines = cost_lines(post, month, 100).to_vec();
        lines[0].debit_cents = 99;
        assert!(!is_balanced(&lines));
        assert!(!is_balanced(&lines[..1]));
        let mut zero = cost_lines(post, month, 100).to_vec();
        zero[0].debit_cents = 0;
        zero[1].credit_cents = 0;
        assert!(!is_balanced(&zero));
    }
}
