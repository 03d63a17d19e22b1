//! Prometheus metrics, written in the text exposition format 0.0.4 without an
//! external crate: HTTP requests by method, route template and status, their
//! latency by method and route template, and gauges set from outside.
//!
//! [`track`] records every request of the app it wraps; [`server`] answers
//! `GET /metrics` on a listener of its own, so the metrics need not be exposed
//! on the API's address.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{App, HttpResponse, HttpServer, web};

/// Upper bounds (inclusive, in seconds) of the latency histogram's buckets;
/// `+Inf` follows.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const REQUESTS: &str = "congvan_http_requests_total";
const REQUESTS_HELP: &str = "HTTP requests answered, by method, route template and status code.";
const DURATION: &str = "congvan_http_request_duration_seconds";
const DURATION_HELP: &str = "Time from receiving an HTTP request to having its response head, by method and route template.";

/// The route label of requests that matched no route, so unknown URLs add
/// one series rather than one per URL.
pub const UNMATCHED: &str = "unmatched";

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process's metrics; clones share them.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Inner>);

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// (method, route, status) -> count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) -> latencies.
    durations: BTreeMap<(String, String), Histogram>,
    /// name -> (help, value).
    gauges: BTreeMap<&'static str, (&'static str, f64)>,
}

#[derive(Default)]
struct Histogram {
    /// Observations per bucket, not cumulative; the last one is `+Inf`.
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(BUCKETS.len());
        self.buckets[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Counters stay meaningful after a panic elsewhere: keep counting.
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one answered request and its latency.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut state = self.state();
        *state
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        state
            .durations
            .entry((method.to_owned(), route.to_owned()))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the gauge `name` (a valid Prometheus metric name such as
    /// `congvan_log_head_position`) to `value`; `help` is its description.
    pub fn set_gauge(&self, name: &'static str, help: &'static str, value: f64) {
        debug_assert!(is_metric_name(name), "invalid metric name {name:?}");
        self.state().gauges.insert(name, (help, value));
    }

    /// All metrics in the Prometheus text exposition format 0.0.4, families
    /// sorted by name and series by labels, so the output is stable.
    pub fn render(&self) -> String {
        let state = self.state();
        // name -> text of the family, for the sorting.
        let mut families: BTreeMap<&str, String> = BTreeMap::new();

        let mut text = header(REQUESTS, REQUESTS_HELP, "counter");
        for ((method, route, status), count) in &state.requests {
            let _ = writeln!(
                text,
                "{REQUESTS}{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape_label(method),
                escape_label(route),
            );
        }
        families.insert(REQUESTS, text);

        let mut text = header(DURATION, DURATION_HELP, "histogram");
        let bounds: Vec<String> = BUCKETS
            .iter()
            .map(|&le| float(le))
            .chain([float(f64::INFINITY)])
            .collect();
        for ((method, route), histogram) in &state.durations {
            let labels = format!(
                "method=\"{}\",route=\"{}\"",
                escape_label(method),
                escape_label(route)
            );
            let mut cumulative = 0;
            for (le, observed) in bounds.iter().zip(&histogram.buckets) {
                cumulative += observed;
                let _ = writeln!(
                    text,
                    "{DURATION}_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(text, "{DURATION}_sum{{{labels}}} {}", float(histogram.sum));
            let _ = writeln!(text, "{DURATION}_count{{{labels}}} {}", histogram.count);
        }
        families.insert(DURATION, text);

        for (&name, &(help, value)) in &state.gauges {
            let mut text = header(name, help, "gauge");
            let _ = writeln!(text, "{name} {}", float(value));
            families.insert(name, text);
        }

        families.into_values().collect()
    }
}

fn header(name: &str, help: &str, kind: &str) -> String {
    format!(
        "# HELP {name} {}\n# TYPE {name} {kind}\n",
        escape_help(help)
    )
}

/// A sample value or `le` bound as Prometheus parses it.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        // Rust prints the shortest representation that reads back the same,
        // without an exponent, e.g. `0.0005`, `1`, `2.5`.
        format!("{v}")
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a `# HELP` text: backslash and line feed.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The method label: the standard methods as they are, anything else as
/// `OTHER`, so made-up methods cannot grow the label set.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Middleware recording every request in the app's `web::Data<Metrics>`
/// (`actix_web::middleware::from_fn(metrics::track)`): method, route template
/// (`req.match_pattern()`, or [`UNMATCHED`]), status code (also of an error
/// the inner service returned) and the time until the response head. Without
/// `web::Data<Metrics>` in the app it only passes the request on.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(metrics) = req.app_data::<web::Data<Metrics>>().cloned() else {
        return next.call(req).await;
    };
    let method = method_label(req.method());
    let route = req.match_pattern();
    let route = route.as_deref().unwrap_or(UNMATCHED).to_owned();
    let started = Instant::now();

    let result = next.call(req).await;

    let status = match &result {
        Ok(res) => res.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    metrics.record(method, &route, status.as_u16(), started.elapsed());
    result
}

async fn metrics_endpoint(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.render())
}

/// A separate HTTP server (one worker) on `listener` answering `GET /metrics`
/// with [`Metrics::render`], and 404 to everything else. The caller runs (or
/// spawns) the returned server and stops it through its handle.
pub fn server(listener: TcpListener, metrics: Metrics) -> std::io::Result<Server> {
    let metrics = web::Data::new(metrics);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .service(
                web::resource("/metrics")
                    .route(web::get().to(metrics_endpoint))
                    .default_service(web::to(HttpResponse::NotFound)),
            )
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::middleware::from_fn;
    use actix_web::{HttpResponse, test as actix_test};

    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    fn assert_line(text: &str, line: &str) {
        assert!(
            lines(text).contains(&line),
            "missing line\n  {line}\nin\n{text}"
        );
    }

    #[test]
    fn counters_and_histogram_render_exactly() {
        let metrics = Metrics::new();
        let elapsed = [
            Duration::from_nanos(3_906_250), // 2^-8 s
            Duration::from_millis(5),        // on the 0.005 bound: counted in it
            Duration::from_millis(7),
            Duration::from_millis(500),
            Duration::from_secs(20), // beyond the last bound
        ];
        for d in elapsed {
            metrics.record("GET", "/api/v1/documents/{id}", 200, d);
        }
        metrics.record("POST", "/api/v1/documents", 201, Duration::from_millis(1));
        metrics.record(
            "GET",
            "/api/v1/documents/{id}",
            404,
            Duration::from_millis(2),
        );

        let text = metrics.render();
        let get = r#"method="GET",route="/api/v1/documents/{id}""#;
        assert_line(
            &text,
            r#"congvan_http_requests_total{method="GET",route="/api/v1/documents/{id}",status="200"} 5"#,
        );
        assert_line(
            &text,
            r#"congvan_http_requests_total{method="GET",route="/api/v1/documents/{id}",status="404"} 1"#,
        );
        assert_line(
            &text,
            r#"congvan_http_requests_total{method="POST",route="/api/v1/documents",status="201"} 1"#,
        );
        // Cumulative: 2ms, 2^-8 s and 5ms are <= 0.005.
        for (le, count) in [
            ("0.0005", 0),
            ("0.001", 0),
            ("0.0025", 1),
            ("0.005", 3),
            ("0.01", 4),
            ("0.5", 5),
            ("10", 5),
            ("+Inf", 6),
        ] {
            assert_line(
                &text,
                &format!(
                    "congvan_http_request_duration_seconds_bucket{{{get},le=\"{le}\"}} {count}"
                ),
            );
        }
        assert_line(
            &text,
            &format!("congvan_http_request_duration_seconds_count{{{get}}} 6"),
        );
        let sum = elapsed
            .iter()
            .chain([Duration::from_millis(2)].iter())
            .fold(0.0, |sum, d| sum + d.as_secs_f64());
        assert_line(
            &text,
            &format!("congvan_http_request_duration_seconds_sum{{{get}}} {sum}"),
        );
        assert_line(
            &text,
            r#"congvan_http_request_duration_seconds_bucket{method="POST",route="/api/v1/documents",le="0.001"} 1"#,
        );
        assert_line(
            &text,
            r#"congvan_http_request_duration_seconds_sum{method="POST",route="/api/v1/documents"} 0.001"#,
        );

        // 14 bounds + Inf, sum, count per (method, route).
        let samples = lines(&text)
            .into_iter()
            .filter(|l| l.starts_with(DURATION))
            .count();
        assert_eq!(samples, 2 * (BUCKETS.len() + 3));
        assert_line(
            &text,
            "# TYPE congvan_http_request_duration_seconds histogram",
        );
        assert_line(&text, "# TYPE congvan_http_requests_total counter");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn families_are_sorted_and_gauges_render() {
        let metrics = Metrics::new();
        metrics.set_gauge(
            "congvan_projection_position",
            "Last event applied by the projections.",
            41.0,
        );
        metrics.set_gauge(
            "congvan_log_head_position",
            "Position of the newest event in the log.",
            40.0,
        );
        metrics.set_gauge(
            "congvan_log_head_position",
            "Position of the newest event in the log.",
            42.0,
        );
        metrics.record("GET", "/a", 200, Duration::from_millis(1));

        let text = metrics.render();
        assert_line(
            &text,
            "# HELP congvan_log_head_position Position of the newest event in the log.",
        );
        assert_line(&text, "# TYPE congvan_log_head_position gauge");
        assert_line(&text, "congvan_log_head_position 42");
        assert_line(&text, "congvan_projection_position 41");

        let types: Vec<&str> = lines(&text)
            .into_iter()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            types,
            [
                "congvan_http_request_duration_seconds histogram",
                "congvan_http_requests_total counter",
                "congvan_log_head_position gauge",
                "congvan_projection_position gauge",
            ]
        );
        assert_eq!(text, metrics.render(), "output is stable");
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label("a\\b\"c\nd"), r#"a\\b\"c\nd"#);
        assert_eq!(escape_help("a\\b\"c\nd"), r#"a\\b"c\nd"#);

        let metrics = Metrics::new();
        metrics.record("GET", "/x\"y\\z\n", 500, Duration::ZERO);
        assert_line(
            &metrics.render(),
            r#"congvan_http_requests_total{method="GET",route="/x\"y\\z\n",status="500"} 1"#,
        );
    }

    #[test]
    fn floats_are_written_as_prometheus_reads_them() {
        assert_eq!(float(0.0005), "0.0005");
        assert_eq!(float(1.0), "1");
        assert_eq!(float(2.5), "2.5");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
    }

    async fn ok() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn forbid(
        _req: ServiceRequest,
        _next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
        Err::<ServiceResponse, _>(actix_web::error::ErrorForbidden("no"))
    }

    #[actix_web::test]
    async fn middleware_labels_by_route_template() {
        let metrics = Metrics::new();
        let app = actix_test::init_service(
            App::new()
                .app_data(web::Data::new(metrics.clone()))
                .wrap(from_fn(track))
                .route("/health", web::get().to(ok))
                .route("/items/{id}", web::get().to(ok))
                .service(
                    web::resource("/locked")
                        .wrap(from_fn(forbid))
                        .route(web::get().to(ok)),
                ),
        )
        .await;

        for (uri, status) in [
            ("/items/1", StatusCode::OK),
            ("/items/2", StatusCode::OK),
            ("/items/x%20y", StatusCode::OK),
            ("/health", StatusCode::OK),
            ("/nope", StatusCode::NOT_FOUND),
            ("/items/1/extra", StatusCode::NOT_FOUND),
        ] {
            let res = actix_test::call_service(
                &app,
                actix_test::TestRequest::get().uri(uri).to_request(),
            )
            .await;
            assert_eq!(res.status(), status, "{uri}");
        }
        // The inner service's error still counts, with the error's status.
        let err = actix_test::try_call_service(
            &app,
            actix_test::TestRequest::get().uri("/locked").to_request(),
        )
        .await
        .err()
        .expect("the inner middleware fails");
        assert_eq!(err.as_response_error().status_code(), StatusCode::FORBIDDEN);
        let res = actix_test::call_service(
            &app,
            actix_test::TestRequest::post().uri("/health").to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        let text = metrics.render();
        assert_line(
            &text,
            r#"congvan_http_requests_total{method="GET",route="/items/{id}",status="200"} 3"#,
        );
        assert_line(
            &text,
            r#"congvan_http_requests_total{method="GET",route="/health",status="200"} 1"#,
        );
        assert_line(
            &text,
            r#"congvan_http_requests_total{method="GET",route="unmatched",status="404"} 2"#,
        );
        assert_line(
            &text,
            r#"congvan_http_requests_total{method="GET",route="/locked",status="403"} 1"#,
        );
        assert_line(
            &text,
            r#"congvan_http_requests_total{method="POST",route="/health",status="404"} 1"#,
        );
        assert_line(
            &text,
            r#"congvan_http_request_duration_seconds_count{method="GET",route="/items/{id}"} 3"#,
        );
        assert!(!text.contains("/items/1"), "concrete paths leak:\n{text}");
        assert!(!text.contains("/nope"), "concrete paths leak:\n{text}");
    }

    #[actix_web::test]
    async fn middleware_without_metrics_passes_requests_on() {
        let app = actix_test::init_service(
            App::new()
                .wrap(from_fn(track))
                .route("/health", web::get().to(ok)),
        )
        .await;
        let res = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/health").to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[actix_web::test]
    async fn server_answers_metrics_only() {
        let metrics = Metrics::new();
        metrics.record("GET", "/health", 200, Duration::from_millis(1));
        metrics.set_gauge("congvan_log_head_position", "Newest event.", 7.0);

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let server = server(listener, metrics.clone()).expect("start the metrics server");
        let handle = server.handle();
        let running = actix_web::rt::spawn(server);

        let client = reqwest::Client::new();
        let res = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        assert_eq!(
            res.headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some(CONTENT_TYPE)
        );
        let body = res.text().await.expect("body");
        assert_eq!(body, metrics.render());
        assert_line(&body, "congvan_log_head_position 7");

        for (method, path) in [
            (reqwest::Method::GET, "/"),
            (reqwest::Method::GET, "/metrics/x"),
            (reqwest::Method::POST, "/metrics"),
        ] {
            let res = client
                .request(method, format!("http://{addr}{path}"))
                .send()
                .await
                .expect("request");
            assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND, "{path}");
        }

        drop(client); // closes its kept-alive connections, so the stop is quick
        handle.stop(true).await;
        running
            .await
            .expect("server task")
            .expect("server ran cleanly");
    }
}
