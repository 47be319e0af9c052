//! Modes in uniforms: a shader reads a number, the host sets it only from its typed enum
//! ([`Code`] of a [`Numbered`] enum, declared with `numbered_enum!`).

use bytemuck::{Pod, Zeroable};
use std::marker::PhantomData;

/// An enum whose variants are numbers a shader reads (declared with `numbered_enum!`).
pub trait Numbered: Copy + 'static {
    fn number(self) -> u32;
}

/// A mode in a uniform: the number of an `E` (one u32 in the shader), set only from an `E`.
#[repr(transparent)]
pub struct Code<E>(u32, PhantomData<E>);

impl<E: Numbered> Code<E> {
    pub fn new(mode: E) -> Self {
        Self(mode.number(), PhantomData)
    }

    /// The number the shader reads.
    pub fn number(self) -> u32 {
        self.0
    }
}

impl<E: Numbered> From<E> for Code<E> {
    fn from(mode: E) -> Self {
        Self::new(mode)
    }
}

impl<E: Numbered> PartialEq<E> for Code<E> {
    fn eq(&self, mode: &E) -> bool {
        self.0 == mode.number()
    }
}

impl<E> PartialEq for Code<E> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<E> Clone for Code<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Code<E> {}

impl<E> Default for Code<E> {
    /// Number 0: the first variant of every mode enum.
    fn default() -> Self {
        Self(0, PhantomData)
    }
}

impl<E> std::fmt::Debug for Code<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", std::any::type_name::<E>(), self.0)
    }
}

// SAFETY: `Code<E>` is `repr(transparent)` over a u32 (PhantomData is a zero-sized, alignment-1
// field): every bit pattern is valid, all zeros included, and there is no padding.
unsafe impl<E: 'static> Zeroable for Code<E> {}
// SAFETY: as above.
unsafe impl<E: 'static> Pod for Code<E> {}
