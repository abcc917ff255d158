//! Reading an [`Envelope`] without buffering its event.
//!
//! The envelope's `type` and `data` sit next to its own fields. serde's `flatten` reads such a
//! struct by first copying every unknown key and value, the whole event included, into an
//! in-memory tree, and only then reading the event from that tree: an allocation per string
//! and a second pass over the event. This reader hands the event's `data` straight to the
//! event's own (adjacently tagged) reader once `type` is known, which is how envelopes are
//! written. Anything else (`data` before `type`, or an event whose fields sit at the top level
//! without `type` and `data`) is still read, through a `serde_json::Value`, as `flatten` would.
//! The in-place path shows the event only `type` and `data`: it is for adjacently tagged events,
//! which every event type in `shared::events` is. A key given twice is an error, as with a derived
//! reader.

use std::{fmt, marker::PhantomData};

use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor, value::StrDeserializer},
};
use time::OffsetDateTime;

use super::Envelope;

/// The envelope's time, in the envelope's RFC 3339 form.
struct Rfc3339(OffsetDateTime);

impl<'de> Deserialize<'de> for Rfc3339 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        time::serde::rfc3339::deserialize(deserializer).map(Self)
    }
}

/// The keys an envelope may hold; any other key belongs to the event.
enum Key {
    Id,
    Version,
    Sale,
    Time,
    Type,
    Data,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an envelope field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "id" => Key::Id,
                    "version" => Key::Version,
                    "sale" => Key::Sale,
                    "time" => Key::Time,
                    "type" => Key::Type,
                    "data" => Key::Data,
                    other => Key::Other(other.to_owned()),
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

impl<'de, E: Deserialize<'de>> Deserialize<'de> for Envelope<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor(PhantomData))
    }
}

struct EnvelopeVisitor<E>(PhantomData<E>);

impl<'de, E: Deserialize<'de>> Visitor<'de> for EnvelopeVisitor<E> {
    type Value = Envelope<E>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event envelope")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<E>, A::Error> {
        let (mut id, mut version, mut sale, mut time) = (None, None, None, None);
        let mut tag: Option<String> = None;
        let mut event: Option<E> = None;
        // Whatever the event is made of when it is not read in place.
        let mut rest = serde_json::Map::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Id => once(&mut id, map.next_value()?, "id")?,
                Key::Version => once(&mut version, map.next_value()?, "version")?,
                Key::Sale => once(&mut sale, map.next_value()?, "sale")?,
                Key::Time => once(&mut time, map.next_value::<Rfc3339>()?.0, "time")?,
                Key::Type => once(&mut tag, map.next_value()?, "type")?,
                Key::Data if event.is_some() || rest.contains_key("data") => {
                    return Err(de::Error::duplicate_field("data"));
                }
                Key::Data => match &tag {
                    Some(tag) => {
                        event = Some(map.next_value_seed(DataSeed {
                            tag,
                            event: PhantomData,
                        })?);
                    }
                    None => {
                        rest.insert("data".into(), map.next_value()?);
                    }
                },
                Key::Other(key) if rest.contains_key(&key) => {
                    return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                }
                Key::Other(key) => {
                    rest.insert(key, map.next_value()?);
                }
            }
        }
        let event = match event {
            Some(event) => event,
            None => {
                if let Some(tag) = tag {
                    rest.insert("type".into(), serde_json::Value::String(tag));
                }
                E::deserialize(serde_json::Value::Object(rest)).map_err(de::Error::custom)?
            }
        };
        Ok(Envelope {
            id: id.ok_or_else(|| de::Error::missing_field("id"))?,
            version: version.ok_or_else(|| de::Error::missing_field("version"))?,
            sale: sale.ok_or_else(|| de::Error::missing_field("sale"))?,
            time: time.ok_or_else(|| de::Error::missing_field("time"))?,
            event,
        })
    }
}

/// Sets a field read once; a second value for it is an error naming the field.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    match slot.replace(value) {
        Some(_) => Err(E::duplicate_field(name)),
        None => Ok(()),
    }
}

/// Reads an event's `data`, its `type` already known.
struct DataSeed<'t, E> {
    tag: &'t str,
    event: PhantomData<E>,
}

impl<'de, E: Deserialize<'de>> DeserializeSeed<'de> for DataSeed<'_, E> {
    type Value = E;

    fn deserialize<D: Deserializer<'de>>(self, data: D) -> Result<E, D::Error> {
        E::deserialize(Adjacent {
            tag: self.tag,
            data,
        })
    }
}

/// Shows an event's reader the map `{"type": tag, "data": …}`, with `data` read in place.
struct Adjacent<'t, D> {
    tag: &'t str,
    data: D,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Adjacent<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        visitor.visit_map(AdjacentMap {
            tag: Some(self.tag),
            data: Some(self.data),
        })
    }

    fn is_human_readable(&self) -> bool {
        self.data.is_human_readable()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// The two entries of an adjacently tagged event: `type`, then `data`, each handed out once.
struct AdjacentMap<'t, D> {
    tag: Option<&'t str>,
    data: Option<D>,
}

impl<'de, D: Deserializer<'de>> MapAccess<'de> for AdjacentMap<'_, D> {
    type Error = D::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, D::Error> {
        let key = if self.tag.is_some() {
            "type"
        } else if self.data.is_some() {
            "data"
        } else {
            return Ok(None);
        };
        let key: StrDeserializer<'_, D::Error> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, D::Error> {
        if let Some(tag) = self.tag.take() {
            let tag: StrDeserializer<'_, D::Error> = tag.into_deserializer();
            seed.deserialize(tag)
        } else if let Some(data) = self.data.take() {
            seed.deserialize(data)
        } else {
            Err(de::Error::custom(
                "the event's type and data were already read",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use crate::{
        events::{BookingEvent, Envelope, ReservationSnapshot, ReservationStatus},
        ids::{SaleId, ZoneId},
    };

    fn created() -> Envelope<BookingEvent> {
        let snapshot = ReservationSnapshot {
            reservation_id: Uuid::now_v7(),
            user_id: Uuid::new_v4(),
            zone: ZoneId::parse("floor").unwrap(),
            quantity: 2,
            amount_minor: 5000,
            currency: "EUR".into(),
            status: ReservationStatus::Held,
            created_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            expires_at: OffsetDateTime::from_unix_timestamp(1_700_000_600).unwrap(),
            payment_id: None,
        };
        Envelope::new(
            SaleId::parse("demo").unwrap(),
            OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            "r/ReservationCreated",
            BookingEvent::ReservationCreated(snapshot),
        )
    }

    #[test]
    fn an_envelope_as_written_reads_back_from_bytes_and_from_a_value() {
        let envelope = created();
        let bytes = serde_json::to_vec(&envelope).unwrap();
        let from_bytes: Envelope<BookingEvent> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(from_bytes, envelope);
        let value = serde_json::to_value(&envelope).unwrap();
        let from_value: Envelope<BookingEvent> = serde_json::from_value(value).unwrap();
        assert_eq!(from_value, envelope);
    }

    #[test]
    fn data_before_type_and_unknown_fields_still_read() {
        let envelope = created();
        let value = serde_json::to_value(&envelope).unwrap();
        let reordered = format!(
            r#"{{"data":{},"extra":[1,{{"a":2}}],"id":{},"version":1,"sale":"demo","time":{},"type":"ReservationCreated"}}"#,
            value["data"], value["id"], value["time"]
        );
        let back: Envelope<BookingEvent> = serde_json::from_str(&reordered).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn an_event_whose_fields_sit_at_the_top_level_still_reads() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Plain {
            n: i32,
            data: String,
        }
        let envelope = Envelope::new(
            SaleId::parse("demo").unwrap(),
            OffsetDateTime::UNIX_EPOCH,
            "plain",
            Plain {
                n: 7,
                data: "kept".into(),
            },
        );
        let bytes = serde_json::to_vec(&envelope).unwrap();
        let back: Envelope<Plain> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn a_field_given_twice_is_an_error_naming_it() {
        let value = serde_json::to_value(created()).unwrap();
        let text = value.to_string();
        let body = text.strip_suffix('}').unwrap();
        for (extra, name) in [
            (r#""type":"QueueShuffled""#, "type"),
            (r#""id":"00000000-0000-0000-0000-000000000000""#, "id"),
            (r#""data":{}"#, "data"),
        ] {
            let twice = format!("{body},{extra}}}");
            let err = serde_json::from_str::<Envelope<BookingEvent>>(&twice)
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("duplicate field `{name}`")), "{err}");
        }
        let err = serde_json::from_str::<Envelope<BookingEvent>>(&format!(
            r#"{{"extra":1,"extra":2,{}"#,
            &text[1..]
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("duplicate field `extra`"), "{err}");
    }

    #[test]
    fn a_missing_or_unknown_type_or_a_bad_field_is_an_error_naming_it() {
        let value = serde_json::to_value(created()).unwrap();
        type Change<'a> = &'a dyn Fn(&mut serde_json::Value);
        let error_of = |change: Change<'_>| {
            let mut changed = value.clone();
            change(&mut changed);
            serde_json::from_str::<Envelope<BookingEvent>>(&changed.to_string())
                .unwrap_err()
                .to_string()
        };
        let cases: [(Change<'_>, &str); 4] = [
            (
                &|v| {
                    v.as_object_mut().unwrap().remove("type");
                },
                "missing field `type`",
            ),
            (
                &|v| {
                    v.as_object_mut().unwrap().remove("id");
                },
                "missing field `id`",
            ),
            (&|v| v["type"] = "SeatsTeleported".into(), "SeatsTeleported"),
            (&|v| v["data"]["quantity"] = "two".into(), "invalid type"),
        ];
        for (change, expected) in cases {
            let err = error_of(change);
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
