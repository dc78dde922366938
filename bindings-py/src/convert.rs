//! Python objects <-> JSON values (the conformance vocabulary).
//!
//! Vectors and the low-level API speak JSON: dicts with string keys, lists,
//! strings, integers, booleans and `None`. Integral floats (`1000.0`) are taken as
//! integers, as every JavaScript host must; NaN, infinities, fractional numbers,
//! integers outside 64 bits and any other Python type are refused here, before
//! the core sees the value.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted (vector values nest a few levels at most).
const MAX_DEPTH: usize = 32;

/// Largest float that still denotes one exact integer (2^53).
const MAX_EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// Converts a Python value into JSON; the error names where in `obj` (`path`)
/// the offending value sits.
pub fn to_value(obj: &Bound<'_, PyAny>, path: &str) -> Result<Value, String> {
    let mut at = String::from(path);
    convert(obj, &mut at, 0)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| String::from("object"))
}

fn convert(obj: &Bound<'_, PyAny>, path: &mut String, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: nested more than {MAX_DEPTH} levels deep"));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(Number::from(i)));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::Number(Number::from(u)));
        }
        return Err(format!("{path}: integer {obj} does not fit in 64 bits"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return float_to_value(f.value(), path);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.into_owned()))
            .map_err(|_| format!("{path}: string is not valid Unicode"));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, value) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(format!(
                    "{path}: dict keys must be str, got {}",
                    type_name(&key)
                ));
            };
            let key = key
                .to_cow()
                .map_err(|_| format!("{path}: key is not valid Unicode"))?
                .into_owned();
            let len = path.len();
            path.push('.');
            path.push_str(&key);
            let value = convert(&value, path, depth + 1)?;
            path.truncate(len);
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(list) = obj.cast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple.iter().collect()
    } else {
        return Err(format!(
            "{path}: {} is not a JSON value (dict, list, str, int, bool or None)",
            type_name(obj)
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let len = path.len();
        path.push_str(&format!("[{i}]"));
        out.push(convert(item, path, depth + 1)?);
        path.truncate(len);
    }
    Ok(Value::Array(out))
}

fn float_to_value(f: f64, path: &str) -> Result<Value, String> {
    if f.is_nan() {
        return Err(format!("{path}: NaN is not a number"));
    }
    if f.is_infinite() {
        return Err(format!("{path}: {f} is not a finite number"));
    }
    if f.fract() != 0.0 {
        return Err(format!("{path}: {f} is fractional; an integer is needed"));
    }
    if f.abs() > MAX_EXACT_FLOAT {
        return Err(format!("{path}: {f} is too large to be an exact integer"));
    }
    // Integral and within 2^53: the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let i = f as i64;
    Ok(Value::Number(Number::from(i)))
}

/// Converts JSON into Python objects (dicts, lists, str, int, bool, None).
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
