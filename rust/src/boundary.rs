//! Helpers for the extern "C" functions in lib.rs: the panic guard, and checked
//! conversions from raw pointers. Nothing here knows about packs or embedders.

use crate::error::{self, code, Error, Result};
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Runs `f` with the last error cleared, maps its error (or a panic) to a status code
/// and records the message as this thread's last error.
pub fn guard(f: impl FnOnce() -> Result<()>) -> i32 {
    error::clear_last_error();
    match quietly(f) {
        Ok(Ok(())) => code::OK,
        Ok(Err(e)) => error::set_last_error(&e),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".to_string());
            error::set_last_error(&Error::Panic(msg))
        }
    }
}

thread_local! {
    static IN_GUARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic. A caught panic becomes the call's error message; the
/// default hook would also print it to the host's stderr, so inside a guard the hook
/// stays silent (elsewhere, e.g. in Rust tests, it prints as usual).
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_GUARD.with(|g| g.get()) {
                previous(info);
            }
        }));
    });
    let outer = IN_GUARD.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(outer));
    result
}

/// Like [`guard`] for functions that cannot fail: a panic yields `fallback`.
pub fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    quietly(f).unwrap_or(fallback)
}

/// # Safety
/// `p` is NULL or points to a live `T` for `'a`.
pub unsafe fn handle<'a, T>(p: *const T, what: &'static str) -> Result<&'a T> {
    // SAFETY: the caller guarantees `p` is NULL or valid; NULL is checked here.
    unsafe { p.as_ref() }.ok_or(Error::NullArg(what))
}

/// # Safety
/// `p` is NULL or points to a live `T` for `'a`, not aliased.
pub unsafe fn handle_mut<'a, T>(p: *mut T, what: &'static str) -> Result<&'a mut T> {
    // SAFETY: as for `handle`, plus exclusivity, which the C contract requires.
    unsafe { p.as_mut() }.ok_or(Error::NullArg(what))
}

/// # Safety
/// `p` is NULL or a NUL-terminated string live for `'a`.
pub unsafe fn c_str<'a>(p: *const c_char, what: &'static str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::NullArg(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8(what.to_string()))
}

/// A filesystem path from a NUL-terminated byte string (any bytes on Unix).
///
/// # Safety
/// As for [`c_str`].
pub unsafe fn c_path(p: *const c_char, what: &'static str) -> Result<PathBuf> {
    if p.is_null() {
        return Err(Error::NullArg(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.is_empty() {
        return Err(Error::InvalidArg(format!("{what} is empty")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes)
            .map(PathBuf::from)
            .map_err(|_| Error::InvalidUtf8(what.to_string()))
    }
}

/// No Rust slice may span more than `isize::MAX` bytes; a larger length cannot describe
/// a real buffer, so it is refused before the pointer is looked at.
fn check_span<T>(len: usize, what: &'static str) -> Result<()> {
    match len.checked_mul(std::mem::size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(Error::Limit(format!(
            "{what}: length {len} is larger than any buffer"
        ))),
    }
}

/// # Safety
/// When `len > 0`, `p` is NULL or points to `len` initialised `T`s live for `'a`.
pub unsafe fn slice<'a, T>(p: *const T, len: usize, what: &'static str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    check_span::<T>(len, what)?;
    if p.is_null() {
        return Err(Error::NullArg(what));
    }
    // SAFETY: non-NULL, `len` elements per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// # Safety
/// When `len > 0`, `p` is NULL or points to `len` writable `T`s, not aliased, for `'a`.
pub unsafe fn slice_mut<'a, T>(p: *mut T, len: usize, what: &'static str) -> Result<&'a mut [T]> {
    if len == 0 {
        return Ok(&mut []);
    }
    check_span::<T>(len, what)?;
    if p.is_null() {
        return Err(Error::NullArg(what));
    }
    // SAFETY: non-NULL, `len` writable elements per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// Checks an out-pointer up front so nothing is computed for a call that cannot report.
pub fn out_ptr<T>(p: *mut T, what: &'static str) -> Result<*mut T> {
    if p.is_null() {
        Err(Error::NullArg(what))
    } else {
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_maps_errors_and_panics() {
        assert_eq!(guard(|| Ok(())), code::OK);
        assert_eq!(error::last_error_text(), "");
        assert_eq!(guard(|| Err(Error::Corrupt("x".into()))), code::CORRUPT);
        assert_eq!(error::last_error_text(), "7|corrupt pack: x");
        let status = guard(|| panic!("boom {}", 42));
        assert_eq!(status, code::PANIC);
        assert_eq!(error::last_error_text(), "11|panic in vpack: boom 42");
        assert_eq!(guard_value(5, || panic!("quiet")), 5);
    }

    #[test]
    fn pointer_checks() {
        // SAFETY: NULL and a live string literal are both valid inputs.
        unsafe {
            assert_eq!(
                c_str(std::ptr::null(), "x").unwrap_err().code(),
                code::NULL_ARG
            );
            assert_eq!(c_str(c"ok".as_ptr(), "x").unwrap(), "ok");
            let bad = [0xffu8, 0];
            assert_eq!(
                c_str(bad.as_ptr().cast(), "x").unwrap_err().code(),
                code::INVALID_UTF8
            );
            assert!(slice::<f32>(std::ptr::null(), 0, "x").unwrap().is_empty());
            assert_eq!(
                slice::<f32>(std::ptr::null(), 3, "x").unwrap_err().code(),
                code::NULL_ARG
            );
        }
    }
}
