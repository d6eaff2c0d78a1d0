//! Values formatted by their DWARF type, in the shape of Rust's `Debug` output so that they
//! read like [`locals!`](crate::locals!) values: integers, floats, `bool`, `char`; `&str` and
//! `String` quoted and escaped; slices and `Vec` as `[a, b, …]` with the first
//! [`MAX_ITEMS`] elements (`… N more`); Rust enums (`Option`, `Result`…) by their variant
//! parts; structs and tuples field by field; references followed once. Beyond the depth,
//! width or byte limits a value ends in `…`. Fields with secret names show `[Filtered]`.

use std::fmt::Write as _;

use super::capture::{le_uint, Memory};
use super::image::Image;
use super::types::{DieId, Kind, Member, Type, Types, VariantPart};
use crate::locals::FILTERED;
use crate::options::is_secret_name;

/// Elements shown of a slice, `Vec` or array.
pub(crate) const MAX_ITEMS: usize = 16;
/// Nesting shown of structs and enums.
const MAX_DEPTH: usize = 6;
/// Values visited per variable (bounds CPU on huge or cyclic data).
const MAX_NODES: usize = 2_000;
/// Bytes read behind one pointer.
const MAX_READ: usize = 64 * 1024;

/// Formats values of one event; `max_len` bytes per variable.
pub(crate) struct Formatter<'a, 'm> {
    pub(crate) image: &'a mut Image,
    pub(crate) types: &'a mut Types,
    pub(crate) mem: &'a mut Memory<'m>,
    pub(crate) max_len: usize,
    /// Fields with these names are shown as `[Filtered]`, like variables.
    secret_names: &'a [String],
    nodes: usize,
}

impl<'a, 'm> Formatter<'a, 'm> {
    pub(crate) fn new(
        image: &'a mut Image,
        types: &'a mut Types,
        mem: &'a mut Memory<'m>,
        max_len: usize,
        secret_names: &'a [String],
    ) -> Self {
        Formatter {
            image,
            types,
            mem,
            max_len,
            secret_names,
            nodes: 0,
        }
    }

    /// The byte size of type `ty`.
    pub(crate) fn size_of(&mut self, ty: Option<DieId>) -> Option<u64> {
        self.ty(ty)?.size
    }

    fn ty(&mut self, ty: Option<DieId>) -> Option<std::sync::Arc<Type>> {
        self.types.get(self.image, ty?)
    }

    /// `bytes` of type `ty` as text, cut at `max_len` bytes with a trailing `…`.
    pub(crate) fn format(&mut self, ty: Option<DieId>, bytes: &[u8]) -> String {
        self.nodes = 0;
        let mut out = String::new();
        self.value(ty, bytes, 0, 1, &mut out);
        if out.len() > self.max_len {
            let mut cut = self.max_len;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
        }
        out
    }

    fn full(&self, out: &str) -> bool {
        out.len() > self.max_len || self.nodes > MAX_NODES
    }

    fn value(
        &mut self,
        ty: Option<DieId>,
        bytes: &[u8],
        depth: usize,
        derefs: usize,
        out: &mut String,
    ) {
        if self.full(out) {
            return;
        }
        self.nodes += 1;
        let Some(t) = self.ty(ty) else {
            out.push_str("<unknown type>");
            return;
        };
        if let Some(size) = t.size {
            if (bytes.len() as u64) < size {
                out.push_str("<unavailable>");
                return;
            }
        }
        match &t.kind {
            Kind::Base(enc) => base(*enc, t.size.unwrap_or(0) as usize, bytes, out),
            Kind::Enum(values) => {
                let v = le_uint(&bytes[..(t.size.unwrap_or(0) as usize).min(8)]);
                match values.iter().find(|(x, _)| same(*x, v, t.size)) {
                    Some((_, name)) => out.push_str(name),
                    None => {
                        let _ = write!(out, "{v}");
                    }
                }
            }
            Kind::Pointer(target) => self.pointer(&t, *target, bytes, depth, derefs, out),
            Kind::Struct {
                variants: Some(vp), ..
            } => self.variant(vp, bytes, depth, derefs, out),
            Kind::Struct { members, .. } => self.structure(&t, members, bytes, depth, derefs, out),
            Kind::Array { elem, count } => {
                let esize = self.size_of(*elem).unwrap_or(0) as usize;
                let count = count.unwrap_or(0) as usize;
                let shown = bytes.len().checked_div(esize).map_or(0, |n| count.min(n));
                self.list(
                    *elem,
                    esize,
                    &bytes[..shown * esize],
                    count,
                    depth,
                    derefs,
                    out,
                );
            }
            Kind::Union => {
                let _ = write!(out, "<union {}>", short(&t.name));
            }
            Kind::Alias(_) | Kind::Other => {
                let _ = write!(out, "<{}>", t.name);
            }
        }
    }

    fn pointer(
        &mut self,
        t: &Type,
        target: Option<DieId>,
        bytes: &[u8],
        depth: usize,
        derefs: usize,
        out: &mut String,
    ) {
        let addr = le_uint(&bytes[..bytes.len().min(8)]);
        let tsize = self.size_of(target).map(|s| s as usize);
        if t.name.starts_with('*') || addr == 0 || derefs == 0 || target.is_none() {
            let _ = write!(out, "{addr:#x}");
            return;
        }
        match tsize {
            Some(size) if size <= MAX_READ => match self.mem.read(addr, size) {
                Some(b) => self.value(target, &b, depth + 1, derefs - 1, out),
                None => {
                    let _ = write!(out, "<unreadable {addr:#x}>");
                }
            },
            _ => {
                let _ = write!(out, "{addr:#x}");
            }
        }
    }

    fn structure(
        &mut self,
        t: &Type,
        members: &[Member],
        bytes: &[u8],
        depth: usize,
        derefs: usize,
        out: &mut String,
    ) {
        let name = t.name.as_str();
        if name == "&str" || name == "&mut str" {
            return self.text(t.member("data_ptr"), t.member("length"), bytes, out);
        }
        if name.starts_with("&[") || name.starts_with("&mut [") {
            let elem = t
                .member("data_ptr")
                .and_then(|m| self.ty(m.ty))
                .and_then(|p| match p.kind {
                    Kind::Pointer(target) => target,
                    _ => None,
                });
            let (ptr, len) = (
                field_uint(t.member("data_ptr"), bytes),
                field_uint(t.member("length"), bytes),
            );
            return self.buffer(elem, ptr, len, depth, derefs, out);
        }
        if name == "String" {
            if let Some(vec) = t.member("vec").and_then(|m| self.ty(m.ty)) {
                let off = t.member("vec").map_or(0, |m| m.offset as usize);
                let inner = bytes.get(off..).unwrap_or_default();
                let (ptr, len) = (
                    self.vec_ptr(&vec, inner),
                    field_uint(vec.member("len"), inner),
                );
                return self.string_at(ptr, len, out);
            }
        }
        if name.starts_with("Arc<") || name.starts_with("Rc<") {
            // Like `Debug`: the shared value, behind `ptr` → `ArcInner { strong, weak, data }`.
            let ptr = members
                .iter()
                .find_map(|m| self.first_pointer(m.ty, bytes.get(m.offset as usize..)?, 0));
            if let Some((addr, Some(inner))) = ptr {
                return self.shared(addr, inner, depth, derefs, out);
            }
        }
        if name.starts_with("Vec<") {
            let elem = t.param("T");
            let (ptr, len) = (self.vec_ptr(t, bytes), field_uint(t.member("len"), bytes));
            return self.buffer(elem, ptr, len, depth, derefs, out);
        }
        if depth >= MAX_DEPTH {
            out.push('…');
            return;
        }
        let tuple = name.starts_with('(');
        let positional = !members.is_empty() && members.iter().all(|m| is_positional(&m.name));
        if tuple {
            out.push('(');
        } else {
            out.push_str(&short(name));
            if members.is_empty() {
                return;
            }
            out.push_str(if positional { "(" } else { " { " });
        }
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if !positional && !tuple {
                out.push_str(&m.name);
                out.push_str(": ");
            }
            if !positional && is_secret_name(self.secret_names, &m.name) {
                out.push_str(FILTERED);
                continue;
            }
            let field = bytes.get(m.offset as usize..).unwrap_or_default();
            self.value(m.ty, field, depth + 1, derefs, out);
            if self.full(out) {
                return;
            }
        }
        if tuple && members.len() == 1 {
            out.push(',');
        }
        out.push_str(if tuple || positional { ")" } else { " }" });
    }

    fn variant(
        &mut self,
        vp: &VariantPart,
        bytes: &[u8],
        depth: usize,
        derefs: usize,
        out: &mut String,
    ) {
        let chosen = match &vp.discr {
            Some(d) => {
                let size = self.size_of(d.ty).unwrap_or(8) as usize;
                let raw = bytes.get(d.offset as usize..d.offset as usize + size.min(8));
                let value = raw.map(le_uint);
                vp.variants
                    .iter()
                    .find(|v| matches!((v.discr, value), (Some(x), Some(y)) if same(x, y, Some(size as u64))))
                    .or_else(|| vp.variants.iter().find(|v| v.discr.is_none()))
            }
            None => vp.variants.first(),
        };
        match chosen {
            Some(v) => {
                let payload = bytes.get(v.member.offset as usize..).unwrap_or_default();
                self.value(v.member.ty, payload, depth, derefs, out);
            }
            None => out.push_str("<unknown variant>"),
        }
    }

    /// The `data` of the `ArcInner`/`RcInner` at `addr`.
    fn shared(&mut self, addr: u64, inner: DieId, depth: usize, derefs: usize, out: &mut String) {
        let it = self.ty(Some(inner));
        let data = it
            .as_ref()
            .and_then(|t| Some((t.member("data")?.clone(), t.size?)));
        match data {
            Some((data, size)) if derefs > 0 && addr != 0 && size as usize <= MAX_READ => {
                match self.mem.read(addr, size as usize) {
                    Some(b) => {
                        let field = b.get(data.offset as usize..).unwrap_or_default();
                        self.value(data.ty, field, depth + 1, derefs - 1, out);
                    }
                    None => {
                        let _ = write!(out, "<unreadable {addr:#x}>");
                    }
                }
            }
            _ => {
                let _ = write!(out, "{addr:#x}");
            }
        }
    }

    /// The data pointer of a `Vec`: the first pointer inside its `buf`.
    fn vec_ptr(&mut self, vec: &Type, bytes: &[u8]) -> u64 {
        let Some(buf) = vec.member("buf") else {
            return 0;
        };
        let inner = bytes.get(buf.offset as usize..).unwrap_or_default();
        self.first_pointer(buf.ty, inner, 0)
            .map_or(0, |(addr, _)| addr)
    }

    /// The first pointer inside a value: its address and pointee type.
    fn first_pointer(
        &mut self,
        ty: Option<DieId>,
        bytes: &[u8],
        depth: usize,
    ) -> Option<(u64, Option<DieId>)> {
        let t = self.ty(ty)?;
        match &t.kind {
            Kind::Pointer(target) => Some((le_uint(bytes.get(..8)?), *target)),
            Kind::Struct { members, .. } if depth < 8 => members
                .iter()
                .find_map(|m| self.first_pointer(m.ty, bytes.get(m.offset as usize..)?, depth + 1)),
            _ => None,
        }
    }

    fn text(&mut self, ptr: Option<&Member>, len: Option<&Member>, bytes: &[u8], out: &mut String) {
        let (ptr, len) = (field_uint(ptr, bytes), field_uint(len, bytes));
        self.string_at(ptr, len, out);
    }

    fn string_at(&mut self, ptr: u64, len: u64, out: &mut String) {
        let take = (len as usize).min(self.max_len + 4);
        match self.mem.read(ptr, take) {
            Some(b) => match text_of(&b, take < len as usize) {
                Some(text) => {
                    let _ = write!(out, "{text:?}");
                    if take < len as usize {
                        out.push('…');
                    }
                }
                // Rust strings are UTF-8: these bytes are no longer the string (a buffer
                // freed or reused between the capture and the worker's read).
                None => {
                    let _ = write!(out, "<changed since the capture {ptr:#x}>");
                }
            },
            None if len == 0 => out.push_str("\"\""),
            None => {
                let _ = write!(out, "<unreadable {ptr:#x}>");
            }
        }
    }

    fn buffer(
        &mut self,
        elem: Option<DieId>,
        ptr: u64,
        len: u64,
        depth: usize,
        derefs: usize,
        out: &mut String,
    ) {
        let esize = self.size_of(elem).unwrap_or(0) as usize;
        let len = len as usize;
        let shown = MAX_READ
            .checked_div(esize)
            .map_or(0, |n| len.min(MAX_ITEMS).min(n));
        match self.mem.read(ptr, shown * esize) {
            Some(b) => self.list(elem, esize, &b, len, depth, derefs, out),
            None => {
                let _ = write!(out, "<unreadable {ptr:#x}>");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn list(
        &mut self,
        elem: Option<DieId>,
        esize: usize,
        bytes: &[u8],
        len: usize,
        depth: usize,
        derefs: usize,
        out: &mut String,
    ) {
        out.push('[');
        let shown = bytes.len().checked_div(esize).unwrap_or(0);
        for i in 0..shown {
            if i > 0 {
                out.push_str(", ");
            }
            self.value(
                elem,
                &bytes[i * esize..(i + 1) * esize],
                depth + 1,
                derefs,
                out,
            );
            if self.full(out) {
                return;
            }
        }
        if len > shown {
            if shown > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "… {} more", len - shown);
        }
        out.push(']');
    }
}

/// The bytes as text when they are UTF-8; a `cut` read may end inside a character.
fn text_of(b: &[u8], cut: bool) -> Option<&str> {
    match std::str::from_utf8(b) {
        Ok(s) => Some(s),
        Err(e) if cut && e.error_len().is_none() => std::str::from_utf8(&b[..e.valid_up_to()]).ok(),
        Err(_) => None,
    }
}

fn field_uint(m: Option<&Member>, bytes: &[u8]) -> u64 {
    m.and_then(|m| bytes.get(m.offset as usize..m.offset as usize + 8))
        .map_or(0, le_uint)
}

/// Equal in the low `size` bytes (discriminants and enumerators narrower than 8 bytes).
fn same(a: u64, b: u64, size: Option<u64>) -> bool {
    match size {
        Some(s) if s < 8 => {
            let mask = (1u64 << (s * 8)) - 1;
            a & mask == b & mask
        }
        _ => a == b,
    }
}

fn is_positional(name: &str) -> bool {
    name.strip_prefix("__")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A type name as `Debug` prints it: no generic arguments.
fn short(name: &str) -> String {
    match name.find('<') {
        Some(i) if !name.starts_with('<') => name[..i].to_owned(),
        _ => name.to_owned(),
    }
}

fn base(enc: gimli::DwAte, size: usize, bytes: &[u8], out: &mut String) {
    let b = &bytes[..size.min(bytes.len())];
    let mut wide = [0u8; 16];
    wide[..b.len().min(16)].copy_from_slice(&b[..b.len().min(16)]);
    let unsigned = u128::from_le_bytes(wide);
    let _ = match enc {
        _ if size == 0 => write!(out, "()"),
        gimli::DW_ATE_boolean => write!(out, "{}", unsigned != 0),
        gimli::DW_ATE_signed | gimli::DW_ATE_signed_char => {
            let shift = 128 - 8 * size.min(16) as u32;
            write!(out, "{}", ((unsigned << shift) as i128) >> shift)
        }
        gimli::DW_ATE_unsigned | gimli::DW_ATE_unsigned_char => write!(out, "{unsigned}"),
        gimli::DW_ATE_float if size == 4 => write!(out, "{:?}", f32::from_bits(unsigned as u32)),
        gimli::DW_ATE_float if size == 8 => write!(out, "{:?}", f64::from_bits(unsigned as u64)),
        gimli::DW_ATE_UTF => match char::from_u32(unsigned as u32) {
            Some(c) => write!(out, "{c:?}"),
            None => write!(out, "{unsigned:#x}"),
        },
        _ => write!(out, "<{size}-byte value>"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_values_read_like_debug() {
        let mut s = String::new();
        base(gimli::DW_ATE_signed, 4, &(-7i32).to_le_bytes(), &mut s);
        assert_eq!(s, "-7");
        s.clear();
        base(gimli::DW_ATE_float, 8, &2.5f64.to_le_bytes(), &mut s);
        assert_eq!(s, "2.5");
        s.clear();
        base(gimli::DW_ATE_UTF, 4, &('é' as u32).to_le_bytes(), &mut s);
        assert_eq!(s, "'é'");
        s.clear();
        base(gimli::DW_ATE_boolean, 1, &[1], &mut s);
        assert_eq!(s, "true");
        assert!(same(0xff, 0xffff_ffff_ffff_ffff, Some(1)));
        assert_eq!(short("Wrapper<u32, alloc::Global>"), "Wrapper");
        assert!(is_positional("__0") && !is_positional("__awaitee"));
        assert_eq!(text_of("añb".as_bytes(), false), Some("añb"));
        assert_eq!(text_of(&"añb".as_bytes()[..2], true), Some("a"));
        assert_eq!(text_of(&"añb".as_bytes()[..2], false), None);
        assert_eq!(text_of(&[0x61, 0xff, 0x10, 0x7f], true), None);
    }
}
