//! The model the attribute builds from what the user wrote, and what the expansion names,
//! checked without compiling a crate (trybuild, in the facade's `tests/ui`, checks the
//! generated code and the errors as a user sees them).

use quote::ToTokens;

use crate::attr::Attr;
use crate::item::MaybeItemFn;
use crate::valid::{self, DetachedArg, Mode, Model};

fn model(attr: &str, function: &str) -> syn::Result<Model> {
    let attr: Attr = syn::parse_str(attr)?;
    let function: MaybeItemFn = syn::parse_str(function)?;
    valid::validate(&attr, &function)
}

fn error(attr: &str, function: &str) -> String {
    match model(attr, function) {
        Ok(_) => panic!("`{attr}` on `{function}` was accepted"),
        Err(err) => err
            .into_iter()
            .map(|err| err.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn key_names(model: &Model) -> Vec<&str> {
    model
        .sorted_key_args()
        .iter()
        .map(|arg| arg.name.as_str())
        .collect()
}

#[test]
fn the_key_is_every_argument_but_self_and_the_skipped_ones_sorted_by_name() {
    let model = model(
        r#""users", ttl = 60, skip(pool)"#,
        "async fn find(&self, zeta: u32, pool: &Pool, r#type: &str, alpha: Vec<u8>) -> u32 { 1 }",
    )
    .unwrap();
    // Raw identifiers are keyed by their name, without `r#`.
    assert_eq!(key_names(&model), ["alpha", "type", "zeta"]);
    // As declared, for the companions' parameters.
    let declared: Vec<&str> = model.key_args.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(declared, ["zeta", "type", "alpha"]);
    assert_eq!(model.function_name, "find");
}

#[test]
fn how_the_output_is_cached_comes_from_the_type_unless_said() {
    let f = "async fn f(id: u32) -> Option<u32> { None }";
    assert!(model(r#""p", ttl = 1"#, f).unwrap().mode == Mode::FromType);
    assert!(model(r#""p", ttl = 1, cache_none"#, f).unwrap().mode == Mode::Value);
    assert!(model(r#""p", ttl = 1, returns = option"#, f).unwrap().mode == Mode::Option);
    let g = "async fn g(id: u32) -> ApiResult<u32> { Ok(1) }";
    assert!(model(r#""p", ttl = 1, returns = result"#, g).unwrap().mode == Mode::Result);
}

#[test]
fn options_reach_the_model_in_the_runtime_s_units() {
    let model = model(
        r#""rates", ttl = 60, version = 3, lock, lock_lease_ms = 900, wait_ms = 700, stale = 3600,
           timeout_ms = 800, hard_timeout_ms = 5000, refresh_ahead = 0.8, jitter = 10, l1_ttl = 5,
           crate = "my_platform::cache""#,
        "async fn rate(currency: String) -> Result<f64, String> { Ok(1.0) }",
    )
    .unwrap();
    assert_eq!(
        (model.prefix.value(), model.ttl, model.version),
        ("rates".into(), 60, Some(3))
    );
    assert!(model.lock);
    assert_eq!(model.lock_lease_ms, Some(900));
    assert_eq!(model.wait_ms, Some(700));
    assert_eq!(
        (model.stale, model.timeout_ms, model.hard_timeout_ms),
        (Some(3600), Some(800), Some(5000))
    );
    assert_eq!(
        model.refresh_ahead,
        Some(800),
        "a share of the TTL, in thousandths"
    );
    assert_eq!(
        (model.jitter, model.l1_ttl, model.no_l1),
        (Some(10), Some(5), false)
    );
    assert_eq!(
        model.krate.to_token_stream().to_string(),
        "my_platform :: cache"
    );
    let default = self::model(r#""p", ttl = 1, no_l1"#, "async fn f() -> u32 { 1 }").unwrap();
    assert_eq!(
        default.krate.to_token_stream().to_string(),
        ":: cached_json"
    );
    assert!(default.no_l1);
}

#[test]
fn a_body_that_runs_in_the_background_gets_copies_of_borrowed_arguments() {
    let model = model(
        r#""p", ttl = 60, refresh_ahead = 0.5"#,
        "async fn f(name: &str, mut ids: Vec<u32>, n: u8) -> u32 { 1 }",
    )
    .unwrap();
    let args = &model
        .detached
        .as_ref()
        .expect("refresh_ahead runs detached")
        .args;
    let kinds: Vec<String> = args
        .iter()
        .map(|arg| match arg {
            DetachedArg::Copied { ident, elem, .. } => {
                format!("copied {ident}: {}", elem.to_token_stream())
            }
            DetachedArg::Moved { ident, mutable } => format!("moved {ident} mut={mutable}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "copied name: str",
            "moved ids mut=true",
            "moved n mut=false"
        ]
    );
    // Without an option that runs in the background, the body runs inline.
    let inline = self::model(r#""p", ttl = 60"#, "async fn f(name: &str) -> u32 { 1 }").unwrap();
    assert!(inline.detached.is_none());
}

#[test]
fn an_unknown_option_is_told_every_option_the_parser_knows() {
    let message = error(r#""p", ttl = 1, tll = 2"#, "async fn f() -> u32 { 1 }");
    assert!(
        message.starts_with("unknown option `tll`; the options are "),
        "{message}"
    );
    // Every option the parser accepts is in the list, written with its value.
    for option in [
        "`ttl = SECONDS`",
        "`skip(arg, ...)`",
        "`version = N`",
        "`returns = value | result | option`",
        "`cache_none`",
        "`lock`",
        "`lock_lease_ms = MILLISECONDS`",
        "`wait_ms = MILLISECONDS`",
        "`stale = SECONDS`",
        "`jitter = SECONDS`",
        "`timeout_ms = MILLISECONDS`",
        "`hard_timeout_ms = MILLISECONDS`",
        "`refresh_ahead = SHARE`",
        "`no_l1`",
        "`l1_ttl = SECONDS`",
        "`cache_if = path::to::fn`",
        "`ttl_with = path::to::fn`",
        "`none_ttl = SECONDS`",
        "`crate = \"path\"`",
    ] {
        assert!(message.contains(option), "{option} missing from: {message}");
        let name = option.trim_matches('`').split([' ', '(']).next().unwrap();
        let attr = match name {
            "skip" => r#""p", ttl = 1, skip(a)"#.to_owned(),
            "ttl" => r#""p", ttl = 1"#.to_owned(),
            _ => format!(
                r#""p", ttl = 1, {}"#,
                option.trim_matches('`').replace("SECONDS", "1")
            ),
        };
        // ...and each one listed parses (its own rules aside).
        if let Err(err) = syn::parse_str::<Attr>(&attr) {
            assert!(
                !err.to_string().starts_with("unknown option"),
                "{attr}: {err}"
            );
        }
    }
}

#[test]
fn every_error_of_the_attribute_is_reported_at_once() {
    let message = error(
        r#""a:b", ttl = 0, ttl = 5, refresh_ahead = 2.0, hard_timeout_ms = 10, l1_ttl = 9"#,
        "async fn f() -> u32 { 1 }",
    );
    for expected in [
        "the cache prefix must not contain `:`",
        "`ttl` must be at least 1",
        "`ttl` is given twice",
        "`refresh_ahead` must be a share of the TTL between 0 and 1",
        "`hard_timeout_ms` needs `timeout_ms`",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} missing from:\n{message}"
        );
    }
}

#[test]
fn the_expansion_names_the_runtime_only_through_the_private_path() {
    let attr: Attr = syn::parse_str(r#""p", ttl = 1, crate = "cj""#).unwrap();
    let function: MaybeItemFn =
        syn::parse_str("async fn f(id: u32) -> Result<u32, String> { Ok(id) }").unwrap();
    let model = valid::validate(&attr, &function).unwrap();
    let expanded = crate::expand::expand(&model, function).to_string();
    assert!(!expanded.contains("cached_json_runtime"), "{expanded}");
    // Every path into the crate goes through `cj::__private`.
    let mut rest = expanded.as_str();
    while let Some(at) = rest.find("cj ::") {
        assert!(
            rest[at..].starts_with("cj :: __private ::"),
            "{}",
            &rest[at..at + 60]
        );
        rest = &rest[at + 4..];
    }
    // The function and its twins and companions.
    for item in [
        "fn f (",
        "fn f_refresh (",
        "fn f_json (",
        "fn f_key (",
        "fn f_invalidate (",
        "fn f_invalidate_all (",
    ] {
        assert!(expanded.contains(item), "{item} missing");
    }
}

#[test]
fn tags_may_only_use_key_arguments_and_are_kept_as_templates() {
    let f = "async fn f(seller_id: u64, r#type: &str, pool: &Pool) -> u32 { 1 }";
    let model = model(
        r#""p", ttl = 1, skip(pool), tags("catalog", "seller:{seller_id}", "kind:{r#type}", "{{x}}")"#,
        f,
    )
    .unwrap();
    assert_eq!(
        model.tags,
        ["catalog", "seller:{seller_id}", "kind:{type}", "{{x}}"]
    );
    let errors = error(
        r#""p", ttl = 1, skip(pool), tags("{pool}", "{nope}", "a{", "b}", "{}")"#,
        f,
    );
    for expected in [
        "tag `{pool}` uses `{pool}`, which is not a key argument: it is skipped",
        "tag `{nope}` uses `{nope}`, which is not a key argument: its key arguments: seller_id, type",
        "invalid tag: a `{` without its `}`",
        "invalid tag: a `}` without its `{`",
        "invalid tag: `{}` is not an argument name",
    ] {
        assert!(errors.contains(expected), "{expected:?} not in:\n{errors}");
    }
    let empty = error(r#""p", ttl = 1, skip(pool), tags()"#, f);
    assert!(empty.contains("needs at least one tag"), "{empty}");
}

#[test]
fn a_batch_knows_its_ids_its_output_and_what_each_run_copies() {
    let batch_model = model(
        r#""users", ttl = 60, batch, skip(db), none_ttl = 5"#,
        "async fn users(&self, db: &Db, lang: String, mut ids: Vec<u64>) \
         -> Result<HashMap<u64, User>, Error> { todo!() }",
    )
    .unwrap();
    let batch = batch_model.batch.as_ref().unwrap();
    assert_eq!(batch.ids, "ids");
    assert_eq!(batch.id_ty.to_token_stream().to_string(), "u64");
    assert!(!batch.slice && batch.mutable && batch.result && batch.stores_absent);
    let others: Vec<String> = batch.others.iter().map(|(i, _)| i.to_string()).collect();
    assert_eq!(others, ["db", "lang"]);
    // The ids are a key argument like any other: between the others by name.
    assert_eq!(key_names(&batch_model), ["ids", "lang"]);

    let slice = model(
        r#""users", ttl = 60, batch"#,
        "async fn users(ids: &[String]) -> HashMap<String, u8> { todo!() }",
    )
    .unwrap();
    let batch = slice.batch.as_ref().unwrap();
    assert_eq!(batch.id_ty.to_token_stream().to_string(), "String");
    assert!(batch.slice && !batch.result && !batch.stores_absent);
}

#[test]
fn a_batch_refuses_what_works_one_key_at_a_time_and_every_other_shape() {
    let errors = error(
        r#""p", ttl = 60, batch, returns = value, refresh_ahead = 0.5, tags("t")"#,
        "async fn f(&mut self, ids: Vec<u64>, more: &[u8]) -> Vec<u64> { ids }",
    );
    for expected in [
        "`returns` is not supported with `batch`",
        "`refresh_ahead` is not supported with `batch`",
        "`tags` is not supported with `batch`",
        "`more` is a second key argument",
        "returns `HashMap<K, V>` or `Result<HashMap<K, V>, E>`",
        "a method takes `&self`",
    ] {
        assert!(
            errors.contains(expected),
            "{expected:?} missing from:\n{errors}"
        );
    }
    assert!(error(
        r#""p", ttl = 60, batch"#,
        "async fn f(id: u64) -> HashMap<u64, u64> { todo!() }"
    )
    .contains("takes its ids as one key argument of type `Vec<K>` or `&[K]`"));
}
