//! DWARF location descriptions (expressions and location lists) evaluated against a frame's
//! recovered registers and the stack copy, giving a variable's bytes.

use gimli::{AttributeValue, EvaluationResult, Location, Reader as _, UnitRef};

use super::capture::Memory;
use super::image::R;
use super::unwind::Regs;

/// What a frame offers an expression.
pub(crate) struct FrameCtx<'a> {
    pub(crate) regs: &'a Regs,
    /// `DW_AT_frame_base` of the physical frame's subprogram, evaluated.
    pub(crate) frame_base: Option<u64>,
    /// The frame's CFA (`DW_OP_call_frame_cfa`).
    pub(crate) cfa: u64,
    /// Runtime address = file address + `bias`.
    pub(crate) bias: u64,
    /// File address looked up in location lists (the return address minus one).
    pub(crate) probe: u64,
}

/// A variable's value as bytes, or why there is none.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Place {
    Bytes(Vec<u8>),
    /// No location at this address.
    OptimizedOut,
    /// A location exists but its register or memory could not be recovered.
    Unavailable,
}

/// Upper bound on the bytes of one variable read from its location.
const MAX_VAR_BYTES: usize = 64 * 1024;

/// The bytes of a variable with `DW_AT_location` / `DW_AT_const_value` `attrs`, `size` bytes.
pub(crate) fn variable(
    unit: UnitRef<'_, R>,
    location: Option<AttributeValue<R>>,
    const_value: Option<AttributeValue<R>>,
    size: usize,
    frame: &FrameCtx<'_>,
    mem: &mut Memory<'_>,
) -> Place {
    if let Some(c) = const_value {
        return match c {
            AttributeValue::Block(b) => {
                Place::Bytes(b.to_slice().map(|s| s.to_vec()).unwrap_or_default())
            }
            AttributeValue::Sdata(v) => Place::Bytes(v.to_le_bytes()[..size.min(8)].to_vec()),
            other => match other.udata_value() {
                Some(v) => Place::Bytes(v.to_le_bytes()[..size.min(8)].to_vec()),
                None => Place::Unavailable,
            },
        };
    }
    let expr = match location {
        None => return Place::OptimizedOut,
        Some(AttributeValue::Exprloc(e)) => e,
        Some(other) => match unit.attr_locations(other) {
            Ok(Some(mut list)) => loop {
                match list.next() {
                    Ok(Some(entry))
                        if entry.range.begin <= frame.probe && frame.probe < entry.range.end =>
                    {
                        break entry.data;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => return Place::OptimizedOut,
                    Err(_) => return Place::Unavailable,
                }
            },
            _ => return Place::Unavailable,
        },
    };
    evaluate(unit, expr, size.min(MAX_VAR_BYTES), frame, mem)
}

/// The value of a subprogram's `DW_AT_frame_base` in a frame.
pub(crate) fn frame_base(
    unit: UnitRef<'_, R>,
    attr: Option<AttributeValue<R>>,
    frame: &FrameCtx<'_>,
    mem: &mut Memory<'_>,
) -> Option<u64> {
    let Some(AttributeValue::Exprloc(expr)) = attr else {
        return None;
    };
    let pieces = run(unit, expr, frame, mem)?;
    match pieces.first()?.location {
        Location::Register { register } => frame.regs.get(register.0),
        Location::Address { address } => Some(address),
        Location::Value { value } => value.to_u64(!0).ok(),
        _ => None,
    }
}

fn evaluate(
    unit: UnitRef<'_, R>,
    expr: gimli::Expression<R>,
    size: usize,
    frame: &FrameCtx<'_>,
    mem: &mut Memory<'_>,
) -> Place {
    let Some(pieces) = run(unit, expr, frame, mem) else {
        return Place::Unavailable;
    };
    if pieces.is_empty() {
        return Place::OptimizedOut;
    }
    let mut out = Vec::with_capacity(size);
    for piece in &pieces {
        let want = match piece.size_in_bits {
            Some(bits) => usize::try_from(bits / 8).unwrap_or(MAX_VAR_BYTES),
            None => size.saturating_sub(out.len()),
        }
        .min(MAX_VAR_BYTES);
        let bytes = match &piece.location {
            Location::Empty => return Place::OptimizedOut,
            Location::Register { register } => match frame.regs.get(register.0) {
                Some(v) if want <= 8 => v.to_le_bytes()[..want].to_vec(),
                _ => return Place::Unavailable,
            },
            Location::Address { address } => match mem.read(*address, want) {
                Some(b) => b,
                None => return Place::Unavailable,
            },
            Location::Value { value } => match value.to_u64(!0) {
                Ok(v) => {
                    let mut b = v.to_le_bytes().to_vec();
                    b.resize(want, 0);
                    b
                }
                Err(_) => return Place::Unavailable,
            },
            Location::Bytes { value } => {
                let mut b = value.to_slice().map(|s| s.to_vec()).unwrap_or_default();
                b.resize(want, 0);
                b
            }
            Location::ImplicitPointer { .. } => return Place::Unavailable,
        };
        out.extend_from_slice(&bytes);
        if out.len() >= size {
            break;
        }
    }
    out.resize(size, 0);
    Place::Bytes(out)
}

/// Runs an expression to completion, answering its questions from the frame.
fn run(
    unit: UnitRef<'_, R>,
    expr: gimli::Expression<R>,
    frame: &FrameCtx<'_>,
    mem: &mut Memory<'_>,
) -> Option<Vec<gimli::Piece<R>>> {
    let mut eval = expr.evaluation(unit.encoding());
    let mut state = eval.evaluate().ok()?;
    for _ in 0..256 {
        state = match state {
            EvaluationResult::Complete => return Some(eval.result()),
            EvaluationResult::RequiresMemory { address, size, .. } => {
                let v = mem.read_uint(address, usize::from(size))?;
                eval.resume_with_memory(gimli::Value::Generic(v)).ok()?
            }
            EvaluationResult::RequiresRegister { register, .. } => {
                let v = frame.regs.get(register.0)?;
                eval.resume_with_register(gimli::Value::Generic(v)).ok()?
            }
            EvaluationResult::RequiresFrameBase => {
                eval.resume_with_frame_base(frame.frame_base?).ok()?
            }
            EvaluationResult::RequiresCallFrameCfa => {
                eval.resume_with_call_frame_cfa(frame.cfa).ok()?
            }
            EvaluationResult::RequiresRelocatedAddress(a) => eval
                .resume_with_relocated_address(a.wrapping_add(frame.bias))
                .ok()?,
            EvaluationResult::RequiresIndexedAddress { index, relocate } => {
                let a = unit.address(index).ok()?;
                let a = if relocate {
                    a.wrapping_add(frame.bias)
                } else {
                    a
                };
                eval.resume_with_indexed_address(a).ok()?
            }
            EvaluationResult::RequiresBaseType(_) => {
                eval.resume_with_base_type(gimli::ValueType::Generic).ok()?
            }
            // Entry values need the caller's call-site parameters; TLS and the rest are not
            // recoverable from a stack copy.
            _ => return None,
        };
    }
    None
}
