import ArgumentParser
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
        abstract: "Precise gradient flow of shallow ReLU networks (Filippov, GSL), and what theory predicts about it.",
        version: ReluFlowVersion.string,
        subcommands: [SimulateCommand.self, TrainCommand.self, CompareCommand.self, CurvatureCommand.self, AnalyzeCommand.self, PlotCommand.self,
                      SweepSubcommand.self, CollectSubcommand.self, ExamplesCommand.self],
        defaultSubcommand: nil)

    static func main() {
        // First of all, so that a Ctrl-C at any moment of a run stops it cleanly.
        Interrupt.install()
        Interrupt.watchSweepParent()
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseSubcommandDirectly(arguments) ?? parseAsRoot(arguments)
            try command.run()
        } catch let error as InputError {
            FileHandle.standardError.write(Data("reluflow: error: \(error)\n".utf8))
            Foundation.exit(2)
        } catch let error as FileError {
            FileHandle.standardError.write(Data("reluflow: error: \(error)\n".utf8))
            Foundation.exit(3)
        } catch let error as NumericalError {
            // An analysis whose linear algebra failed: its numbers would be wrong, so none is printed.
            FileHandle.standardError.write(Data("reluflow: numerical failure: \(error)\n".utf8))
            Foundation.exit(1)
        } catch let error as RunFailure {
            FileHandle.standardError.write(Data("reluflow: \(error.message)\n".utf8))
            Foundation.exit(error.status)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue == 64 ? 2 : code.rawValue)
        }
    }
}

extension ReluflowCommand {
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
    static func parseSubcommandDirectly(_ arguments: [String]) -> ParsableCommand? {
        if arguments.first == SimulateCommand._commandName, let plain = SimulateCommand.parsePlain(arguments.dropFirst()) { return plain }
        guard let name = arguments.first,
              let subcommand = configuration.subcommands.first(where: { $0._commandName == name }) else { return nil }
        guard let parsed = try? subcommand.parseAsRoot(Array(arguments.dropFirst())),
              type(of: parsed) == subcommand else { return nil }   // not the built-in help command
        return parsed
    }
}

/// A run that ended without success; the folder has been written.
struct RunFailure: Error {
    let message: String
    let status: Int32
}
