//! Pure rules of the domain, with no I/O: money, months, the allocation rule, ledger postings
//! and the continuity projection. Every endpoint that needs one of these numbers calls here.

pub mod allocation;
pub mod allocation_run;
pub mod clock;
pub mod continuity;
pub mod decimal_units;
pub mod document;
pub mod events;
pub mod export;
pub mod ids;
pub mod keys;
pub mod kinds;
pub mod ledger;
pub mod money;
pub mod month;
pub mod statement;
pub mod tabular;
pub mod webhooks;

#[cfg(test)]
mod allocation_tests;

pub use decimal_units::{Bic, Fte, Hours, Iban, Percent, Siren};
pub use money::Money;
pub use month::{Date, Month};
