//! Geolocation of events (§6.7) from a GeoIP2/GeoLite2-format City database
//! (`geoip.database`): `$city`, `$region` and `mp_country_code` from the event's `ip`
//! property, or from the request's address when the SDK asks with `ip=1`. The address
//! itself is never stored; properties the sender set win.

use std::net::IpAddr;
use std::path::Path;

use serde_json::{Map, Value};

pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp").finish_non_exhaustive()
    }
}

/// Where an address is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    pub city: Option<String>,
    pub region: Option<String>,
    pub country_code: Option<String>,
    pub time_zone: Option<String>,
}

impl GeoIp {
    /// Opens a City database; the message says what is wrong with the file.
    pub fn open(path: &Path) -> Result<GeoIp, String> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|error| {
            format!("cannot read the GeoIP database {}: {error}; `geoip.database` must be a GeoIP2/GeoLite2 City .mmdb file", path.display())
        })?;
        Ok(GeoIp { reader })
    }

    pub fn locate(&self, ip: IpAddr) -> Option<Place> {
        let found = self.reader.lookup(ip).ok()?;
        let city: maxminddb::geoip2::City<'_> = found.decode().ok()??;
        let place = Place {
            city: city.city.names.english.map(str::to_string),
            region: city.subdivisions.first().and_then(|region| region.names.english).map(str::to_string),
            country_code: city.country.iso_code.map(str::to_string),
            time_zone: city.location.time_zone.map(str::to_string),
        };
        (place != Place::default()).then_some(place)
    }

    /// The address to locate by: `said` (an event's `ip` or a profile update's `$ip`;
    /// `"0"` or anything not an address skips), else the request's address if asked for.
    fn address(said: Option<&Value>, request_ip: Option<IpAddr>) -> Option<IpAddr> {
        match said {
            Some(Value::String(text)) if text != "0" => text.parse().ok(),
            Some(_) => None,
            None => request_ip,
        }
    }

    /// A profile's geo properties (`$city`, `$region`, `$country_code`, `$timezone`), which
    /// every located update overwrites (§6.7).
    pub fn profile_properties(&self, said: Option<&Value>, request_ip: Option<IpAddr>) -> Option<Map<String, Value>> {
        let place = self.locate(GeoIp::address(said, request_ip)?)?;
        let mut properties = Map::new();
        for (key, value) in [
            ("$city", place.city),
            ("$region", place.region),
            ("$country_code", place.country_code),
            ("$timezone", place.time_zone),
        ] {
            if let Some(value) = value {
                properties.insert(key.into(), Value::String(value));
            }
        }
        Some(properties)
    }

    /// Adds the event's place to its properties. `said` is the event's own `ip`
    /// property; `request_ip` the caller's address when the request asked for `ip=1`.
    pub fn annotate(&self, properties: &mut Map<String, Value>, said: Option<&Value>, request_ip: Option<IpAddr>) {
        let Some(place) = GeoIp::address(said, request_ip).and_then(|ip| self.locate(ip)) else { return };
        for (key, value) in [("$city", place.city), ("$region", place.region), ("mp_country_code", place.country_code)]
        {
            if let Some(value) = value {
                properties.entry(key).or_insert(Value::String(value));
            }
        }
    }
}
