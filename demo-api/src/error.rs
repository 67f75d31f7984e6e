//! Errors as clients see them: a status and a JSON body `{"error": "...", "status": N}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What was wrong, for a person.
    #[schema(example = "limit must be an integer from 1 to 100, got \"abc\"")]
    pub error: String,
    /// The HTTP status, repeated.
    #[schema(example = 400)]
    pub status: u16,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: bad query string, broken JSON.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing at that address, or no such place/event.
    #[error("{0}")]
    NotFound(String),
    /// Well-formed but invalid values (too long, empty).
    #[error("{0}")]
    Unprocessable(String),
    /// The path exists, the method does not: `allow` lists the methods it has.
    #[error("{message}")]
    MethodNotAllowed {
        /// What was wrong.
        message: String,
        /// For the `Allow` header, e.g. `GET, POST`.
        allow: String,
    },
    /// A route that needs credentials, asked without them (or with wrong ones).
    #[error("{0}")]
    Unauthorized(String),
    /// The cache's store could not carry out an operation asked of it (an admin purge).
    #[error("{0}")]
    CacheUnavailable(String),
    /// The body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The database failed; the details are logged, not sent.
    #[error("the database is unavailable, try again later")]
    Database(#[from] sqlx::Error),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::CacheUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Database(err) = self {
            tracing::error!(error = %err, "database error");
        }
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        if let ApiError::Unauthorized(_) = self {
            response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(ErrorBody {
            error: self.to_string(),
            status: status.as_u16(),
        })
    }
}
