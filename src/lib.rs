//! portage-ledger: the system of record for co-funded social-mediation posts.

pub mod domain;
