//! Which instantiation of a generic context a call runs in.
//!
//! The attribute's `static CacheSite` is one for every instantiation of the code around it: a
//! method of `impl<T> Repo<T>`, or a trait's default method, has one site for `Repo<User>` and
//! `Repo<Admin>` alike. So the generated code also passes the type name of a closure defined
//! in the function, which names the instantiation (`app::Repo<app::User>::get::{{closure}}`).
//! When that name carries type arguments, the call's hash is seeded with its owner (the name up
//! to the last `>`: `app::Repo<app::User>`, `<app::User as app::Named>`): instantiations never
//! share an entry or a flight, and the attribute's companions (`<fn>_key`...), made in other
//! functions of the same owner, find the same keys. Where the name carries no type arguments
//! (free functions, plain `impl` blocks) the hash is the plain, documented one.
//!
//! A name with type arguments cannot tell a generic `impl<T> Repo<T>` from a concrete
//! `impl Repo<u8>`, nor a trait's default method from a trait impl's own method: all of them
//! are seeded. Their keys depend on the type's path and on how the compiler writes type names,
//! which may change between Rust releases (the cache then starts cold; it never mixes values).

use xxhash_rust::xxh3::xxh3_64;

/// The type name of `closure`, made inside the annotated function: its instantiation.
pub fn instance_of<F>(closure: &F) -> &'static str {
    let _ = closure;
    std::any::type_name::<F>()
}

/// The hash seed of calls made in `instance`: 0 (unseeded) unless its name has type arguments,
/// else the hash of its owner.
pub(crate) fn seed(instance: &str) -> u64 {
    if instance.contains('<') && has_type_arguments(instance) {
        let owner = instance
            .rfind('>')
            .map_or(instance, |end| &instance[..=end]);
        xxh3_64(owner.as_bytes()).max(1)
    } else {
        0
    }
}

/// Whether `name` has anything but lifetimes between angle brackets.
fn has_type_arguments(name: &str) -> bool {
    let mut depth = 0usize;
    let mut in_lifetime = false;
    for byte in name.bytes() {
        match byte {
            b'<' => depth += 1,
            b'>' => depth = depth.saturating_sub(1),
            b'\'' => in_lifetime = true,
            b',' | b' ' => in_lifetime = false,
            _ if depth > 0 && !in_lifetime => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Repo<T>(T);
    struct User;
    struct Admin;

    impl<T> Repo<T> {
        fn instance(&self) -> &'static str {
            instance_of(&|| ())
        }
    }

    trait Named {
        fn instance(&self) -> &'static str {
            instance_of(&|| ())
        }
    }
    impl Named for User {}
    impl Named for Admin {}

    fn free() -> &'static str {
        instance_of(&|| ())
    }

    #[test]
    fn instantiations_of_a_generic_context_get_their_own_seed() {
        let user = Repo(User).instance();
        let admin = Repo(Admin).instance();
        assert_ne!(user, admin);
        assert_ne!(seed(user), seed(admin));
        assert_ne!(seed(user), 0);
        assert_ne!(seed(User.instance()), seed(Admin.instance()));
        let _ = (Repo(User).0, Repo(Admin).0);
    }

    #[test]
    fn functions_of_one_owner_share_its_seed() {
        assert_eq!(
            seed("app::Repo<app::User>::get::{{closure}}::{{closure}}"),
            seed("app::Repo<app::User>::get_key::{{closure}}")
        );
        assert_ne!(
            seed("app::Repo<app::User>::get::{{closure}}"),
            seed("app::Repo<app::Admin>::get::{{closure}}")
        );
    }

    #[test]
    fn plain_functions_and_lifetimes_alone_keep_the_plain_hash() {
        assert_eq!(seed(free()), 0);
        assert_eq!(seed("app::Repo<'_>::get::{{closure}}"), 0);
        assert_eq!(seed("app::Repo<'a, 'b>::get::{{closure}}"), 0);
        assert_ne!(seed("app::Repo<'_, app::User>::get::{{closure}}"), 0);
        assert_ne!(seed("<app::User as app::Named>::get::{{closure}}"), 0);
    }
}
