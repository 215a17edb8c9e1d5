//! Keyset pagination, the one way every list pages, and the page a request asks for.

/// A page of a list: how many items at most, and after which key.
#[derive(Debug, Clone)]
pub struct Page {
    /// How many items at most.
    pub limit: i64,
    /// The key after which the page starts (exclusive), from the previous page's `next_cursor`.
    pub after: Option<String>,
}

impl Page {
    /// Cuts a page fetched with `limit + 1` rows into the items and the next cursor.
    pub fn finish<T>(
        &self,
        mut rows: Vec<T>,
        id_of: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next = if more { rows.last().map(id_of) } else { None };
        (rows, next)
    }
}

/// Keyset pagination, the one way every list pages: orders a boxed diesel query by its key
/// column, starts it after the page's cursor and asks for one row more than the page holds, so
/// that [`crate::db::paging::Page::finish`] knows whether another page follows.
#[macro_export]
macro_rules! keyset_page {
    ($query:expr, $key:expr, $page:expr) => {{
        let query = $query.order($key).limit($page.limit + 1);
        match &$page.after {
            Some(after) => query.filter($key.gt(after.clone())),
            None => query,
        }
    }};
}

/// Filters a boxed query over a table with `employer_id` and `funder_id` columns: by the ids
/// the caller asked for, then to the caller's scope (an employer its own rows, a funder the
/// rows that concern it), so that a list never shows another party's rows whatever it asks.
#[macro_export]
macro_rules! party_filters {
    ($query:expr, $table:ident, $scope:expr, employer = $employer:expr, funder = $funder:expr) => {{
        let mut query = $query;
        if let Some(employer) = $employer {
            query = query.filter($table::employer_id.eq(employer.to_string()));
        }
        if let Some(funder) = $funder {
            query = query.filter($table::funder_id.eq(funder.to_string()));
        }
        match $scope {
            $crate::auth::Scope::Admin | $crate::auth::Scope::Mission => query,
            $crate::auth::Scope::Employer(own) => {
                query.filter($table::employer_id.eq(own.to_string()))
            }
            $crate::auth::Scope::Funder(own) => query.filter($table::funder_id.eq(own.to_string())),
        }
    }};
}
