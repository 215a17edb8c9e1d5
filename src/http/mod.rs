//! The HTTP layer: one module per resource, each parsing the request, calling the domain and
//! the database, and shaping the response.

pub mod activity;
pub mod allocations;
pub mod calls;
pub mod commitments;
pub mod continuity;
pub mod costs;
pub mod employers;
pub mod events;
pub mod exports;
pub mod extract;
pub mod funders;
pub mod idempotency;
pub mod imports;
pub mod ledger;
pub mod ops;
pub mod page;
pub mod payments;
pub mod periods;
pub mod posts;
pub mod rates;
pub mod reports;
pub mod solvency;
pub mod statement;
pub mod text;
pub mod views;
pub mod webhooks;

use actix_web::http::Method;
use actix_web::web;

/// Declares the routes once: the same table registers them with actix and lists them in
/// [`ROUTES`], which the test suite holds against `openapi/openapi.yaml`.
macro_rules! routes {
    ($($path:literal => { $($method:ident : $handler:path),+ $(,)? }),+ $(,)?) => {
        /// Every route the server serves, as (method, path) in OpenAPI's path syntax.
        pub const ROUTES: &[(&str, &str)] = &[$($((stringify!($method), $path)),+),+];

        /// Registers every route.
        pub fn routes(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $(.route(web::method(Method::$method).to($handler)))+
                        .default_service(web::to(ops::method_not_allowed)),
                );
            )+
        }
    };
}

routes! {
    "/healthz" => { GET: ops::healthz },
    "/metrics" => { GET: ops::metrics },
    "/openapi.json" => { GET: ops::openapi },
    "/app/" => { GET: page::index },
    "/app/app.js" => { GET: page::script },
    "/app/app.css" => { GET: page::style },
    "/app/vendor/chart.umd.min.js" => { GET: page::chart_library },
    "/v1/employers" => { GET: employers::list, POST: employers::create },
    "/v1/employers/{id}" => { GET: employers::get, PATCH: employers::update },
    "/v1/funders" => { GET: funders::list, POST: funders::create },
    "/v1/funders/{id}" => { GET: funders::get },
    "/v1/funders/{id}/statement" => { GET: statement::get },
    "/v1/posts" => { GET: posts::list, POST: posts::create },
    "/v1/posts/{id}" => { GET: posts::get, PATCH: posts::update },
    "/v1/posts/{id}/budget" => { PUT: posts::set_budget },
    "/v1/posts/{id}/activity" => { GET: activity::list },
    "/v1/posts/{id}/activity/{month}" => { PUT: activity::put },
    "/v1/rates" => { GET: rates::list, POST: rates::create },
    "/v1/rates/{code}" => { GET: rates::get },
    "/v1/rates/{code}/values" => { POST: rates::add_value },
    "/v1/posts/{id}/costs" => { GET: costs::list, POST: costs::create },
    "/v1/costs/{id}" => { GET: costs::get },
    "/v1/costs/{id}/reverse" => { POST: costs::reverse },
    "/v1/commitments" => { GET: commitments::list, POST: commitments::create },
    "/v1/commitments/{id}" => { GET: commitments::get },
    "/v1/commitments/{id}/terminate" => { POST: commitments::terminate },
    "/v1/allocations/run" => { POST: allocations::run },
    "/v1/posts/{id}/allocations" => { GET: allocations::list },
    "/v1/posts/{id}/continuity" => { GET: continuity::get },
    "/v1/posts/{id}/solvency" => { GET: solvency::get },
    "/v1/calls" => { GET: calls::list, POST: calls::create },
    "/v1/calls/{id}" => { GET: calls::get },
    "/v1/calls/{id}/cancel" => { POST: calls::cancel },
    "/v1/calls/{id}/document" => { GET: calls::document },
    "/v1/calls/{id}/credit-note" => { GET: calls::credit_note },
    "/v1/payments" => { GET: payments::list, POST: payments::create },
    "/v1/payments/{id}" => { GET: payments::get },
    "/v1/periods/close" => { POST: periods::close },
    "/v1/periods" => { GET: periods::list },
    "/v1/reports/overview" => { GET: reports::overview },
    "/v1/reports/at-risk" => { GET: reports::at_risk },
    "/v1/ledger/entries" => { GET: ledger::entries },
    "/v1/ledger/balances" => { GET: ledger::balances },
    "/v1/exports/fec" => { GET: exports::fec },
    "/v1/exports/journal" => { GET: exports::journal },
    "/v1/exports/beancount" => { GET: exports::beancount },
    "/v1/events" => { GET: events::list },
    "/v1/webhooks" => { GET: webhooks::list, POST: webhooks::create },
    "/v1/webhooks/{id}" => { GET: webhooks::get, PATCH: webhooks::update, DELETE: webhooks::delete },
    "/v1/webhooks/{id}/rotate-secret" => { POST: webhooks::rotate_secret },
    "/v1/webhooks/{id}/test" => { POST: webhooks::test },
    "/v1/webhooks/{id}/deliveries" => { GET: webhooks::deliveries },
    "/v1/webhooks/{id}/deliveries/{delivery_id}/retry" => { POST: webhooks::retry },
    "/v1/imports/costs" => { POST: imports::costs },
    "/v1/imports/posts" => { POST: imports::posts },
    "/v1/imports/commitments" => { POST: imports::commitments },
    "/v1/imports/activity" => { POST: imports::activity },
    "/v1/imports" => { GET: imports::list },
    "/v1/imports/{id}" => { GET: imports::get },
    "/v1/imports/{id}/reverse" => { POST: imports::reverse },
}
