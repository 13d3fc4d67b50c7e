//! DynamoDB JSON (`{"S": "x"}`, `{"M": {...}}`), as DynamoDB's export writes each item, read
//! into the SDK's attribute values. Anything else is refused, never guessed.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::Value;

/// How deep a document may nest (DynamoDB allows 32 levels).
const MAX_DEPTH: usize = 32;

/// One export line: `{"Item": {"attr": {"S": "…"}, …}}`.
pub fn item_of_line(line: &str) -> Result<HashMap<String, AttributeValue>, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let item = value
        .get("Item")
        .and_then(Value::as_object)
        .ok_or("no Item object")?;
    item.iter()
        .map(|(k, v)| Ok((k.clone(), attribute(v, 0)?)))
        .collect()
}

fn attribute(value: &Value, depth: usize) -> Result<AttributeValue, String> {
    if depth > MAX_DEPTH {
        return Err("nested deeper than DynamoDB allows".into());
    }
    let obj = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| "an attribute is one {\"TYPE\": value} object".to_owned())?;
    let (kind, v) = obj.iter().next().ok_or("empty attribute")?;
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .ok_or(format!("{kind}: not a string"))
    };
    let texts = |v: &Value| -> Result<Vec<String>, String> {
        v.as_array()
            .ok_or(format!("{kind}: not a list"))?
            .iter()
            .map(text)
            .collect()
    };
    let blob = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Blob::new)
            .map_err(|e| format!("{kind}: {e}"))
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(text(v)?),
        "N" => AttributeValue::N(text(v)?),
        "BOOL" => AttributeValue::Bool(v.as_bool().ok_or("BOOL: not a boolean")?),
        "NULL" => AttributeValue::Null(true),
        "B" => AttributeValue::B(blob(&text(v)?)?),
        "SS" => AttributeValue::Ss(texts(v)?),
        "NS" => AttributeValue::Ns(texts(v)?),
        "BS" => AttributeValue::Bs(
            texts(v)?
                .iter()
                .map(|s| blob(s))
                .collect::<Result<_, _>>()?,
        ),
        "L" => AttributeValue::L(
            v.as_array()
                .ok_or("L: not a list")?
                .iter()
                .map(|x| attribute(x, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(
            v.as_object()
                .ok_or("M: not an object")?
                .iter()
                .map(|(k, x)| Ok((k.clone(), attribute(x, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => {
            return Err(format!(
                "unknown type {:?}",
                other.chars().take(20).collect::<String>()
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_read() {
        let item = item_of_line(
            r#"{"Item":{"pk":{"S":"a"},"n":{"N":"1.5"},"b":{"BOOL":true},"z":{"NULL":true},"bin":{"B":"aGk="},
            "ss":{"SS":["x","y"]},"ns":{"NS":["1"]},"l":{"L":[{"S":"q"},{"M":{"k":{"N":"2"}}}]}}}"#,
        )
        .unwrap();
        assert_eq!(item["pk"], AttributeValue::S("a".into()));
        assert_eq!(item["bin"], AttributeValue::B(Blob::new("hi")));
        assert!(matches!(&item["l"], AttributeValue::L(l) if l.len() == 2));
    }

    #[test]
    fn hostile_lines_are_refused() {
        let deep = format!(
            r#"{{"Item":{{"a":{}{{"S":"x"}}{}}}}}"#,
            r#"{"L":["#.repeat(40),
            "]}".repeat(40)
        );
        for bad in [
            "",
            "[]",
            r#"{"Item":[]}"#,
            r#"{"Item":{"a":"x"}}"#,
            r#"{"Item":{"a":{"S":1}}}"#,
            r#"{"Item":{"a":{"S":"x","N":"1"}}}"#,
            r#"{"Item":{"a":{"X":"x"}}}"#,
            r#"{"Item":{"a":{"B":"%%%"}}}"#,
            r#"{"Item":{"a":{"BOOL":"yes"}}}"#,
            deep.as_str(),
        ] {
            assert!(item_of_line(bad).is_err(), "{bad}");
        }
    }
}
