//! Exception values and exception-group selection (sentry-protocol.md 7.1 "Chained
//! exception", 7.4.1 a).

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use super::message::normalize_message;
use super::stack::stack_values;
use crate::event::{EventView, Exception, ExceptionId};

/// One exception's values: `type:` (unless synthetic or missing), then its stack values, or
/// when the stack yields nothing `value:<normalized value>`. The flag says whether the stack
/// contributed.
pub fn exception_values(exc: Exception<'_>, platform: &str, app_only: bool) -> (Vec<String>, bool) {
    let mut vals = Vec::new();
    if let Some(ty) = exc.ty().filter(|_| !exc.is_synthetic()) {
        vals.push(format!("type:{ty}"));
    }
    let st = exc
        .stacktrace()
        .map(|s| stack_values(s, platform, app_only))
        .unwrap_or_default();
    let has_stack = !st.is_empty();
    if has_stack {
        vals.extend(st);
    } else if let Some(v) = exc.value() {
        vals.push(format!("value:{}", normalize_message(v)));
    }
    (vals, has_stack)
}

/// The exceptions that take part in grouping, and the one titles are made from.
#[derive(Debug)]
pub struct Selection<'a> {
    /// Exceptions to group by, in payload order (or group-filter order).
    pub exceptions: Vec<Exception<'a>>,
    /// The main exception: the last one, or the one exception-group filtering picked.
    pub main: Option<Exception<'a>>,
}

/// The main exception of an event (sentry-protocol.md 5.3, 7.4.8): the last one, or in an
/// exception group the one exception-group filtering selects.
pub fn main_exception<'a>(event: &EventView<'a>) -> Option<Exception<'a>> {
    let mut excs = event.exceptions();
    if excs.clone().nth(1).is_none() {
        return excs.next_back();
    }
    select_exceptions(&excs.collect::<Vec<_>>(), event.platform()).main
}

#[derive(Default)]
struct Node<'a> {
    exc: Option<Exception<'a>>,
    children: Vec<Exception<'a>>,
}

fn exception_id<'a>(e: &Exception<'a>) -> Option<ExceptionId<'a>> {
    e.mechanism().and_then(|m| m.exception_id())
}

/// Exception-group filtering after Sentry's RFC 0079 behaviour (7.1): with a well-formed
/// `exception_id`/`parent_id` tree rooted at id 0, group by the distinct top-level (non-group)
/// exceptions plus the root, or — when only one distinct remains — by it and its first-child
/// chain. A broken tree leaves the list unchanged.
pub fn select_exceptions<'a>(excs: &[Exception<'a>], platform: &str) -> Selection<'a> {
    let unchanged = || Selection {
        exceptions: excs.to_vec(),
        main: excs.last().copied(),
    };
    if excs.len() <= 1 {
        return unchanged();
    }
    let mut nodes: HashMap<ExceptionId<'a>, Node<'a>> = HashMap::new();
    let mut seen = HashSet::new();
    for &e in excs.iter().rev() {
        let Some(eid) = exception_id(&e) else {
            return unchanged();
        };
        let pid = e.mechanism().and_then(|m| m.parent_id());
        if pid == Some(eid) || !seen.insert(eid) {
            return unchanged();
        }
        nodes.entry(eid).or_default().exc = Some(e);
        if let Some(pid) = pid {
            nodes.entry(pid).or_default().children.push(e);
        }
    }
    let Some(root) = nodes.get(&ExceptionId::ROOT).and_then(|n| n.exc) else {
        return unchanged();
    };
    let kids = |e: &Exception<'a>| -> &[Exception<'a>] {
        exception_id(e)
            .and_then(|id| nodes.get(&id))
            .map_or(&[], |n| n.children.as_slice())
    };

    // Depth-first walk to the non-group descendants; `visited` guards against id cycles.
    let mut tops: Vec<Exception<'a>> = Vec::new();
    let mut visited: HashSet<usize> = HashSet::new();
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        if !visited.insert(e.index()) {
            continue;
        }
        if e.mechanism().is_some_and(|m| m.is_exception_group()) {
            // Reverse so the first child is walked first, as the recursive generator does.
            stack.extend(kids(&e).iter().rev());
        } else {
            tops.push(e);
        }
    }
    if tops.is_empty() {
        return unchanged();
    }
    // Stable sort, descending by the type's text (Python `sorted(..., reverse=True)`); a
    // missing type sorts as `str(None)`.
    tops.sort_by_key(|e| Reverse(e.ty().unwrap_or("None")));

    // A single top-level exception (every chain of `__cause__`s: its root is no group) is
    // distinct without comparing its values, which would cost a pass over its frames on every
    // title, culprit and grouping of the event.
    let mut distinct: Vec<Exception<'a>> = if tops.len() == 1 {
        tops
    } else {
        let mut distinct = Vec::new();
        let mut keys: Vec<(Vec<String>, bool)> = Vec::new();
        for e in tops {
            let key = exception_values(e, platform, true);
            if !keys.contains(&key) {
                keys.push(key);
                distinct.push(e);
            }
        }
        distinct
    };
    if let [only] = distinct[..] {
        let mut path = Vec::new();
        let mut visited: HashSet<usize> = HashSet::new();
        let mut cur = Some(only);
        while let Some(e) = cur {
            if !visited.insert(e.index()) {
                break;
            }
            path.push(e);
            cur = kids(&e).first().copied();
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn exc(ty: &str, id: i64, parent: Option<i64>, group: bool, func: &str) -> Value {
        let mut mech = json!({"type": "chained", "exception_id": id, "is_exception_group": group});
        if let Some(p) = parent {
            mech["parent_id"] = json!(p);
        }
        json!({"type": ty, "value": "v", "mechanism": mech,
               "stacktrace": {"frames": [{"module": "m", "function": func, "in_app": true}]}})
    }

    /// The selection's types and the main exception's index.
    fn select(list: Value) -> (Vec<String>, Option<usize>) {
        let event = json!({"exception": {"values": list}});
        let excs: Vec<Exception<'_>> = EventView::new(&event).exceptions().collect();
        let sel = select_exceptions(&excs, "python");
        let types = sel
            .exceptions
            .iter()
            .map(|e| e.ty().unwrap_or("").to_owned())
            .collect();
        (types, sel.main.map(|m| m.index()))
    }

    #[test]
    fn group_with_distinct_children_keeps_them_plus_root() {
        let list = json!([
            exc("KeyError", 2, Some(0), false, "import_rows"),
            exc("ValueError", 1, Some(0), false, "import_rows"),
            exc("ExceptionGroup", 0, None, true, "run"),
        ]);
        let (types, main) = select(list);
        assert_eq!(types, ["ValueError", "KeyError", "ExceptionGroup"]);
        assert_eq!(main, Some(2));
    }

    #[test]
    fn group_with_one_distinct_child_uses_it_and_its_chain() {
        let list = json!([
            exc("OSError", 3, Some(1), false, "read"),
            exc("ValueError", 2, Some(0), false, "parse"),
            exc("ValueError", 1, Some(0), false, "parse"),
            exc("ExceptionGroup", 0, None, true, "run"),
        ]);
        // Children are collected in reverse payload order, so id 1 comes first; its first
        // child (id 3) follows.
        let (types, main) = select(list);
        assert_eq!(types, ["ValueError", "OSError"]);
        assert_eq!(main, Some(2));
    }

    #[test]
    fn broken_trees_disable_the_filter() {
        let dup = json!([
            exc("A", 1, Some(0), false, "f"),
            exc("B", 1, Some(0), false, "g"),
            exc("G", 0, None, true, "h"),
        ]);
        assert_eq!(select(dup).0, ["A", "B", "G"]);
        let self_parent = json!([
            exc("A", 1, Some(1), false, "f"),
            exc("G", 0, None, true, "h")
        ]);
        assert_eq!(select(self_parent).0, ["A", "G"]);
        let plain = json!([{"type": "A"}, {"type": "B"}]);
        let (types, main) = select(plain);
        assert_eq!(types, ["A", "B"]);
        assert_eq!(main, Some(1));
    }

    #[test]
    fn cycles_terminate() {
        let list = json!([
            exc("G1", 1, Some(0), true, "f"),
            exc("G0", 0, Some(1), true, "g")
        ]);
        assert_eq!(select(list).0, ["G1", "G0"]);
    }

    #[test]
    fn main_exception_is_the_last_or_the_selected_one() {
        let main = |list: Value| {
            let event = json!({"exception": {"values": list}});
            main_exception(&EventView::new(&event)).map(|e| e.index())
        };
        assert_eq!(main(json!([{"type": "A"}, {"type": "B"}, {}])), Some(1));
        assert_eq!(main(json!([])), None);
        let group = json!([
            exc("ValueError", 1, Some(0), false, "parse"),
            exc("ExceptionGroup", 0, None, true, "run"),
        ]);
        assert_eq!(main(group), Some(0));
    }

    #[test]
    fn synthetic_type_is_omitted_and_value_is_fallback() {
        let event = json!({"exception": {"values": [
            {"type": "Error", "value": "took 30s", "mechanism": {"synthetic": true}},
            {"type": "KeyError", "value": "5"},
        ]}});
        let excs: Vec<Exception<'_>> = EventView::new(&event).exceptions().collect();
        assert_eq!(
            exception_values(excs[0], "node", true),
            (vec!["value:took <duration>".to_owned()], false)
        );
        assert_eq!(
            exception_values(excs[1], "python", true).0,
            ["type:KeyError", "value:<int>"]
        );
    }
}
