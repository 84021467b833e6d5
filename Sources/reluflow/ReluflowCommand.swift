import ArgumentParser
import CLapack
import Foundation
import ReluFlow

/// `reluflow`: the command line of INTERFACE.md. Exit status: 0 success, 1 numerical failure,
/// 2 bad input (swift-argument-parser's usage errors included), 3 a file that could not be read
/// or written (path and the system's reason), 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP.
@main
struct ReluflowCommand: ParsableCommand {
    static let name = "reluflow"
    static let configuration = CommandConfiguration(
        commandName: name,
        abstract: "Precise gradient and adaptive flows of shallow and deep ReLU networks (Filippov, GSL), training methods, curvature, and what theory predicts about them.",
        version: ReluFlowVersion.string,
        subcommands: [SimulateCommand.self, TrainCommand.self, CompareCommand.self, CurvatureCommand.self, AnalyzeCommand.self, PlotCommand.self,
                      SweepSubcommand.self, CollectSubcommand.self, ExamplesCommand.self],
        defaultSubcommand: nil)

    static func main() {
        // First of all, so that a Ctrl-C at any moment of a run stops it cleanly.
        Interrupt.install()
        Interrupt.watchSweepParent()
        let arguments = Array(CommandLine.arguments.dropFirst())
        // OpenBLAS's kernels chosen before any work starts (lapack.c: the same bits on every
        // machine), after the arguments are read: the static runtime's argv did not survive a
        // setenv before its first read.
        rf_lapack_choose_kernels()
        do {
            if let direct = parseSubcommandDirectly(arguments) {
                try direct.run()
            } else {
                var command = try parseAsRoot(arguments)
                try command.run()
            }
        } catch {
            let (message, status) = outcome(of: error)
            if status == 0 {
                print(message)
            } else {
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            Foundation.exit(status)
        }
    }
}

extension ReluflowCommand {
    /// The line `main` writes for an error that ended a command, and the exit status: 2 bad input
    /// (swift-argument-parser's usage errors included), 3 a file, 1 a numerical failure, a
    /// `RunFailure`'s own; status 0 (help, version) means the line goes to the standard output.
    static func outcome(of error: Error) -> (message: String, status: Int32) {
        switch error {
        case let error as InputError:
            return ("reluflow: error: \(error)", 2)
        case let error as FileError:
            return ("reluflow: error: \(error)", 3)
        case let error as NumericalError:
            // An analysis whose linear algebra failed: its numbers would be wrong, so none is printed.
            return ("reluflow: numerical failure: \(error)", 1)
        case let error as RunFailure:
            return ("reluflow: \(error.message)", error.status)
        default:
            let code = exitCode(for: error)
            if code == .success { return (fullMessage(for: error), 0) }
            return (fullMessage(for: error), code == .validationFailure ? 2 : code.rawValue == 64 ? 2 : code.rawValue)
        }
    }

    /// The named subcommand parsed as a root of its own when its arguments are valid: the parser
    /// then reflects over that command's options alone, not over the whole tree of subcommands
    /// (issue 22: about 9 M of the 16 M instructions ArgumentParser spent on every
    /// `reluflow simulate`). Anything else (help, a usage error, a validation error, a name that is
    /// no subcommand) returns nil, and the full parse of `reluflow` handles it, so its messages and
    /// exit statuses are unchanged. The subcommands parsed this way in bulk (simulate, train,
    /// curvature) name `reluflow` as their `_superCommandName`: as a root, a command without one
    /// is first parsed twice more for `--generate-completion-script` (7.2 M of the 11.8 M
    /// instructions the parse took, issue 22); with one, that option is unknown here and the full
    /// parse, whose root has none, handles it as before.
    static func parseSubcommandDirectly(_ arguments: [String]) -> DirectCommand? {
        if arguments.first == SimulateCommand._commandName, let plain = SimulateCommand.parsePlain(arguments.dropFirst()) {
            return .simulate(plain)
        }
        guard let name = arguments.first,
              let subcommand = configuration.subcommands.first(where: { $0._commandName == name }) else { return nil }
        guard let parsed = try? subcommand.parseAsRoot(Array(arguments.dropFirst())),
              type(of: parsed) == subcommand else { return nil }   // not the built-in help command
        return .parsed(parsed)
    }
}

/// A command parsed by `ReluflowCommand.parseSubcommandDirectly`: a subcommand parsed as a root, or
/// `simulate`'s plain arguments (`SimulateCommand.parsePlain`).
enum DirectCommand {
    case parsed(ParsableCommand)
    case simulate(SimulateOptions)

    func run() throws {
        switch self {
        case .parsed(var command): try command.run()
        case .simulate(let options): try options.run()
        }
    }
}

/// A run that ended without success; the folder has been written.
struct RunFailure: Error {
    let message: String
    let status: Int32
}
