//! The control center's static files, embedded in the binary: no CDN, nothing fetched at run
//! time. htmx 2.0.11 (npm `htmx.org`, BSD-0, sha256 d6fdc75f…f717), the stylesheet and
//! `logs.js` (the logs page's live refresh: the CSP allows scripts from files only).

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes).
pub const ASSETS: [(&str, &str, &[u8]); 3] = [
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/htmx.min.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
    (
        "logs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/logs.js"),
    ),
];

pub async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
