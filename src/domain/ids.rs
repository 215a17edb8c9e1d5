//! Typed identifiers. Every record's id is a UUID (v7, so ids sort by creation), and each kind
//! of record has its own type: a post's id cannot be passed where a funder's is expected, and a
//! stored id that is not a UUID is an error when it is read, never a default.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[serde(transparent)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new id, ordered after every id made before it.
            pub fn generate() -> $name {
                $name(Uuid::now_v7())
            }

            /// The UUID itself.
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> $name {
                $name(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(text: &str) -> Result<$name, uuid::Error> {
                Uuid::parse_str(text).map($name)
            }
        }
    )+};
}

ids! {
    /// An employer's id.
    EmployerId,
    /// A funder's id.
    FunderId,
    /// A post's id.
    PostId,
    /// A cost's id.
    CostId,
    /// A commitment's id.
    CommitmentId,
    /// A call for funds' id.
    CallId,
    /// A credit note's id.
    CreditNoteId,
    /// A payment's id.
    PaymentId,
    /// A journal entry's id.
    EntryId,
    /// An import's id.
    ImportId,
    /// An event's id: the `webhook-id` its messages are sent under (a `webhook.test` message
    /// has one of its own).
    EventId,
    /// A webhook's id.
    WebhookId,
    /// A webhook delivery's id.
    DeliveryId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn an_id_reads_back_from_its_text(bits in any::<u128>()) {
            let id = PostId(Uuid::from_u128(bits));
            prop_assert_eq!(id.to_string().parse::<PostId>().unwrap(), id);
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<PostId>(&json).unwrap(), id);
        }
    }

    #[test]
    fn text_that_is_no_uuid_is_refused() {
        assert!("not-an-id".parse::<FunderId>().is_err());
        assert!("".parse::<FunderId>().is_err());
    }
}
