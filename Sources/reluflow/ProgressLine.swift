import Foundation
import ReluFlow

/// One self-overwriting status line on stderr, only when stderr is a terminal.
struct ProgressLine {
    let enabled: Bool

    init(quiet: Bool) {
        enabled = !quiet && isatty(STDERR_FILENO) != 0
    }

    func show(_ p: FlowProgress) {
        guard enabled else { return }
        let text = String(format: "\r  t = %.4g / %.4g   loss %.6g   events %d   steps %d ", p.t, p.T, p.loss, p.events, p.steps)
        FileHandle.standardError.write(Data(text.utf8))
    }

    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
