// In a generic impl and in a trait's default method, one `static` serves every instantiation:
// each instantiation still gets entries (and flights) of its own.
use cached_json::{cached_json, observe, Cache, CacheOutcome};

pub trait Entity {
    const TABLE: &'static str;
}
pub struct User;
pub struct Admin;
impl Entity for User {
    const TABLE: &'static str = "users";
}
impl Entity for Admin {
    const TABLE: &'static str = "admins";
}

pub struct Repo<T>(std::marker::PhantomData<T>);

impl<T: Entity> Repo<T> {
    #[cached_json("repo-get", ttl = 60)]
    pub async fn get(&self, id: u32) -> String {
        format!("{}#{id}", T::TABLE)
    }
}

pub trait Describe {
    fn name(&self) -> String;

    #[cached_json("describe", ttl = 60)]
    async fn describe(&self, id: u32) -> String {
        format!("{} {id}", self.name())
    }
}

impl Describe for User {
    fn name(&self) -> String {
        "user".into()
    }
}
impl Describe for Admin {
    fn name(&self) -> String {
        "admin".into()
    }
}

fn main() {
    let cache = Cache::builder().memory(1 << 20).build().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(cache.scope(async {
        let users = Repo::<User>(Default::default());
        let admins = Repo::<Admin>(Default::default());
        assert_eq!(observe(users.get(1)).await, ("users#1".into(), Some(CacheOutcome::Miss)));
        assert_eq!(observe(admins.get(1)).await, ("admins#1".into(), Some(CacheOutcome::Miss)));
        assert_eq!(observe(users.get(1)).await, ("users#1".into(), Some(CacheOutcome::Hit)));
        assert_eq!(observe(admins.get(1)).await, ("admins#1".into(), Some(CacheOutcome::Hit)));
        assert_eq!(observe(User.describe(2)).await, ("user 2".into(), Some(CacheOutcome::Miss)));
        assert_eq!(observe(Admin.describe(2)).await, ("admin 2".into(), Some(CacheOutcome::Miss)));
        assert_eq!(observe(Admin.describe(2)).await, ("admin 2".into(), Some(CacheOutcome::Hit)));
    }));
}
