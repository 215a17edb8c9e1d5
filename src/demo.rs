//! The demonstration data set of `serve --demo`: a small Nord-Pas-de-Calais-like setting, so
//! that a new user sees real records at once and the README's `curl` examples work.

use crate::auth::{now_seconds, Claims, TokenKeys};
use crate::db::allocation_runs::{self, RunScope};
use crate::db::employers::EmployerRow;
use crate::db::funders::FunderRow;
use crate::db::posts::NewPostRow;
use crate::db::LockedEmployer;
use crate::db::{self, DbConnection};
use crate::domain::allocation::Basis;
use crate::domain::ids::{CallId, EmployerId, FunderId, PostId};
use crate::domain::kinds::CostCategory;
use crate::domain::{Date, Money, Month, Percent};
use crate::error::ApiError;
use diesel::QueryResult;
use uuid::Uuid;

/// The ids the demo tokens are scoped to.
#[derive(Debug, Clone)]
pub struct DemoIds {
    /// The employer of the employer token.
    pub employer_id: Uuid,
    /// The funder of the funder token.
    pub funder_id: Uuid,
    /// A post of that employer, funded by that funder.
    pub post_id: Uuid,
}

struct DemoPost {
    title: &'static str,
    territory: &'static str,
    activity: &'static str,
    fte_hundredths: i64,
    start_month: &'static str,
    end_month: Option<&'static str>,
    budget_cents: i64,
}

// The data set's months and dates are literals of this file, not stored values: a literal
// that does not parse is a bug here, which fails the load as a whole (the demo test loads it).
fn month(text: &str) -> QueryResult<Month> {
    Month::parse(text).map_err(|e| literal_error(format!("demo month {text:?}: {e}")))
}

fn date(text: &str) -> QueryResult<Date> {
    Date::parse(text).map_err(|e| literal_error(format!("demo date {text:?}: {e}")))
}

fn literal_error(message: String) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(message.into())
}

/// Loads the demonstration data set. Refuses a database that already holds data.
pub fn load(conn: &mut DbConnection) -> Result<DemoIds, ApiError> {
    db::write_transaction(conn, |conn| {
        if db::employers::any(conn)? {
            return Err(ApiError::conflict(
                "database_not_empty",
                "the demo loads only into an empty database; unset PORTAGE_DATABASE_URL to use a fresh demo file",
            ));
        }
        let now = db::now_timestamp();
        let by = db::Recorder::system("demo");
        let employer = |conn: &mut DbConnection,
                        name: &str,
                        kind: &str,
                        siren: Option<&str>,
                        territory: &str| {
            let id = EmployerId::generate();
            let row = EmployerRow {
                id,
                name: name.to_owned(),
                kind: kind.to_owned(),
                siren: siren.map(str::to_owned),
                territory: Some(territory.to_owned()),
                created_at: now.clone(),
                recorded_by_sub: by.sub.clone(),
                recorded_by_role: by.role.to_owned(),
                fiscal_year_end_month: 12,
                address: None,
                iban: None,
                bic: None,
                version: 1,
            };
            db::employers::insert(conn, &row, &by).map(|_| id.uuid())
        };
        let grouping = employer(
            conn,
            "GEIQ Médiation Métropole Lilloise",
            "employer_grouping",
            Some("732829320"),
            "Métropole européenne de Lille",
        )?;
        let association = employer(
            conn,
            "Association Citéo Médiation Artois",
            "association",
            None,
            "Artois",
        )?;
        let gip = employer(
            conn,
            "GIP Médiation Sociale du Littoral",
            "public_interest_group",
            None,
            "Dunkerque – Calais",
        )?;

        let funder = |conn: &mut DbConnection, name: &str, kind: &str| {
            let id = FunderId::generate();
            let row = FunderRow {
                id,
                name: name.to_owned(),
                kind: kind.to_owned(),
                siren: None,
                created_at: now.clone(),
                recorded_by_sub: by.sub.clone(),
                recorded_by_role: by.role.to_owned(),
            };
            db::funders::insert(conn, &row, &by).map(|_| id.uuid())
        };
        let state = funder(conn, "Préfecture du Nord – adultes-relais", "state")?;
        let landlord_a = funder(conn, "Lille Métropole Habitat", "social_landlord")?;
        let landlord_b = funder(conn, "Vilogia", "social_landlord")?;
        let city = funder(conn, "Ville de Roubaix", "municipality")?;
        let transport = funder(conn, "Ilévia", "transport_operator")?;
        let region = funder(conn, "Région Hauts-de-France", "region")?;
        let metropole = funder(conn, "Métropole Européenne de Lille", "intermunicipality")?;
        let _bank = funder(conn, "Banque des Territoires", "public_bank")?;

        let demo_posts = [
            DemoPost {
                title: "Médiateur social – Alma-Gare",
                territory: "QP059034",
                activity: "housing",
                fte_hundredths: 100,
                start_month: "2026-01",
                end_month: None,
                budget_cents: 312_745,
            },
            DemoPost {
                title: "Médiatrice – Trois-Ponts",
                territory: "QP059041",
                activity: "housing",
                fte_hundredths: 100,
                start_month: "2026-01",
                end_month: Some("2027-12"),
                budget_cents: 298_000,
            },
            DemoPost {
                title: "Médiateur scolaire – Épeule",
                territory: "QP059036",
                activity: "education",
                fte_hundredths: 50,
                start_month: "2026-09",
                end_month: None,
                budget_cents: 156_000,
            },
        ];
        let mut post_ids = Vec::new();
        for (n, p) in demo_posts.iter().enumerate() {
            let post = NewPostRow {
                employer_id: EmployerId(grouping),
                title: p.title.to_owned(),
                territory: p.territory.to_owned(),
                activity: p.activity,
                fte_hundredths: p.fte_hundredths,
                start_month: month(p.start_month)?,
                end_month: p.end_month.map(month).transpose()?,
                reference: Some(format!("MED-{:03}", n + 1)),
                monthly_budget_cents: p.budget_cents,
            };
            post_ids.push(db::posts::insert(conn, &post, &now, &by)?.uuid());
        }
        let first_post = post_ids[0];
        let employer = EmployerId(grouping);
        let employer_lock = db::lock_employer(conn, employer)?;
        let commit = |conn: &mut DbConnection,
                      post: Uuid,
                      funder: Uuid,
                      basis: Basis,
                      end: &str,
                      cap_cents: Option<i64>,
                      reference: &str| {
            db::commitments::insert(
                conn,
                &db::commitments::NewCommitment {
                    employer_id: employer,
                    post_id: PostId(post),
                    funder_id: FunderId(funder),
                    basis,
                    start: month("2026-01")?,
                    end: month(end)?,
                    cap_cents,
                    reference,
                    rate_code: None,
                },
                &by,
            )
        };
        let share = |p: i64| Basis::Share {
            percent: Percent::from_ten_thousandths(p),
        };
        // The worked example of DOMAIN.md: the State's fixed aid and three shares, one capped.
        commit(
            conn,
            first_post,
            state,
            Basis::Fixed {
                monthly_cents: 177_833,
            },
            "2026-12",
            None,
            "AR-59-2026-014",
        )?;
        commit(
            conn,
            first_post,
            landlord_a,
            share(500_000),
            "2026-12",
            None,
            "LMH-CONV-2026-03",
        )?;
        commit(
            conn,
            first_post,
            landlord_b,
            share(300_000),
            "2026-12",
            Some(300_000),
            "VIL-2026-117",
        )?;
        commit(
            conn,
            first_post,
            city,
            share(200_000),
            "2026-12",
            None,
            "ROUBAIX-DEL-2026-88",
        )?;
        // The second post: the State's aid for the budget year and one landlord for the rest.
        let second_post = post_ids[1];
        commit(
            conn,
            second_post,
            state,
            Basis::Fixed {
                monthly_cents: 150_000,
            },
            "2026-12",
            None,
            "AR-59-2026-022",
        )?;
        commit(
            conn,
            second_post,
            landlord_a,
            share(1_000_000),
            "2027-12",
            Some(2_000_000),
            "LMH-CONV-2026-07",
        )?;

        for (post, monthly_cents) in [(first_post, 312_745), (second_post, 298_000)] {
            for number in 1..=10 {
                let m = month(&format!("2026-{number:02}"))?;
                db::costs::record(
                    conn,
                    &employer_lock,
                    &db::costs::NewCost {
                        post_id: PostId(post),
                        month: m,
                        category: CostCategory::Salary,
                        amount_cents: monthly_cents,
                        reference: Some("paie"),
                    },
                    &by,
                )?;
                allocation_runs::run(conn, &employer_lock, RunScope::Post(PostId(post)), m, &by)?;
            }
        }
        // The adultes-relais aid as the State writes it: a rate per full-time post and year,
        // revised in July (the 2024 figure, then an illustrative revision), and two mutualised
        // posts whose remainder three landlords share by the hours spent on their estates.
        let aid_rate = "adultes-relais";
        db::rates::insert(
            conn,
            aid_rate,
            "Aide adultes-relais, par poste à temps plein et par an",
            &by,
        )?;
        for (from, annual_cents) in [("2026-01", 2_281_061), ("2026-07", 2_327_000)] {
            db::rates::add_value(
                conn,
                aid_rate,
                month(from)?,
                Money::from_cents(annual_cents),
                &by,
            )?;
        }
        let landlord_c = funder(conn, "Partenord Habitat", "social_landlord")?;
        let shared_posts = [
            (
                "Médiateur mutualisé – Roubaix Nord",
                "QP059038",
                305_000,
                [62, 48, 30],
            ),
            (
                "Médiatrice mutualisée – Tourcoing Bourgogne",
                "QP059044",
                296_000,
                [40, 55, 65],
            ),
        ];
        for (n, (title, territory, budget_cents, base_hours)) in
            shared_posts.into_iter().enumerate()
        {
            let post = NewPostRow {
                employer_id: EmployerId(grouping),
                title: title.to_owned(),
                territory: territory.to_owned(),
                activity: "housing",
                fte_hundredths: 100,
                start_month: month("2026-01")?,
                end_month: None,
                reference: Some(format!("MUT-{:03}", n + 1)),
                monthly_budget_cents: budget_cents,
            };
            let id = db::posts::insert(conn, &post, &now, &by)?;
            let schedule = db::keys::RateBook::of(conn, &[aid_rate.to_owned()])?.schedule(aid_rate);
            let mut keyed = Vec::new();
            for (funder, basis, rate_code, reference) in [
                (
                    state,
                    Basis::Rate {
                        fte_hundredths: 100,
                        schedule: schedule.clone(),
                    },
                    Some(aid_rate),
                    "AR-59-2026-031",
                ),
                (landlord_a, Basis::Activity, None, "LMH-MUT-2026-01"),
                (landlord_b, Basis::Activity, None, "VIL-MUT-2026-02"),
                (landlord_c, Basis::Activity, None, "PTN-MUT-2026-03"),
            ] {
                let commitment = db::commitments::insert(
                    conn,
                    &db::commitments::NewCommitment {
                        employer_id: employer,
                        post_id: id,
                        funder_id: FunderId(funder),
                        basis,
                        start: month("2026-01")?,
                        end: month("2027-12")?,
                        cap_cents: None,
                        reference,
                        rate_code,
                    },
                    &by,
                )?;
                keyed.push(commitment);
            }
            for number in 1..=10i64 {
                let m = month(&format!("2026-{number:02}"))?;
                // The hours drift a little from month to month, as timesheets do.
                let by_commitment = keyed[1..]
                    .iter()
                    .zip(base_hours)
                    .enumerate()
                    .map(|(k, (c, h))| (*c, (h + (number * (k as i64 + 1)) % 7) * 100))
                    .collect();
                db::keys::record_hours(
                    conn,
                    employer,
                    id,
                    m,
                    &db::keys::StoredHours {
                        other_hundredths: 1_200,
                        by_commitment,
                    },
                    &by,
                )?;
                db::costs::record(
                    conn,
                    &employer_lock,
                    &db::costs::NewCost {
                        post_id: id,
                        month: m,
                        category: CostCategory::Salary,
                        amount_cents: budget_cents,
                        reference: Some("paie"),
                    },
                    &by,
                )?;
                allocation_runs::run(conn, &employer_lock, RunScope::Post(id), m, &by)?;
            }
        }
        // The rest of the region: 57 more posts over the three employers, funded in six
        // typical ways, so that the overview and the at-risk list have something to say.
        let territories = [
            "QP059001", "QP059012", "QP059019", "QP062004", "QP062011", "QP059050",
        ];
        let activities = [
            "housing",
            "transport",
            "education",
            "public_space",
            "access_to_rights",
            "health",
        ];
        for i in 0..57usize {
            let owner = EmployerId([grouping, association, gip][i % 3]);
            let owner_lock = db::lock_employer(conn, owner)?;
            let budget_cents = 260_000 + (i as i64 % 8) * 9_000;
            let new_post = NewPostRow {
                employer_id: owner,
                title: format!("Médiateur·rice n° {}", i + 4),
                territory: territories[i % territories.len()].to_owned(),
                activity: activities[(i / 2) % activities.len()],
                fte_hundredths: if i % 5 == 0 { 80 } else { 100 },
                start_month: month("2026-01")?,
                end_month: None,
                reference: Some(format!("MED-{:03}", i + 4)),
                monthly_budget_cents: budget_cents,
            };
            let post = db::posts::insert(conn, &new_post, &now, &by)?;
            let commit = |conn: &mut DbConnection,
                          funder: Uuid,
                          basis: Basis,
                          end: &str,
                          cap_cents: Option<i64>,
                          reference: String| {
                db::commitments::insert(
                    conn,
                    &db::commitments::NewCommitment {
                        employer_id: owner,
                        post_id: post,
                        funder_id: FunderId(funder),
                        basis,
                        start: month("2026-01")?,
                        end: month(end)?,
                        cap_cents,
                        reference: &reference,
                        rate_code: None,
                    },
                    &by,
                )
            };
            let aid = Basis::Fixed {
                monthly_cents: 147_833,
            };
            match i % 6 {
                // The State's aid for the budget year, landlords for the rest over years.
                0 => {
                    commit(
                        conn,
                        state,
                        aid,
                        "2026-12",
                        None,
                        format!("AR-59-2026-{i:03}"),
                    )?;
                    commit(
                        conn,
                        landlord_a,
                        share(600_000),
                        "2028-12",
                        None,
                        format!("LMH-{i:03}"),
                    )?;
                    commit(
                        conn,
                        landlord_b,
                        share(400_000),
                        "2028-12",
                        None,
                        format!("VIL-{i:03}"),
                    )?;
                }
                // A transport operator whose cap runs out in 2027.
                1 => {
                    commit(
                        conn,
                        state,
                        aid,
                        "2026-12",
                        None,
                        format!("AR-59-2026-{i:03}"),
                    )?;
                    commit(
                        conn,
                        transport,
                        share(1_000_000),
                        "2028-12",
                        Some(3_000_000),
                        format!("ILV-{i:03}"),
                    )?;
                }
                // A landlord's convention that ends in February: amber, then a gap.
                2 => {
                    commit(
                        conn,
                        landlord_a,
                        share(1_000_000),
                        "2027-02",
                        None,
                        format!("LMH-{i:03}"),
                    )?;
                }
                // A city paying half of what the State leaves: never fully covered.
                3 => {
                    commit(
                        conn,
                        state,
                        aid,
                        "2026-12",
                        None,
                        format!("AR-59-2026-{i:03}"),
                    )?;
                    commit(
                        conn,
                        city,
                        share(500_000),
                        "2028-12",
                        None,
                        format!("RBX-{i:03}"),
                    )?;
                }
                // Transport and region by shares, for years.
                4 => {
                    commit(
                        conn,
                        transport,
                        share(700_000),
                        "2029-06",
                        None,
                        format!("ILV-{i:03}"),
                    )?;
                    commit(
                        conn,
                        region,
                        share(300_000),
                        "2029-06",
                        None,
                        format!("HDF-{i:03}"),
                    )?;
                }
                // The State, then the metropolis for the rest until mid-2028.
                _ => {
                    commit(
                        conn,
                        state,
                        aid,
                        "2026-12",
                        None,
                        format!("AR-59-2026-{i:03}"),
                    )?;
                    commit(
                        conn,
                        metropole,
                        share(1_000_000),
                        "2028-06",
                        None,
                        format!("MEL-{i:03}"),
                    )?;
                }
            }
            for number in 1..=10 {
                db::costs::record(
                    conn,
                    &owner_lock,
                    &db::costs::NewCost {
                        post_id: post,
                        month: month(&format!("2026-{number:02}"))?,
                        category: CostCategory::Salary,
                        amount_cents: budget_cents,
                        reference: Some("paie"),
                    },
                    &by,
                )?;
            }
        }
        for owner in [association, gip] {
            let owner_lock = db::lock_employer(conn, EmployerId(owner))?;
            let mut ids: Vec<PostId> = db::posts::of_employer(conn, owner_lock.employer())?
                .iter()
                .map(|p| p.id)
                .collect();
            ids.sort();
            for number in 1..=10 {
                allocation_runs::run(
                    conn,
                    &owner_lock,
                    RunScope::Posts(&ids),
                    month(&format!("2026-{number:02}"))?,
                    &by,
                )?;
            }
        }
        let mut generated: Vec<PostId> = db::posts::of_employer(conn, employer)?
            .iter()
            .map(|p| p.id)
            .filter(|id| !post_ids.contains(&id.uuid()))
            .collect();
        generated.sort();
        for number in 1..=10 {
            allocation_runs::run(
                conn,
                &employer_lock,
                RunScope::Posts(&generated),
                month(&format!("2026-{number:02}"))?,
                &by,
            )?;
        }

        // Calls for January to June: the State pays part of its call, landlord A overpays.
        let issue = |conn: &mut DbConnection, funder: Uuid| {
            db::calls::issue(
                conn,
                &employer_lock,
                &db::calls::NewCall {
                    funder_id: FunderId(funder),
                    from: month("2026-01")?,
                    to: month("2026-06")?,
                    issued_on: date("2026-07-03")?,
                    due_on: date("2026-08-31")?,
                },
                &by,
            )
        };
        let state_call = issue(conn, state)?;
        let landlord_call = issue(conn, landlord_a)?;
        issue(conn, city)?;
        let amount_of =
            |conn: &mut DbConnection, id: CallId| db::calls::find(conn, id).map(|c| c.amount_cents);
        // The State pays 40 % of its call; the landlord pays 1,500.00 more than its call.
        let state_amount = amount_of(conn, state_call)?;
        db::calls::receive(
            conn,
            &employer_lock,
            &db::calls::NewPayment {
                funder_id: FunderId(state),
                amount_cents: state_amount * 2 / 5,
                received_on: date("2026-09-10")?,
                reference: "VIR-PREF-2026-0912",
                named: None,
            },
            &by,
        )?;
        let landlord_amount = amount_of(conn, landlord_call)?;
        db::calls::receive(
            conn,
            &employer_lock,
            &db::calls::NewPayment {
                funder_id: FunderId(landlord_a),
                amount_cents: landlord_amount + 150_000,
                received_on: date("2026-09-15")?,
                reference: "VIR-LMH-88213",
                named: None,
            },
            &by,
        )?;
        Ok(DemoIds {
            employer_id: grouping,
            funder_id: landlord_a,
            post_id: first_post,
        })
    })
}

/// The `export PORTAGE_TOKEN_<ROLE>=…` lines printed by `serve --demo`, valid for a day.
pub fn token_lines(ids: &DemoIds, keys: &TokenKeys) -> anyhow::Result<Vec<String>> {
    let now = now_seconds();
    let claims = |role: &str, employer: Option<Uuid>, funder: Option<Uuid>| Claims {
        sub: format!("demo-{role}"),
        role: role.to_owned(),
        employer_id: employer.map(|id| id.to_string()),
        funder_id: funder.map(|id| id.to_string()),
        exp: now + 86_400,
        iat: Some(now),
        nbf: None,
    };
    Ok(vec![
        format!(
            "# portage-ledger demo: employer {} , funder {} , post {}",
            ids.employer_id, ids.funder_id, ids.post_id
        ),
        format!("export PORTAGE_EMPLOYER_ID={}", ids.employer_id),
        format!("export PORTAGE_FUNDER_ID={}", ids.funder_id),
        format!("export PORTAGE_POST_ID={}", ids.post_id),
        format!(
            "export PORTAGE_TOKEN_ADMIN={}",
            keys.sign(&claims("admin", None, None))?
        ),
        format!(
            "export PORTAGE_TOKEN_MISSION={}",
            keys.sign(&claims("mission", None, None))?
        ),
        format!(
            "export PORTAGE_TOKEN_EMPLOYER={}",
            keys.sign(&claims("employer", Some(ids.employer_id), None))?
        ),
        format!(
            "export PORTAGE_TOKEN_FUNDER={}",
            keys.sign(&claims("funder", None, Some(ids.funder_id)))?
        ),
    ])
}
