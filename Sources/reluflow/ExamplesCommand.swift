import ArgumentParser
import ReluFlow

struct ExamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "examples",
        abstract: "List the built-in examples (run one with `reluflow simulate --example NAME`).")

    @Flag(help: "Print each example's full config as JSON.")
    var json = false

    func run() throws {
        for example in Example.all {
            let mark = example.name == Example.defaultName ? " (default)" : ""
            print("\(example.name)\(mark)\n    \(example.summary)")
            if json, let text = String(data: try example.config.encoded(), encoding: .utf8) {
                print(text.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            }
        }
    }
}
