//! The tables as diesel sees them. Kept by hand beside the migrations; the integration tests
//! read every table through these definitions on both backends.

diesel::table! {
    employers (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        siren -> Nullable<Text>,
        territory -> Nullable<Text>,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
        fiscal_year_end_month -> Integer,
        address -> Nullable<Text>,
        iban -> Nullable<Text>,
        bic -> Nullable<Text>,
        version -> BigInt,
    }
}

diesel::table! {
    funders (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        siren -> Nullable<Text>,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    posts (id) {
        id -> Text,
        employer_id -> Text,
        title -> Text,
        territory -> Text,
        activity -> Text,
        fte_hundredths -> BigInt,
        start_month -> Text,
        end_month -> Nullable<Text>,
        version -> BigInt,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
        reference -> Nullable<Text>,
    }
}

diesel::table! {
    post_budgets (post_id, from_month) {
        post_id -> Text,
        from_month -> Text,
        monthly_amount_cents -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (caller, idempotency_key) {
        caller -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        state -> Text,
        response_status -> Nullable<Integer>,
        response_location -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::joinable!(posts -> employers (employer_id));
diesel::joinable!(post_budgets -> posts (post_id));

diesel::table! {
    commitments (id) {
        id -> Text,
        employer_id -> Text,
        post_id -> Text,
        funder_id -> Text,
        basis -> Text,
        monthly_amount_cents -> Nullable<BigInt>,
        percent_ten_thousandths -> Nullable<BigInt>,
        start_month -> Text,
        end_month -> Text,
        cap_cents -> Nullable<BigInt>,
        reference -> Text,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
        rate_code -> Nullable<Text>,
        fte_hundredths -> Nullable<BigInt>,
    }
}

diesel::joinable!(commitments -> posts (post_id));
diesel::joinable!(commitments -> funders (funder_id));

diesel::table! {
    costs (id) {
        id -> Text,
        employer_id -> Text,
        post_id -> Text,
        month -> Text,
        category -> Text,
        amount_cents -> BigInt,
        reference -> Nullable<Text>,
        reverses_cost_id -> Nullable<Text>,
        reason -> Nullable<Text>,
        entry_id -> Text,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
        import_id -> Nullable<Text>,
    }
}

diesel::table! {
    allocated_months (post_id, month) {
        post_id -> Text,
        month -> Text,
        employer_id -> Text,
        cost_cents -> BigInt,
        uncovered_cents -> BigInt,
    }
}

diesel::table! {
    allocation_lines (commitment_id, month) {
        commitment_id -> Text,
        month -> Text,
        post_id -> Text,
        funder_id -> Text,
        employer_id -> Text,
        amount_cents -> BigInt,
    }
}

diesel::table! {
    journal_entries (id) {
        id -> Text,
        employer_id -> Text,
        entry_date -> Text,
        kind -> Text,
        reference -> Text,
        reverses_entry_id -> Nullable<Text>,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    journal_lines (entry_id, line_no) {
        entry_id -> Text,
        line_no -> Integer,
        employer_id -> Text,
        entry_date -> Text,
        account -> Text,
        debit_cents -> BigInt,
        credit_cents -> BigInt,
        funder_id -> Nullable<Text>,
        post_id -> Nullable<Text>,
        month -> Nullable<Text>,
    }
}

diesel::table! {
    account_balances (employer_id, account, funder_key, post_key) {
        employer_id -> Text,
        account -> Text,
        funder_key -> Text,
        post_key -> Text,
        debit_cents -> BigInt,
        credit_cents -> BigInt,
    }
}

diesel::joinable!(journal_lines -> journal_entries (entry_id));

diesel::table! {
    closed_periods (employer_id, month) {
        employer_id -> Text,
        month -> Text,
        closed_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
        balances_stored -> Bool,
    }
}

diesel::table! {
    closed_month_balances (employer_id, month, account, funder_key, post_key) {
        employer_id -> Text,
        month -> Text,
        account -> Text,
        funder_key -> Text,
        post_key -> Text,
        debit_cents -> BigInt,
        credit_cents -> BigInt,
    }
}

diesel::table! {
    number_sequences (employer_id, kind, year) {
        employer_id -> Text,
        kind -> Text,
        year -> Integer,
        last_number -> Integer,
    }
}

diesel::table! {
    calls (id) {
        id -> Text,
        employer_id -> Text,
        funder_id -> Text,
        number -> Text,
        from_month -> Text,
        to_month -> Text,
        issued_on -> Text,
        due_on -> Text,
        amount_cents -> BigInt,
        entry_id -> Text,
        cancelled_on -> Nullable<Text>,
        credit_note_id -> Nullable<Text>,
        credit_note_number -> Nullable<Text>,
        credit_note_entry_id -> Nullable<Text>,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
        cancelled_by_sub -> Nullable<Text>,
        cancelled_by_role -> Nullable<Text>,
        cancelled_at -> Nullable<Text>,
        cancel_request_id -> Nullable<Text>,
    }
}

diesel::table! {
    call_lines (call_id, post_id, month) {
        call_id -> Text,
        post_id -> Text,
        month -> Text,
        funder_id -> Text,
        employer_id -> Text,
        amount_cents -> BigInt,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        employer_id -> Text,
        funder_id -> Text,
        amount_cents -> BigInt,
        received_on -> Text,
        reference -> Text,
        entry_id -> Text,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    payment_applications (id) {
        id -> Text,
        payment_id -> Text,
        call_id -> Text,
        amount_cents -> BigInt,
        created_at -> Text,
    }
}

diesel::table! {
    /// Dated rates, by code.
    rates (code) {
        code -> Text,
        label -> Text,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// The values of rates; the latest recorded for a month is in force.
    rate_values (id) {
        id -> Text,
        rate_code -> Text,
        from_month -> Text,
        annual_amount_cents -> BigInt,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// A post's record of hours for a month; the latest recorded is in force.
    activity_records (id) {
        id -> Text,
        employer_id -> Text,
        post_id -> Text,
        month -> Text,
        other_hours_hundredths -> BigInt,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// The hours of a record, by activity commitment.
    activity_hours (record_id, commitment_id) {
        record_id -> Text,
        commitment_id -> Text,
        hours_hundredths -> BigInt,
    }
}

diesel::table! {
    /// Files of lines imported as one record.
    imports (id) {
        id -> Text,
        employer_id -> Text,
        kind -> Text,
        sha256 -> Text,
        format -> Text,
        line_count -> BigInt,
        total_cents -> Nullable<BigInt>,
        months -> Text,
        reversed_at -> Nullable<Text>,
        created_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// The event log, in commit order.
    events (seq) {
        seq -> BigInt,
        id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        occurred_at -> Text,
        employer_id -> Nullable<Text>,
        data -> Text,
        once_key -> Nullable<Text>,
    }
}

diesel::table! {
    /// The funders each event concerns.
    event_funders (funder_id, seq) {
        seq -> BigInt,
        funder_id -> Text,
    }
}

diesel::table! {
    /// The last continuity risk recorded per post.
    post_risks (post_id) {
        post_id -> Text,
        risk -> Text,
        as_of -> Text,
        updated_at -> Text,
    }
}

diesel::joinable!(rate_values -> rates (rate_code));
diesel::joinable!(activity_hours -> activity_records (record_id));

diesel::table! {
    /// A party's subscriptions to its events.
    webhooks (id) {
        id -> Text,
        owner_role -> Text,
        owner_id -> Nullable<Text>,
        url -> Text,
        types -> Text,
        description -> Nullable<Text>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Text>,
        after_seq -> BigInt,
        failing_since -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Text>,
        version -> BigInt,
        created_at -> Text,
        updated_at -> Text,
        recorded_by_sub -> Text,
        recorded_by_role -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// One message to one webhook and what came of it.
    webhook_deliveries (seq) {
        seq -> BigInt,
        id -> Text,
        webhook_id -> Text,
        message_id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Text>,
        last_attempt_at -> Nullable<Text>,
        response_status -> Nullable<Integer>,
        error -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));

diesel::allow_tables_to_appear_in_same_query!(
    webhooks,
    webhook_deliveries,
    post_risks,
    events,
    event_funders,
    imports,
    rates,
    rate_values,
    activity_records,
    activity_hours,
    employers,
    funders,
    posts,
    post_budgets,
    idempotency_keys,
    commitments,
    costs,
    allocated_months,
    allocation_lines,
    journal_entries,
    journal_lines,
    account_balances,
    closed_periods,
    closed_month_balances,
    number_sequences,
    calls,
    call_lines,
    payments,
    payment_applications,
);
