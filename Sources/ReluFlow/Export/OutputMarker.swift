import Foundation

/// The marker of a folder written by ReluFlow (`reluflow-output.json`): the output's kind, the
/// format version and the exact inventory of the files the toolkit wrote into it, with their
/// sizes. It is what makes a folder provably a ReluFlow output: only such a folder, holding
/// nothing but its inventory unchanged, is ever replaced (`RunFolder.checkReplaceable`).
public struct OutputMarker: Codable, Equatable, Sendable {
    public static let fileName = "reluflow-output.json"
    public static let currentFormatVersion = 1

    /// Always "reluflow-output".
    public var format: String
    public var formatVersion: Int
    /// "run" (simulate), "analysis" or "figures" (analyze/plot with --out).
    public var kind: String
    /// The toolkit version that wrote the folder.
    public var version: String
    /// Every file written, name → size in bytes (the marker itself excluded).
    public var files: [String: Int]
    /// Sub-folders that are ReluFlow outputs of their own (the runs of a `compare` folder), each
    /// with its own marker; absent when there are none.
    public var folders: [String]?

    public init(kind: String, files: [String: Int], folders: [String]? = nil) {
        format = "reluflow-output"
        formatVersion = Self.currentFormatVersion
        self.kind = kind
        version = ReluFlowVersion.string
        self.files = files
        self.folders = folders
    }

    /// The inventory of every regular file in `folder` (a staging folder: all of it ours).
    static func inventory(of folder: String, kind: String) throws -> OutputMarker {
        var files: [String: Int] = [:], folders: [String] = []
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw FileError(path: folder, action: "read", error: error)
        }
        for entry in entries where entry != fileName {
            var info = stat()
            guard stat((folder as NSString).appendingPathComponent(entry), &info) == 0 else {
                throw FileError(path: (folder as NSString).appendingPathComponent(entry), action: "read", reason: String(cString: strerror(errno)))
            }
            if (info.st_mode & S_IFMT) == S_IFDIR { folders.append(entry) } else { files[entry] = Int(info.st_size) }
        }
        return OutputMarker(kind: kind, files: files, folders: folders.isEmpty ? nil : folders.sorted())
    }

    /// Reads the marker of `folder`; a missing, unreadable or foreign marker is an `InputError`
    /// naming `field`.
    public static func read(folder: String, field: String) throws -> OutputMarker {
        let path = (folder as NSString).appendingPathComponent(fileName)
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FileError(path: path, action: "read", error: error)
        }
        guard let marker = try? JSONDecoder().decode(OutputMarker.self, from: bytes), marker.format == "reluflow-output" else {
            throw InputError(field, "\(path) is not a ReluFlow output marker; refusing to treat \(folder) as a ReluFlow output")
        }
        guard marker.formatVersion <= currentFormatVersion else {
            throw InputError(field, "\(path) has format version \(marker.formatVersion), newer than this ReluFlow's \(currentFormatVersion)")
        }
        return marker
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    func write(into folder: String) throws {
        try RunFolder.writeFile((folder as NSString).appendingPathComponent(Self.fileName), try encoded())
    }

    /// Whether `file` is in the inventory and still has its recorded size and type.
    func holdsUnchanged(_ file: String, in folder: String) -> Bool {
        guard let size = files[file] else { return false }
        var info = stat()
        guard lstat((folder as NSString).appendingPathComponent(file), &info) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFREG && Int(info.st_size) == size
    }

    /// The entries of `folder` that make it more than this output: names not in the inventory and
    /// files changed since (each with a word why). Files of the inventory that are gone are fine.
    func differences(folder: String, entries: [String]) -> [String] {
        var problems: [String] = []
        for entry in entries.sorted() where entry != Self.fileName && !Self.isOwnTemporary(entry) {
            if folders?.contains(entry) ?? false {
                // A run of its own: replaceable only if it is, itself.
                let sub = (folder as NSString).appendingPathComponent(entry)
                var info = stat()
                guard lstat(sub, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { problems.append("\(entry) (no longer a folder)"); continue }
                do { _ = try RunFolder.checkReplaceable(sub) } catch let error as InputError {
                    problems.append("\(entry)/ (\(error.problem))")
                } catch { problems.append("\(entry)/ (\(error))") }
            } else if files[entry] == nil {
                problems.append(entry)
            } else if !holdsUnchanged(entry, in: folder) {
                problems.append("\(entry) (changed since ReluFlow wrote it)")
            }
        }
        return problems
    }

    /// A temporary file of `RunFolder.replaceFile` (`.NAME.partial-PID`) left by a process that no
    /// longer runs.
    static func isOwnTemporary(_ entry: String) -> Bool {
        guard entry.hasPrefix("."), let range = entry.range(of: ".partial-", options: .backwards),
              let pid = Int32(entry[range.upperBound...]), pid != getpid() else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}
