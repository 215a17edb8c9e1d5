//! Operations: liveness, Prometheus metrics, the OpenAPI document, and the middleware that
//! logs and counts every request.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;
use tracing::Instrument;

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BUCKETS_SECONDS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    bucket_counts: [u64; LATENCY_BUCKETS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

/// Request counters and latency histograms, by route.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let histogram = latency.entry(route.to_owned()).or_default();
            histogram.count += 1;
            histogram.sum_seconds += seconds;
            for (bound, count) in LATENCY_BUCKETS_SECONDS
                .iter()
                .zip(&mut histogram.bucket_counts)
            {
                if seconds <= *bound {
                    *count += 1;
                }
            }
        }
    }

    /// The Prometheus text exposition of everything counted so far.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP portage_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE portage_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((method, route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "portage_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP portage_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE portage_http_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for (route, h) in latency.iter() {
                for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(&h.bucket_counts) {
                    let _ = writeln!(
                        out,
                        "portage_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "portage_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "portage_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum_seconds
                );
                let _ = writeln!(
                    out,
                    "portage_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        out
    }
}

/// A request's id: the client's `X-Request-Id` when it is a plain token of at most 64
/// characters, else one made here. Logged, answered in `X-Request-Id`, and stored with what the
/// request records.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn of(req: &ServiceRequest) -> RequestId {
        let given = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                (1..=64).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            });
        RequestId(given.map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned))
    }
}

/// The header a request's id travels in, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Logs and counts each request under its route pattern (never the raw path, whose ids would
/// make the metrics unbounded).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let request_id = RequestId::of(&req);
    let span = tracing::info_span!(
        "request",
        %method,
        %route,
        request_id = %request_id.0,
        caller = tracing::field::Empty
    );
    let header_value = HeaderValue::from_str(&request_id.0).ok();
    req.extensions_mut().insert(request_id);
    // Instrumented, not entered: a guard held across the await would leave the span entered
    // on the worker thread while other requests run there, and every later request's span
    // would nest inside it (log lines growing without bound, spans never freed).
    let mut response = next.call(req).instrument(span.clone()).await;
    if let (Ok(response), Some(value)) = (&mut response, header_value) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let elapsed = started.elapsed();
    let status = match &response {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    if let Some(metrics) = metrics {
        metrics.record(&method, &route, status, elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1_000.0,
            "request"
        );
    });
    response
}

/// The answer of `GET /healthz`.
#[derive(Debug, serde::Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
}

impl Health {
    fn degraded(database: &'static str) -> Health {
        Health {
            status: "degraded",
            database,
        }
    }
}

/// `GET /healthz`: the process answers, and whether the database answers and accepts a write
/// (a write it rolls back): a database that answers but cannot write is not healthy.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let database = state
        .with_connection(|conn| Ok(crate::db::ping(conn)?))
        .await;
    if let Err(error) = database {
        tracing::warn!(%error, "health check: the database does not answer");
        return HttpResponse::ServiceUnavailable().json(Health::degraded("unavailable"));
    }
    let writable = state
        .with_write_connection(|conn| Ok(crate::db::can_write(conn)?))
        .await;
    match writable {
        Ok(()) => HttpResponse::Ok().json(Health {
            status: "ok",
            database: "ok",
        }),
        Err(error) => {
            tracing::warn!(%error, "health check: the database cannot be written");
            HttpResponse::ServiceUnavailable().json(Health::degraded("read_only"))
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// `GET /openapi.json`: the OpenAPI document of `openapi/openapi.yaml`.
pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.openapi.as_ref())
}

/// Answers routes that do not exist.
pub async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}

/// Answers known routes called with a method they do not take, naming in `Allow` the methods
/// they do take (RFC 9110), read from the route table.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let pattern = req.match_pattern();
    let allowed: Vec<&str> = super::ROUTES
        .iter()
        .filter(|(_, path)| pattern.as_deref() == Some(*path))
        .map(|(method, _)| *method)
        .collect();
    let mut response = ApiError::MethodNotAllowed.error_response();
    if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::observe;
    use actix_web::{middleware::from_fn, test, web, App, HttpResponse};
    use std::sync::{Arc, Mutex};

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn yielding_handler() -> HttpResponse {
        // A handler that suspends, as every database call does, before it logs.
        actix_rt::task::yield_now().await;
        tracing::info!("inside the handler");
        HttpResponse::Ok().finish()
    }

    #[actix_web::test]
    async fn each_request_logs_under_its_own_span_only() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let app = test::init_service(
            App::new()
                .wrap(from_fn(observe))
                .route("/x", web::get().to(yielding_handler)),
        )
        .await;
        // Concurrent on one thread, as on an actix worker: each suspends while others run.
        let requests = (0..3)
            .map(|_| test::call_service(&app, test::TestRequest::get().uri("/x").to_request()));
        for response in futures_util::future::join_all(requests).await {
            assert!(response.status().is_success());
        }
        let text = String::from_utf8(captured.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        for line in lines {
            assert_eq!(line.matches("request{").count(), 1, "{line}");
        }
    }
}
