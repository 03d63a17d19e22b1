//! `/docs`: the interactive API page (Swagger UI) over `/api/v1/openapi.json`.
//!
//! Everything the page needs is embedded in the binary, so it works offline:
//! the vendored Swagger UI bundle and stylesheet (`assets/swagger-ui/`, see its
//! README for the version and licence) and our own page and start-up script
//! (`assets/docs/`). The start-up code lives in `/docs/init.js` rather than in
//! the HTML so that the page's Content-Security-Policy allows no inline script.

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};

/// The page at `/docs`.
const PAGE: &str = include_str!("../../assets/docs/index.html");
/// Starts Swagger UI on the page.
const INIT_JS: &str = include_str!("../../assets/docs/init.js");
/// Swagger UI (vendored, Apache-2.0).
const BUNDLE_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
/// Swagger UI's stylesheet (vendored, Apache-2.0).
const CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

const HTML_UTF8: &str = "text/html; charset=utf-8";
const CSS_UTF8: &str = "text/css; charset=utf-8";
const JS_UTF8: &str = "text/javascript; charset=utf-8";

/// Scripts and styles from this origin only; Swagger UI injects `style`
/// attributes, hence `'unsafe-inline'` for styles (not for scripts).
const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";
const ASSET_CACHE: &str = "public, max-age=86400";

/// Registers `GET /docs`, `GET /docs/` (308 to `/docs`) and
/// `GET /docs/{file}` for the page's three assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/docs", web::get().to(page))
        .route("/docs/", web::get().to(slash))
        .route("/docs/{file}", web::get().to(asset));
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(HTML_UTF8)
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(PAGE)
}

async fn slash() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs"))
        .finish()
}

async fn asset(file: web::Path<String>) -> HttpResponse {
    let (content_type, body): (&str, &'static [u8]) = match file.as_str() {
        "swagger-ui-bundle.js" => (JS_UTF8, BUNDLE_JS),
        "swagger-ui.css" => (CSS_UTF8, CSS),
        "init.js" => (JS_UTF8, INIT_JS.as_bytes()),
        _ => {
            return HttpResponse::NotFound()
                .insert_header(ContentType::plaintext())
                .body("not found");
        }
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, ASSET_CACHE))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::http::header::HeaderMap;
    use actix_web::{App, test};

    use super::*;

    fn header(headers: &HeaderMap, name: header::HeaderName) -> &str {
        headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[actix_web::test]
    async fn page_references_the_embedded_assets_only() {
        let app = test::init_service(App::new().configure(configure)).await;

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/docs").to_request()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(res.headers(), header::CONTENT_TYPE), HTML_UTF8);
        assert_eq!(
            header(res.headers(), header::CONTENT_SECURITY_POLICY),
            PAGE_CSP
        );
        let body = test::read_body(res).await;
        let html = std::str::from_utf8(&body).expect("the page is UTF-8");
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains(r#"<meta charset="utf-8">"#));
        assert!(html.contains("<title>congvan API</title>"));
        for asset in [
            r#"href="/docs/swagger-ui.css""#,
            r#"src="/docs/swagger-ui-bundle.js""#,
            r#"src="/docs/init.js""#,
        ] {
            assert!(html.contains(asset), "page lacks {asset}");
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!INIT_JS.contains("http://") && !INIT_JS.contains("https://"));
        assert!(INIT_JS.contains(r#"url: "/api/v1/openapi.json""#));
    }

    #[actix_web::test]
    async fn assets_are_served_with_their_types_and_others_are_not() {
        let app = test::init_service(App::new().configure(configure)).await;

        for (file, content_type) in [
            ("swagger-ui-bundle.js", JS_UTF8),
            ("swagger-ui.css", CSS_UTF8),
            ("init.js", JS_UTF8),
        ] {
            let req = test::TestRequest::get()
                .uri(&format!("/docs/{file}"))
                .to_request();
            let res = test::call_service(&app, req).await;
            assert_eq!(res.status(), StatusCode::OK, "{file}");
            assert_eq!(header(res.headers(), header::CONTENT_TYPE), content_type);
            assert_eq!(header(res.headers(), header::CACHE_CONTROL), ASSET_CACHE);
            assert!(!test::read_body(res).await.is_empty(), "{file} is empty");
        }

        for uri in ["/docs/nope", "/docs/index.html", "/docs/swagger-ui.js"] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{uri}");
        }
    }

    #[actix_web::test]
    async fn trailing_slash_redirects_permanently() {
        let app = test::init_service(App::new().configure(configure)).await;
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/docs/").to_request()).await;
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(header(res.headers(), header::LOCATION), "/docs");
    }
}
