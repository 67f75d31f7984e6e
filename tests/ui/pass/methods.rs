// Methods: &self, &mut self, self by value, Self in the body, associated functions.
use cached_json::cached_json;

#[derive(Clone)]
pub struct Service {
    base: u32,
}

impl Service {
    #[cached_json("svc-ref", ttl = 60)]
    pub async fn by_ref(&self, n: u32) -> u32 {
        self.base + n
    }

    #[cached_json("svc-mut", ttl = 60)]
    pub async fn by_mut(&mut self, n: u32) -> u32 {
        self.base += 1;
        self.base + n
    }

    #[cached_json("svc-val", ttl = 60)]
    pub async fn by_value(self, n: u32) -> u32 {
        Self::helper(self.base, n)
    }

    #[cached_json("svc-assoc", ttl = 60)]
    pub async fn associated(n: u32) -> Option<u32> {
        Some(Self::helper(1, n))
    }

    fn helper(a: u32, b: u32) -> u32 {
        a * b
    }
}

fn main() {
    cached_json::Cache::builder().memory(1 << 20).build().unwrap().install().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut service = Service { base: 10 };
        assert_eq!(service.by_ref(1).await, 11);
        assert_eq!(service.by_mut(1).await, 12);
        assert_eq!(service.clone().by_value(2).await, 22);
        assert_eq!(Service::associated(3).await, Some(3));
    });
}
