//! Which identity-merge system a project uses (Mixpanel §7).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Simplified ID Merge (`$device_id` / `$user_id`, the default) or Original ID Merge
/// (`$identify`, `$create_alias`, `$merge`). A project can switch only while it has no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdMerge {
    #[default]
    Simplified,
    Original,
}

impl IdMerge {
    pub fn as_str(self) -> &'static str {
        match self {
            IdMerge::Simplified => "simplified",
            IdMerge::Original => "original",
        }
    }
}

impl fmt::Display for IdMerge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IdMerge {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "simplified" => Ok(IdMerge::Simplified),
            "original" => Ok(IdMerge::Original),
            other => Err(format!("unknown identity merge {other:?}: expected \"simplified\" or \"original\"")),
        }
    }
}
