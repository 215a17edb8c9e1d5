//! How typed values are stored: ids, months and dates live in TEXT columns on both backends,
//! and read back through their own parsers. A stored value that does not parse is a
//! deserialization error that names the type and the value (and is logged as the cause of the
//! 500 it becomes), never a default.

use super::MultiBackend;
use crate::domain::continuity::Risk;
use crate::domain::ids::{
    CallId, CommitmentId, CostId, CreditNoteId, DeliveryId, EmployerId, EntryId, EventId, FunderId,
    ImportId, PaymentId, PostId, WebhookId,
};
use crate::domain::{Date, Month};
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;
use std::io::Write;

/// A stored value that is not what its column holds.
#[derive(Debug, thiserror::Error)]
#[error("stored value {value:?} is not a valid {kind}: {reason}")]
pub struct CorruptValue {
    kind: &'static str,
    value: String,
    reason: String,
}

/// Implements the TEXT mapping of a type from its `Display` and its parser, for SQLite,
/// PostgreSQL and the multi-backend connection that dispatches between them.
macro_rules! text_column {
    ($($ty:ty => $parse:expr),+ $(,)?) => {$(
        impl ToSql<Text, Sqlite> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.to_string());
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                write!(out, "{self}")?;
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, MultiBackend> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((Text, self));
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Sqlite> for $ty {
            fn from_sql(bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                parse_stored::<$ty, _, _>(&<String as FromSql<Text, Sqlite>>::from_sql(bytes)?, $parse)
            }
        }

        impl FromSql<Text, Pg> for $ty {
            fn from_sql(bytes: <Pg as diesel::backend::Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                parse_stored::<$ty, _, _>(&<String as FromSql<Text, Pg>>::from_sql(bytes)?, $parse)
            }
        }

        impl FromSql<Text, MultiBackend> for $ty {
            fn from_sql(bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                bytes.from_sql::<Self, Text>()
            }
        }
    )+};
}

fn parse_stored<T, E: std::fmt::Display, F: Fn(&str) -> Result<T, E>>(
    text: &str,
    parse: F,
) -> deserialize::Result<T> {
    parse(text).map_err(|e| {
        Box::new(CorruptValue {
            kind: short_type_name::<T>(),
            value: text.chars().take(80).collect(),
            reason: e.to_string(),
        }) as Box<dyn std::error::Error + Send + Sync>
    })
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

text_column! {
    Month => Month::parse,
    Date => Date::parse,
    EmployerId => str::parse::<EmployerId>,
    FunderId => str::parse::<FunderId>,
    PostId => str::parse::<PostId>,
    CostId => str::parse::<CostId>,
    CommitmentId => str::parse::<CommitmentId>,
    CallId => str::parse::<CallId>,
    CreditNoteId => str::parse::<CreditNoteId>,
    PaymentId => str::parse::<PaymentId>,
    EntryId => str::parse::<EntryId>,
    ImportId => str::parse::<ImportId>,
    EventId => str::parse::<EventId>,
    WebhookId => str::parse::<WebhookId>,
    DeliveryId => str::parse::<DeliveryId>,
    Risk => Risk::parse,
}
