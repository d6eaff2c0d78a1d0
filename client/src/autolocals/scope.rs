//! The variables in scope at an address: a subprogram's or inlined subroutine's formal
//! parameters and variables, descending into the lexical blocks that cover the address (not
//! into nested inlined calls, which are frames of their own). Names and types come through
//! `DW_AT_abstract_origin` for inlined and out-of-line instances; parameters and variables the
//! origin declares but the instance lost are kept without a location (`<optimized out>`).

use gimli::{AttributeValue, DebuggingInformationEntry, Unit};

use super::image::{Image, R};
use super::types::{die_id, reference, string, DieId};

/// One parameter or local variable.
#[derive(Debug)]
pub(crate) struct VarDie {
    /// The DIE itself.
    id: DieId,
    pub(crate) name: String,
    pub(crate) ty: Option<DieId>,
    pub(crate) location: Option<AttributeValue<R>>,
    pub(crate) const_value: Option<AttributeValue<R>>,
}

/// What a scope DIE holds at `probe`.
#[derive(Debug, Default)]
pub(crate) struct ScopeVars {
    pub(crate) vars: Vec<VarDie>,
    /// The DIE declares variables or scopes at all (with line tables only it has none, at
    /// most inlined calls).
    pub(crate) declares_variables: bool,
}

const MAX_VARS: usize = 256;

/// The variables of the scope DIE `die` (a `.debug_info` offset) at file address `probe`.
pub(crate) fn scope_vars(image: &mut Image, die: DieId, probe: u64) -> ScopeVars {
    let mut out = ScopeVars::default();
    let mut origins_seen: Vec<DieId> = Vec::new();
    let Some(unit) = image.unit_at(die) else {
        return out;
    };
    let Some(uoff) = gimli::DebugInfoOffset(die).to_unit_offset(&unit.header) else {
        return out;
    };
    let origin = unit
        .entry(uoff)
        .ok()
        .and_then(|e| e.attr_value(gimli::DW_AT_abstract_origin))
        .and_then(|v| reference(&unit, v));
    walk(image, &unit, uoff, probe, 0, &mut out, &mut origins_seen);
    if let Some(origin) = origin {
        // Declared by the origin, absent from this instance: optimized out.
        let mut declared = ScopeVars::default();
        if let Some(ounit) = image.unit_at(origin) {
            if let Some(ooff) = gimli::DebugInfoOffset(origin).to_unit_offset(&ounit.header) {
                let mut none = Vec::new();
                walk(image, &ounit, ooff, u64::MAX, 0, &mut declared, &mut none);
                for v in declared.vars {
                    let shown = out.vars.iter().any(|x| x.name == v.name);
                    if !origins_seen.contains(&v.id) && !shown && out.vars.len() < MAX_VARS {
                        out.vars.push(VarDie {
                            location: None,
                            const_value: None,
                            ..v
                        });
                    }
                }
            }
        }
    }
    out
}

fn is_var(e: &DebuggingInformationEntry<R>) -> bool {
    matches!(
        e.tag(),
        gimli::DW_TAG_formal_parameter | gimli::DW_TAG_variable
    )
}

fn walk(
    image: &mut Image,
    unit: &Unit<R>,
    off: gimli::UnitOffset,
    probe: u64,
    depth: usize,
    out: &mut ScopeVars,
    origins_seen: &mut Vec<DieId>,
) {
    let Ok(mut tree) = unit.entries_tree(Some(off)) else {
        return;
    };
    let Ok(root) = tree.root() else {
        return;
    };
    let mut blocks = Vec::new();
    let mut children = root.children();
    while let Ok(Some(child)) = children.next() {
        let e = child.entry();
        out.declares_variables |= is_var(e) || e.tag() == gimli::DW_TAG_lexical_block;
        if is_var(e) {
            if out.vars.len() >= MAX_VARS {
                continue;
            }
            if let Some(v) = var_die(image, unit, e, origins_seen) {
                // A shadowing variable of an inner block replaces the outer one.
                out.vars.retain(|x| x.name != v.name);
                out.vars.push(v);
            }
        } else if e.tag() == gimli::DW_TAG_lexical_block && depth < 32 {
            let covers = probe == u64::MAX
                || image.dwarf.die_ranges(unit, e).is_ok_and(|mut r| {
                    std::iter::from_fn(|| r.next().ok().flatten())
                        .any(|r| r.begin <= probe && probe < r.end)
                });
            if covers && probe != u64::MAX {
                blocks.push(e.offset());
            }
        }
    }
    drop(tree);
    for b in blocks {
        walk(image, unit, b, probe, depth + 1, out, origins_seen);
    }
}

fn var_die(
    image: &mut Image,
    unit: &Unit<R>,
    e: &DebuggingInformationEntry<R>,
    origins_seen: &mut Vec<DieId>,
) -> Option<VarDie> {
    let mut name = string(image, unit, e, gimli::DW_AT_name);
    let mut ty = e
        .attr_value(gimli::DW_AT_type)
        .and_then(|v| reference(unit, v));
    let mut artificial = e.attr_value(gimli::DW_AT_artificial).is_some();
    if let Some(origin) = e
        .attr_value(gimli::DW_AT_abstract_origin)
        .and_then(|v| reference(unit, v))
    {
        origins_seen.push(origin);
        let ounit = image.unit_at(origin)?;
        let ooff = gimli::DebugInfoOffset(origin).to_unit_offset(&ounit.header)?;
        let oe = ounit.entry(ooff).ok()?;
        name = name.or_else(|| string(image, &ounit, &oe, gimli::DW_AT_name));
        ty = ty.or_else(|| {
            oe.attr_value(gimli::DW_AT_type)
                .and_then(|v| reference(&ounit, v))
        });
        artificial |= oe.attr_value(gimli::DW_AT_artificial).is_some();
    }
    let name = name?;
    // Compiler temporaries (`__awaitee`, `__next`…) and artificial variables are not the
    // application's.
    if artificial && name != "self" || name.starts_with("__") {
        return None;
    }
    Some(VarDie {
        id: die_id(unit, e)?,
        name,
        ty,
        location: e.attr_value(gimli::DW_AT_location),
        const_value: e.attr_value(gimli::DW_AT_const_value),
    })
}
