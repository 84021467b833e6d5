import ArgumentParser
import Foundation
import ReluFlow

/// Where a command's report lines go: the standard output, or, for a run of `reluflow sweep
/// --in-process`, the run's log (`CommandOutput.Log`), which gets what a worker process's log
/// gets: its standard error as written, its standard output at its end (a file's stdout is
/// buffered until exit). Bound per thread (a task-local value), so in-process runs on several
/// threads keep their logs apart.
enum CommandOutput {
    final class Log: @unchecked Sendable {
        let fd: Int32
        var pending = ""
        init(fd: Int32) { self.fd = fd }
        func flush() {
            Self.write(fd, pending)
            pending = ""
        }
        static func write(_ fd: Int32, _ text: String) {
            let bytes = Array(text.utf8)
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { return }
                    offset += n
                }
            }
        }
    }

    @TaskLocal static var log: Log? = nil

    /// A line on the standard output.
    static func line(_ text: String) {
        guard let log else { return print(text) }
        log.pending += text + "\n"
    }

    /// A line on the standard error.
    static func error(_ text: String) {
        guard let log else { return FileHandle.standardError.write(Data((text + "\n").utf8)) }
        Log.write(log.fd, text + "\n")
    }
}

/// `reluflow sweep --in-process`: a sweep's `simulate` and `train` workers run in the sweep's own
/// process (`SweepExecutor.inProcess`). The worker's arguments are parsed as the worker would parse
/// them (`ReluflowCommand.parseSubcommandDirectly`) and the command's own `run()` writes the run
/// folder, so the folders are the spawned workers' byte for byte (wall times aside;
/// InProcessSweepTests). What the worker would print, and the error line and exit status its
/// `main` would give, go to the log. Arguments that do not parse directly (or another command)
/// are left to a worker process.
enum InProcessWorker {
    static func make(_ arguments: [String]) -> SweepExecutor.InProcessRun? {
        guard let name = arguments.first, name == "simulate" || name == "train",
              let command = ReluflowCommand.parseSubcommandDirectly(arguments) else { return nil }
        let box = CommandBox(command: command)
        return { log in
            let fd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else { return 3 }
            defer { close(fd) }
            let output = CommandOutput.Log(fd: fd)
            defer { output.flush() }
            return CommandOutput.$log.withValue(output) {
                do {
                    try box.command.run()
                    return 0
                } catch {
                    let (message, status) = ReluflowCommand.outcome(of: error)
                    if status == 0 { CommandOutput.line(message) } else { CommandOutput.error(message) }
                    return status
                }
            }
        }
    }

    /// A parsed command handed to the run's thread (used there only).
    private final class CommandBox: @unchecked Sendable {
        let command: DirectCommand
        init(command: DirectCommand) { self.command = command }
    }
}
