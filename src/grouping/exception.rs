//! Exception values and exception-group selection (sentry-protocol.md 7.1 "Chained
//! exception", 7.4.1 a).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::in_app::is_truthy;
use super::message::normalize_message;
use super::py_str;
use super::stack::stack_values;

/// The entries of an interface that may be `{"values": [...]}`, a bare list or a single
/// object, keeping only non-empty objects (the reference skips falsy entries).
pub fn interface_values(v: Option<&Value>) -> Vec<&Value> {
    let list: &[Value] = match v {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => match o.get("values") {
            Some(Value::Array(a)) => a,
            Some(_) => &[],
            None => return vec_if_object(v),
        },
        _ => &[],
    };
    list.iter()
        .filter(|e| e.as_object().is_some_and(|o| !o.is_empty()))
        .collect()
}

fn vec_if_object(v: Option<&Value>) -> Vec<&Value> {
    v.filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        .into_iter()
        .collect()
}

/// The event's exceptions (`exception`, or the legacy `sentry.interfaces.Exception` when that is
/// absent or empty), innermost first.
pub fn event_exceptions(event: &Value) -> Vec<&Value> {
    let primary = event.get("exception").filter(|v| is_truthy(Some(v)));
    interface_values(primary.or_else(|| event.get("sentry.interfaces.Exception")))
}

/// One exception's values: `type:` (unless synthetic or missing), then its stack values, or
/// when the stack yields nothing `value:<normalized value>`. The flag says whether the stack
/// contributed.
pub fn exception_values(exc: &Value, platform: &str, app_only: bool) -> (Vec<String>, bool) {
    let mut vals = Vec::new();
    let synthetic = is_truthy(exc.get("mechanism").and_then(|m| m.get("synthetic")));
    let ty = exc.get("type");
    if is_truthy(ty) && !synthetic {
        if let Some(ty) = ty {
            vals.push(format!("type:{}", py_str(ty)));
        }
    }
    let st = exc
        .get("stacktrace")
        .map(|s| stack_values(s, platform, app_only))
        .unwrap_or_default();
    let has_stack = !st.is_empty();
    if has_stack {
        vals.extend(st);
    } else if let Some(v) = exc.get("value").filter(|v| !v.is_null()) {
        let text = py_str(v);
        if !text.is_empty() {
            vals.push(format!("value:{}", normalize_message(&text)));
        }
    }
    (vals, has_stack)
}

/// The exceptions that take part in grouping, and the one titles are made from.
#[derive(Debug)]
pub struct Selection<'a> {
    /// Exceptions to group by, in payload order (or group-filter order).
    pub exceptions: Vec<&'a Value>,
    /// The main exception: the last one, or the one exception-group filtering picked.
    pub main: Option<&'a Value>,
}

/// A mechanism id as the reference's dict key: numbers compare by value (`1 == 1.0`), and
/// booleans as 0/1, as Python does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum IdKey {
    Num(u64),
    Str(String),
    Other(String),
}

impl IdKey {
    fn of(v: Option<&Value>) -> Option<IdKey> {
        Some(match v? {
            Value::Null => return None,
            Value::Number(n) => IdKey::Num(n.as_f64().unwrap_or(f64::NAN).to_bits()),
            Value::Bool(b) => IdKey::Num(if *b { 1.0f64 } else { 0.0 }.to_bits()),
            Value::String(s) => IdKey::Str(s.clone()),
            other => IdKey::Other(other.to_string()),
        })
    }

    fn root() -> IdKey {
        IdKey::Num(0.0f64.to_bits())
    }
}

#[derive(Default)]
struct Node<'a> {
    exc: Option<&'a Value>,
    children: Vec<&'a Value>,
}

fn mechanism_field<'a>(exc: &'a Value, key: &str) -> Option<&'a Value> {
    exc.get("mechanism").and_then(|m| m.get(key))
}

/// Exception-group filtering after Sentry's RFC 0079 behaviour (7.1): with a well-formed
/// `exception_id`/`parent_id` tree rooted at id 0, group by the distinct top-level (non-group)
/// exceptions plus the root, or — when only one distinct remains — by it and its first-child
/// chain. A broken tree leaves the list unchanged.
pub fn select_exceptions<'a>(excs: &[&'a Value], platform: &str) -> Selection<'a> {
    let unchanged = || Selection {
        exceptions: excs.to_vec(),
        main: excs.last().copied(),
    };
    if excs.len() <= 1 {
        return unchanged();
    }
    let mut nodes: HashMap<IdKey, Node<'a>> = HashMap::new();
    let mut seen = HashSet::new();
    for &e in excs.iter().rev() {
        let Some(eid) = IdKey::of(mechanism_field(e, "exception_id")) else {
            return unchanged();
        };
        let pid = IdKey::of(mechanism_field(e, "parent_id"));
        if pid.as_ref() == Some(&eid) || !seen.insert(eid.clone()) {
            return unchanged();
        }
        nodes.entry(eid).or_default().exc = Some(e);
        if let Some(pid) = pid {
            nodes.entry(pid).or_default().children.push(e);
        }
    }
    let Some(root) = nodes.get(&IdKey::root()).and_then(|n| n.exc) else {
        return unchanged();
    };
    let kids = |e: &Value| -> Vec<&'a Value> {
        IdKey::of(mechanism_field(e, "exception_id"))
            .and_then(|id| nodes.get(&id))
            .map(|n| n.children.clone())
            .unwrap_or_default()
    };

    // Depth-first walk to the non-group descendants; `visited` guards against id cycles.
    let mut tops: Vec<&'a Value> = Vec::new();
    let mut visited: HashSet<*const Value> = HashSet::new();
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        if !visited.insert(e as *const Value) {
            continue;
        }
        if is_truthy(mechanism_field(e, "is_exception_group")) {
            // Reverse so the first child is walked first, as the recursive generator does.
            stack.extend(kids(e).into_iter().rev());
        } else {
            tops.push(e);
        }
    }
    if tops.is_empty() {
        return unchanged();
    }
    // Stable sort, descending by the type's text (Python `sorted(..., reverse=True)`).
    tops.sort_by_key(|e| std::cmp::Reverse(type_key(e)));

    let mut distinct: Vec<&'a Value> = Vec::new();
    let mut keys: Vec<(Vec<String>, bool)> = Vec::new();
    for e in tops {
        let key = exception_values(e, platform, true);
        if !keys.contains(&key) {
            keys.push(key);
            distinct.push(e);
        }
    }
    if let [only] = distinct[..] {
        let mut path = Vec::new();
        let mut visited: HashSet<*const Value> = HashSet::new();
        let mut cur = Some(only);
        while let Some(e) = cur {
            if !visited.insert(e as *const Value) {
                break;
            }
            path.push(e);
            cur = kids(e).first().copied();
        }
        return Selection {
            exceptions: path,
            main: Some(only),
        };
    }
    distinct.push(root);
    Selection {
        exceptions: distinct,
        main: Some(root),
    }
}

/// `str(e.get("type"))` in the reference: a missing type sorts as `None`.
fn type_key(e: &Value) -> String {
    e.get("type")
        .map_or_else(|| "None".to_owned(), |t| py_str(t).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exc(ty: &str, id: i64, parent: Option<i64>, group: bool, func: &str) -> Value {
        let mut mech = json!({"type": "chained", "exception_id": id, "is_exception_group": group});
        if let Some(p) = parent {
            mech["parent_id"] = json!(p);
        }
        json!({"type": ty, "value": "v", "mechanism": mech,
               "stacktrace": {"frames": [{"module": "m", "function": func, "in_app": true}]}})
    }

    fn types(sel: &Selection<'_>) -> Vec<String> {
        sel.exceptions
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    #[test]
    fn group_with_distinct_children_keeps_them_plus_root() {
        let list = [
            exc("KeyError", 2, Some(0), false, "import_rows"),
            exc("ValueError", 1, Some(0), false, "import_rows"),
            exc("ExceptionGroup", 0, None, true, "run"),
        ];
        let refs: Vec<&Value> = list.iter().collect();
        let sel = select_exceptions(&refs, "python");
        assert_eq!(types(&sel), ["ValueError", "KeyError", "ExceptionGroup"]);
        assert_eq!(sel.main.map(|m| &m["type"]), Some(&json!("ExceptionGroup")));
    }

    #[test]
    fn group_with_one_distinct_child_uses_it_and_its_chain() {
        let list = [
            exc("OSError", 3, Some(1), false, "read"),
            exc("ValueError", 2, Some(0), false, "parse"),
            exc("ValueError", 1, Some(0), false, "parse"),
            exc("ExceptionGroup", 0, None, true, "run"),
        ];
        let refs: Vec<&Value> = list.iter().collect();
        let sel = select_exceptions(&refs, "python");
        // Children are collected in reverse payload order, so id 1 comes first; its first
        // child (id 3) follows.
        assert_eq!(types(&sel), ["ValueError", "OSError"]);
        assert!(std::ptr::eq(sel.main.unwrap_or(&Value::Null), &list[2]));
    }

    #[test]
    fn broken_trees_disable_the_filter() {
        let dup = [
            exc("A", 1, Some(0), false, "f"),
            exc("B", 1, Some(0), false, "g"),
            exc("G", 0, None, true, "h"),
        ];
        let refs: Vec<&Value> = dup.iter().collect();
        assert_eq!(types(&select_exceptions(&refs, "python")), ["A", "B", "G"]);
        let self_parent = [
            exc("A", 1, Some(1), false, "f"),
            exc("G", 0, None, true, "h"),
        ];
        let refs: Vec<&Value> = self_parent.iter().collect();
        assert_eq!(types(&select_exceptions(&refs, "python")), ["A", "G"]);
        let plain = [json!({"type": "A"}), json!({"type": "B"})];
        let refs: Vec<&Value> = plain.iter().collect();
        let sel = select_exceptions(&refs, "python");
        assert_eq!(types(&sel), ["A", "B"]);
        assert_eq!(sel.main.map(|m| &m["type"]), Some(&json!("B")));
    }

    #[test]
    fn cycles_terminate() {
        let list = [
            exc("G1", 1, Some(0), true, "f"),
            exc("G0", 0, Some(1), true, "g"),
        ];
        let refs: Vec<&Value> = list.iter().collect();
        let sel = select_exceptions(&refs, "python");
        assert_eq!(types(&sel), ["G1", "G0"]);
    }

    #[test]
    fn synthetic_type_is_omitted_and_value_is_fallback() {
        let e = json!({"type": "Error", "value": "took 30s", "mechanism": {"synthetic": true}});
        assert_eq!(
            exception_values(&e, "node", true),
            (vec!["value:took <duration>".to_owned()], false)
        );
        let e = json!({"type": "KeyError", "value": 5});
        assert_eq!(
            exception_values(&e, "python", true).0,
            ["type:KeyError", "value:<int>"]
        );
    }

    #[test]
    fn interface_forms() {
        let a = json!({"values": [{"type": "A"}, null, {}]});
        let b = json!([{"type": "A"}]);
        let c = json!({"type": "A"});
        assert_eq!(interface_values(Some(&a)).len(), 1);
        assert_eq!(interface_values(Some(&b)).len(), 1);
        assert_eq!(interface_values(Some(&c)).len(), 1);
        assert!(interface_values(Some(&json!({"values": null}))).is_empty());
    }
}
