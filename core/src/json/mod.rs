//! A small JSON codec for the conformance vocabulary, without serde (feature
//! `lean-json`): what the WebAssembly binding ships, where serde's generated
//! code would be most of the module.
//!
//! [`from_json`] reads configs, machine arguments, inputs, replies and commands;
//! [`to_json`] writes every vocabulary value (outputs, getters, replies). The
//! JSON is the vocabulary `conformance/README.md` describes, the same the `serde`
//! feature reads and writes: the conformance vectors run through both codecs and
//! the output text is byte for byte serde_json's.
//!
//! What the reader accepts:
//! - records are objects (unknown keys refused where serde refuses them, a key
//!   given twice refused); a missing key takes its default, an `Option` left out
//!   is `None`; tagged values name their variant with a `"type"` string;
//! - integers only, exact over the whole `u64` / `i64` range (a fraction or an
//!   exponent where an integer is expected is refused, never rounded);
//! - 64-bit identifiers (etcd lease ids, ZooKeeper session ids and zxids) are
//!   decimal strings;
//! - strict JSON text (see [`read`]), nesting at most [`MAX_DEPTH`] deep.
//!
//! serde's data model also takes a few shapes that are not in the vocabulary (a
//! record written as an array of its field values, a unit variant as a one-key
//! object, a variant index instead of a name inside a tagged value); this reader
//! refuses them. Every refusal is a [`JsonError`], code `INVALID_INPUT`; no
//! input panics.
//!
//! ```
//! use fencelock_core::json::{from_json, to_json};
//! use fencelock_core::redlock::{Input, RedlockConfig};
//!
//! let config: RedlockConfig = from_json(r#"{"nodes": 5, "ttl": 10000}"#).unwrap();
//! assert_eq!(config, RedlockConfig::new(5, 10_000));
//! let input: Input = from_json(r#"{"type": "release", "now": 1200}"#).unwrap();
//! assert_eq!(to_json(&input), r#"{"type":"release","now":1200}"#);
//! let bad = from_json::<RedlockConfig>(r#"{"nodes": 5, "ttl": 1.5}"#).unwrap_err();
//! assert_eq!(bad.code(), "INVALID_INPUT");
//! ```

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

pub mod read;
mod vocab;
pub mod write;

pub use read::{parse, Number, Value, MAX_DEPTH};
pub use write::{write_i64, write_str, write_u64};

/// A value that can be read from JSON.
pub trait FromJson: Sized {
    /// Reads the value from a parsed JSON value.
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError>;

    /// The value a record field of this type takes when its key is left out, if
    /// it may be (`Option`: `None`); `None` makes the key required.
    #[doc(hidden)]
    #[must_use]
    fn missing() -> Option<Self> {
        None
    }
}

/// A value that can be written as JSON.
pub trait ToJson {
    /// Appends the value's compact JSON text to `out`.
    fn write_json(&self, out: &mut String);
}

/// Reads a `T` from JSON text.
pub fn from_json<T: FromJson>(text: &str) -> Result<T, JsonError> {
    T::from_json_value(&parse(text.as_bytes())?)
}

/// Writes `value` as compact JSON text.
#[must_use]
pub fn to_json<T: ToJson + ?Sized>(value: &T) -> String {
    let mut out = String::with_capacity(64);
    value.write_json(&mut out);
    out
}

/// JSON that does not read as the value asked for: malformed text, a missing,
/// unknown or repeated key, a value of the wrong type or range. Code
/// `INVALID_INPUT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    problem: &'static str,
    /// The key the problem is about (innermost), if any.
    field: Cow<'static, str>,
    /// Byte offset of a syntax error.
    offset: Option<usize>,
}

impl JsonError {
    /// Stable cross-language code: `"INVALID_INPUT"`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        "INVALID_INPUT"
    }

    /// Byte offset in the text, for malformed text.
    #[must_use]
    pub const fn offset(&self) -> Option<usize> {
        self.offset
    }

    pub(crate) const fn syntax(problem: &'static str, offset: usize) -> Self {
        JsonError {
            problem,
            field: Cow::Borrowed(""),
            offset: Some(offset),
        }
    }

    pub(crate) const fn new(problem: &'static str) -> Self {
        JsonError {
            problem,
            field: Cow::Borrowed(""),
            offset: None,
        }
    }

    fn about(problem: &'static str, field: Cow<'static, str>) -> Self {
        JsonError {
            problem,
            field,
            offset: None,
        }
    }

    /// The same error, about `field` unless it already names an inner one.
    #[must_use]
    fn within(mut self, field: &'static str) -> Self {
        if self.field.is_empty() && self.offset.is_none() {
            self.field = Cow::Borrowed(field);
        }
        self
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(offset) = self.offset {
            write!(f, "{} at byte {offset}", self.problem)
        } else if self.field.is_empty() {
            f.write_str(self.problem)
        } else {
            write!(f, "`{}`: {}", self.field, self.problem)
        }
    }
}

// ----- reading helpers (used by the vocabulary's macros) -----------------------

/// Finds the values of `names` in object `value` (`slots[i]` for `names[i]`): a
/// repeated key is an error, so is an unknown one when `deny`; the `tag` key of
/// a tagged value is skipped.
pub(crate) fn fields<'v, 'a>(
    value: &'v Value<'a>,
    names: &[&'static str],
    slots: &mut [Option<&'v Value<'a>>],
    deny: bool,
    tag: bool,
) -> Result<(), JsonError> {
    let Value::Object(entries) = value else {
        return Err(JsonError::new("expected an object"));
    };
    for (key, v) in entries {
        match names.iter().position(|n| *n == &**key) {
            Some(i) => match slots.get_mut(i) {
                Some(Some(_)) => {
                    return Err(JsonError::about("repeated key", Cow::Borrowed(names[i])))
                }
                Some(slot) => *slot = Some(v),
                None => {}
            },
            None if tag && key == "type" => {}
            None if deny => {
                return Err(JsonError::about(
                    "unknown key",
                    Cow::Owned(String::from(&**key)),
                ))
            }
            None => {}
        }
    }
    Ok(())
}

/// The variant name of a tagged value: its one `"type"` key, a string.
pub(crate) fn tag<'v>(value: &'v Value<'_>) -> Result<&'v str, JsonError> {
    let Value::Object(entries) = value else {
        return Err(JsonError::new("expected an object"));
    };
    let mut found = None;
    for (key, v) in entries {
        if key == "type" {
            if found.is_some() {
                return Err(JsonError::about("repeated key", Cow::Borrowed("type")));
            }
            found = Some(v);
        }
    }
    match found {
        Some(Value::String(name)) => Ok(name.as_ref()),
        Some(_) => Err(JsonError::about("expected a string", Cow::Borrowed("type"))),
        None => Err(JsonError::about("missing key", Cow::Borrowed("type"))),
    }
}

/// An unknown variant name.
pub(crate) fn unknown(name: &str) -> JsonError {
    JsonError::about("unknown variant", Cow::Owned(String::from(name)))
}

/// A record field: decoded when present.
pub(crate) fn field<T: FromJson>(
    slot: Option<&Value<'_>>,
    name: &'static str,
) -> Result<Option<T>, JsonError> {
    match slot {
        Some(v) => T::from_json_value(v).map(Some).map_err(|e| e.within(name)),
        None => Ok(None),
    }
}

/// A record field without a default: required, unless its type may be left out.
pub(crate) fn required<T: FromJson>(
    slot: Option<&Value<'_>>,
    name: &'static str,
) -> Result<T, JsonError> {
    match field(slot, name)? {
        Some(v) => Ok(v),
        None => T::missing().ok_or(JsonError::about("missing key", Cow::Borrowed(name))),
    }
}

/// Parses a non-empty string of ASCII decimal digits into a `u64`.
pub(crate) fn decimal(value: &Value<'_>) -> Result<u64, JsonError> {
    let text = value
        .as_str()
        .ok_or(JsonError::new("expected a string of decimal digits"))?;
    crate::types::parse_decimal(text).ok_or(JsonError::new(
        "expected decimal digits that fit in 64 bits",
    ))
}

/// Writes `n` as a string of decimal digits.
pub(crate) fn write_decimal(out: &mut String, n: u64) {
    out.push('"');
    write_u64(out, n);
    out.push('"');
}

// ----- the JSON shapes of basic types --------------------------------------------

fn unsigned(value: &Value<'_>, max: u64) -> Result<u64, JsonError> {
    match value {
        Value::Number(Number::U64(n)) if *n <= max => Ok(*n),
        Value::Number(Number::U64(_)) => Err(JsonError::new("integer out of range")),
        Value::Number(Number::I64(_)) => Err(JsonError::new("expected a non-negative integer")),
        _ => Err(JsonError::new("expected an integer")),
    }
}

impl FromJson for u64 {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        unsigned(value, u64::MAX)
    }
}

impl FromJson for u32 {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        unsigned(value, u32::MAX.into()).map(|n| n.try_into().unwrap_or_default())
    }
}

impl FromJson for u16 {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        unsigned(value, u16::MAX.into()).map(|n| n.try_into().unwrap_or_default())
    }
}

impl FromJson for i64 {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        match value {
            Value::Number(Number::I64(n)) => Ok(*n),
            _ => unsigned(value, i64::MAX.unsigned_abs()).map(|n| n.try_into().unwrap_or_default()),
        }
    }
}

impl FromJson for bool {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        value.as_bool().ok_or(JsonError::new("expected a boolean"))
    }
}

fn text<'v>(value: &'v Value<'_>) -> Result<&'v str, JsonError> {
    value.as_str().ok_or(JsonError::new("expected a string"))
}

impl FromJson for String {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        text(value).map(String::from)
    }
}

impl FromJson for Arc<str> {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        text(value).map(Arc::from)
    }
}

impl FromJson for Cow<'static, str> {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        text(value).map(|t| Cow::Owned(String::from(t)))
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        match value {
            Value::Null => Ok(None),
            _ => T::from_json_value(value).map(Some),
        }
    }

    fn missing() -> Option<Self> {
        Some(None)
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        value
            .as_array()
            .ok_or(JsonError::new("expected an array"))?
            .iter()
            .map(T::from_json_value)
            .collect()
    }
}

impl<T: FromJson> FromJson for Arc<[T]> {
    fn from_json_value(value: &Value<'_>) -> Result<Self, JsonError> {
        Vec::<T>::from_json_value(value).map(Arc::from)
    }
}

// ----- the vocabulary's macros -----------------------------------------------------

/// A record's fields, read from and written to an object (shared by records and
/// the struct variants of tagged values).
pub(crate) trait Record: Sized {
    /// Reads the record from an object; `tag`: skip the `"type"` key.
    fn from_fields(value: &Value<'_>, tag: bool) -> Result<Self, JsonError>;
    /// Writes `"key":value` for each field into an open object.
    fn write_fields(&self, out: &mut String);
}

/// The JSON key of a field: its name, or the `[ "key" ]` given.
macro_rules! json_key {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident [$key:tt]) => {
        $key
    };
}

/// Reads one field by its rule: `req` (required unless an `Option`), `skip_none`
/// (the same; left out when `None` on the way out), `{ default }` (the expression
/// when the key is left out).
macro_rules! read_field {
    (req, $slot:expr, $key:expr) => {
        $crate::json::required($slot, $key)?
    };
    (skip_none, $slot:expr, $key:expr) => {
        $crate::json::required($slot, $key)?
    };
    ({ $default:expr }, $slot:expr, $key:expr) => {
        match $crate::json::field($slot, $key)? {
            Some(value) => value,
            None => $default,
        }
    };
}

/// Writes one field by its rule (see `read_field`).
macro_rules! write_field {
    (skip_none, $out:expr, $key:expr, $value:expr) => {
        if let Some(value) = $value {
            $crate::json::write::put($out, $key, value);
        }
    };
    ($rule:tt, $out:expr, $key:expr, $value:expr) => {
        $crate::json::write::put($out, $key, $value)
    };
}

/// A struct with named fields as a JSON object: `record!(Type, deny { field:
/// rule, other ["key"]: rule })`, `deny` being `true` where serde has
/// `deny_unknown_fields`. Fields are written in this order.
macro_rules! record {
    ($ty:ident, $deny:literal { $($field:ident $([$key:literal])? : $rule:tt),* $(,)? }) => {
        impl $crate::json::Record for $ty {
            fn from_fields(
                value: &$crate::json::Value<'_>,
                tag: bool,
            ) -> Result<Self, $crate::json::JsonError> {
                const KEYS: &[&str] = &[$($crate::json::json_key!($field $([$key])?)),*];
                let mut slots = [None; KEYS.len()];
                $crate::json::fields(value, KEYS, &mut slots, $deny, tag)?;
                let mut slots = slots.into_iter();
                Ok($ty {
                    $($field: $crate::json::read_field!(
                        $rule,
                        slots.next().flatten(),
                        $crate::json::json_key!($field $([$key])?)
                    )),*
                })
            }

            fn write_fields(&self, out: &mut alloc::string::String) {
                let $ty { $($field),* } = self;
                $($crate::json::write_field!(
                    $rule,
                    out,
                    $crate::json::json_key!($field $([$key])?),
                    $field
                );)*
            }
        }

        impl $crate::json::FromJson for $ty {
            fn from_json_value(
                value: &$crate::json::Value<'_>,
            ) -> Result<Self, $crate::json::JsonError> {
                <Self as $crate::json::Record>::from_fields(value, false)
            }
        }

        impl $crate::json::ToJson for $ty {
            fn write_json(&self, out: &mut alloc::string::String) {
                out.push('{');
                <Self as $crate::json::Record>::write_fields(self, out);
                out.push('}');
            }
        }
    };
}

/// Reads one variant of a tagged value: no fields (a unit variant: other keys
/// are ignored, as serde ignores them), fields, or one record (a newtype
/// variant).
macro_rules! read_variant {
    ($ty:ident :: $variant:ident {}, $value:expr, $deny:tt) => {
        Ok($ty::$variant {})
    };
    ($ty:ident :: $variant:ident { $($field:ident $([$key:tt])? : $rule:tt),+ }, $value:expr, $deny:tt) => {{
        const KEYS: &[&str] = &[$($crate::json::json_key!($field $([$key])?)),+];
        let mut slots = [None; KEYS.len()];
        $crate::json::fields($value, KEYS, &mut slots, $deny, true)?;
        let mut slots = slots.into_iter();
        Ok($ty::$variant {
            $($field: $crate::json::read_field!(
                $rule,
                slots.next().flatten(),
                $crate::json::json_key!($field $([$key])?)
            )),+
        })
    }};
    ($ty:ident :: $variant:ident ($inner:ty), $value:expr, $deny:tt) => {
        <$inner as $crate::json::Record>::from_fields($value, true).map($ty::$variant)
    };
}

/// The pattern that matches one variant (binding its fields, or `$inner`).
macro_rules! variant_pattern {
    ($ty:ident :: $variant:ident { $($field:ident $([$key:literal])? : $rule:tt),* }, $inner:ident) => {
        $ty::$variant { $($field),* }
    };
    ($ty:ident :: $variant:ident ($_ty:ty), $inner:ident) => {
        $ty::$variant($inner)
    };
}

/// Writes the fields of one variant (bound by `variant_pattern`).
macro_rules! write_variant {
    ({ $($field:ident $([$key:literal])? : $rule:tt),* }, $out:expr, $inner:ident) => {
        $($crate::json::write_field!($rule, $out, $crate::json::json_key!($field $([$key])?), $field);)*
    };
    (($_ty:ty), $out:expr, $inner:ident) => {
        $crate::json::Record::write_fields($inner, $out)
    };
}

/// An enum tagged with a `"type"` key (serde's `tag = "type"`): `tagged!(Type,
/// deny { "name" => Variant { field: rule }, "unit" => Unit {}, "newtype" =>
/// Newtype(Record) })`.
macro_rules! tagged {
    ($ty:ident, $deny:literal { $($name:literal => $variant:ident $fields:tt),* $(,)? }) => {
        impl $crate::json::FromJson for $ty {
            fn from_json_value(
                value: &$crate::json::Value<'_>,
            ) -> Result<Self, $crate::json::JsonError> {
                match $crate::json::tag(value)? {
                    $($name => $crate::json::read_variant!($ty::$variant $fields, value, $deny),)*
                    other => Err($crate::json::unknown(other)),
                }
            }
        }

        impl $crate::json::ToJson for $ty {
            fn write_json(&self, out: &mut alloc::string::String) {
                match self {
                    $($crate::json::variant_pattern!($ty::$variant $fields, inner) => {
                        $crate::json::write::open_tagged(out, $name);
                        $crate::json::write_variant!($fields, out, inner);
                    })*
                }
                out.push('}');
            }
        }
    };
}

/// A fieldless enum as a string: `names!(Type { Variant = "name" })`.
macro_rules! names {
    ($ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $crate::json::FromJson for $ty {
            fn from_json_value(
                value: &$crate::json::Value<'_>,
            ) -> Result<Self, $crate::json::JsonError> {
                match value.as_str() {
                    $(Some($name) => Ok($ty::$variant),)*
                    Some(other) => Err($crate::json::unknown(other)),
                    None => Err($crate::json::JsonError::new("expected a string")),
                }
            }
        }

        impl $crate::json::ToJson for $ty {
            fn write_json(&self, out: &mut alloc::string::String) {
                $crate::json::write::write_name(out, match self {
                    $($ty::$variant => $name),*
                });
            }
        }
    };
}

/// A newtype that is its inner value in JSON (serde's `transparent`).
macro_rules! transparent {
    ($ty:ident($inner:ty)) => {
        impl $crate::json::FromJson for $ty {
            fn from_json_value(
                value: &$crate::json::Value<'_>,
            ) -> Result<Self, $crate::json::JsonError> {
                <$inner as $crate::json::FromJson>::from_json_value(value).map($ty)
            }
        }

        impl $crate::json::ToJson for $ty {
            fn write_json(&self, out: &mut alloc::string::String) {
                $crate::json::ToJson::write_json(&self.0, out);
            }
        }
    };
}

/// A 64-bit identifier written as a string of decimal digits.
macro_rules! decimal_string {
    ($ty:ident) => {
        impl $crate::json::FromJson for $ty {
            fn from_json_value(
                value: &$crate::json::Value<'_>,
            ) -> Result<Self, $crate::json::JsonError> {
                $crate::json::decimal(value).map($ty)
            }
        }

        impl $crate::json::ToJson for $ty {
            fn write_json(&self, out: &mut alloc::string::String) {
                $crate::json::write_decimal(out, self.0);
            }
        }
    };
}

/// A machine's output: `{"command": ...}` or `{"event": ...}`.
macro_rules! command_or_event {
    ($ty:ident) => {
        impl $crate::json::FromJson for $ty {
            fn from_json_value(
                value: &$crate::json::Value<'_>,
            ) -> Result<Self, $crate::json::JsonError> {
                match value {
                    $crate::json::Value::Object(entries) if entries.len() == 1 => {
                        match entries.first() {
                            Some((key, inner)) if key == "command" => {
                                $crate::json::FromJson::from_json_value(inner).map($ty::Command)
                            }
                            Some((key, inner)) if key == "event" => {
                                $crate::json::FromJson::from_json_value(inner).map($ty::Event)
                            }
                            Some((key, _)) => Err($crate::json::unknown(key)),
                            None => Err($crate::json::JsonError::new("expected one key")),
                        }
                    }
                    _ => Err($crate::json::JsonError::new(
                        "expected an object with one key",
                    )),
                }
            }
        }

        impl $crate::json::ToJson for $ty {
            fn write_json(&self, out: &mut alloc::string::String) {
                match self {
                    $ty::Command(command) => {
                        out.push_str("{\"command\":");
                        $crate::json::ToJson::write_json(command, out);
                    }
                    $ty::Event(event) => {
                        out.push_str("{\"event\":");
                        $crate::json::ToJson::write_json(event, out);
                    }
                }
                out.push('}');
            }
        }
    };
}

pub(crate) use {
    command_or_event, decimal_string, json_key, names, read_field, read_variant, record, tagged,
    transparent, variant_pattern, write_field, write_variant,
};
