//! View pieces several answers share.

use crate::domain::ids::{CommitmentId, FunderId};
use crate::domain::statement::Aging;
use crate::domain::Money;
use serde::Serialize;

/// What is outstanding, by how long past its due date.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AgingView {
    not_due: Money,
    #[serde(rename = "0_30")]
    days_0_30: Money,
    #[serde(rename = "31_60")]
    days_31_60: Money,
    #[serde(rename = "61_90")]
    days_61_90: Money,
    over_90: Money,
}

impl From<Aging> for AgingView {
    fn from(age: Aging) -> AgingView {
        AgingView {
            not_due: Money::from_cents(age.not_due),
            days_0_30: Money::from_cents(age.days_0_30),
            days_31_60: Money::from_cents(age.days_31_60),
            days_61_90: Money::from_cents(age.days_61_90),
            over_90: Money::from_cents(age.over_90),
        }
    }
}

/// Allocated, called, paid and outstanding.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FiguresView {
    allocated: Money,
    called: Money,
    paid: Money,
    outstanding: Money,
}

impl FiguresView {
    /// The figures of cents allocated, called and paid.
    pub fn of(allocated: i64, called: i64, paid: i64) -> FiguresView {
        FiguresView {
            allocated: Money::from_cents(allocated),
            called: Money::from_cents(called),
            paid: Money::from_cents(paid),
            outstanding: Money::from_cents(called - paid),
        }
    }
}

/// A commitment's part of a month, allocated or projected.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CommitmentLineView {
    commitment_id: CommitmentId,
    funder_id: FunderId,
    amount: Money,
}

impl CommitmentLineView {
    /// The line of `cents` for a commitment of a funder.
    pub fn of(commitment_id: CommitmentId, funder_id: FunderId, cents: i64) -> CommitmentLineView {
        CommitmentLineView {
            commitment_id,
            funder_id,
            amount: Money::from_cents(cents),
        }
    }
}
