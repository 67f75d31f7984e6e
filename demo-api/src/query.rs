//! Query strings and bodies, checked. Numbers arrive as text so that a bad one gets a message
//! naming it; every failure is a 4xx with a JSON body, and nothing is cached for it.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::text::fold;

/// The longest free text accepted (names, titles, venues).
pub const MAX_TEXT: usize = 200;

/// `?location_name=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocationQuery {
    /// A Brazilian city, e.g. `Recife` (case and accents ignored), 1 to 200 characters.
    #[param(value_type = String, example = "Recife")]
    pub location_name: Option<String>,
}

/// `?limit=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// How many events, 1 to 100. Default 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// `?skip=&limit=&city=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Events to skip, 0 to 1000000. Default 0.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000000)]
    pub skip: Option<String>,
    /// Page size, 1 to 100. Default 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Only events in this city (case and accents ignored).
    #[param(value_type = Option<String>)]
    pub city: Option<String>,
}

pub fn location_key(query: &LocationQuery) -> Result<String, ApiError> {
    let name = query.location_name.as_deref().unwrap_or("").trim();
    if name.is_empty() {
        return Err(ApiError::BadRequest(
            "location_name is required, e.g. ?location_name=Recife".into(),
        ));
    }
    if name.chars().count() > MAX_TEXT {
        return Err(ApiError::BadRequest(format!(
            "location_name must be at most {MAX_TEXT} characters"
        )));
    }
    Ok(fold(name))
}

pub fn bounded(
    name: &str,
    raw: Option<&str>,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.trim().parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "{name} must be an integer from {min} to {max}, got {:?}",
            truncate(raw)
        ))),
    }
}

pub fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A text field of `min` to `max` characters (trimmed), when given.
pub fn check_text(
    field: &str,
    value: Option<&str>,
    min: usize,
    max: usize,
) -> Result<(), ApiError> {
    let Some(value) = value else {
        return Ok(());
    };
    let len = value.trim().chars().count();
    if len < min || len > max {
        return Err(ApiError::Unprocessable(format!(
            "{field} must be {min} to {max} characters, got {len}"
        )));
    }
    Ok(())
}
