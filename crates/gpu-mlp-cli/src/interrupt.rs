//! SIGINT / SIGTERM / SIGHUP as a request to stop after the current epoch, so a run a sweep
//! engine or a batch scheduler cancels, or whose terminal closes, still writes its summary and
//! its checkpoint. The first signal only sets a flag (the handler resets itself), so a second
//! one ends the process at once, as usual. Started with SIGHUP ignored (`nohup`), the run keeps
//! ignoring it. SIGINT and SIGTERM are always heard, even where the process was started with
//! them ignored (a non-interactive shell's background job starts with SIGINT ignored): they
//! are how a sweep engine or a scheduler cancels a run, and the run must save when it does.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal received, 0 for none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

pub use gpu_mlp::error::Interrupted;

/// From now on, SIGINT, SIGTERM and SIGHUP set the flag [`requested`] reads instead of ending
/// the process (once: the next one ends it). Does nothing where there are no such signals.
pub fn install() {
    #[cfg(unix)]
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        if signal == libc::SIGHUP && ignored(signal) {
            continue;
        }
        // SAFETY: `on_signal` only stores into an atomic, which is async-signal-safe; the
        // sigaction struct is zeroed (an empty mask) and fully set before the call.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// True when the process was started with `signal` ignored (`nohup` ignores SIGHUP).
#[cfg(unix)]
fn ignored(signal: libc::c_int) -> bool {
    // SAFETY: with a null new action, sigaction only reads the current one into `current`.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

#[cfg(unix)]
extern "C" fn on_signal(signal: libc::c_int) {
    SIGNAL.store(signal, Ordering::SeqCst);
}

/// The signal that asked the run to stop, if one came since [`install`].
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}
