//! `DELETE /api/v1/cache/{prefix}`: purges every cached value of one of the demo's cached
//! functions, for every instance sharing the Redis, in O(1) (`Cache::invalidate_prefix`).
//! It needs `Authorization: Bearer <DEMO_ADMIN_TOKEN>`; without `DEMO_ADMIN_TOKEN` the route is
//! off (404), and a request without the token gets 401 and purges nothing.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{delete, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::query::truncate;
use crate::state::AppState;

/// The prefixes of the demo's cached functions: the only ones the route purges.
pub const PREFIXES: [&str; 4] = ["local-info", "forecast", "top-soon", "top-viewed"];

/// What a purge did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Purged {
    /// The prefix whose values were invalidated.
    pub purged: String,
}

/// Purge every cached value of one prefix (admin: `Authorization: Bearer <DEMO_ADMIN_TOKEN>`;
/// off unless `DEMO_ADMIN_TOKEN` is set).
#[utoipa::path(
    delete, path = "/api/v1/cache/{prefix}", tag = "service",
    params(("prefix" = String, Path, description = "local-info, forecast, top-soon or top-viewed")),
    responses(
        (status = 200, body = Purged, description = "Every value of the prefix invalidated"),
        (status = 401, body = ErrorBody, description = "No or wrong bearer token: nothing purged"),
        (status = 404, body = ErrorBody, description = "Unknown prefix, or the route is off"),
        (status = 503, body = ErrorBody, description = "The cache's store did not answer"),
    )
)]
#[delete("/api/v1/cache/{prefix}")]
pub async fn purge_prefix(
    state: web::Data<AppState>,
    request: HttpRequest,
    prefix: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = state.admin_token.as_deref() else {
        return Err(ApiError::NotFound(
            "the admin route is off: set DEMO_ADMIN_TOKEN to turn it on".into(),
        ));
    };
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if !presented.is_some_and(|presented| same(presented.trim(), token)) {
        return Err(ApiError::Unauthorized(
            "DELETE /api/v1/cache/{prefix} needs `Authorization: Bearer <DEMO_ADMIN_TOKEN>`".into(),
        ));
    }
    let prefix = prefix.into_inner();
    if !PREFIXES.contains(&prefix.as_str()) {
        return Err(ApiError::NotFound(format!(
            "no cached function has the prefix {:?}; the prefixes are {}",
            truncate(&prefix),
            PREFIXES.join(", ")
        )));
    }
    state
        .cache
        .invalidate_prefix(&prefix)
        .await
        .map_err(|err| {
            ApiError::CacheUnavailable(format!("the cache did not purge {prefix}: {err}"))
        })?;
    tracing::info!(prefix, "cache prefix purged");
    Ok(HttpResponse::Ok().json(Purged { purged: prefix }))
}

/// Compares a presented token with the configured one in time independent of where they
/// differ, so that timing does not reveal it.
fn same(presented: &str, token: &str) -> bool {
    let (a, b) = (presented.as_bytes(), token.as_bytes());
    let mut difference = a.len() ^ b.len();
    for (i, &byte) in b.iter().enumerate() {
        difference |= usize::from(byte ^ a.get(i).copied().unwrap_or(!byte));
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(same("s3cret", "s3cret"));
        assert!(!same("s3cre", "s3cret"));
        assert!(!same("s3cretx", "s3cret"));
        assert!(!same("S3cret", "s3cret"));
        assert!(!same("", "s3cret"));
    }
}
