import Foundation

/// SIGINT, SIGTERM and SIGHUP handling for long runs (Ctrl-C, `timeout`, a batch scheduler's
/// time limit, `docker stop`, a closed terminal): the first signal asks the integration to stop
/// after the current step (the run folder is then written with status `interrupted`, and the
/// command exits 128 + the signal: 130, 143, 129); a second one exits at once, leaving the hidden
/// staging folder with its last periodic checkpoint, from which `reluflow simulate --resume`
/// continues (`RunStream`'s checkpoints).
enum Interrupt {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    static func install() {
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number) { number in
                if Interrupt.received != 0 { _exit(128 + number) }
                Interrupt.received = number
            }
        }
    }

    /// A sweep's worker (`RELUFLOW_SWEEP_PARENT` = the executor's pid, set by `SweepExecutor`)
    /// stops as on SIGTERM when its executor is gone (killed outright, SIGKILL): its run is then
    /// written as interrupted, and the lock it holds is released, instead of the run going on
    /// unattended. Checked four times a second.
    static func watchSweepParent() {
        guard let text = ProcessInfo.processInfo.environment["RELUFLOW_SWEEP_PARENT"], let parent = Int32(text) else { return }
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
