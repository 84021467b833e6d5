import ArgumentParser
import Foundation
import ReluFlow

/// `reluflow collect DIR`: sweep.csv and groups.csv of a sweep folder (also of a partial one).
struct CollectSubcommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "One table of a sweep's runs: DIR/sweep.csv (a row per run) and DIR/groups.csv (median and quartiles per group).",
        discussion: """
            sweep.csv: id, the axes, status, then the runs' summary figures (and the analysis verdict's, as analysis.…), \
            columns sorted by name. groups.csv: per group of equal --by axes (default: every axis not ending in 'seed'), \
            the number of completed runs and each figure's median, q1 and q3. sweep_plateaus.csv: every analysed run's \
            plateaus. A partial sweep is collected as it stands, and what is missing is named.
            """)

    @Argument(help: "The sweep folder.")
    var folder: String

    @Option(help: ArgumentHelp("Axes that define the groups of groups.csv, comma-separated (default: every axis not ending in 'seed').", valueName: "axes"))
    var by: String?

    func run() throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw InputError("DIR", "\(folder) is not a folder")
        }
        let sweep = try SweepFolder.open(folder)
        let command = try SweepCommands.named(sweep.manifest.command, field: "manifest.json")
        let axes = by.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        let collection = try SweepCollection.collect(sweep, command: command, by: axes)
        try RunFolder.add(collection.files, to: folder, field: "DIR",
                          elsewhere: "move it out of the sweep folder to collect again; collect writes only there")
        let counts = collection.counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
        print("collected \(collection.rows) runs (\(counts)): " + collection.files.map { (folder as NSString).appendingPathComponent($0.0) }.joined(separator: ", "))
        if !collection.incomplete.isEmpty {
            let listed = collection.incomplete.prefix(10).map { "\($0.id) (\($0.state.rawValue))" }.joined(separator: ", ")
            let more = collection.incomplete.count > 10 ? " and \(collection.incomplete.count - 10) more" : ""
            FileHandle.standardError.write(Data("reluflow: the sweep is partial: \(collection.incomplete.count) of \(collection.rows) runs not complete: \(listed)\(more)\n".utf8))
        }
    }
}
