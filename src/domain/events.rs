//! What each event carries, one type per kind, as `openapi.yaml`'s `EventData` describes it.
//! The full view (the employer's) is what is stored; a funder's copy of an allocation is a
//! type of its own without the post's cost and uncovered part, so they cannot reach a funder.

use super::allocation_run::MonthPlan;
use super::continuity::Risk;
use super::ids::{CallId, CommitmentId, EmployerId, FunderId, PostId, WebhookId};
use super::{Date, Money, Month};
use serde::{Deserialize, Serialize};

/// An event's data, tagged by its kind when it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// `allocation.posted`: a month of a post allocated again, with its lines.
    AllocationPosted(AllocationPosted),
    /// `call.issued`: the call as `GET /v1/calls/{id}` gives it.
    CallIssued(serde_json::Value),
    /// `call.cancelled`: the call as `GET /v1/calls/{id}` gives it after its credit note.
    CallCancelled(serde_json::Value),
    /// `payment.received`: the payment as `GET /v1/payments/{id}` gives it.
    PaymentReceived(serde_json::Value),
    /// `call.overdue`.
    CallOverdue(CallOverdue),
    /// `commitment.expiring`.
    CommitmentExpiring(CommitmentExpiring),
    /// `commitment.cap_used`.
    CommitmentCapUsed(CommitmentCapUsed),
    /// `post.risk_changed`.
    PostRiskChanged(PostRiskChanged),
    /// `period.closed`.
    PeriodClosed(PeriodClosed),
    /// `webhook.disabled`.
    WebhookDisabled(WebhookDisabled),
}

impl EventData {
    /// The event's type, as the feed and webhooks name it.
    pub fn kind(&self) -> &'static str {
        match self {
            EventData::AllocationPosted(_) => "allocation.posted",
            EventData::CallIssued(_) => "call.issued",
            EventData::CallCancelled(_) => "call.cancelled",
            EventData::PaymentReceived(_) => "payment.received",
            EventData::CallOverdue(_) => "call.overdue",
            EventData::CommitmentExpiring(_) => "commitment.expiring",
            EventData::CommitmentCapUsed(_) => "commitment.cap_used",
            EventData::PostRiskChanged(_) => "post.risk_changed",
            EventData::PeriodClosed(_) => "period.closed",
            EventData::WebhookDisabled(_) => "webhook.disabled",
        }
    }

    /// The data as stored: its JSON text.
    pub fn to_json(&self) -> serde_json::Result<String> {
        match self {
            EventData::AllocationPosted(d) => serde_json::to_string(d),
            EventData::CallIssued(v)
            | EventData::CallCancelled(v)
            | EventData::PaymentReceived(v) => serde_json::to_string(v),
            EventData::CallOverdue(d) => serde_json::to_string(d),
            EventData::CommitmentExpiring(d) => serde_json::to_string(d),
            EventData::CommitmentCapUsed(d) => serde_json::to_string(d),
            EventData::PostRiskChanged(d) => serde_json::to_string(d),
            EventData::PeriodClosed(d) => serde_json::to_string(d),
            EventData::WebhookDisabled(d) => serde_json::to_string(d),
        }
    }
}

/// `allocation.posted` in the full view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationPosted {
    /// The post.
    pub post_id: PostId,
    /// The month allocated.
    pub month: Month,
    /// The month's cost.
    pub cost: Money,
    /// What no funder covers.
    pub uncovered: Money,
    /// Every commitment's line of the month (those with an amount now or before).
    pub lines: Vec<AllocationEventLine>,
}

/// One commitment's line in an `allocation.posted` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationEventLine {
    /// The commitment.
    pub commitment_id: CommitmentId,
    /// Its funder.
    pub funder_id: FunderId,
    /// The new amount.
    pub amount: Money,
    /// The new amount less the one stored before (what the journal received).
    #[serde(with = "super::money::signed")]
    pub change: Money,
}

/// `allocation.posted` as a funder sees it: its own lines that moved, and neither the post's
/// cost nor its uncovered part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunderAllocationPosted {
    /// The post.
    pub post_id: PostId,
    /// The month allocated.
    pub month: Month,
    /// The funder's own lines whose amount moved.
    pub lines: Vec<AllocationEventLine>,
}

impl AllocationPosted {
    /// The event of a month a run allocated again.
    pub fn of(post_id: PostId, month: &MonthPlan) -> AllocationPosted {
        AllocationPosted {
            post_id,
            month: month.month,
            cost: Money::from_cents(month.cost_cents),
            uncovered: Money::from_cents(month.uncovered_cents),
            lines: month
                .lines
                .iter()
                .map(|l| AllocationEventLine {
                    commitment_id: l.party.commitment_id,
                    funder_id: l.party.funder_id,
                    amount: Money::from_cents(l.new.unwrap_or(0)),
                    change: Money::from_cents(l.change()),
                })
                .collect(),
        }
    }

    /// The funder's copy, or `None` when none of its lines moved.
    pub fn for_funder(&self, funder: FunderId) -> Option<FunderAllocationPosted> {
        let lines: Vec<AllocationEventLine> = self
            .lines
            .iter()
            .filter(|l| l.funder_id == funder && l.change != Money::ZERO)
            .copied()
            .collect();
        (!lines.is_empty()).then_some(FunderAllocationPosted {
            post_id: self.post_id,
            month: self.month,
            lines,
        })
    }
}

/// `call.overdue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallOverdue {
    /// The call.
    pub call_id: CallId,
    /// Its number.
    pub number: String,
    /// The funder it asks.
    pub funder_id: FunderId,
    /// The day it was due.
    pub due_on: Date,
    /// What is still unpaid.
    pub outstanding: Money,
}

/// `commitment.expiring`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitmentExpiring {
    /// The commitment.
    pub commitment_id: CommitmentId,
    /// Its post.
    pub post_id: PostId,
    /// Its funder.
    pub funder_id: FunderId,
    /// Its last month.
    pub end_month: Month,
}

/// `commitment.cap_used`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitmentCapUsed {
    /// The commitment.
    pub commitment_id: CommitmentId,
    /// Its post.
    pub post_id: PostId,
    /// Its funder.
    pub funder_id: FunderId,
    /// Its cap.
    pub cap: Money,
    /// Allocated so far.
    pub allocated_to_date: Money,
    /// The level reached: 80 or 100 (percent of the cap).
    pub level: i64,
}

/// `post.risk_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostRiskChanged {
    /// The post.
    pub post_id: PostId,
    /// The month the risk is evaluated as of.
    pub as_of: Month,
    /// The risk recorded before, `None` for a first evaluation.
    pub from: Option<Risk>,
    /// The risk now.
    pub to: Risk,
    /// The last month funded.
    pub funded_until: Option<Month>,
    /// The months of runway.
    pub runway_months: i32,
}

/// `period.closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodClosed {
    /// The employer.
    pub employer_id: EmployerId,
    /// The last month now closed.
    pub month: Month,
}

/// `webhook.disabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookDisabled {
    /// The webhook.
    pub webhook_id: WebhookId,
    /// Its address.
    pub url: String,
    /// `gone` (410) or `failing` (five days of failures).
    pub reason: &'static str,
    /// When its failures began.
    pub failing_since: String,
    /// When it was disabled.
    pub disabled_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn line(funder: u128, amount: i64, change: i64) -> AllocationEventLine {
        AllocationEventLine {
            commitment_id: CommitmentId(Uuid::from_u128(funder + 100)),
            funder_id: FunderId(Uuid::from_u128(funder)),
            amount: Money::from_cents(amount),
            change: Money::from_cents(change),
        }
    }

    #[test]
    fn a_stored_allocation_reads_back_with_its_negative_changes() {
        let event = AllocationPosted {
            post_id: PostId(Uuid::from_u128(7)),
            month: Month::FIRST,
            cost: Money::from_cents(300_000),
            uncovered: Money::from_cents(10),
            lines: vec![line(1, 100_000, -2_550), line(2, 199_990, 2_550)],
        };
        let stored = EventData::AllocationPosted(event.clone())
            .to_json()
            .unwrap();
        assert!(stored.contains("\"change\":\"-25.50\""), "{stored}");
        let read: AllocationPosted = serde_json::from_str(&stored).unwrap();
        assert_eq!(read, event);
    }

    #[test]
    fn a_funder_copy_holds_its_own_moved_lines_only() {
        let event = AllocationPosted {
            post_id: PostId(Uuid::from_u128(7)),
            month: Month::FIRST,
            cost: Money::from_cents(300_000),
            uncovered: Money::ZERO,
            lines: vec![line(1, 100_000, 0), line(2, 200_000, 500), line(3, 5, 5)],
        };
        assert_eq!(event.for_funder(FunderId(Uuid::from_u128(1))), None);
        let own = event.for_funder(FunderId(Uuid::from_u128(2))).unwrap();
        assert_eq!(own.lines, vec![line(2, 200_000, 500)]);
        let text = serde_json::to_string(&own).unwrap();
        assert!(
            !text.contains("cost") && !text.contains("uncovered"),
            "{text}"
        );
    }
}
