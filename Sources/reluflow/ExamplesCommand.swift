import ArgumentParser
import Foundation
import ReluFlow

struct ExamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "examples",
        abstract: "List the built-in examples (run one with `reluflow simulate --example NAME`).",
        discussion: """
            `--json` prints one JSON document: an array of the examples, each with its name, summary, \
            whether it is the default, and its config. `--json NAME` prints that example's config alone, \
            ready to save and pass to `reluflow simulate --config`.
            """)

    @Flag(help: "Print JSON: all examples (name, summary, default, config), or with NAME that example's config.")
    var json = false

    @Argument(help: "One example (see the list).")
    var name: String?

    /// One entry of `examples --json`.
    private struct Listing: Encodable {
        let name: String
        let summary: String
        let `default`: Bool
        let config: RunConfig
    }

    func run() throws {
        let chosen: [Example]
        do {
            chosen = try name.map { [try Example.named($0)] } ?? Example.all
        } catch let error as InputError {
            throw InputError("NAME", error.problem)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = name == nil
                ? try encoder.encode(chosen.map { Listing(name: $0.name, summary: $0.summary, default: $0.name == Example.defaultName, config: $0.config) })
                : try chosen[0].config.encoded()
            FileHandle.standardOutput.write(data + Data("\n".utf8))
            return
        }
        for example in chosen {
            let mark = example.name == Example.defaultName ? " (default)" : ""
            print("\(example.name)\(mark)\n    \(example.summary)")
        }
    }
}
