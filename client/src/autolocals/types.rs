//! Variable types read from DWARF DIEs once and cached by `.debug_info` offset: base types,
//! pointers, structs (with Rust enums' variant parts and generic parameters), C-like enums,
//! arrays and aliases — what the formatter needs, nothing more.

use std::collections::HashMap;
use std::sync::Arc;

use gimli::{AttributeValue, DebuggingInformationEntry, Reader as _, Unit};

use super::image::{Image, R};

/// A type or DIE, by its `.debug_info` offset.
pub(crate) type DieId = usize;

/// A struct member (or a variant's payload).
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) ty: Option<DieId>,
    pub(crate) offset: u64,
    die: DieId,
}

/// One variant of a Rust enum: its discriminant value (`None` = the default variant).
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub(crate) discr: Option<u64>,
    pub(crate) member: Member,
}

/// `DW_TAG_variant_part`: where the discriminant is and the variants.
#[derive(Debug, Clone, Default)]
pub(crate) struct VariantPart {
    pub(crate) discr: Option<Member>,
    pub(crate) variants: Vec<Variant>,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Base(gimli::DwAte),
    Pointer(Option<DieId>),
    Struct {
        members: Vec<Member>,
        variants: Option<VariantPart>,
        params: Vec<(String, Option<DieId>)>,
    },
    Union,
    Enum(Vec<(u64, String)>),
    Array {
        elem: Option<DieId>,
        count: Option<u64>,
    },
    Alias(Option<DieId>),
    Other,
}

/// A type: its DWARF name (unqualified, e.g. `Vec<u32, alloc::alloc::Global>`, `&str`).
#[derive(Debug, Clone)]
pub(crate) struct Type {
    pub(crate) name: String,
    pub(crate) size: Option<u64>,
    pub(crate) kind: Kind,
}

impl Type {
    pub(crate) fn member(&self, name: &str) -> Option<&Member> {
        match &self.kind {
            Kind::Struct { members, .. } => members.iter().find(|m| m.name == name),
            _ => None,
        }
    }

    pub(crate) fn param(&self, name: &str) -> Option<DieId> {
        match &self.kind {
            Kind::Struct { params, .. } => params.iter().find(|(n, _)| n == name)?.1,
            _ => None,
        }
    }
}

/// The type cache (kept across events on the worker).
#[derive(Default)]
pub(crate) struct Types {
    cache: HashMap<DieId, Option<Arc<Type>>>,
}

impl Types {
    /// The type at `id`, aliases (typedef, const, volatile) followed.
    pub(crate) fn get(&mut self, image: &mut Image, id: DieId) -> Option<Arc<Type>> {
        let mut id = id;
        for _ in 0..8 {
            let t = self.raw(image, id)?;
            match t.kind {
                Kind::Alias(Some(next)) => id = next,
                Kind::Alias(None) => return None,
                _ => return Some(t),
            }
        }
        None
    }

    fn raw(&mut self, image: &mut Image, id: DieId) -> Option<Arc<Type>> {
        if let Some(t) = self.cache.get(&id) {
            return t.clone();
        }
        let t = parse_type(image, id).map(Arc::new);
        if self.cache.len() > 100_000 {
            self.cache.clear();
        }
        self.cache.insert(id, t.clone());
        t
    }
}

/// `.debug_info` offset of a reference attribute.
pub(crate) fn reference(unit: &Unit<R>, v: AttributeValue<R>) -> Option<DieId> {
    match v {
        AttributeValue::UnitRef(o) => o.to_debug_info_offset(&unit.header).map(|d| d.0),
        AttributeValue::DebugInfoRef(d) => Some(d.0),
        _ => None,
    }
}

/// A string attribute.
pub(crate) fn string(
    image: &Image,
    unit: &Unit<R>,
    e: &DebuggingInformationEntry<R>,
    at: gimli::DwAt,
) -> Option<String> {
    let v = e.attr_value(at)?;
    let s = image.dwarf.attr_string(unit, v).ok()?;
    Some(s.to_string_lossy().ok()?.into_owned())
}

/// A DIE's own offset within `.debug_info`.
pub(crate) fn die_id(unit: &Unit<R>, e: &DebuggingInformationEntry<R>) -> Option<DieId> {
    e.offset().to_debug_info_offset(&unit.header).map(|d| d.0)
}

fn udata(e: &DebuggingInformationEntry<R>, at: gimli::DwAt) -> Option<u64> {
    e.attr_value(at)?.udata_value()
}

fn member(image: &Image, unit: &Unit<R>, e: &DebuggingInformationEntry<R>) -> Option<Member> {
    Some(Member {
        name: string(image, unit, e, gimli::DW_AT_name).unwrap_or_default(),
        ty: e
            .attr_value(gimli::DW_AT_type)
            .and_then(|v| reference(unit, v)),
        offset: udata(e, gimli::DW_AT_data_member_location).unwrap_or(0),
        die: die_id(unit, e)?,
    })
}

fn parse_type(image: &mut Image, id: DieId) -> Option<Type> {
    let unit = image.unit_at(id)?;
    let uoff = gimli::DebugInfoOffset(id).to_unit_offset(&unit.header)?;
    let mut tree = unit.entries_tree(Some(uoff)).ok()?;
    let root = tree.root().ok()?;
    let e = root.entry();
    let tag = e.tag();
    let name = string(image, &unit, e, gimli::DW_AT_name).unwrap_or_default();
    let size = udata(e, gimli::DW_AT_byte_size);
    let target = e
        .attr_value(gimli::DW_AT_type)
        .and_then(|v| reference(&unit, v));
    let encoding = match e.attr_value(gimli::DW_AT_encoding) {
        Some(AttributeValue::Encoding(enc)) => Some(enc),
        _ => None,
    };
    let kind = match tag {
        gimli::DW_TAG_base_type => Kind::Base(encoding.unwrap_or(gimli::DwAte(0))),
        gimli::DW_TAG_pointer_type
        | gimli::DW_TAG_reference_type
        | gimli::DW_TAG_rvalue_reference_type => Kind::Pointer(target),
        gimli::DW_TAG_typedef
        | gimli::DW_TAG_const_type
        | gimli::DW_TAG_volatile_type
        | gimli::DW_TAG_restrict_type
        | gimli::DW_TAG_atomic_type => Kind::Alias(target),
        gimli::DW_TAG_union_type => Kind::Union,
        gimli::DW_TAG_structure_type | gimli::DW_TAG_class_type => {
            let mut members = Vec::new();
            let mut params = Vec::new();
            let mut variants = None;
            let mut children = root.children();
            while let Ok(Some(child)) = children.next() {
                let ce = child.entry();
                match ce.tag() {
                    gimli::DW_TAG_member => members.extend(member(image, &unit, ce)),
                    gimli::DW_TAG_template_type_parameter => params.push((
                        string(image, &unit, ce, gimli::DW_AT_name).unwrap_or_default(),
                        ce.attr_value(gimli::DW_AT_type)
                            .and_then(|v| reference(&unit, v)),
                    )),
                    gimli::DW_TAG_variant_part => {
                        let discr = ce
                            .attr_value(gimli::DW_AT_discr)
                            .and_then(|v| reference(&unit, v));
                        variants = Some(variant_part(image, &unit, child, discr));
                    }
                    _ => {}
                }
            }
            Kind::Struct {
                members,
                variants,
                params,
            }
        }
        gimli::DW_TAG_enumeration_type => {
            let mut values = Vec::new();
            let mut children = root.children();
            while let Ok(Some(child)) = children.next() {
                let ce = child.entry();
                if ce.tag() == gimli::DW_TAG_enumerator {
                    let v = match ce.attr_value(gimli::DW_AT_const_value) {
                        Some(AttributeValue::Sdata(s)) => s as u64,
                        Some(other) => other.udata_value().unwrap_or(0),
                        None => 0,
                    };
                    values.push((
                        v,
                        string(image, &unit, ce, gimli::DW_AT_name).unwrap_or_default(),
                    ));
                }
            }
            Kind::Enum(values)
        }
        gimli::DW_TAG_array_type => {
            let mut count = None;
            let mut children = root.children();
            while let Ok(Some(child)) = children.next() {
                let ce = child.entry();
                if ce.tag() == gimli::DW_TAG_subrange_type {
                    count = udata(ce, gimli::DW_AT_count)
                        .or_else(|| udata(ce, gimli::DW_AT_upper_bound).map(|u| u + 1));
                    break;
                }
            }
            Kind::Array {
                elem: target,
                count,
            }
        }
        _ => Kind::Other,
    };
    Some(Type { name, size, kind })
}

fn variant_part(
    image: &Image,
    unit: &Unit<R>,
    node: gimli::EntriesTreeNode<'_, '_, R>,
    discr: Option<DieId>,
) -> VariantPart {
    let mut part = VariantPart::default();
    let mut children = node.children();
    while let Ok(Some(child)) = children.next() {
        let ce = child.entry();
        match ce.tag() {
            gimli::DW_TAG_member => {
                if let Some(m) = member(image, unit, ce) {
                    if discr.is_none_or(|d| d == m.die) {
                        part.discr = Some(m);
                    }
                }
            }
            gimli::DW_TAG_variant => {
                let value = ce
                    .attr_value(gimli::DW_AT_discr_value)
                    .and_then(|v| match v {
                        AttributeValue::Sdata(s) => Some(s as u64),
                        other => other.udata_value(),
                    });
                let mut inner = child.children();
                while let Ok(Some(m)) = inner.next() {
                    if m.entry().tag() == gimli::DW_TAG_member {
                        if let Some(member) = member(image, unit, m.entry()) {
                            part.variants.push(Variant {
                                discr: value,
                                member,
                            });
                        }
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    part
}
