//! `/app/`: the web page, a client of the public API only, embedded in the binary (no CDN,
//! works offline) and served under a strict Content-Security-Policy (no inline script, nothing
//! but this origin).

use actix_web::http::header;
use actix_web::HttpResponse;

const INDEX: &str = include_str!("../web/index.html");
const SCRIPT: &str = include_str!("../web/app.js");
const STYLE: &str = include_str!("../web/app.css");
/// Chart.js, pinned and committed by `tools/fetch_chartjs.sh` (its version and licence beside it).
const CHART_LIBRARY: &str = include_str!("../web/vendor/chart.umd.min.js");

/// The policy every file of the page is served with.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn file(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `GET /app/`: the page.
pub async fn index() -> HttpResponse {
    file("text/html; charset=utf-8", INDEX)
}

/// `GET /app/app.js`: its script.
pub async fn script() -> HttpResponse {
    file("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /app/app.css`: its style.
pub async fn style() -> HttpResponse {
    file("text/css; charset=utf-8", STYLE)
}

/// `GET /app/vendor/chart.umd.min.js`: the charting library the page draws with.
pub async fn chart_library() -> HttpResponse {
    file("text/javascript; charset=utf-8", CHART_LIBRARY)
}
