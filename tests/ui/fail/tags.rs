use cached_json::cached_json;

// A tag may only use what the key holds: a key argument, by its name.
#[cached_json("unknown-name", ttl = 60, tags("seller:{seller}"))]
async fn unknown_name(seller_id: u64) -> u64 {
    seller_id
}

#[cached_json("skipped-name", ttl = 60, tags("req:{request_id}"), skip(request_id))]
async fn skipped_name(id: u64, request_id: u64) -> u64 {
    id + request_id
}

#[cached_json("bad-template", ttl = 60, tags("open:{id", "", "{}"))]
async fn bad_templates(id: u64) -> u64 {
    id
}

#[cached_json("no-tags", ttl = 60, tags())]
async fn no_tags(id: u64) -> u64 {
    id
}

#[cached_json("not-a-string", ttl = 60, tags(catalog))]
async fn not_a_string(id: u64) -> u64 {
    id
}

fn main() {}
