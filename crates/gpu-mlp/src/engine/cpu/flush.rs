//! Flush-to-zero for the threads the CPU engine computes on.
//!
//! Adam's moments of inputs that are rarely active (MNIST's border pixels) decay by β per step
//! into subnormal floats, which x86 cores add and multiply many times slower than normal ones:
//! an epoch slowed down as training went on. With subnormals flushed, such values become 0,
//! which changes the results only where a value is below 2⁻¹²⁶ ≈ 1.2e-38.
//!
//! The mode is a per-thread register, so it is set once on each worker thread when the worker
//! starts (`cpu::workers`), never on the caller's thread.

/// Sets flush-to-zero and denormals-are-zero on the calling thread: on x86_64, MXCSR's FTZ
/// (results) and DAZ (inputs) bits; on aarch64, FPCR's FZ bit (both). Elsewhere it does
/// nothing and subnormals keep their IEEE meaning.
pub fn flush_subnormals_on_this_thread() {
    #[cfg(target_arch = "x86_64")]
    {
        const FLUSH_TO_ZERO: u32 = 1 << 15;
        const DENORMALS_ARE_ZERO: u32 = 1 << 6;
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr only read and write MXCSR and the 4 bytes of `csr`; every
        // x86_64 core has both instructions and both bits.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
            csr |= FLUSH_TO_ZERO | DENORMALS_ARE_ZERO;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        const FLUSH_TO_ZERO: u64 = 1 << 24;
        let mut fpcr: u64;
        // SAFETY: FPCR is readable and writable at EL0; FZ only changes how subnormals round.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
            fpcr |= FLUSH_TO_ZERO;
            std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack, preserves_flags));
        }
    }
}

/// Whether this thread flushes subnormals: true after `flush_subnormals_on_this_thread` on
/// x86_64 and aarch64.
pub fn flushes_subnormals() -> bool {
    let tiny = std::hint::black_box(f32::MIN_POSITIVE);
    let half = std::hint::black_box(0.5f32);
    tiny * half == 0.0
}
