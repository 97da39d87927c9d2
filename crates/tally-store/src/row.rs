//! Reading typed values out of either backend's rows, so that row-to-model code is
//! written once.

use jiff::Timestamp;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::StoreError;

pub(crate) trait RowExt {
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;

    fn time(&self, column: &str) -> Result<Timestamp, StoreError> {
        let millis = self.int(column)?;
        Timestamp::from_millisecond(millis)
            .map_err(|error| StoreError::Corrupt(format!("{column}: {millis} is not a time: {error}")))
    }

    fn opt_time(&self, column: &str) -> Result<Option<Timestamp>, StoreError> {
        self.opt_int(column)?
            .map(|millis| {
                Timestamp::from_millisecond(millis)
                    .map_err(|error| StoreError::Corrupt(format!("{column}: {millis} is not a time: {error}")))
            })
            .transpose()
    }
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn text(&self, column: &str) -> Result<String, StoreError> {
                Ok(self.try_get(column)?)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                Ok(self.try_get(column)?)
            }
        }
    };
}

impl_row_ext!(SqliteRow);
impl_row_ext!(PgRow);
