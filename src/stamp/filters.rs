//! Filters beyond minijinja's built-in ones (`default`, `trim`, `replace`, `split`, `join`,
//! `indent`, `tojson`, …): the ones operators reach for in gomplate and Helm templates, so a
//! value renders in the format of the file it lands in.

use base64::Engine;
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};
use sha2::Digest;

/// `value` as JSON (`pretty`: indented by two spaces), keys in their order.
pub(crate) fn to_json(value: &Value, pretty: bool) -> Result<String, Error> {
    let text = if pretty { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) };
    text.map_err(|e| Error::new(ErrorKind::BadSerialization, format!("cannot render as JSON: {e}")))
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("toyaml", |value: Value| -> Result<String, Error> {
        let text = serde_yaml_ng::to_string(&value).map_err(|e| invalid(format!("toyaml: {e}")))?;
        // A scalar comes back as one line with a newline; the template decides line ends.
        Ok(text.strip_suffix('\n').unwrap_or(&text).to_string())
    });
    env.add_filter("toprettyjson", |value: Value| to_json(&value, true));
    env.add_filter("b64encode", |value: String| base64::engine::general_purpose::STANDARD.encode(value));
    env.add_filter("b64decode", |value: String| -> Result<String, Error> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|e| invalid(format!("b64decode: not base64: {e}")))?;
        String::from_utf8(bytes)
            .map_err(|_| invalid("b64decode: the decoded bytes are not UTF-8 text".into()))
    });
    env.add_filter("sha256", |value: String| {
        sha2::Sha256::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>()
    });
    // Helm's `nindent`: a newline, then every line indented (minijinja's `indent` leaves the
    // first line alone unless told otherwise).
    env.add_filter("nindent", |value: String, width: usize| {
        let pad = " ".repeat(width);
        let lines: Vec<String> =
            value.lines().map(|l| if l.is_empty() { String::new() } else { format!("{pad}{l}") }).collect();
        format!("\n{}", lines.join("\n"))
    });
    env.add_filter("quote", |value: Value| {
        format!("\"{}\"", plain(&value).replace('\\', "\\\\").replace('"', "\\\""))
    });
    env.add_filter("squote", |value: Value| format!("'{}'", plain(&value).replace('\'', "'\\''")));
    // gomplate's `range $k, $v := X` (what `betterform migrate` writes it as): a map's
    // (key, value) pairs, a list's (index, value) pairs.
    env.add_filter("pairs", |value: Value| -> Result<Value, Error> {
        let pairs: Vec<Value> = if value.kind() == ValueKind::Map {
            value
                .try_iter()?
                .map(|key| Ok(Value::from(vec![key.clone(), value.get_item(&key)?])))
                .collect::<Result<_, Error>>()?
        } else {
            value.try_iter()?.enumerate().map(|(i, item)| Value::from(vec![Value::from(i), item])).collect()
        };
        Ok(Value::from(pairs))
    });
    // Helm's `required`: fails the render with the template author's message when the value
    // is missing or empty.
    env.add_filter("required", |state: &State<'_, '_>, value: Value, message: Option<String>, _: Kwargs| {
        let missing = value.is_undefined()
            || value.is_none()
            || (value.kind() == ValueKind::String && value.as_str() == Some(""));
        if missing {
            let message =
                message.unwrap_or_else(|| format!("a required value is missing in {}", state.name()));
            // Missing in the real config: no upstream output can change that.
            return Err(match super::scope::Scope::of(state) {
                Some(scope) => scope.certain_error(message),
                None => invalid(message),
            });
        }
        Ok(value)
    });
}

/// A value as text, without quotes around strings.
fn plain(value: &Value) -> String {
    match value.as_str() {
        Some(s) => s.to_string(),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_gives_a_maps_keys_and_a_lists_indexes() {
        let mut env = Environment::new();
        register(&mut env);
        let template = "{% for k, v in m|pairs %}{{ k }}={{ v }};{% endfor %}{% for i, v in l|pairs %}{{ i }}={{ v }};{% endfor %}";
        let out = env
            .render_str(template, minijinja::context! { m => Value::from(std::collections::BTreeMap::from([("b", 1), ("a", 2)])), l => vec!["x", "y"] })
            .unwrap();
        assert_eq!(out, "a=2;b=1;0=x;1=y;");
    }
}
