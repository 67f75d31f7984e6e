//! Requests no route matches: 405 with `Allow` when the path exists with other methods, else
//! 404, both with a JSON body. The OpenAPI document is the one list of routes it reads.

use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::error::ApiError;
use crate::query::truncate;

/// Anything no route matches: 405 with `Allow` when the path exists with other methods,
/// else 404.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    let path = truncate(request.path());
    match allowed_methods(request.path()) {
        Some(allow) => ApiError::MethodNotAllowed {
            message: format!("{} is not allowed on {path}; use {allow}", request.method()),
            allow,
        },
        None => ApiError::NotFound(format!("no route for {} {path}", request.method())),
    }
    .error_response()
}

/// The methods the API document gives `path` (its `{id}` segments match any segment), e.g.
/// `"GET, POST"`. The OpenAPI document is the one list of routes, so it answers this too.
fn allowed_methods(path: &str) -> Option<String> {
    static ROUTES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        use utoipa::OpenApi;
        crate::openapi::ApiDoc::openapi()
            .paths
            .paths
            .into_iter()
            .map(|(pattern, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let allow: Vec<&str> = methods.iter().filter(|m| m.1).map(|m| m.0).collect();
                (pattern, allow.join(", "))
            })
            .collect()
    });
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    routes
        .iter()
        .find(|(pattern, _)| {
            let pattern: Vec<&str> = pattern.split('/').collect();
            pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
        })
        .map(|(_, allow)| allow.clone())
}
