import Foundation

/// SIGINT handling for long runs: the first Ctrl-C asks the integration to stop after the
/// current step (the run folder is then written with status `interrupted`); a second one
/// exits at once, leaving the hidden staging folder, which the next run to the same folder
/// removes (`RunFolder.removeAbandoned`).
enum Interrupt {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    static func install() {
        signal(SIGINT) { _ in
            if Interrupt.flag != 0 { _exit(130) }
            Interrupt.flag = 1
        }
    }

    static var requested: Bool { flag != 0 }
}
