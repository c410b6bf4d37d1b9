//! Running a deeply recursive engine (the jsonnet evaluator) without letting a hostile input
//! abort the process.
//!
//! The engine recurses once per nesting level of its input while parsing and manifesting, and
//! a stack overflow in Rust is not a panic: the runtime prints "has overflowed its stack" and
//! aborts (exit 134), with no message naming the input. So the work runs on a thread of its
//! own with a large stack (reserved, not committed: only the pages it touches cost memory),
//! and while it runs, a SIGSEGV/SIGBUS handler recognises a fault in that thread's guard
//! region. It then writes the caller's message and exits with status 2 (bad input): nothing
//! has been written yet at that point, since the engine only reads. Any other fault is handed
//! to the handler that was there before (the Rust runtime's), so real bugs still crash loudly.

use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The guarded thread's stack: `[LOW, HIGH)`; 0 when no guarded thread runs.
static LOW: AtomicUsize = AtomicUsize::new(0);
static HIGH: AtomicUsize = AtomicUsize::new(0);
/// The message to print (a leaked, NUL-free byte string) and its length.
static MESSAGE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static MESSAGE_LEN: AtomicUsize = AtomicUsize::new(0);
/// The handlers that were installed before ours, to hand other faults to.
static PREVIOUS: OnceLock<(SigAction, SigAction)> = OnceLock::new();
/// One guarded thread at a time: the statics above describe it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How far below the stack's low end a fault still counts as an overflow: the guard page and
/// a frame that jumped past it.
const BELOW: usize = 1 << 20;
/// How far above it: the runtime's own guard page may sit inside the mapping.
const ABOVE: usize = 64 << 10;

/// Runs `work` on a thread with `stack` bytes of stack. If it overflows that stack, the process
/// prints `message` (a full line) to stderr and exits with status 2.
///
/// The result is handed over as soon as `work` returns: the thread's teardown (the destructors
/// of its thread-locals) goes on without the caller waiting for it. For the jsonnet engine that
/// teardown is a cycle collection over everything the evaluation allocated, which took longer
/// than the evaluation itself (1.1 s of bench.02's 1.7 s); a command that ends soon after does
/// not pay for it, and a long run gets the memory back in the background.
pub(crate) fn run<R: Send + 'static>(
    stack: usize,
    message: String,
    work: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<R> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    install();
    let bytes: &'static mut [u8] = Box::leak(message.into_bytes().into_boxed_slice());
    MESSAGE_LEN.store(bytes.len(), Ordering::SeqCst);
    MESSAGE.store(bytes.as_mut_ptr(), Ordering::SeqCst);
    let (send, receive) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new().name("guarded".into()).stack_size(stack).spawn(move || {
        if let Some((low, high)) = own_stack() {
            LOW.store(low, Ordering::SeqCst);
            HIGH.store(high, Ordering::SeqCst);
        }
        let result = work();
        LOW.store(0, Ordering::SeqCst);
        HIGH.store(0, Ordering::SeqCst);
        // The receiver waits for this; it is gone only if the caller panicked meanwhile.
        let _ = send.send(result);
    });
    let result = spawned.map(|thread| match receive.recv() {
        Ok(result) => result,
        // `work` panicked before sending: the panic comes back through `join`.
        Err(_) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sends before it returns"),
        },
    });
    MESSAGE.store(std::ptr::null_mut(), Ordering::SeqCst);
    result
}

/// The calling thread's stack bounds.
fn own_stack() -> Option<(usize, usize)> {
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread; it is destroyed after use.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let got = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (got == 0).then(|| (addr as usize, addr as usize + size))
    }
}

fn install() {
    PREVIOUS.get_or_init(|| {
        let ours = SigAction::new(
            SigHandler::SigAction(on_fault),
            SaFlags::SA_SIGINFO | SaFlags::SA_ONSTACK | SaFlags::SA_NODEFER,
            SigSet::empty(),
        );
        // SAFETY: the handler only makes async-signal-safe calls (write, _exit) or hands over
        // to the previous handler.
        unsafe {
            let segv = sigaction(Signal::SIGSEGV, &ours).expect("SIGSEGV has a handler slot");
            let bus = sigaction(Signal::SIGBUS, &ours).expect("SIGBUS has a handler slot");
            (segv, bus)
        }
    });
}

extern "C" fn on_fault(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let address = unsafe { (*info).si_addr() } as usize;
    let (low, high) = (LOW.load(Ordering::SeqCst), HIGH.load(Ordering::SeqCst));
    let message = MESSAGE.load(Ordering::SeqCst);
    if low != 0 && address < high && address + BELOW >= low && address < low + ABOVE && !message.is_null() {
        // SAFETY: write and _exit are async-signal-safe; the message was leaked for this.
        unsafe {
            libc::write(2, message.cast(), MESSAGE_LEN.load(Ordering::SeqCst));
            libc::_exit(2);
        }
    }
    let Some((segv, bus)) = PREVIOUS.get() else { return };
    let previous = if signal == libc::SIGBUS { bus } else { segv };
    match previous.handler() {
        SigHandler::SigAction(handler) => handler(signal, info, context),
        SigHandler::Handler(handler) => handler(signal),
        // Default or ignore: restore it; returning re-runs the faulting instruction under it.
        SigHandler::SigDfl | SigHandler::SigIgn => {
            // SAFETY: restoring the disposition that was there before.
            let _ = unsafe { sigaction(Signal::try_from(signal).unwrap_or(Signal::SIGSEGV), previous) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::run;

    #[test]
    fn the_result_comes_back_before_the_threads_teardown() {
        use std::sync::mpsc::{Receiver, Sender, channel};
        // A thread-local whose destructor waits until the caller has the result, and reports
        // whether it did: a `run` that waited for the thread's teardown would make it wait in
        // vain (the minute is a guard against a hang, not a measurement).
        struct Teardown(Receiver<()>, Sender<bool>);
        impl Drop for Teardown {
            fn drop(&mut self) {
                let caller_had_it = self.0.recv_timeout(std::time::Duration::from_secs(60)).is_ok();
                let _ = self.1.send(caller_had_it);
            }
        }
        thread_local! {
            static TEARDOWN: std::cell::RefCell<Option<Teardown>> = const { std::cell::RefCell::new(None) };
        }
        let (done, wait) = channel();
        let (report, outcome) = channel();
        let result = run(1 << 20, "overflow\n".into(), move || {
            TEARDOWN.with(|t| *t.borrow_mut() = Some(Teardown(wait, report)));
            42
        })
        .unwrap();
        let _ = done.send(());
        assert_eq!(result, 42);
        assert!(outcome.recv().unwrap(), "run waited for the thread's teardown");
    }

    #[test]
    fn a_panic_in_the_work_reaches_the_caller() {
        let caught =
            std::panic::catch_unwind(|| run(1 << 20, "overflow\n".into(), || -> u8 { panic!("boom") }));
        let payload = caught.expect_err("the panic is resumed in the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    }
}
