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
    }
}

diesel::table! {
    funders (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        siren -> Nullable<Text>,
        created_at -> Text,
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
    }
}

diesel::joinable!(commitments -> posts (post_id));
diesel::joinable!(commitments -> funders (funder_id));
diesel::allow_tables_to_appear_in_same_query!(
    employers,
    funders,
    posts,
    post_budgets,
    idempotency_keys,
    commitments,
);
