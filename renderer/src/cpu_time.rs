//! CPU time of this process, for reporting the CPU cost per rendered image next to wall time.
//!
//! Input: nothing (reads `/proc/self/stat`). Output: user + system CPU seconds of all threads,
//! or `None` where `/proc` is not available (non-Linux). CPU time is less sensitive than wall
//! time to other processes sharing the machine.

/// CPU seconds (user + system, all threads) this process has used so far, from
/// `/proc/self/stat`; `None` where that is not available.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15, in
    // clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::process_cpu_seconds;

    #[test]
    fn cpu_seconds_are_read_and_do_not_go_back() {
        let before = process_cpu_seconds().expect("/proc/self/stat is readable on Linux");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = process_cpu_seconds().expect("/proc/self/stat is readable on Linux");
        assert!(before >= 0.0 && after >= before, "{before} then {after}");
    }
}
