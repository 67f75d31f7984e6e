// `return` and `?` keep their meaning; error conversion through `From` still works.
use cached_json::cached_json;

#[derive(Debug)]
pub struct AppError(String);

impl From<std::num::ParseIntError> for AppError {
    fn from(err: std::num::ParseIntError) -> Self {
        AppError(err.to_string())
    }
}

#[cached_json("parse", ttl = 60)]
async fn parse(text: &str) -> Result<i64, AppError> {
    if text.is_empty() {
        return Err(AppError("empty".into()));
    }
    let n: i64 = text.parse()?;
    if n < 0 {
        return Ok(0);
    }
    Ok(n)
}

fn main() {
    cached_json::Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        assert_eq!(parse("42").await.unwrap(), 42);
        assert_eq!(parse("-5").await.unwrap(), 0);
        assert!(parse("").await.is_err());
        assert!(parse("x").await.is_err());
    });
}
