//! A `tower-sessions` store in the same database as the sites, so admin sessions
//! survive restarts and work across a fleet behind a load balancer.

use async_trait::async_trait;
use sqlx::{AnyPool, Row};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

/// Most live admin sessions; creating one more first deletes the expired ones, then
/// refuses.
pub const MAX_SESSIONS: i64 = 10_000;

/// Admin sessions in the `ecurtiy_admin_sessions` table (records as JSON).
#[derive(Clone, Debug)]
pub struct SqlSessionStore {
    pool: AnyPool,
}

impl SqlSessionStore {
    /// A store over `pool` (migrated by [`SqlSites`](super::SqlSites)).
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }
}

fn backend(e: impl std::fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

fn expiry_ms(r: &Record) -> i64 {
    i64::try_from(r.expiry_date.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM ecurtiy_admin_sessions")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(backend)?;
        if n >= MAX_SESSIONS {
            sqlx::query("DELETE FROM ecurtiy_admin_sessions WHERE expiry_ms < $1")
                .bind(now_ms())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM ecurtiy_admin_sessions")
                .fetch_one(&self.pool)
                .await
                .and_then(|r| r.try_get("n"))
                .map_err(backend)?;
            if n >= MAX_SESSIONS {
                return Err(Error::Backend("too many admin sessions".into()));
            }
        }
        let data = serde_json::to_string(&record.data).map_err(backend)?;
        // A 128-bit random id colliding is unheard of; still, never overwrite one.
        for _ in 0..4 {
            let done = sqlx::query(
                "INSERT INTO ecurtiy_admin_sessions (id, data, expiry_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(&data)
            .bind(expiry_ms(record))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(Error::Backend("could not allocate a session id".into()))
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_string(&record.data).map_err(backend)?;
        sqlx::query(
            "INSERT INTO ecurtiy_admin_sessions (id, data, expiry_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_ms = excluded.expiry_ms",
        )
        .bind(record.id.to_string())
        .bind(data)
        .bind(expiry_ms(record))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let row = sqlx::query(
            "SELECT data, expiry_ms FROM ecurtiy_admin_sessions WHERE id = $1 AND expiry_ms > $2",
        )
        .bind(id.to_string())
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let data: String = row.try_get("data").map_err(backend)?;
        let exp: i64 = row.try_get("expiry_ms").map_err(backend)?;
        let expiry_date =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(exp) * 1_000_000)
                .map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data).map_err(backend)?,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        sqlx::query("DELETE FROM ecurtiy_admin_sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
