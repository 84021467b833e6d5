import Foundation

/// SIGINT, SIGTERM and SIGHUP handling for long runs (Ctrl-C, `timeout`, a batch scheduler's
/// time limit, `docker stop`, a closed terminal): the first signal asks the integration to stop
/// after the current step (the run folder is then written with status `interrupted`, and the
/// command exits 128 + the signal: 130, 143, 129); a second one at least a second later exits at
/// once, leaving the hidden staging folder with its last periodic checkpoint, from which
/// `reluflow simulate --resume` continues (`RunStream`'s checkpoints).
///
/// Why a second: one stop request often arrives twice within microseconds. GNU `timeout` sends its
/// signal to the command and then to its whole process group, and a scheduler may signal a sweep's
/// worker directly while the executor passes the same signal on. Taken as "stop now", the duplicate
/// killed runs before their folders were written (seen: 1 run in 8 under `timeout 5`).
enum Interrupt {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0
    /// CLOCK_MONOTONIC milliseconds at the first signal (read only in the handler).
    nonisolated(unsafe) private static var firstMilliseconds: Int64 = 0

    static func install() {
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number) { number in
                // Only async-signal-safe calls here: clock_gettime and _exit.
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                let milliseconds = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
                if Interrupt.received != 0 {
                    if milliseconds - Interrupt.firstMilliseconds >= 1000 { _exit(128 + number) }
                    return
                }
                Interrupt.firstMilliseconds = milliseconds
                Interrupt.received = number
            }
        }
    }

    /// A sweep's worker (`RELUFLOW_SWEEP_PARENT` = the executor's pid, set by `SweepExecutor`)
    /// stops as on SIGTERM when its executor is gone (killed outright, SIGKILL): its run is then
    /// written as interrupted, and the lock it holds is released, instead of the run going on
    /// unattended. Checked four times a second.
    static func watchSweepParent() {
        // getenv, not ProcessInfo's environment: that builds a dictionary of the whole environment
        // (0.9 M instructions at every start, issue 22).
        guard let value = getenv("RELUFLOW_SWEEP_PARENT"), let parent = Int32(String(cString: value)) else { return }
        Thread.detachNewThread {
            while true {
                if getppid() != parent {
                    if Interrupt.received == 0 { Interrupt.received = SIGTERM }
                    return
                }
                usleep(250_000)
            }
        }
    }

    static var requested: Bool { received != 0 }

    /// The signal that asked the run to stop (0: none).
    static var signalNumber: Int32 { received }

    /// The exit status of a run stopped by the signal: 128 + its number (130 for SIGINT).
    static var exitStatus: Int32 { 128 + (received == 0 ? SIGINT : received) }

    static var signalName: String {
        switch received {
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "Ctrl-C (SIGINT)"
        }
    }
}
