//! Events in a real database (SQLite through sqlx): schema, seed data and queries.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{FromRow, Row, SqlitePool};
use utoipa::ToSchema;

use crate::text::fold;

/// An event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Unique id.
    pub id: i64,
    /// What it is.
    #[schema(example = "Festival de Forró")]
    pub title: String,
    /// Where (city name).
    #[schema(example = "Recife")]
    pub city: String,
    /// The venue, if known.
    pub venue: Option<String>,
    /// A longer description, if any.
    pub description: Option<String>,
    /// When it starts (RFC 3339).
    pub starts_at: DateTime<Utc>,
    /// How many times it was viewed.
    pub views: i64,
}

/// What a client sends to create an event.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// 1 to 200 characters.
    #[schema(example = "Show de Frevo")]
    pub title: String,
    /// 1 to 100 characters.
    #[schema(example = "Olinda")]
    pub city: String,
    /// When it starts, RFC 3339 (e.g. `2026-12-31T22:00:00-03:00`).
    pub starts_at: DateTime<Utc>,
    /// Optional, up to 200 characters.
    pub venue: Option<String>,
    /// Optional, up to 2000 characters.
    pub description: Option<String>,
}

impl FromRow<'_, SqliteRow> for Event {
    fn from_row(row: &SqliteRow) -> sqlx::Result<Self> {
        let starts_at: i64 = row.try_get("starts_at")?;
        Ok(Event {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            city: row.try_get("city")?,
            venue: row.try_get("venue")?,
            description: row.try_get("description")?,
            starts_at: DateTime::from_timestamp(starts_at, 0).unwrap_or_default(),
            views: row.try_get("views")?,
        })
    }
}

const COLUMNS: &str = "id, title, city, venue, description, starts_at, views";

/// The events table.
#[derive(Clone)]
pub struct EventStore {
    pool: SqlitePool,
}

impl EventStore {
    /// Opens (creating it if needed) the database at `url`, migrates it, and fills an empty one
    /// with `seed` generated events.
    pub async fn open(url: &str, seed: u32) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        let store = EventStore { pool };
        store.migrate().await?;
        store.seed(seed).await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                title TEXT NOT NULL,
                city TEXT NOT NULL,
                city_key TEXT NOT NULL,
                venue TEXT,
                description TEXT,
                starts_at INTEGER NOT NULL,
                views INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX IF NOT EXISTS events_city_key ON events (city_key, starts_at);
            CREATE INDEX IF NOT EXISTS events_starts_at ON events (starts_at);
            CREATE INDEX IF NOT EXISTS events_views ON events (views DESC, id);",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Generates `count` events into an empty table: the rankings need data to mean anything.
    async fn seed(&self, count: u32) -> Result<(), sqlx::Error> {
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await?;
        if existing > 0 || count == 0 {
            return Ok(());
        }
        const KINDS: &[&str] = &[
            "Festival de Forró",
            "Show de Frevo",
            "Feira de Artesanato",
            "Maracatu na Praça",
            "Roda de Samba",
            "Noite do Choro",
            "Mostra de Cinema",
            "Feira Gastronômica",
            "Corrida de Rua",
            "Sarau de Poesia",
            "Festa Junina",
            "Concerto Sinfônico",
            "Exposição de Arte",
            "Encontro de Bumba Meu Boi",
            "Stand-up Comedy",
        ];
        const VENUES: &[&str] = &[
            "Centro de Convenções",
            "Teatro Municipal",
            "Praça Central",
            "Parque da Cidade",
            "Mercado Público",
            "Arena",
            "Casa de Cultura",
            "Orla",
        ];
        let cities: Vec<String> = include_str!("../data/cities.csv")
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').next().map(str::to_owned))
            .collect();
        let mut rng = fastrand::Rng::with_seed(2026);
        let now = Utc::now().timestamp();
        let mut tx = self.pool.begin().await?;
        for _ in 0..count {
            let city = &cities[rng.usize(..cities.len())];
            let kind = KINDS[rng.usize(..KINDS.len())];
            let venue = VENUES[rng.usize(..VENUES.len())];
            // From a month ago to four months ahead; views skewed (few very popular events).
            let starts_at = now + rng.i64(-30 * 86_400..120 * 86_400);
            let views = (rng.f64().powi(4) * 50_000.0) as i64;
            sqlx::query(
                "INSERT INTO events (title, city, city_key, venue, description, starts_at, views)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(format!("{kind} de {city}"))
            .bind(city)
            .bind(fold(city))
            .bind(format!("{venue} de {city}"))
            .bind(format!("{kind} em {city}: entrada franca."))
            .bind(starts_at)
            .bind(views)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::info!(count, "seeded the events table");
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// The next `limit` events from now on, soonest first.
    pub async fn top_soon(&self, limit: u32) -> Result<Vec<Event>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events WHERE starts_at >= ? ORDER BY starts_at, id LIMIT ?"
        ))
        .bind(Utc::now().timestamp())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// The `limit` most viewed events.
    pub async fn top_viewed(&self, limit: u32) -> Result<Vec<Event>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events ORDER BY views DESC, id LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// A page of events by start time, optionally in one city (case and accents ignored).
    pub async fn list(
        &self,
        skip: u32,
        limit: u32,
        city: Option<&str>,
    ) -> Result<Vec<Event>, sqlx::Error> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events WHERE (?1 IS NULL OR city_key = ?1)
             ORDER BY starts_at, id LIMIT ?2 OFFSET ?3"
        ))
        .bind(city.map(fold))
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.pool)
        .await
    }

    /// The event `id`, counting this view; `None` if there is none.
    pub async fn view(&self, id: i64) -> Result<Option<Event>, sqlx::Error> {
        sqlx::query_as(&format!(
            "UPDATE events SET views = views + 1 WHERE id = ? RETURNING {COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Stores a new event.
    pub async fn create(&self, event: &NewEvent) -> Result<Event, sqlx::Error> {
        sqlx::query_as(&format!(
            "INSERT INTO events (title, city, city_key, venue, description, starts_at)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        ))
        .bind(event.title.trim())
        .bind(event.city.trim())
        .bind(fold(&event.city))
        .bind(event.venue.as_deref().map(str::trim))
        .bind(event.description.as_deref().map(str::trim))
        .bind(event.starts_at.timestamp())
        .fetch_one(&self.pool)
        .await
    }
}
